"""The console's live journal with several workers on one Redis: the stream one worker serves carries
the requests every worker answered (it polls the shared journal's cursor; no request is hooked)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.serve_process import serve_process

pytestmark = [pytest.mark.sockets, pytest.mark.redis]
TR = "/plugin/products/threat-response/api/v1"
TOKEN = "token-3c3c3c3c3c3c3c3c"
ADMIN = "console-shared-admin"
DEADLINE_S = 20.0
REQUESTS = 12


def _until_up(url: str) -> None:
    """The workers may start listening just after ``serve`` announced the address: poll (bounded)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            if httpx.get(url + "/_sim/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        threading.Event().wait(0.05)


def test_the_event_stream_carries_every_workers_requests(redis_url: str) -> None:
    credentials = ("--seed", "3", "--endpoints", "4", "--token", TOKEN, "--admin-token", ADMIN)
    with serve_process("--store", redis_url, "--workers", "2", *credentials) as (url, _):
        _until_up(url)
        seen: list[dict[str, object]] = []
        headers = {"authorization": f"Bearer {ADMIN}", "accept": "text/event-stream"}
        stream_client = httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(10, read=30))
        opened = threading.Event()

        def follow() -> None:
            try:
                with stream_client.stream("GET", "/_sim/events?since=0") as r:
                    for line in r.iter_lines():
                        opened.set()
                        if line.startswith('data: {"seq"'):
                            seen.append(json.loads(line[6:]))
            except httpx.HTTPError:
                pass  # closed by the test

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        assert opened.wait(DEADLINE_S), "the event stream did not open"
        for _ in range(REQUESTS):  # a new connection each: the kernel spreads them over the workers
            with httpx.Client(base_url=url, headers={"session": TOKEN}, timeout=10) as vendor:
                r = vendor.get(f"{TR}/status")
                assert r.status_code == 200
        deadline = time.monotonic() + DEADLINE_S
        while sum(e["operation"] == "module_status" for e in seen) < REQUESTS and time.monotonic() < deadline:
            reader.join(0.05)  # bounded wait for the stream to catch up
        stream_client.close()
        reader.join(10)
        statuses = [e for e in seen if e["operation"] == "module_status"]
        assert len(statuses) == REQUESTS, seen
        assert [e["seq"] for e in seen] == sorted({int(str(e["seq"])) for e in seen})  # no repeats, in order
