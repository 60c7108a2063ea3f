"""Browser fixtures: a real headless Chromium driven by Playwright, on a real simulator socket.

No browser is downloaded (there is no network for that): the system's Chromium is used, at
``$TANIUM_SIM_CHROMIUM`` or /usr/bin/chromium (``make install`` installs it with apt when root).
Without Playwright or that browser, every test here skips with one line saying which is missing.
Every page records each URL it asks for; a test fails if one left for another host.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from simulator.server import BackgroundServer
from simulator.settings import Settings

CHROMIUM = Path(os.environ.get("TANIUM_SIM_CHROMIUM", "/usr/bin/chromium"))
TOKEN = "token-7b7b7b7b7b7b7b7b"
ADMIN = "console-admin-secret"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="browser tests: pip install playwright (no browser download needed)"
    )
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests: no Chromium at {CHROMIUM} (apt-get install chromium, or $TANIUM_SIM_CHROMIUM)"
        )
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    settings = Settings(port=0, endpoints=4, seed=7, token=TOKEN, admin_token=ADMIN)
    with BackgroundServer(settings) as running:
        yield running


@dataclass
class Visit:
    """A page on the console's origin and everything it asked for."""

    page: Any
    origin: str
    urls: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def sign_in(self, token: str = ADMIN) -> None:
        self.page.goto(self.origin + "/_sim/ui")
        self.page.fill("#token-input", token)
        self.page.click("#login-form button")


@pytest.fixture
def visit(browser: Any, server: BackgroundServer) -> Iterator[Visit]:
    context = browser.new_context(accept_downloads=True)
    seen = Visit(context.new_page(), server.url)

    def route(route: Any) -> None:  # anything for another host is refused and remembered
        url = route.request.url
        if url.startswith(seen.origin + "/"):
            route.continue_()
        else:
            seen.foreign.append(url)
            route.abort()

    context.route("**/*", route)
    context.on("request", lambda request: seen.urls.append(request.url))
    seen.page.on("pageerror", lambda error: seen.problems.append(f"page error: {error}"))
    seen.page.on(
        "console",
        lambda msg: seen.problems.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    try:
        yield seen
    finally:
        context.close()  # before the server stops: the journal stream ends with the page
    assert not seen.foreign, f"the console asked another host for {seen.foreign}"
    assert all(url.startswith(seen.origin + "/") for url in seen.urls), seen.urls
    assert not any(ADMIN in url for url in seen.urls), "the admin token appeared in a URL"
    assert not seen.problems, seen.problems
