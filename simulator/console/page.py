"""The console's three static files, served from the package with a strict Content-Security-Policy.

The shell needs no token (it holds no data); the script asks for the admin token and sends it as
``Authorization: Bearer`` on every data call. Nothing is inline and nothing comes from another host:
the policy allows only this origin's script, style and fetches, so an injected ``<script>`` or a
journal entry that looks like markup cannot run.

>>> CSP.startswith("default-src 'self'")
True
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # a new simulator version serves a new page at once
    "Cross-Origin-Resource-Policy": "same-origin",
}


@cache
def asset(name: str) -> bytes:
    """One file of ``simulator/console/static`` (read once; the wheel carries them as package data)."""
    return files("simulator.console").joinpath("static", name).read_bytes()


def _static(name: str, media_type: str) -> Response:
    return Response(asset(name), media_type=media_type, headers=HEADERS)


async def page(request: Request) -> Response:
    """``GET /_sim/ui``: the console's page (no token needed: the page asks for it, data calls send it)."""
    return _static("console.html", "text/html; charset=utf-8")


async def script(request: Request) -> Response:
    """``GET /_sim/ui/console.js``: the console's script (plain JavaScript, no build step)."""
    return _static("console.js", "text/javascript; charset=utf-8")


async def stylesheet(request: Request) -> Response:
    """``GET /_sim/ui/console.css``: the console's style sheet."""
    return _static("console.css", "text/css; charset=utf-8")


__all__ = ["CSP", "HEADERS", "asset", "page", "script", "stylesheet"]
