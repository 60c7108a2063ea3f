"""``make screenshots``: docs/img/console.png, console-endpoint.png and qa-heatmap.png, from a real
simulator on 127.0.0.1 with traffic from ``tanium-sim collect``, drawn by the system's Chromium.

    .venv/bin/python -m tests.browser.screenshots docs/img

Playwright is imported where it is used: collecting tests/ (doctests included) never needs it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from starlette.applications import Starlette

from simulator.app import create_app
from simulator.qa import VARIANTS, MatrixOptions, run_matrix
from simulator.qa.html import write_html
from simulator.scenarios import Scenario
from simulator.server import BackgroundServer
from simulator.settings import Settings
from tests.browser.conftest import ADMIN, CHROMIUM, TOKEN

HEATMAP_SCENARIOS = ("baseline", "flaky-5xx", "rate-limited", "task-errors", "offline-endpoints")


def console(out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    settings = Settings(port=0, endpoints=12, seed=7, token=TOKEN, admin_token=ADMIN)
    scenario = Scenario.load_named("flaky-5xx")
    with BackgroundServer(settings, app=_app(settings, scenario)) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url + "/_sim/ui")
        page.fill("#token-input", ADMIN)
        page.click("#login-form button")
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "simulator",
                    "collect",
                    "--url",
                    server.url,
                    "--token",
                    TOKEN,
                    "--all",
                    "--out",
                    folder,
                ],
                capture_output=True,
                timeout=300,
                check=False,  # a flaky scenario may fail an endpoint: the picture shows it
            )
        page.click("#add-rule summary")
        page.fill(
            "#rule-json",
            '{"name": "slow-status", "match": {"operation": "module_status"}, '
            '"fault": {"type": "status", "status": 429, "retry_after_s": 2}}',
        )
        page.click("#rule-form button")
        expect(page.locator('#fault-rows tr[data-rule="slow-status"]')).to_be_visible()
        expect(page.locator("#journal-rows tr").first).to_be_visible()
        page.wait_for_function("document.querySelectorAll('#rate-chart polyline').length > 1")
        page.screenshot(path=str(out / "console.png"), full_page=True)
        page.locator("#fleet-rows tr").nth(1).click()
        expect(page.locator("#manifest-types tr").first).to_be_visible()
        page.locator("#endpoint").screenshot(path=str(out / "console-endpoint.png"))
        browser.close()


def _app(settings: Settings, scenario: Scenario) -> Starlette:
    return create_app(settings, scenario=scenario)


def heatmap(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    options = MatrixOptions(endpoints=2, seeds=(1, 2), variant=VARIANTS["no-retry"], exercise_endpoints=4)
    result = asyncio.run(run_matrix([Scenario.load_named(n) for n in HEATMAP_SCENARIOS], options))
    page_path = out / "qa-heatmap.html"
    write_html(result, page_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.goto(page_path.resolve().as_uri())
        failed = page.locator("td.fail details")
        if failed.count():
            failed.first.locator("summary").click()
        page.screenshot(path=str(out / "qa-heatmap.png"), full_page=True)
        browser.close()
    page_path.unlink()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")
    out.mkdir(parents=True, exist_ok=True)
    if not CHROMIUM.exists():
        sys.exit(f"screenshots: no Chromium at {CHROMIUM} (make install, or set TANIUM_SIM_CHROMIUM)")
    console(out)
    heatmap(out)
    print(f"screenshots: {', '.join(sorted(p.name for p in out.glob('*.png')))} in {out}")


if __name__ == "__main__":
    main()
