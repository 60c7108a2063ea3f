"""The console's routes in-process: the page and its files open with a strict policy, every data route
behind the admin token, and what each answers (rates, journal events, one endpoint, its trace, search)."""

from __future__ import annotations

import gzip
import importlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.console.events import LIVE_BATCH, read_live, read_since
from simulator.console.views import RateCounter, rates
from simulator.journal import Journal
from simulator.settings import Settings
from tests.inprocess.conftest import ADMIN, TR, World

pytestmark = pytest.mark.anyio
events_module = importlib.import_module("simulator.console.events")  # the package exports a function so named
ADMIN_HEADERS = {"authorization": f"Bearer {ADMIN}"}
DATA_ROUTES = [
    "/_sim/qa-report",
    "/_sim/stats",
    "/_sim/events",
    "/_sim/scenarios",
    "/_sim/endpoints/1/history",
    "/_sim/endpoints/1/trace",
    "/_sim/endpoints?q=a",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


async def test_the_page_is_served_without_a_token_with_a_strict_policy_and_nothing_inline(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/_sim/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    tags = _Tags()
    tags.feed(page.text)
    scripts = [attrs for tag, attrs in tags.tags if tag == "script"]
    assert scripts == [{"src": "/_sim/ui/console.js", "defer": None}] and not tags.script_text.strip()
    for tag, attrs in tags.tags:  # no inline handlers or styles, nothing from another host
        assert not any(name.startswith("on") or name == "style" for name in attrs), (tag, attrs)
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert value.startswith(("/_sim/ui/", "/_sim/qa-report", "#", "data:")) or not value, (tag, value)
    for path, kind in (("/_sim/ui/console.js", "text/javascript"), ("/_sim/ui/console.css", "text/css")):
        r = await client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", r.text), path  # no other host


@pytest.mark.parametrize("path", DATA_ROUTES)
async def test_every_data_route_needs_the_admin_token(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers={"authorization": "Bearer wrong"})).status_code == 401


async def test_stats_count_requests_and_errors_per_operation_and_evidence_bytes(world: World) -> None:
    task = await world.completed_task(0)
    await world.client.get(f"{TR}/tasks/999999")  # a 404: an error
    r = await world.client.get("/_sim/stats", headers=ADMIN_HEADERS)
    doc = r.json()
    ops = doc["operations"]
    assert ops["connect"]["total"] == 1 and ops["connect"]["error_total"] == 0
    assert ops["get_task"]["total"] == 2 and ops["get_task"]["error_total"] == 1
    assert sum(ops["get_task"]["requests"]) == 2 and len(ops["get_task"]["requests"]) == 30
    size = task["results"]["fileResults"][0]["response"]["totalBytes"]
    assert doc["evidence_bytes"] == size > 0
    bad = await world.client.get("/_sim/stats?window_s=100000&bucket_s=1", headers=ADMIN_HEADERS)
    assert bad.status_code == 400 and "at most" in bad.json()["text"]


def _events(text: str) -> list[tuple[str, str]]:
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((fields.get("event", ""), fields.get("data", "")))
    return out


async def test_events_send_the_journal_since_a_cursor_filtered(world: World) -> None:
    ep = world.endpoint(0)
    await world.completed_task(0)  # connect, list_connections, request_file, get_task
    await world.client.get(f"{TR}/tasks/424242")
    r = await world.client.get("/_sim/events", headers=ADMIN_HEADERS)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert events[0][0] == "hello"
    assert [e for e, _ in events[1:]] == ["request"] * 5
    only_404 = _events((await world.client.get("/_sim/events?status=404", headers=ADMIN_HEADERS)).text)
    assert len(only_404) == 2 and '"seq":5' in only_404[1][1]
    by_client = _events(
        (await world.client.get(f"/_sim/events?client_id={ep.client_id}", headers=ADMIN_HEADERS)).text
    )
    # connect (its clientId read from the body), request_file, get_task: not list_connections
    assert [d for _, d in by_client[1:]] == [events[1][1], events[3][1], events[4][1]]
    assert '"operation":"connect"' in by_client[1][1] and '"operation":"request_file"' in by_client[2][1]
    after = _events((await world.client.get("/_sim/events?since=4", headers=ADMIN_HEADERS)).text)
    assert [d for _, d in after[1:]] == [events[5][1]]


async def test_the_journal_names_the_endpoint_of_connect_and_file_calls(world: World) -> None:
    # The console's journal filters by clientId: connect names it in its body, file/info and file/list
    # through their connection; the fleet-wide calls name none.
    ep = world.endpoint(0)
    conn = await world.connected(0)
    path = world.backend.files.trace_path(ep)
    folder = path.rsplit("/", 1)[0]
    assert (await world.client.get(f"{TR}/conns/{conn['id']}/file/info/{path}")).status_code == 200
    assert (await world.client.get(f"{TR}/conns/{conn['id']}/file/list/{folder}")).status_code == 200
    await world.client.post(f"{TR}/conns/connect", json={"target": {"clientId": "x" * 70_000}})  # 400
    named = {e.operation: e.client_id for e in world.app.state.runtime.journal.query()}
    assert named["connect"] == "x" * 256  # an over-long one is cut: the journal stays small
    entries = world.app.state.runtime.journal.query()
    assert [(e.operation, e.client_id) for e in entries[:4]] == [
        ("connect", ep.client_id),
        ("list_connections", None),
        ("file_info", ep.client_id),
        ("file_list", ep.client_id),
    ]
    shown = _events(
        (await world.client.get(f"/_sim/events?client_id={ep.client_id}", headers=ADMIN_HEADERS)).text
    )
    assert ['"operation":"connect"' in d for _, d in shown[1:]] == [True, False, False]


@pytest.mark.parametrize("capacity", [3, 50])
def test_read_since_reads_what_query_would_after_any_cursor(capacity: int) -> None:
    journal = Journal(capacity=capacity)
    for i in range(7):
        journal.record(method="GET", path=f"/x/{i}", operation="get_task", status=200)
    for cursor in range(0, 9):
        for limit in (1, 2, 100):
            expected = journal.query(since=cursor)[:limit]
            assert journal.read_since(cursor, limit) == (expected, 7), (cursor, limit)
    journal.clear()  # in one process numbers go on after a clear
    journal.record(method="GET", path="/y", operation="connect", status=200)
    assert [(e.seq, e.path) for e in journal.read_since(7, 10)[0]] == [(8, "/y")]


def test_the_event_stream_reads_only_entries_after_its_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(capacity=10)
    for _ in range(4):
        journal.record(method="GET", path="/x", operation="get_task", status=200)

    def whole_journal(**filters: object) -> None:
        raise AssertionError("the stream read the whole journal")

    monkeypatch.setattr(journal, "query", whole_journal)
    entries, cursor, cleared = read_since(journal, 2)
    assert ([e.seq for e in entries], cursor, cleared) == ([3, 4], 4, False)
    assert read_since(journal, 4) == ([], 4, False)


def test_a_cleared_journal_that_numbers_from_1_again_restarts_the_cursor() -> None:
    journal = Journal(capacity=10)
    for _ in range(5):
        journal.record(method="GET", path="/x", operation="get_task", status=200)
    entries, cursor, cleared = read_since(journal, 0)
    assert (len(entries), cursor, cleared) == (5, 5, False)
    assert read_since(journal, cursor) == ([], 5, False)
    fresh = Journal(capacity=10)  # what a shared journal looks like after a clear: seq 1 again
    fresh.record(method="GET", path="/x", operation="connect", status=200)
    entries, cursor, cleared = read_since(fresh, 5)
    assert ([e.operation for e in entries], cursor, cleared) == (["connect"], 1, True)


async def test_an_endpoints_history_holds_only_its_records_and_requests(world: World) -> None:
    await world.completed_task(0)
    await world.completed_task(1)
    ep = world.endpoint(0)
    r = await world.client.get(f"/_sim/endpoints/{ep.client_id}/history", headers=ADMIN_HEADERS)
    doc = r.json()
    assert doc["endpoint"]["hostname"] == ep.hostname
    assert [c["clientId"] for c in doc["connections"]] == [ep.client_id]
    assert len(world.backend.client_records(world.endpoint(1).client_id)["tasks"]) == 1
    assert len(doc["tasks"]) == 1 and doc["tasks"][0]["status"] == "COMPLETED"
    assert len(doc["evidence"]) == 1 and doc["evidence"][0]["visible"] is True
    assert {req["client_id"] for req in doc["requests"]} == {ep.client_id}
    missing = await world.client.get("/_sim/endpoints/nope/history", headers=ADMIN_HEADERS)
    assert missing.status_code == 404


async def test_an_endpoints_trace_is_the_generated_file(world: World) -> None:
    ep = world.endpoint(2)
    r = await world.client.get(f"/_sim/endpoints/{ep.client_id}/trace", headers=ADMIN_HEADERS)
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
    assert f'filename="{ep.hostname}-scan1-' in r.headers["content-disposition"]
    assert r.content == world.backend.trace(ep).data
    assert gzip.decompress(r.content).startswith(b'{"format":"CST"')
    for scan in (0, 2):  # not a scan; a future one (generating it would walk every scan before it)
        bad = await world.client.get(
            f"/_sim/endpoints/{ep.client_id}/trace?scan={scan}", headers=ADMIN_HEADERS
        )
        assert bad.status_code == 400


async def test_the_fleet_search_matches_hostname_client_id_and_platform(world: World) -> None:
    fleet = world.backend.fleet
    ep = fleet.endpoint(5)
    r = await world.client.get(f"/_sim/endpoints?q={ep.hostname.upper()}", headers=ADMIN_HEADERS)
    assert [e["clientId"] for e in r.json()["endpoints"]] == [ep.client_id] and r.json()["total"] == 1
    linux = [e.client_id for e in fleet if e.platform == "Linux"]
    page = (await world.client.get("/_sim/endpoints?q=linux&limit=3&offset=1", headers=ADMIN_HEADERS)).json()
    assert page["total"] == len(linux) and [e["clientId"] for e in page["endpoints"]] == linux[1:4]
    none = (await world.client.get("/_sim/endpoints?q=zz-no-such-host", headers=ADMIN_HEADERS)).json()
    assert none == {"total": 0, "offset": 0, "endpoints": []}


async def test_scenarios_lists_the_named_ones_with_their_sentence(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/_sim/scenarios", headers=ADMIN_HEADERS)).json()
    names = [s["name"] for s in doc["scenarios"]]
    assert doc["running"] == "baseline" and "flaky-5xx" in names and names == sorted(names)
    flaky = next(s for s in doc["scenarios"] if s["name"] == "flaky-5xx")
    assert flaky["description"].startswith("Flaky 5xx")


def _qa_link(html: str) -> dict[str, str | None]:
    tags = _Tags()
    tags.feed(html)
    (link,) = [attrs for tag, attrs in tags.tags if tag == "a" and attrs.get("id") == "qa-report"]
    return link


def _heatmap(path: Path) -> Path:
    from simulator.qa.html import write_html
    from simulator.qa.runner import EndpointResult, MatrixResult, RunResult

    run = RunResult("baseline", 1, "in-process", [EndpointResult("101", "default", "success", True)])
    write_html(MatrixResult("reference", 1, (1,), [run]), path)
    return path


async def test_without_a_qa_report_the_link_is_hidden_and_the_route_says_how(
    client: httpx.AsyncClient,
) -> None:
    assert "hidden" in _qa_link((await client.get("/_sim/ui")).text)
    r = await client.get("/_sim/qa-report", headers=ADMIN_HEADERS)
    assert r.status_code == 404 and "serve --qa-report FILE" in r.json()["text"]


async def test_serve_qa_report_links_the_heatmap_and_serves_only_that_file(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    report = _heatmap(tmp_path / "qa.html")
    (tmp_path / "other.html").write_text("<p>not the report</p>")
    app = create_app(settings.with_changes(qa_report=str(report)), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as c:
        link = _qa_link((await c.get("/_sim/ui")).text)  # the shell, no token: the link shows
        assert "hidden" not in link and link["href"] == "/_sim/qa-report"
        assert (await c.get("/_sim/qa-report")).status_code == 401
        r = await c.get("/_sim/qa-report", headers=ADMIN_HEADERS)
        assert r.status_code == 200 and r.content == report.read_bytes()
        assert r.headers["content-type"].startswith("text/html") and b"data-scenario='baseline'" in r.content
        assert (
            "sandbox" in r.headers["content-security-policy"]
            and "script" not in r.headers["content-security-policy"]
        )
        other = tmp_path / "other.html"
        for sneaky in (f"?path={other}", f"?file={other}", "?path=../other.html"):  # no request names a path
            again = await c.get("/_sim/qa-report" + sneaky, headers=ADMIN_HEADERS)
            assert again.status_code == 200 and again.content == report.read_bytes(), sneaky
        report.write_text("<p>rewritten by a later qa --html run</p>")
        assert (await c.get("/_sim/qa-report", headers=ADMIN_HEADERS)).text.endswith("qa --html run</p>")
        report.unlink()
        gone = await c.get("/_sim/qa-report", headers=ADMIN_HEADERS)
        assert gone.status_code == 404 and "cannot be read" in gone.json()["text"]


def test_serve_refuses_a_qa_report_that_is_not_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from simulator.cli import main

    missing = tmp_path / "nope.html"
    assert main(["serve", "--port", "0", "--qa-report", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--qa-report" in err and "no such file" in err and len(err.splitlines()) == 1
    assert main(["serve", "--port", "0", "--qa-report", str(tmp_path)]) == 2  # a folder is no report


def _record(journal: Journal, at: float, status: int = 200, operation: str = "get_task") -> None:
    journal.record(method="GET", path="/t", operation=operation, status=status, at=at)


def test_the_rates_count_each_entry_once_and_outlive_the_journals_ring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    journal, counter = Journal(capacity=4), RateCounter()

    def whole_journal(**filters: object) -> None:
        raise AssertionError("the rates read the whole journal")

    monkeypatch.setattr(journal, "query", whole_journal)
    for second in range(12):  # polled every 3 entries: the ring of 4 never drops one unseen
        _record(journal, 100.0 + second, status=503 if second == 5 else 200)
        if second % 3 == 2:
            counter.update(journal, now=112.0)
    doc = counter.window(journal, now=112.0, window_s=12, bucket_s=4)
    assert doc["operations"]["get_task"]["requests"] == [4, 4, 4]  # all 12, not the 4 the ring holds
    assert doc["operations"]["get_task"]["errors"] == [0, 1, 0]
    assert (counter.cursor, counter.known_since) == (12, 100.0)


def test_the_rates_match_the_journal_when_nothing_was_dropped() -> None:
    journal, counter = Journal(capacity=100), RateCounter()
    for i, (at, status, op) in enumerate(
        [(91.0, 200, "connect"), (93.0, 404, "get_task"), (97.0, None, "get_task"), (99.0, 200, "get_task")]
    ):
        journal.record(method="GET", path=f"/{i}", operation=op, status=status, at=at)
    assert counter.window(journal, now=100.0, window_s=10, bucket_s=5) == rates(
        journal.query(), now=100.0, window_s=10, bucket_s=5
    )


def test_the_rates_start_over_after_a_gap_or_a_clear() -> None:
    journal, counter = Journal(capacity=2), RateCounter()
    _record(journal, 100.0)
    counter.update(journal, now=110.0)
    for second in range(1, 6):  # 5 more before the next poll: the ring of 2 dropped 3 unseen
        _record(journal, 100.0 + second)
    doc = counter.window(journal, now=110.0, window_s=10, bucket_s=10)
    assert doc["operations"]["get_task"]["total"] == 2 and counter.known_since == 104.0  # no hole shown
    journal.clear()
    _record(journal, 108.0, operation="connect")
    doc = counter.window(journal, now=110.0, window_s=10, bucket_s=10)
    assert list(doc["operations"]) == ["connect"] and counter.known_since == 108.0


def test_a_live_read_jumps_to_the_newest_entries_when_more_wait_than_it_sends() -> None:
    journal = Journal(capacity=2000)
    for _ in range(1000):
        _record(journal, 100.0)
    entries, cursor, cleared, skipped = read_live(journal, 100)
    assert (entries[0].seq, len(entries), cursor, cleared, skipped) == (751, LIVE_BATCH, 1000, False, 650)
    entries, cursor, cleared, skipped = read_live(journal, 990)  # a few waiting: every one, nothing skipped
    assert ([e.seq for e in entries], cursor, skipped) == (list(range(991, 1001)), 1000, 0)


async def test_a_following_stream_says_what_it_skipped_and_a_filtered_one_skips_nothing(
    client: httpx.AsyncClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "STREAM_S", 0.0)  # one poll, then the stream ends
    journal = app.state.runtime.journal
    for i in range(600):
        _record(journal, 100.0, operation="get_task" if i % 2 else "connect")
    follow = {**ADMIN_HEADERS, "accept": "text/event-stream"}
    shown = _events((await client.get("/_sim/events?since=0", headers=follow)).text)[1:]  # after "retry:"
    assert [kind for kind, _ in shown[:2]] == ["hello", "skipped"] and json.loads(shown[1][1]) == {
        "count": 350
    }
    assert len(shown) == 2 + LIVE_BATCH and '"seq":351,' in shown[2][1] and '"seq":600,' in shown[-1][1]
    matches = _events((await client.get("/_sim/events?since=0&operation=get_task", headers=follow)).text)
    assert [kind for kind, _ in matches].count("request") == 300 and "skipped" not in dict(matches)
