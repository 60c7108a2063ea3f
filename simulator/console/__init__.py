"""The live console: ``GET /_sim/ui``, a page served by the simulator itself, on the control namespace.

The page (:mod:`~simulator.console.page`) is a static shell, its script and its style sheet; every data
call it makes carries the admin bearer token, which the page asks for once and keeps in
``sessionStorage``. What it shows comes from control routes: the existing ``/_sim/state``,
``/_sim/scenario``, ``/_sim/faults`` and ``/_sim/endpoints``, and the ones here: the request rates
(:mod:`~simulator.console.views`), the journal as Server-Sent Events (:mod:`~simulator.console.events`),
one endpoint's records and its trace, and the QA heatmap ``serve --qa-report FILE`` names. Nothing here
runs on the vendor request path: the console reads the journal and the store, it never hooks a request.
docs/console.md shows it.
"""

from simulator.console.events import events
from simulator.console.page import page, qa_report, script, stylesheet
from simulator.console.views import endpoint_history, endpoint_trace, scenarios, stats

__all__ = [
    "endpoint_history",
    "endpoint_trace",
    "events",
    "page",
    "qa_report",
    "scenarios",
    "script",
    "stats",
    "stylesheet",
]
