"""The QA fault matrix: every scenario × seed against a fresh simulator, the client's verdict per endpoint.

``tanium-sim qa`` (simulator/cli/qa.py) and ``make qa`` run it; docs/qa.md records the full matrix.
:mod:`~simulator.qa.expectations` reads what each scenario allows, :mod:`~simulator.qa.variants` holds
the reference client and deliberately broken ones, :mod:`~simulator.qa.runner` runs and checks, and
:mod:`~simulator.qa.report` renders the table, JUnit XML and JSON.
"""

from simulator.qa.expectations import ExpectationError, Expectations, endpoint_class
from simulator.qa.runner import MatrixOptions, MatrixResult, RunResult, run_matrix, run_scenario
from simulator.qa.variants import REFERENCE, VARIANTS, ClientVariant

__all__ = [
    "REFERENCE",
    "VARIANTS",
    "ClientVariant",
    "ExpectationError",
    "Expectations",
    "MatrixOptions",
    "MatrixResult",
    "RunResult",
    "endpoint_class",
    "run_matrix",
    "run_scenario",
]
