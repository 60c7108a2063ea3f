"""The console's live journal with several workers on one Redis: the stream one worker serves carries
the requests every worker answered (it polls the shared journal's cursor; no request is hooked)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from simulator.console.events import read_since
from simulator.shared import SharedControl, SharedJournal
from simulator.state.redis_store import RedisStore
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


def test_a_shared_journal_reads_only_the_entries_after_the_cursor(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One script on Redis reads the entries after the cursor where they lie in the capped list: the
    same entries as the whole-list read, never the whole list; a clear numbers from 1 again."""
    store = RedisStore.from_url(redis_url, prefix="since")
    try:
        journal = SharedJournal(SharedControl(store), capacity=5, flush_s=0)
        for i in range(8):  # the list keeps 4..8
            journal.record(method="GET", path=f"/x/{i}", operation="get_task", status=200, client_id=str(i))
        for cursor in range(0, 10):
            for limit in (1, 2, 100):
                expected = journal.query(since=cursor)[:limit]
                assert journal.read_since(cursor, limit) == (expected, 8), (cursor, limit)
        assert [e.client_id for e in journal.read_since(5, 2)[0]] == ["5", "6"]

        def whole_list() -> None:
            raise AssertionError("read the whole journal list")

        monkeypatch.setattr(journal, "_read", whole_list)
        assert [e.seq for e in read_since(journal, 6)[0]] == [7, 8]
        monkeypatch.undo()
        journal.clear()
        journal.record(method="GET", path="/y", operation="connect", status=200)
        assert [(e.seq, e.path) for e in journal.read_since(0, 10)[0]] == [(1, "/y")]
        entries, cursor, cleared = read_since(journal, 8)  # the stream's cursor is past the new numbers
        assert ([e.path for e in entries], cursor, cleared) == (["/y"], 1, True)
    finally:
        store.close()
