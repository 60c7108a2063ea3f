"""The console's routes in-process: the page and its files open with a strict policy, every data route
behind the admin token, and what each answers (rates, journal events, one endpoint, its trace, search)."""

from __future__ import annotations

import gzip
import re
from html.parser import HTMLParser

import httpx
import pytest

from simulator.console.events import read_since
from simulator.journal import Journal
from tests.inprocess.conftest import ADMIN, TR, World

pytestmark = pytest.mark.anyio
ADMIN_HEADERS = {"authorization": f"Bearer {ADMIN}"}
DATA_ROUTES = [
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
            assert value.startswith(("/_sim/ui/", "#", "data:")) or not value, (tag, value)
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
    assert [d for _, d in by_client[1:]] == [events[3][1], events[4][1]]  # request_file, get_task
    assert '"operation":"request_file"' in by_client[1][1]
    after = _events((await world.client.get("/_sim/events?since=4", headers=ADMIN_HEADERS)).text)
    assert [d for _, d in after[1:]] == [events[5][1]]


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
