"""How fast the pytest fixtures are: a fabric ready (certificates cached after the first), and a reset.

    TIESIM=$(swift build -c release --show-bin-path)/tiesim python3 python/benchmarks/fixture_bench.py [--fabrics 10]
"""
import statistics
import sys
import time

import tiesim

count = int(sys.argv[sys.argv.index("--fabrics") + 1]) if "--fabrics" in sys.argv else 10
with tiesim.Fabric():  # the first fabric makes the certificates the others copy
    pass
ready, resets, stops = [], [], []
for _ in range(count):
    started = time.monotonic()
    fabric = tiesim.Fabric().start()
    ready.append(time.monotonic() - started)
    for _ in range(20):
        started = time.monotonic()
        fabric.reset()
        resets.append(time.monotonic() - started)
    started = time.monotonic()
    fabric.stop()
    stops.append(time.monotonic() - started)


def describe(values, scale, unit):
    return "median %.1f %s (range %.1f–%.1f)" % (statistics.median(values) * scale, unit, min(values) * scale, max(values) * scale)


print("fixture: a fabric ready (tiesim up, certificates cached): %s over %d fabrics (goal < 1 s)" % (describe(ready, 1000, "ms"), count))
print("fixture: reset: %s over %d resets (goal < 50 ms)" % (describe(resets, 1000, "ms"), len(resets)))
print("fixture: a fabric stopped: %s" % describe(stops, 1000, "ms"))
