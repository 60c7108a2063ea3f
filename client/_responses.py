"""Response translation, in ONE place: httpx exceptions, error statuses and JSON answers → the client's types.

The client (:mod:`client._client`) sends requests and hands what comes back to this module:

* :func:`transport_error`: an httpx exception (no HTTP answer) → a :class:`~client._errors.TransportError`
  (``ConnectError``, ``TLSError``, ``TimeoutError_``) or a ``ProtocolError`` for an undecodable body;
* :func:`status_error`: an error status → an :class:`~client._errors.APIError` (``BadRequest``,
  ``Unauthorized``, ``SessionExpired``, ``NotFound``, ``RateLimited``, ``ServerError``), with the
  vendor's ``{"text": ...}`` and the ``Retry-After`` (:func:`retry_after_seconds`);
* :func:`parse_json`: a successful answer → its JSON, or ``ProtocolError`` (not JSON, malformed);
  :func:`check_zip` and :func:`check_complete` do the same for an evidence download;
* ``decode_*``: the JSON of each answer → the models of :mod:`client._models` (unwrapping the
  ``{"data": ...}`` envelopes; each model's ``from_api`` checks its own fields).

Every message is one sentence that says what failed and what to do; callers ``raise ... from exc``.

>>> err = status_error(httpx.Response(404, json={"text": "404 Item Not Found"}), method="GET",
...                    path=TR_PREFIX + "/tasks/9")
>>> type(err).__name__, err.status, err.text
('NotFound', 404, '404 Item Not Found')
>>> decode_task({"data": {"id": 9, "status": "COMPLETED"}}).terminal
True
"""

from __future__ import annotations

import email.utils
import json
import ssl
import time
from typing import Any

import httpx

from client._errors import (
    APIError,
    BadRequest,
    ConnectError,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    SessionExpired,
    TaniumError,
    TimeoutError_,
    TLSError,
    TransportError,
    Unauthorized,
)
from client._models import (
    Connection,
    DirEntry,
    Evidence,
    EvidencePage,
    FileInfo,
    FileRequest,
    SystemEndpoint,
    Task,
    obj,
    req,
)

TR_PREFIX = "/plugin/products/threat-response/api/v1"
"""Where the Threat Response routes live; messages name a route without it."""

ZIP_CONTENT_TYPES = frozenset({"application/zip", "application/x-zip-compressed", "application/octet-stream"})


def route_name(method: str, path: str) -> str:
    """How messages name a call: the method and the path, the Threat Response prefix left out.

    >>> route_name("GET", TR_PREFIX + "/tasks/9"), route_name("POST", "/api/v2/session/login")
    ('GET /tasks/9', 'POST /api/v2/session/login')
    """
    return f"{method} {path.removeprefix(TR_PREFIX)}"


# --------------------------------------------------------------------------- httpx exceptions


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def _connect_detail(exc: BaseException) -> str:
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text:
        return "connection refused"
    if any(
        marker in text
        for marker in ("name or service not known", "nodename nor servname", "getaddrinfo", "name resolution")
    ):
        return "host name not found"
    if "unreachable" in text:
        return "network unreachable"
    return str(exc) or type(exc).__name__


def _timeout_kind(exc: httpx.TimeoutException, timeout: httpx.Timeout) -> tuple[str, float | None]:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect", timeout.connect
    if isinstance(exc, httpx.WriteTimeout):
        return "write", timeout.write
    if isinstance(exc, httpx.PoolTimeout):
        return "pool", timeout.pool
    return "read", timeout.read


