"""tanium-sim reference client: the AQtive Guard evidence workflow over httpx, and the CST trace reader.

A library on its own: it imports the standard library, httpx and what reading traces needs, never the
simulator (tests/unit/test_layering.py checks it); the names below are its whole public API.

>>> from client import AsyncTaniumClient, collect_trace           # doctest: +SKIP
>>> async with AsyncTaniumClient(url, token=token) as tanium:      # doctest: +SKIP
...     result = await collect_trace(tanium, "2914149683", dest="traces/")
"""

from client._client import AsyncTaniumClient
from client._collect import (
    CollectOptions,
    CollectProgress,
    EndpointOutcome,
    collect_endpoint,
    collect_many,
    retry_totals,
    transfer_totals,
    write_summary,
)
from client._diff import DiffRejected, Inventory, apply_diff
from client._errors import (
    APIError,
    BadRequest,
    ConnectError,
    ConnectionAmbiguous,
    ConnectionTimedOut,
    EvidenceMissing,
    IntegrityError,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    SessionExpired,
    TaniumError,
    TaskFailed,
    TimeoutError_,
    TLSError,
    TraceFormatError,
    TransportError,
    Unauthorized,
    WorkflowError,
)
from client._findings import InventorySummary, summarize
from client._models import Connection, Evidence, EvidencePage, Task
from client._policy import RequestContext, RequestPolicy, SingleAttempt
from client._retry import RetryPolicy
from client._trace import TraceReader, iter_records, open_trace
from client._validate import TraceIssue, validate_trace
from client._workflow import CollectResult, PollPolicy, collect_trace, default_trace_path

__all__ = [
    "APIError",
    "AsyncTaniumClient",
    "BadRequest",
    "CollectOptions",
    "CollectProgress",
    "CollectResult",
    "ConnectError",
    "Connection",
    "ConnectionAmbiguous",
    "ConnectionTimedOut",
    "DiffRejected",
    "EndpointOutcome",
    "Evidence",
    "EvidenceMissing",
    "EvidencePage",
    "IntegrityError",
    "Inventory",
    "InventorySummary",
    "NotFound",
    "PollPolicy",
    "ProtocolError",
    "RateLimited",
    "RequestContext",
    "RequestPolicy",
    "RetryPolicy",
    "ServerError",
    "SessionExpired",
    "SingleAttempt",
    "TLSError",
    "TaniumError",
    "Task",
    "TaskFailed",
    "TimeoutError_",
    "TraceFormatError",
    "TraceIssue",
    "TraceReader",
    "TransportError",
    "Unauthorized",
    "WorkflowError",
    "apply_diff",
    "collect_endpoint",
    "collect_many",
    "collect_trace",
    "default_trace_path",
    "iter_records",
    "open_trace",
    "retry_totals",
    "summarize",
    "transfer_totals",
    "validate_trace",
    "write_summary",
]
