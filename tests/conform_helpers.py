"""Recording sessions for the conformance tests: an httpx transport that writes every exchange to a HAR.

:func:`record_session` runs the reference client's whole evidence workflow (system status, connect,
poll, request the trace, poll the task, download, clean up) against a fresh in-process simulator on a
manual clock, recording it with :class:`~simulator.record.har.HarWriter`, with the credential replaced
by the placeholder a sanitized recording holds (``<session-1>``). :func:`edit_har` changes one recorded
answer, the way a real server's answer would differ.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from client import AsyncTaniumClient, PollPolicy, collect_trace
from simulator.app import create_app
from simulator.clock import ManualClock, VirtualSleep
from simulator.record.har import Exchange, HarWriter
from simulator.settings import Settings

PLACEHOLDER = "<session-1>"


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes each request to ``inner`` and appends the exchange to ``har``, credentials masked as a
    sanitized recording holds them: sessions (the token, and each one a login issued) as ``<session-N>``
    wherever they appear, a login's username and password as ``<redacted>``.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, har: HarWriter) -> None:
        self.inner = inner
        self.har = har
        self.sessions: dict[str, str] = {}  # real session -> placeholder

    def mask(self, text: str) -> str:
        for real, placeholder in self.sessions.items():
            text = text.replace(real, placeholder)
        return text

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.time()
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        login = request.url.path == "/api/v2/session/login"
        if login and response.status_code == 200:
            issued = json.loads(body)["data"]["session"]
            self.sessions.setdefault(issued, f"<session-{len(self.sessions) + 1}>")
        for k, v in request.headers.items():
            if k.lower() == "session":
                self.sessions.setdefault(v, f"<session-{len(self.sessions) + 1}>")
        headers = [(k, self.mask(v)) for k, v in request.headers.items()]
        request_body = request.content
        if login:
            request_body = json.dumps({k: "<redacted>" for k in json.loads(request_body)}).encode()
        self.har.add(
            Exchange(
                request.method,
                str(request.url),
                status=response.status_code,
                request_headers=headers,
                request_body=self.mask(request_body.decode()).encode(),
                response_headers=list(response.headers.items()),
                response_body=self.mask(body.decode()).encode() if _is_json(response) else body,
                started=started,
            )
        )
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "")


async def record_login_session(har_path: Path, *, endpoints: int = 4) -> Path:
    """Record a platform login, the current user, and a logout (sessions and credentials masked)."""
    settings = Settings(endpoints=endpoints, journal=False)
    app = create_app(settings, clock=ManualClock())
    with HarWriter(har_path) as har:
        transport = RecordingTransport(httpx.ASGITransport(app=app), har)
        async with AsyncTaniumClient(
            "http://tanium.example",
            username=settings.username,
            password=settings.password,
            transport=transport,
        ) as c:
            await c.login()
            await c.current()
            await c.logout()
    return har_path


async def record_session(har_path: Path, *, seed: int = 0, endpoints: int = 4, index: int = 0) -> Path:
    """Record the reference client collecting endpoint ``index``'s trace from a fresh simulator."""
    clock = ManualClock()
    sleep = VirtualSleep(clock)
    settings = Settings(seed=seed, endpoints=endpoints, journal=False)
    app = create_app(settings, clock=clock, sleep=sleep)
    with HarWriter(har_path) as har:
        transport = RecordingTransport(httpx.ASGITransport(app=app), har)
        async with AsyncTaniumClient("http://tanium.example", token=settings.token, transport=transport) as c:
            endpoints_listed = await c.system_status()
            await collect_trace(
                c,
                endpoints_listed[index].computer_id,
                dest=har_path.parent / "collected",
                poll=PollPolicy(0.1, 0.1, 1.0),
                clock=clock.now,
                sleep=sleep,
            )
    return har_path


def edit_har(
    har_path: Path, out: Path, operation_path: str, change: Callable[[Any], None], *, nth: int = 0
) -> Path:
    """A copy of the recording where ``change`` edited the JSON answer of its ``nth`` request whose
    path ends with ``operation_path`` (the change applies to every later identical answer as well).
    """
    doc = json.loads(har_path.read_text(encoding="utf-8"))
    matches = [e for e in doc["log"]["entries"] if e["request"]["url"].endswith(operation_path)]
    for entry in matches[nth:]:
        content = entry["response"]["content"]
        body = json.loads(content["text"])
        change(body)
        content["text"] = json.dumps(body)
        content["size"] = len(content["text"])
    out.write_text(json.dumps(doc), encoding="utf-8")
    return out


def entries_of(har_path: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(har_path.read_text(encoding="utf-8"))["log"]["entries"]
    return entries
