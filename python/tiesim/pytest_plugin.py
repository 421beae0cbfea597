"""pytest fixtures for a fake TIE fabric (installed with the `tiesim` package, entry point pytest11).

- `tie_fabric`: a fabric per test, configured by `@pytest.mark.tiesim(scenarios=[...], brokers=N, no_tie=...)`.
- `tie_fabric_session`: one fabric for the session (per pytest-xdist worker), reset before each test that
  uses it.
"""
import pytest

from . import Fabric


def pytest_configure(config):
    config.addinivalue_line("markers", "tiesim(scenarios=(), brokers=1, no_tie=False): configures the tie_fabric fixture")


@pytest.fixture
def tie_fabric(request):
    marker = request.node.get_closest_marker("tiesim")
    options = dict(marker.kwargs) if marker else {}
    with Fabric(**options) as fabric:
        yield fabric


@pytest.fixture(scope="session")
def _tie_fabric_session():
    with Fabric() as fabric:
        yield fabric


@pytest.fixture
def tie_fabric_session(_tie_fabric_session):
    _tie_fabric_session.reset()
    yield _tie_fabric_session
    # A test's clients end with it: a later test's steps must not find its subscribers.
    _tie_fabric_session.destroy_clients()
