"""The low-level Threat Response client: one async method per API call (spec §1-§3).

>>> async with AsyncTaniumClient("http://127.0.0.1:8443", token="token-abc") as client:  # doctest: +SKIP
...     raw_id = await client.connect("123")                # '"remote:undefined:123:"' decoded
...     conns = [c for c in await client.list_connections() if c.client_id == "123"]
...     page = await client.list_evidence(limit=50, sort="-downloaded")

Every request carries the ``session`` header. With ``username``/``password`` the client logs in on
first use and, on a 403, logs in again once and retries the request once. Every failure is one of
the types in :mod:`client._errors`, translated in ONE place: :func:`transport_error` for httpx
exceptions and :func:`status_error` for error statuses; :func:`parse_json` rejects answers that are
not JSON. Tokens and passwords are never logged nor shown in ``repr``.

Retries for 429/5xx are not done here. The seam for them is :class:`RequestPolicy`: every request
runs as ``await policy.execute(context, attempt)``, where ``attempt()`` performs one complete try
(send, 403 re-login, status translation) and raises the typed error; a retrying policy calls it
again. :class:`SingleAttempt` (the default) calls it once; :class:`client._retry.RetryPolicy` retries
with backoff, ``Retry-After`` and a budget, and is what ``tanium-sim collect`` and the QA matrix use
(pass ``policy=RetryPolicy()``; it stays opt-in here so a library caller decides what may repeat).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import quote

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

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
"""Per-request timeouts when none are passed in: 60 s to read, 10 s to connect (spec §7)."""

TR_PREFIX = "/plugin/products/threat-response/api/v1"
ZIP_CONTENT_TYPES = frozenset({"application/zip", "application/x-zip-compressed", "application/octet-stream"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


# --------------------------------------------------------------------------- retry seam


@dataclass(frozen=True)
class RequestContext:
    """What a :class:`RequestPolicy` may look at to decide on a retry."""

    method: str
    path: str
    idempotent: bool


Attempt = Callable[[], Awaitable[httpx.Response]]


class RequestPolicy(Protocol):
    """Runs one request's attempts. ``attempt()`` raises typed :mod:`client._errors` on failure."""

    async def execute(self, context: RequestContext, attempt: Attempt) -> httpx.Response: ...


class SingleAttempt:
    """The default policy: run each request once, never retry."""

    async def execute(self, context: RequestContext, attempt: Attempt) -> httpx.Response:
        return await attempt()


# --------------------------------------------------------------------------- error translation


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
    ...                       timeout=DEFAULT_TIMEOUT)
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
    if any(isinstance(e, ssl.SSLError) for e in _chain(exc)) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
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
    """``Retry-After`` as seconds: a number, or an HTTP date relative to ``now`` (epoch seconds)."""
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
    what = f"{method} {path.removeprefix(TR_PREFIX)}"
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


# --------------------------------------------------------------------------- the client


def _is_cache_info(row: object) -> bool:
    """Platform lists end with ``{"cache_id", "cache_row_count", ...}``: not an item."""
    return isinstance(row, dict) and "cache_id" in row and "computer_id" not in row


def _q(segment: str) -> str:
    """One URL path segment; endpoint file paths keep no ``/`` unescaped (spec: url-quoted path)."""
    return quote(segment, safe="")


def _cid(connection_id: str) -> str:
    """A connection id as a path segment; its colons stay readable, as other clients send them."""
    return quote(connection_id, safe=":")


