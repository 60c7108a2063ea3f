"""The client's exception tree. Every error the client raises is one of these.

::

    TaniumError
    ├── TransportError            the request never got an HTTP answer (refused, reset, timeout, TLS)
    │   ├── ConnectError          could not connect (refused, DNS, unreachable)
    │   ├── TLSError              the server's certificate was not trusted or did not match
    │   └── TimeoutError_         no answer within the configured timeout (a hang)
    ├── APIError(status, text)    the server answered with an error status (``retry_after``: its
    │                             ``Retry-After`` in seconds, None when it sent none)
    │   ├── BadRequest            400
    │   ├── Unauthorized          401: missing or invalid credential
    │   ├── SessionExpired        403: the session expired (the client re-logs in once)
    │   ├── NotFound              404: unknown id (or the module is not installed)
    │   ├── RateLimited           429 (``retry_after`` seconds, when the server said)
    │   └── ServerError           5xx (``retry_after`` too: a 503 may say when to come back)
    ├── ProtocolError             an answer that is not what the API promises (malformed JSON, wrong
    │                             content type, a missing field)
    └── WorkflowError             the API worked but the evidence workflow could not finish
        ├── ConnectionTimedOut    the endpoint never connected (status ``timeout`` or our deadline)
        ├── ConnectionAmbiguous   another client connected the endpoint at the same moment: which new
        │                         connection is ours cannot be told
        ├── TaskFailed            the file task ended ERROR or INCOMPLETE (or never ended)
        ├── EvidenceMissing       the task completed but no file evidence can be found
        ├── IntegrityError        the download does not match its size or ``transferHash``, or the zip is bad
        └── TraceFormatError      the trace inside does not parse or validate (object index, byte offset)

Lower-level errors (httpx, zlib, zip) are translated in one place each and always chained with
``raise ... from exc``. ``str(error)`` is one sentence that says what failed and what to do.
"""

from __future__ import annotations


class TaniumError(Exception):
    """Base of every error the reference client raises."""

    reason = "error"  # short, stable, machine-readable name used in summaries and reports

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransportError(TaniumError):
    """The request got no HTTP answer."""

    reason = "transport"


class ConnectError(TransportError):
    """Could not connect to the server."""

    reason = "connect"


class TLSError(TransportError):
    """The TLS handshake failed (untrusted or mismatched certificate)."""

    reason = "tls"


class TimeoutError_(TransportError):  # trailing underscore: the builtin TimeoutError stays usable
    """No answer within the configured timeout."""

    reason = "timeout"


class ProtocolError(TaniumError):
    """The server's answer does not have the shape the API promises."""

    reason = "protocol"


class APIError(TaniumError):
    """The server answered with an error status; ``text`` is the vendor's ``{"text": ...}``."""

    reason = "api"

    def __init__(
        self, status: int, text: str, message: str | None = None, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message or f"the server answered {status}: {text}")
        self.status = status
        self.text = text
        # The server's Retry-After in seconds. Only 429 and 5xx answers are parsed for it (RFC 9110
        # names 503; some gateways send it with other 5xx); a retrying policy waits at least this long.
        self.retry_after = retry_after


class BadRequest(APIError):
    """400: the server refused the request as malformed."""

    reason = "bad_request"


class Unauthorized(APIError):
    """401: the credential is missing or invalid."""

    reason = "unauthorized"


class SessionExpired(APIError):
    """403: the session expired."""

    reason = "session_expired"


class NotFound(APIError):
    """404: unknown id, or the Threat Response module is not installed."""

    reason = "not_found"


class RateLimited(APIError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds, if any."""

    reason = "rate_limited"

    def __init__(
        self, status: int, text: str, retry_after: float | None = None, message: str | None = None
    ) -> None:
        super().__init__(status, text, message, retry_after=retry_after)


class ServerError(APIError):
    """5xx: the server failed; ``retry_after`` is its ``Retry-After`` hint in seconds, if any."""

    reason = "server_error"


class WorkflowError(TaniumError):
    """The evidence workflow could not finish although the API calls worked."""

    reason = "workflow"


class ConnectionTimedOut(WorkflowError):
    """The endpoint never became ``connected``."""

    reason = "connection_timeout"


class ConnectionAmbiguous(WorkflowError):
    """Two new connections to the endpoint appeared after our connect, and neither is known to be ours."""

    reason = "connection_ambiguous"


class TaskFailed(WorkflowError):
    """The file task ended ``ERROR`` or ``INCOMPLETE``, or did not end in time."""

    reason = "task_failed"


class EvidenceMissing(WorkflowError):
    """The task completed but its file evidence cannot be found."""

    reason = "evidence_missing"


class IntegrityError(WorkflowError):
    """The downloaded evidence does not match its size or hash, or is not a valid zip."""

    reason = "integrity"


class TraceFormatError(WorkflowError):
    """The trace does not parse or validate; names the object index and byte offset."""

    reason = "trace_format"

    def __init__(self, message: str, *, index: int | None = None, offset: int | None = None) -> None:
        where = []
        if index is not None:
            where.append(f"object {index}")
        if offset is not None:
            where.append(f"byte offset {offset}")
        super().__init__(f"{message} (at {', '.join(where)})" if where else message)
        self.index = index
        self.offset = offset


__all__ = [
    "APIError",
    "BadRequest",
    "ConnectError",
    "ConnectionTimedOut",
    "EvidenceMissing",
    "IntegrityError",
    "NotFound",
    "ProtocolError",
    "RateLimited",
    "ServerError",
    "SessionExpired",
    "TLSError",
    "TaniumError",
    "TaskFailed",
    "TimeoutError_",
    "TraceFormatError",
    "TransportError",
    "Unauthorized",
    "WorkflowError",
]
