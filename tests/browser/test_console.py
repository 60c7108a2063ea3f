"""The live console in a real headless Chromium: it refuses without the admin token, follows a real
collection within two seconds, and a fault rule added from it fails the next matching request."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulator.server import BackgroundServer
from simulator.settings import Settings
from tests.browser.conftest import ADMIN, TOKEN, Visit

pytestmark = [pytest.mark.sockets, pytest.mark.browser]
TR = "/plugin/products/threat-response/api/v1"
CHANGE_S = 2.0  # what the issue allows the page to show a change in


@pytest.fixture
def server(tmp_path: Path) -> Iterator[BackgroundServer]:
    """The console's simulator, started as ``serve --qa-report FILE`` would: the page links the heatmap."""
    from simulator.qa.html import write_html
    from simulator.qa.runner import EndpointResult, MatrixResult, RunResult

    run = RunResult("baseline", 7, "in-process", [EndpointResult("101", "default", "success", True)])
    report = tmp_path / "qa.html"
    write_html(MatrixResult("reference", 1, (7,), [run]), report)
    settings = Settings(port=0, endpoints=4, seed=7, token=TOKEN, admin_token=ADMIN, qa_report=str(report))
    with BackgroundServer(settings) as running:
        yield running


def _expect() -> object:
    from playwright.sync_api import expect

    return expect


