"""The console's three static files, served from the package with a strict Content-Security-Policy.

The shell needs no token (it holds no data); the script asks for the admin token and sends it as
``Authorization: Bearer`` on every data call. Nothing is inline and nothing comes from another host:
the policy allows only this origin's script, style and fetches, so an injected ``<script>`` or a
journal entry that looks like markup cannot run. With ``serve --qa-report FILE`` the shell shows a link
to that QA heatmap, which ``GET /_sim/qa-report`` serves behind the admin token (the page downloads it
with the token header, like a trace).

>>> CSP.startswith("default-src 'self'")
True
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from simulator.api.admin import require_admin
from simulator.errors import NotFound

if TYPE_CHECKING:
    from simulator.settings import Settings

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


# The header's link to the QA heatmap: in the shell, hidden; shown when ``serve --qa-report`` named one.
QA_LINK_HIDDEN = b'<a id="qa-report" class="qa-link" href="/_sim/qa-report" hidden>'
QA_LINK_SHOWN = b'<a id="qa-report" class="qa-link" href="/_sim/qa-report">'
MAX_QA_REPORT_BYTES = 64 << 20  # a heatmap of a large matrix is a few MB
# The report is our own page with an inline style sheet and no script: it may style itself, nothing more.
QA_REPORT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # a later `qa --html` run rewrites it: always the file as it is now
    "Content-Disposition": 'attachment; filename="qa.html"',
}


def _qa_report_path(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.qa_report


async def page(request: Request) -> Response:
    """``GET /_sim/ui``: the console's page (no token needed: the page asks for it, data calls send it)."""
    body = asset("console.html")
    if _qa_report_path(request):
        body = body.replace(QA_LINK_HIDDEN, QA_LINK_SHOWN)
    return Response(body, media_type="text/html; charset=utf-8", headers=HEADERS)


def read_qa_report(path: str) -> bytes:
    """The report file's bytes (at most :data:`MAX_QA_REPORT_BYTES`); 404 when it cannot be read."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_QA_REPORT_BYTES + 1)
    except OSError as exc:
        raise NotFound(f"the QA report named by --qa-report cannot be read ({exc.strerror})") from None
    if len(data) > MAX_QA_REPORT_BYTES:
        raise NotFound(f"the QA report named by --qa-report is over {MAX_QA_REPORT_BYTES >> 20} MiB")
    return data


async def qa_report(request: Request) -> Response:
    """``GET /_sim/qa-report``: the QA heatmap ``serve --qa-report FILE`` named (admin token).

    Only that one file, fixed when the simulator started: nothing in the request names a path.
    """
    require_admin(request)
    path = _qa_report_path(request)
    if not path:
        raise NotFound("no QA report: start the simulator with serve --qa-report FILE (tanium-sim qa --html)")
    data = await to_thread.run_sync(read_qa_report, path)
    return Response(data, media_type="text/html; charset=utf-8", headers=QA_REPORT_HEADERS)


async def script(request: Request) -> Response:
    """``GET /_sim/ui/console.js``: the console's script (plain JavaScript, no build step)."""
    return _static("console.js", "text/javascript; charset=utf-8")


async def stylesheet(request: Request) -> Response:
    """``GET /_sim/ui/console.css``: the console's style sheet."""
    return _static("console.css", "text/css; charset=utf-8")


__all__ = ["CSP", "HEADERS", "asset", "page", "qa_report", "read_qa_report", "script", "stylesheet"]
