"""The low-level Threat Response client: one async method per API call (docs/api.md §1-§3).

>>> async with AsyncTaniumClient("http://127.0.0.1:8443", token="token-abc") as client:  # doctest: +SKIP
...     raw_id = await client.connect("123")                # '"remote:undefined:123:"' decoded
...     conns = [c for c in await client.list_connections() if c.client_id == "123"]
...     page = await client.list_evidence(limit=50, sort="-downloaded")

Every request carries the ``session`` header. With ``username``/``password`` the client logs in on
first use and, on a 403, logs in again once and retries the request once, with the new session (the
server keeps answering 403 to the expired one; only a policy with ``resend_stale_session``, a bug kept
for the QA matrix, retries with the old one). Every failure is one of
the types in :mod:`client._errors`, and what comes back is translated in ONE place,
:mod:`client._responses`: :func:`~client._responses.transport_error` for httpx exceptions,
:func:`~client._responses.status_error` for error statuses, :func:`~client._responses.parse_json`
and the ``decode_*`` functions for the answers. This module sends requests and never looks inside
an answer. Tokens and passwords are never logged nor shown in ``repr``.

Retries for 429/5xx are not done here. The seam for them is :class:`~client._policy.RequestPolicy`
(:mod:`client._policy`): every request runs as ``await policy.execute(context, attempt)``, where
``attempt()`` performs one complete try (send, 403 re-login, status translation) and raises the typed
error; a retrying policy calls it again. :class:`~client._policy.SingleAttempt` (the default) calls it
once; :class:`client._retry.RetryPolicy` retries with backoff, ``Retry-After`` and a budget, and is
what ``tanium-sim collect`` and the QA matrix use (pass ``policy=RetryPolicy()``; it stays opt-in
here so a library caller decides what may repeat).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from client._errors import APIError
from client._models import (
    Connection,
    DirEntry,
    Evidence,
    EvidencePage,
    FileInfo,
    FileRequest,
    SystemEndpoint,
    Task,
)
from client._policy import RequestContext, RequestPolicy, SingleAttempt
from client._responses import (
    TR_PREFIX,
    check_complete,
    check_zip,
    decode_connect,
    decode_connection,
    decode_connections,
    decode_current,
    decode_evidence,
    decode_evidence_page,
    decode_file_info,
    decode_file_list,
    decode_file_request,
    decode_login,
    decode_module_status,
    decode_system_status,
    decode_task,
    decode_tasks,
    parse_json,
    route_name,
    status_error,
    transport_error,
)
from client._retry_log import note_retry

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
"""Per-request timeouts when none are passed in: 60 s to read, 10 s to connect (docs/api.md §7)."""


# --------------------------------------------------------------------------- the client


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
        # Broken on purpose when set (client._policy.RequestPolicy): the 403 retry reuses the old session.
        self._resend_stale_session = bool(getattr(self._policy, "resend_stale_session", False))
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
            note_retry(route_name(method, path), "relogin")  # for collect's report (client._retry_log)
            retry_session = session if self._resend_stale_session else self._session
            response = await self._send_once(
                method, path, body=body, params=params, headers=headers, session=retry_session, stream=stream
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
        context = RequestContext.of(method, path)

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
        return parse_json(response, route_name(method, path))

    async def _ack(self, method: str, path: str, **kwargs: Any) -> None:
        """Calls answered with ``{}``: an empty body is tolerated, anything else must be JSON."""
        response = await self._request(method, path, **kwargs)
        if response.content.strip():
            parse_json(response, route_name(method, path))

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
        self._session = decode_login(data)
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
        return decode_current(await self._json("GET", "/api/v2/session/current"))

    async def system_status(self, *, page_size: int = 1000) -> list[SystemEndpoint]:
        """``GET /api/v2/system_status``: every endpoint; ``computer_id`` is the clientId (docs/api.md §2).

        Pages with the ``tanium-options`` header (``row_start``/``row_count``) and drops the trailing
        cache-info element platform lists end with.

        >>> ids = [e.computer_id for e in await client.system_status()]  # doctest: +SKIP
        """
        endpoints: list[SystemEndpoint] = []
        while True:
            options = json.dumps({"row_start": len(endpoints), "row_count": page_size})
            data = await self._json("GET", "/api/v2/system_status", headers={"tanium-options": options})
            page, total = decode_system_status(data)
            endpoints += page
            done = len(endpoints) >= total if total is not None else len(page) < page_size
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
        return decode_connect(await self._json("POST", f"{TR_PREFIX}/conns/connect", body={"target": target}))

    async def list_connections(self) -> list[Connection]:
        """``GET /conns``: every connection, historical ones included (a bare array)."""
        return decode_connections(await self._json("GET", f"{TR_PREFIX}/conns"))

    async def get_connection(self, connection_id: str) -> Connection:
        """``GET /conns/{cid}``."""
        return decode_connection(await self._json("GET", f"{TR_PREFIX}/conns/{_cid(connection_id)}"))

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
        return decode_file_request(data)

    async def file_info(self, connection_id: str, path: str) -> FileInfo:
        """``GET /conns/{cid}/file/info/{path}``."""
        data = await self._json("GET", f"{TR_PREFIX}/conns/{_cid(connection_id)}/file/info/{_q(path)}")
        return decode_file_info(data)

    async def file_list(self, connection_id: str, path: str) -> list[DirEntry]:
        """``GET /conns/{cid}/file/list/{path}``."""
        data = await self._json("GET", f"{TR_PREFIX}/conns/{_cid(connection_id)}/file/list/{_q(path)}")
        return decode_file_list(data)

    # ----------------------------------------------------------------------- tasks

    async def get_task(self, task_id: int) -> Task:
        """``GET /tasks/{id}``."""
        return decode_task(await self._json("GET", f"{TR_PREFIX}/tasks/{task_id}"))

    async def list_tasks(self) -> list[Task]:
        """``GET /tasks``."""
        return decode_tasks(await self._json("GET", f"{TR_PREFIX}/tasks"))

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
        return decode_evidence_page(data)

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
        return decode_evidence(await self._json("GET", f"{TR_PREFIX}/filedownload/{_q(uuid)}"))

    async def stream_evidence(self, uuid: str, *, chunk_size: int = 64 * 1024) -> AsyncGenerator[bytes, None]:
        """``GET /filedownload/data/{uuid}`` as chunks of the (encrypted) zip.

        Raises TransportError if the body ends before its ``Content-Length``.

        >>> async with contextlib.aclosing(client.stream_evidence(uuid)) as chunks:  # doctest: +SKIP
        ...     async for chunk in chunks: ...
        """
        path = f"{TR_PREFIX}/filedownload/data/{_q(uuid)}"
        response = await self._request("GET", path, stream=True)
        try:
            check_zip(response, uuid)
            received = 0
            try:
                async for chunk in response.aiter_bytes(chunk_size):
                    received += len(chunk)
                    yield chunk
            except httpx.HTTPError as exc:
                raise transport_error(exc, url=self.base_url, timeout=self._timeout) from exc
            check_complete(response, received, uuid)
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
        return decode_module_status(await self._json("GET", f"{TR_PREFIX}/status"))


__all__ = ["DEFAULT_TIMEOUT", "AsyncTaniumClient"]