class AsyncTaniumClient:
    """Async client for the Tanium platform session API and Threat Response (see module docstring).

    >>> async with AsyncTaniumClient(url, username="u", password="p") as client:  # doctest: +SKIP
    ...     task = await client.get_task(833)
    """

    def __init__(
        self,
        base_url: str | httpx.URL,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        domain: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | ssl.SSLContext = True,
        policy: RequestPolicy | None = None,
    ) -> None:
        url = httpx.URL(str(base_url).rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{base_url!r} is not an http:// or https:// URL")
        self.base_url = str(url)
        self._session = token
        self._username = username
        self._password = password
        self._domain = domain
        self._timeout = timeout
        self._policy: RequestPolicy = policy or SingleAttempt()
        self._login_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, verify=verify
        )

    def __repr__(self) -> str:  # never shows the credential
        return f"AsyncTaniumClient({self.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def can_login(self) -> bool:
        return self._username is not None and self._password is not None

    # ----------------------------------------------------------------------- request machinery

    async def _send_once(
        self,
        method: str,
        path: str,
        *,
        body: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        session: str | None,
        stream: bool,
    ) -> httpx.Response:
        headers = {**(headers or {}), **({"session": session} if session else {})}
        request = self._http.build_request(method, path, json=body, params=params, headers=headers)
        log.debug("%s %s", method, path)
        try:
            return await self._http.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise transport_error(exc, url=self.base_url, timeout=self._timeout) from exc

    async def _attempt(
        self,
        method: str,
        path: str,
        *,
        body: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        auth: bool,
        relogin: bool,
        stream: bool,
    ) -> httpx.Response:
        if auth and self._session is None and self.can_login:
            await self._relogin(None)
        session = self._session if auth else None
        response = await self._send_once(
            method, path, body=body, params=params, headers=headers, session=session, stream=stream
        )
        relogged = False
        if response.status_code == 403 and auth and relogin and self.can_login:
            await response.aclose()
            await self._relogin(session)
            relogged = True
            response = await self._send_once(
                method, path, body=body, params=params, headers=headers, session=self._session, stream=stream
            )
        if response.is_error:
            try:
                if stream:
                    await response.aread()
            except httpx.HTTPError:
                pass  # the status alone says enough
            finally:
                await response.aclose()
            raise status_error(
                response, method=method, path=path, relogged=relogged, can_login=self.can_login
            )
        return response

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        relogin: bool = True,
        stream: bool = False,
    ) -> httpx.Response:
        context = RequestContext(method, path, method in _IDEMPOTENT)

        async def attempt() -> httpx.Response:
            return await self._attempt(
                method,
                path,
                body=body,
                params=params,
                headers=headers,
                auth=auth,
                relogin=relogin,
                stream=stream,
            )

        return await self._policy.execute(context, attempt)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        return parse_json(response, f"{method} {path.removeprefix(TR_PREFIX)}")

    async def _ack(self, method: str, path: str, **kwargs: Any) -> None:
        """Calls answered with ``{}``: an empty body is tolerated, anything else must be JSON."""
        response = await self._request(method, path, **kwargs)
        if response.content.strip():
            parse_json(response, f"{method} {path.removeprefix(TR_PREFIX)}")

    async def _relogin(self, failed_session: str | None) -> None:
        async with self._login_lock:
            # Another request may have logged in while this one waited for the lock.
            if self._session is not None and self._session != failed_session:
                return
            await self.login()

    # ----------------------------------------------------------------------- platform auth

    async def login(
        self, username: str | None = None, password: str | None = None, domain: str | None = None
    ) -> str:
        """``POST /api/v2/session/login``; keeps and returns the new session string.

        >>> session = await client.login("operator", "secret")  # doctest: +SKIP
        """
        if username is not None:
            self._username, self._password, self._domain = username, password, domain
        if self._username is None or self._password is None:
            raise ValueError("login needs a username and a password")
        body: dict[str, str] = {"username": self._username, "password": self._password}
        if self._domain:
            body["domain"] = self._domain
        data = await self._json("POST", "/api/v2/session/login", body=body, auth=False)
        where = "login answer"
        inner = obj(req(obj(data, where), "data", dict, where), f"{where} data")
        self._session = req(inner, "session", str, f"{where} data")
        return self._session

    async def validate(self, session: str | None = None) -> bool:
        """``POST /api/v2/session/validate``: True when the session (ours by default) is valid."""
        session = session or self._session
        try:
            await self._request("POST", "/api/v2/session/validate", body={"session": session}, relogin=False)
        except APIError as exc:
            if exc.status >= 500:
                raise
            return False
        return True

    async def logout(self) -> None:
        """``POST /api/v2/session/logout``; forgets the session."""
        await self._ack("POST", "/api/v2/session/logout", body={"session": self._session}, relogin=False)
        self._session = None

    async def current(self) -> dict[str, Any]:
        """``GET /api/v2/session/current``: the session's user record (the ``data`` object)."""
        data = await self._json("GET", "/api/v2/session/current")
        inner = req(obj(data, "current session answer"), "data", dict, "current session answer")
        if not inner:
            raise ProtocolError("the current session answer has an empty 'data': the session is not valid")
        return dict(inner)

    async def system_status(self, *, page_size: int = 1000) -> list[SystemEndpoint]:
        """``GET /api/v2/system_status``: every endpoint; ``computer_id`` is the clientId (spec §2).

        Pages with the ``tanium-options`` header (``row_start``/``row_count``) and drops the trailing
        cache-info element platform lists end with.

        >>> ids = [e.computer_id for e in await client.system_status()]  # doctest: +SKIP
        """
        where = "system_status answer"
        endpoints: list[SystemEndpoint] = []
        while True:
            options = json.dumps({"row_start": len(endpoints), "row_count": page_size})
            data = await self._json("GET", "/api/v2/system_status", headers={"tanium-options": options})
            rows = req(obj(data, where), "data", list, where)
            page = [SystemEndpoint.from_api(row) for row in rows if not _is_cache_info(row)]
            endpoints += page
            total = next((row.get("filtered_row_count") for row in rows if _is_cache_info(row)), None)
            done = len(endpoints) >= total if isinstance(total, int) else len(page) < page_size
            if done or not page:
                return endpoints

    # ----------------------------------------------------------------------- connections

    async def connect(
        self,
        client_id: str,
        *,
        hostname: str | None = None,
        ip: str | None = None,
        platform: str | None = None,
    ) -> str:
        """``POST /conns/connect``; returns the provisional id, e.g. ``remote:undefined:123:``.

        The listed connection gets a different id: find it with :meth:`list_connections`.
        """
        target = {"clientId": client_id}
        for key, value in (("hostname", hostname), ("ip", ip), ("platform", platform)):
            if value is not None:
                target[key] = value
        data = await self._json("POST", f"{TR_PREFIX}/conns/connect", body={"target": target})
        if not isinstance(data, str):
            raise ProtocolError(
                f"the connect answer is a {type(data).__name__}, not a JSON string: "
                "the server does not follow the Threat Response API"
            )
        return data

    async def list_connections(self) -> list[Connection]:
        """``GET /conns``: every connection, historical ones included (a bare array)."""
        data = await self._json("GET", f"{TR_PREFIX}/conns")
        if not isinstance(data, list):
            raise ProtocolError(
                f"the connection list is a {type(data).__name__}, not an array: "
                "the server does not follow the Threat Response API"
            )
        return [Connection.from_api(item) for item in data]

    async def get_connection(self, connection_id: str) -> Connection:
        """``GET /conns/{cid}``."""
        return Connection.from_api(await self._json("GET", f"{TR_PREFIX}/conns/{_cid(connection_id)}"))

    async def close_connection(self, connection_id: str) -> None:
        """``DELETE /conns/close/{cid}``: the connection becomes ``disconnected``."""
        await self._ack("DELETE", f"{TR_PREFIX}/conns/close/{_cid(connection_id)}")

    async def delete_connection(self, connection_id: str) -> None:
        """``DELETE /conns/delete/{cid}``: removes the record."""
        await self._ack("DELETE", f"{TR_PREFIX}/conns/delete/{_cid(connection_id)}")

    # ----------------------------------------------------------------------- files on the endpoint

    async def request_file(self, connection_id: str, path: str) -> FileRequest:
        """``POST /conns/{cid}/file``: starts a ``fileDownload`` task (``.task_id``)."""
        data = await self._json("POST", f"{TR_PREFIX}/conns/{_cid(connection_id)}/file", body={"path": path})
        return FileRequest.from_api(data)

    async def file_info(self, connection_id: str, path: str) -> FileInfo:
        """``GET /conns/{cid}/file/info/{path}``."""
        data = await self._json("GET", f"{TR_PREFIX}/conns/{_cid(connection_id)}/file/info/{_q(path)}")
        return FileInfo.from_api(req(obj(data, "file info answer"), "info", dict, "file info answer"))

    async def file_list(self, connection_id: str, path: str) -> list[DirEntry]:
        """``GET /conns/{cid}/file/list/{path}``."""
        data = await self._json("GET", f"{TR_PREFIX}/conns/{_cid(connection_id)}/file/list/{_q(path)}")
        entries = req(obj(data, "directory listing"), "entries", list, "directory listing")
        return [DirEntry.from_api(entry) for entry in entries]

    # ----------------------------------------------------------------------- tasks

    async def get_task(self, task_id: int) -> Task:
        """``GET /tasks/{id}``."""
        data = await self._json("GET", f"{TR_PREFIX}/tasks/{task_id}")
        return Task.from_api(req(obj(data, "task answer"), "data", dict, "task answer"))

    async def list_tasks(self) -> list[Task]:
        """``GET /tasks``."""
        data = await self._json("GET", f"{TR_PREFIX}/tasks")
        return [Task.from_api(t) for t in req(obj(data, "task list"), "data", list, "task list")]

    # ----------------------------------------------------------------------- file evidence

    async def list_evidence(
        self, limit: int | None = None, offset: int | None = None, sort: str | None = None
    ) -> EvidencePage:
        """``GET /filedownload``; ``sort`` is a field name, ``-`` prefixed for descending.

        >>> page = await client.list_evidence(limit=100, offset=0, sort="-downloaded")  # doctest: +SKIP
        >>> page.total_count, [e.uuid for e in page.file_evidence]  # doctest: +SKIP
        """
        params = {k: v for k, v in (("limit", limit), ("offset", offset), ("sort", sort)) if v is not None}
        data = await self._json("GET", f"{TR_PREFIX}/filedownload", params=params or None)
        return EvidencePage.from_api(data)

    async def iter_evidence(
        self, *, page_size: int = 100, sort: str | None = None
    ) -> AsyncIterator[Evidence]:
        """Every file evidence item, page by page."""
        offset = 0
        while True:
            page = await self.list_evidence(limit=page_size, offset=offset, sort=sort)
            for item in page.file_evidence:
                yield item
            offset += len(page.file_evidence)
            if not page.file_evidence or offset >= page.total_count:
                return

    async def get_evidence(self, uuid: str) -> Evidence:
        """``GET /filedownload/{uuid}``."""
        data = await self._json("GET", f"{TR_PREFIX}/filedownload/{_q(uuid)}")
        return Evidence.from_api(req(obj(data, "evidence answer"), "evidence", dict, "evidence answer"))

    async def stream_evidence(self, uuid: str, *, chunk_size: int = 64 * 1024) -> AsyncGenerator[bytes, None]:
        """``GET /filedownload/data/{uuid}`` as chunks of the (encrypted) zip.

        Raises TransportError if the body ends before its ``Content-Length``.

        >>> async with contextlib.aclosing(client.stream_evidence(uuid)) as chunks:  # doctest: +SKIP
        ...     async for chunk in chunks: ...
        """
        path = f"{TR_PREFIX}/filedownload/data/{_q(uuid)}"
        response = await self._request("GET", path, stream=True)
        try:
            media = _media_type(response)
            if media not in ZIP_CONTENT_TYPES:
                raise ProtocolError(
                    f"the download of evidence {uuid} is {media or 'untyped'}, not a zip: "
                    "is the URL a Tanium server (and not a proxy or login page)?"
                )
            expected = response.headers.get("content-length")
            received = 0
            try:
                async for chunk in response.aiter_bytes(chunk_size):
                    received += len(chunk)
                    yield chunk
            except httpx.HTTPError as exc:
                raise transport_error(exc, url=self.base_url, timeout=self._timeout) from exc
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
        finally:
            await response.aclose()

    async def download_evidence(self, uuid: str, dest: str | Path, *, chunk_size: int = 64 * 1024) -> int:
        """Streams evidence ``uuid`` (the zip) into the file ``dest``; returns the bytes written.

        >>> written = await client.download_evidence(uuid, Path("out/evidence.zip"))  # doctest: +SKIP
        """
        written = 0
        # Local-disk writes of 64 KiB are fast; a thread hop per chunk would cost more than it saves.
        with Path(dest).open("wb") as fh:  # noqa: ASYNC230
            async with aclosing(self.stream_evidence(uuid, chunk_size=chunk_size)) as chunks:
                async for chunk in chunks:
                    fh.write(chunk)
                    written += len(chunk)
        return written

    async def delete_evidence(self, ids: Sequence[str]) -> None:
        """``DELETE /filedownload`` with ``{"ids": [...]}`` (bulk)."""
        await self._ack("DELETE", f"{TR_PREFIX}/filedownload", body={"ids": list(ids)})

    async def delete_evidence_one(self, uuid: str) -> None:
        """``DELETE /filedownload/{uuid}``."""
        await self._ack("DELETE", f"{TR_PREFIX}/filedownload/{_q(uuid)}")

    async def module_status(self) -> dict[str, Any]:
        """``GET /status``: the Threat Response module's status object (shape not documented)."""
        return dict(obj(await self._json("GET", f"{TR_PREFIX}/status"), "module status"))


__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncTaniumClient",
    "RequestContext",
    "RequestPolicy",
    "SingleAttempt",
    "parse_json",
    "status_error",
    "transport_error",
]
