"""The Tanium platform API v2 the scanner runbook uses: sensors, questions, packages, groups and actions.

Private-ish modules, one concept each; the names callers need are re-exported here.
"""

from simulator.platform.backend import PlatformBackend
from simulator.platform.parser import parse_filter_text, parse_question
from simulator.platform.sensors import NO_RESULTS, UNAVAILABLE, SensorCatalog
from simulator.platform.timing import PlatformTiming

__all__ = [
    "NO_RESULTS",
    "UNAVAILABLE",
    "PlatformBackend",
    "PlatformTiming",
    "SensorCatalog",
    "parse_filter_text",
    "parse_question",
]