# OpenSSL's X509_V_ERR_* codes, grouped by what the user must do about them.
_CERT_EXPIRED, _CERT_NOT_YET_VALID = {10}, {9}
_CERT_NAME_MISMATCH = {62, 63, 64}  # hostname, email, IP address
_CERT_UNTRUSTED = {2, 18, 19, 20, 21}  # unknown issuer, self-signed (in chain), unverifiable leaf
# What OpenSSL says when the "TLS record" it reads is an HTTP answer (a plain-HTTP server's 400).
_PLAIN_HTTP = {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG"}


def _certificate_error(exc: ssl.SSLCertVerificationError, url: str) -> TLSError:
    """One sentence per certificate problem, each naming its fix (docs/tls.md lists them)."""
    code = getattr(exc, "verify_code", None)  # set by OpenSSL; absent on errors built by hand
    if code in _CERT_EXPIRED:
        return TLSError(
            f"the server certificate of {url} has expired: the server needs a renewed certificate "
            "(or this computer's clock is wrong)"
        )
    if code in _CERT_NOT_YET_VALID:
        return TLSError(
            f"the server certificate of {url} is not valid yet: check this computer's clock "
            "and the certificate's dates"
        )
    if code in _CERT_NAME_MISMATCH:
        host = httpx.URL(url).host
        return TLSError(
            f"the server certificate of {url} is not issued for {host}: use a URL with a host name the "
            f"certificate names, or reissue it for {host} (simulator: `tanium-sim serve --tls "
            f"--tls-hostname {host}`)"
        )
    if code in _CERT_UNTRUSTED:
        return TLSError(
            f"the server certificate of {url} is not signed by a certificate authority this client "
            "trusts: export the server's CA (simulator: `tanium-sim tls export-ca tanium-sim-ca.pem`, "
            "again after a certificate rotation) and pass `--ca-bundle tanium-sim-ca.pem`"
        )
    detail = getattr(exc, "verify_message", None) or exc
    return TLSError(
        f"the server certificate of {url} was rejected ({detail}): check the certificate, "
        "or trust its CA with `--ca-bundle FILE`"
    )


def transport_error(exc: httpx.HTTPError, *, url: str, timeout: httpx.Timeout) -> TaniumError:
    """THE translation of an httpx exception into the client's tree (callers ``raise ... from exc``).

    >>> err = transport_error(httpx.ConnectError("[Errno 111] Connection refused"), url="http://h:9",
    ...                       timeout=httpx.Timeout(60.0, connect=10.0))
    >>> type(err).__name__, err.reason
    ('ConnectError', 'connect')
    """
    if isinstance(exc, httpx.TimeoutException):
        kind, seconds = _timeout_kind(exc, timeout)
        within = f"within {seconds:g} s" if seconds is not None else "in time"
        return TimeoutError_(
            f"no answer from {url} {within} ({kind} timeout): the server may be overloaded or hung; "
            "retry later or allow a longer timeout"
        )
    verify_failure = next((e for e in _chain(exc) if isinstance(e, ssl.SSLCertVerificationError)), None)
    if verify_failure is not None:
        return _certificate_error(verify_failure, url)
    handshake = next((e for e in _chain(exc) if isinstance(e, ssl.SSLError)), None)
    if handshake is not None and getattr(handshake, "reason", None) in _PLAIN_HTTP:
        plain = httpx.URL(url).copy_with(scheme="http")
        return TLSError(
            f"the server at {url} speaks plain HTTP, not HTTPS: use {plain} (or serve HTTPS, "
            "simulator: `tanium-sim serve --tls`)"
        )
    if handshake is not None or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return TLSError(
            f"the TLS handshake with {url} failed ({exc}): trust the server's certificate authority "
            "or check that the URL names the host the certificate was issued for"
        )
    if isinstance(exc, httpx.ConnectError):
        return ConnectError(
            f"could not connect to {url} ({_connect_detail(exc)}): is the server running at that address? "
            "for the simulator, start it with `tanium-sim serve`"
        )
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(
            f"the answer from {url} could not be decoded ({exc}): the server or a proxy sent a corrupt body"
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ConnectError(f"cannot reach {url} ({exc}): use an http:// or https:// URL")
    return TransportError(
        f"the connection to {url} broke before a complete answer ({exc or type(exc).__name__}): retry; "
        "if it keeps happening the server or a proxy is dropping connections"
    )


# --------------------------------------------------------------------------- error statuses


def _error_text(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("text"), str):
        return str(body["text"])
    raw = response.text.strip()
    return raw[:200] if raw else response.reason_phrase or str(response.status_code)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date relative to ``now`` (epoch seconds).

    >>> retry_after_seconds("2.5"), retry_after_seconds("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0)
    (2.5, 60.0)
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def status_error(
    response: httpx.Response, *, method: str, path: str, relogged: bool = False, can_login: bool = False
) -> APIError:
    """THE translation of an error status into the client's tree (``text`` from ``{"text": ...}``).

    A 429's or 5xx's ``Retry-After`` (seconds or an HTTP date) becomes the error's ``retry_after``.
    """
    status = response.status_code
    text = _error_text(response)
    what = route_name(method, path)
    if status == 400:
        return BadRequest(
            status, text, f"the server rejected {what} as malformed ({text}): this is a client bug, report it"
        )
    if status == 401:
        return Unauthorized(
            status,
            text,
            f"the server refused the credential for {what} ({text}): "
            "check the API token, or the username and password",
        )
    if status == 403:
        if relogged:
            hint = "logging in again did not help: check the account's permissions and trusted IPs"
        elif can_login:
            hint = "log in again"
        else:
            hint = "get a new API token (tokens expire and are bound to trusted client IPs)"
        return SessionExpired(status, text, f"the session expired for {what} ({text}): {hint}")
    if status == 404:
        return NotFound(
            status,
            text,
            f"{what} found nothing ({text}): check the id, and that the Threat Response module is installed",
        )
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        when = f"retry after {retry_after:g} s" if retry_after is not None else "retry later"
        message = f"the server is rate limiting {what} ({text}): {when}, or lower the concurrency"
        return RateLimited(status, text, retry_after, message)
    if status >= 500:
        # A 503 may say when to come back (RFC 9110 §10.2.3); some gateways send it with other 5xx too.
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        when = f"retry after {retry_after:g} s" if retry_after is not None else "retry later"
        return ServerError(
            status, text, f"the server failed on {what} ({status}: {text}): {when}", retry_after=retry_after
        )
    return APIError(status, text, f"the server answered {what} with {status} ({text}): this is unexpected")


# --------------------------------------------------------------------------- successful answers


def _media_type(response: httpx.Response) -> str:
    content_type: str = response.headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower()


def parse_json(response: httpx.Response, what: str) -> Any:
    """The JSON body of a successful answer, or ProtocolError (wrong content type or malformed)."""
    media = _media_type(response)
    if media != "application/json" and not media.endswith("+json"):
        raise ProtocolError(
            f"the answer to {what} is {media or 'untyped'}, not JSON: "
            "is the URL a Tanium server (and not a proxy or login page)?"
        )
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise ProtocolError(
            f"the answer to {what} is not valid JSON ({exc}): the server or a proxy sent a broken body"
        ) from exc


def check_zip(response: httpx.Response, uuid: str) -> None:
    """ProtocolError unless the download of evidence ``uuid`` is typed as a zip."""
    media = _media_type(response)
    if media not in ZIP_CONTENT_TYPES:
        raise ProtocolError(
            f"the download of evidence {uuid} is {media or 'untyped'}, not a zip: "
            "is the URL a Tanium server (and not a proxy or login page)?"
        )


def check_complete(response: httpx.Response, received: int, uuid: str) -> None:
    """TransportError if the body of evidence ``uuid`` ended before its ``Content-Length``."""
    expected = response.headers.get("content-length")
    if (
        expected is not None
        and expected.isdigit()
        and "content-encoding" not in response.headers
        and received != int(expected)
    ):
        raise TransportError(
            f"the download of evidence {uuid} stopped after {received} of {expected} bytes: "
            "the connection broke; retry"
        )


# --------------------------------------------------------------------------- JSON answers → models


def decode_login(data: Any) -> str:
    """The session string of a ``POST /api/v2/session/login`` answer (``{"data": {"session": ...}}``)."""
    where = "login answer"
    inner = obj(req(obj(data, where), "data", dict, where), f"{where} data")
    return req(inner, "session", str, f"{where} data")


def decode_current(data: Any) -> dict[str, Any]:
    """The user record of a ``GET /api/v2/session/current`` answer; an empty one is not a session."""
    inner = req(obj(data, "current session answer"), "data", dict, "current session answer")
    if not inner:
        raise ProtocolError("the current session answer has an empty 'data': the session is not valid")
    return dict(inner)


def _is_cache_info(row: object) -> bool:
    """Platform lists end with ``{"cache_id", "cache_row_count", ...}``: not an item."""
    return isinstance(row, dict) and "cache_id" in row and "computer_id" not in row


def decode_system_status(data: Any) -> tuple[list[SystemEndpoint], int | None]:
    """One page of ``GET /api/v2/system_status``: its endpoints, and the total its cache info announces.

    Platform lists end with a cache-info element whose ``filtered_row_count`` counts every row; the
    total is None when the page has none (or the count is not a number).

    >>> decode_system_status({"data": [{"cache_id": "c1", "filtered_row_count": 0}]})
    ([], 0)
    """
    where = "system_status answer"
    rows = req(obj(data, where), "data", list, where)
    page = [SystemEndpoint.from_api(row) for row in rows if not _is_cache_info(row)]
    total = next((row.get("filtered_row_count") for row in rows if _is_cache_info(row)), None)
    return page, total if isinstance(total, int) else None


def decode_connect(data: Any) -> str:
    """The provisional connection id a ``POST /conns/connect`` answers (a bare JSON string)."""
    if not isinstance(data, str):
        raise ProtocolError(
            f"the connect answer is a {type(data).__name__}, not a JSON string: "
            "the server does not follow the Threat Response API"
        )
    return data


def decode_connections(data: Any) -> list[Connection]:
    """The connections of a ``GET /conns`` answer (a bare array)."""
    if not isinstance(data, list):
        raise ProtocolError(
            f"the connection list is a {type(data).__name__}, not an array: "
            "the server does not follow the Threat Response API"
        )
    return [Connection.from_api(item) for item in data]


def decode_connection(data: Any) -> Connection:
    """The connection of a ``GET /conns/{cid}`` answer."""
    return Connection.from_api(data)


def decode_file_request(data: Any) -> FileRequest:
    """The ``taskInfo`` of a ``POST /conns/{cid}/file`` answer."""
    return FileRequest.from_api(data)


def decode_file_info(data: Any) -> FileInfo:
    """The file of a ``GET /conns/{cid}/file/info/{path}`` answer (``info`` and its envelope)."""
    return FileInfo.from_api(data)


def decode_file_list(data: Any) -> list[DirEntry]:
    """The entries of a ``GET /conns/{cid}/file/list/{path}`` answer (``{..., "entries": [...]}``)."""
    entries = req(obj(data, "directory listing"), "entries", list, "directory listing")
    return [DirEntry.from_api(entry) for entry in entries]


def decode_task(data: Any) -> Task:
    """The task of a ``GET /tasks/{id}`` answer (``{"data": {...}}``)."""
    return Task.from_api(req(obj(data, "task answer"), "data", dict, "task answer"))


def decode_tasks(data: Any) -> list[Task]:
    """The tasks of a ``GET /tasks`` answer (``{"data": [...]}``)."""
    return [Task.from_api(t) for t in req(obj(data, "task list"), "data", list, "task list")]


def decode_evidence_page(data: Any) -> EvidencePage:
    """One page of a ``GET /filedownload`` answer."""
    return EvidencePage.from_api(data)


def decode_evidence(data: Any) -> Evidence:
    """The evidence of a ``GET /filedownload/{uuid}`` answer (``{"evidence": {...}}``)."""
    return Evidence.from_api(req(obj(data, "evidence answer"), "evidence", dict, "evidence answer"))


def decode_module_status(data: Any) -> dict[str, Any]:
    """The status object of a ``GET /status`` answer (its shape is not documented)."""
    return dict(obj(data, "module status"))


__all__ = [
    "TR_PREFIX",
    "ZIP_CONTENT_TYPES",
    "check_complete",
    "check_zip",
    "decode_connect",
    "decode_connection",
    "decode_connections",
    "decode_current",
    "decode_evidence",
    "decode_evidence_page",
    "decode_file_info",
    "decode_file_list",
    "decode_file_request",
    "decode_login",
    "decode_module_status",
    "decode_system_status",
    "decode_task",
    "decode_tasks",
    "parse_json",
    "retry_after_seconds",
    "route_name",
    "status_error",
    "transport_error",
]