def _admin(server: BackgroundServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {ADMIN}"}, timeout=10)


def test_the_page_refuses_without_the_admin_token_and_loads_with_it(visit: Visit) -> None:
    expect = _expect()
    page = visit.page
    page.goto(visit.origin + "/_sim/ui")
    expect(page.locator("#login")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("#app")).to_be_hidden()  # type: ignore[attr-defined]
    assert page.evaluate("fetch('/_sim/state').then(r => r.status)") == 401  # no token: no data
    visit.sign_in("not-the-token")
    expect(page.locator("#login-error")).to_contain_text("refused")  # type: ignore[attr-defined]
    expect(page.locator("#app")).to_be_hidden()  # type: ignore[attr-defined]
    assert page.evaluate("sessionStorage.length") == 0

    with page.expect_request(lambda r: r.url.endswith("/_sim/state")) as asked:
        visit.sign_in()
    assert asked.value.headers["authorization"] == f"Bearer {ADMIN}"
    expect(page.locator("#app")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("#world-counts")).to_contain_text("endpoints4")  # type: ignore[attr-defined]
    expect(page.locator("#scenario-badge")).to_have_text("scenario baseline · seed 7")  # type: ignore[attr-defined]
    expect(page.locator("#journal-state")).to_have_text("live")  # type: ignore[attr-defined]
    assert ADMIN not in page.url and page.evaluate("Object.values(sessionStorage)") == [ADMIN]
    page.reload()  # kept for the tab: no second prompt
    expect(page.locator("#app")).to_be_visible()  # type: ignore[attr-defined]
    page.click("#forget-token")
    expect(page.locator("#login")).to_be_visible()  # type: ignore[attr-defined]
    assert page.evaluate("sessionStorage.length") == 0


def test_a_collection_shows_in_the_counts_and_the_journal_within_two_seconds(
    visit: Visit, server: BackgroundServer, tmp_path: Path
) -> None:
    expect = _expect()
    page = visit.page
    visit.sign_in()
    completed = page.locator("#task-counts tr", has_text="COMPLETED").locator("td").nth(1)
    expect(completed).to_have_text("0")  # type: ignore[attr-defined]
    expect(page.locator("#journal-state")).to_have_text("live")  # type: ignore[attr-defined]

    command = [sys.executable, "-m", "simulator", "collect", "--url", server.url, "--token", TOKEN]
    done = subprocess.run(
        [*command, "--all", "--out", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    finished = time.monotonic()
    with _admin(server) as admin:
        state = admin.get("/_sim/state").json()
        last = admin.get("/_sim/requests?limit=1").json()["requests"][0]["seq"]
    assert state["tasks"]["COMPLETED"] > 0
    expect(completed).to_have_text(str(state["tasks"]["COMPLETED"]), timeout=CHANGE_S * 1000)  # type: ignore[attr-defined]
    disconnected = page.locator("#conn-counts tr", has_text="disconnected").locator("td").nth(1)
    expect(disconnected).to_have_text(str(state["connections"]["disconnected"]), timeout=CHANGE_S * 1000)  # type: ignore[attr-defined]
    expect(page.locator(f'#journal-rows tr[data-seq="{last}"]')).to_be_attached(timeout=CHANGE_S * 1000)  # type: ignore[attr-defined]
    assert time.monotonic() - finished < CHANGE_S + 1.0  # the three checks above, with their own polling
    download = page.locator("#journal-rows tr", has_text="download_evidence").first
    expect(download).to_contain_text("200")  # type: ignore[attr-defined]
    expect(page.locator("#rate-table tbody tr", has_text="download_evidence")).to_be_visible()  # type: ignore[attr-defined]

    page.select_option("#filter-operation", "get_task")  # the filters narrow what is shown
    rows = page.locator("#journal-rows tr")
    expect(rows.first).to_contain_text("get_task")  # type: ignore[attr-defined]
    assert all("get_task" in text for text in rows.all_inner_texts())


def test_a_rule_added_from_the_page_fails_the_next_matching_request(
    visit: Visit, server: BackgroundServer
) -> None:
    expect = _expect()
    page = visit.page
    visit.sign_in()
    page.click("#add-rule summary")
    page.fill("#rule-json", '{"name": "ui-503", "match": {"operation": "nope"}, "fault": {"type": "status"}}')
    page.click("#rule-form button")
    expect(page.locator("#fault-message")).to_contain_text("Refused: 400")  # type: ignore[attr-defined]

    rule = '{"name": "ui-503", "match": {"operation": "module_status"}, "fault": {"type": "status", "status": 503}}'  # noqa: E501
    page.fill("#rule-json", rule)
    page.click("#rule-form button")
    row = page.locator('#fault-rows tr[data-rule="ui-503"]')
    expect(row).to_be_visible()  # type: ignore[attr-defined]
    expect(row.locator("td.fired")).to_have_text("0")  # type: ignore[attr-defined]
    with httpx.Client(base_url=server.url, headers={"session": TOKEN}, timeout=10) as vendor:
        assert vendor.get(f"{TR}/status").status_code == 503
        expect(row.locator("td.fired")).to_have_text("1", timeout=5000)  # type: ignore[attr-defined]
        expect(page.locator("#journal-rows tr", has_text="ui-503").first).to_contain_text("503")  # type: ignore[attr-defined]

        row.get_by_role("button", name="Disable").click()
        expect(row).to_have_class("disabled")  # type: ignore[attr-defined]
        assert vendor.get(f"{TR}/status").status_code == 200
        row.get_by_role("button", name="Remove").click()
        expect(row).to_have_count(0)  # type: ignore[attr-defined]
        assert vendor.get(f"{TR}/status").status_code == 200
    with _admin(server) as admin:
        assert admin.get("/_sim/faults").json() == {"faults": []}


def test_the_fleet_search_opens_an_endpoint_and_downloads_its_trace(
    visit: Visit, server: BackgroundServer
) -> None:
    expect = _expect()
    page = visit.page
    with _admin(server) as admin:
        target = admin.get("/_sim/endpoints?limit=1&offset=2").json()["endpoints"][0]
        trace = admin.get(f"/_sim/endpoints/{target['clientId']}/trace").content
    visit.sign_in()
    page.fill("#fleet-q", target["hostname"])
    expect(page.locator("#fleet-rows tr")).to_have_count(1)  # type: ignore[attr-defined]
    page.click(f'#fleet-rows tr[data-client="{target["clientId"]}"]')
    expect(page.locator("#endpoint-title")).to_contain_text(target["hostname"])  # type: ignore[attr-defined]
    expect(page.locator("#manifest-types tr").first).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("#manifest-findings")).to_contain_text("weak_key")  # type: ignore[attr-defined]
    with page.expect_download() as downloading:
        page.click("#trace-download")
    download = downloading.value
    assert download.suggested_filename.startswith(f"{target['hostname']}-scan1-")
    assert Path(download.path()).read_bytes() == trace


def test_the_qa_report_link_downloads_the_heatmap_with_the_token(
    visit: Visit, server: BackgroundServer
) -> None:
    expect = _expect()
    page = visit.page
    visit.sign_in()
    link = page.locator("#qa-report")
    expect(link).to_be_visible()  # type: ignore[attr-defined]
    with (
        page.expect_request(lambda r: r.url.endswith("/_sim/qa-report")) as asked,
        page.expect_download() as downloading,
    ):
        link.click()
    assert asked.value.headers["authorization"] == f"Bearer {ADMIN}"  # a header, never the URL
    download = downloading.value
    assert download.suggested_filename == "qa.html"
    assert Path(download.path()).read_bytes() == Path(server.settings.qa_report).read_bytes()
