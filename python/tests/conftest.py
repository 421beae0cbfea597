import os

# The repository's scenarios, for the tests of the plugin itself.
SCENARIOS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scenarios")
