"""``tanium-sim runbook stop|uninstall|status``: the seed's scanner runbook, over the platform API v2.

The operators' guide says, when a scan hurts an environment: find the endpoints where the Filesystem
Scanner runs (``3P Cryptosense - Monitor`` equals ``Running``), deploy the stop action, re-ask with Maximum
Data Age 1 minute until it says ``Not Running``; then find the binary with
``File Exists[/opt/cryptosense/bin/cs-host-scanner]``, deploy ``3P Cryptosense - Host Scanner - Uninstall``
and verify the file is gone. This command does exactly that against a Tanium (or this simulator), waits for
questions by the documented rule (answered / estimated total >= 95 %), shows progress, and ends with a
per-endpoint table. It refuses to uninstall where the scanner still runs (the binary would be gone but
the process would keep scanning from memory) unless ``--force``.

Exit codes: 0 done and verified, 1 the runbook ran but something is not verified (or was refused),
2 usage errors (bad arguments, unreachable server, refused token).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MONITOR = "3P Cryptosense - Monitor"
LINUX_BINARY = "/opt/cryptosense/bin/cs-host-scanner"
WINDOWS_BINARY = "C:\\Program Files\\Cryptosense\\cs-host-scanner.exe"
STOP_PACKAGE = "3P Cryptosense - Host Scanner - Stop"
UNINSTALL_LINUX = "3P Cryptosense - Host Scanner - Uninstall"
UNINSTALL_WINDOWS = "3P Cryptosense - Host Scanner - Uninstall [Windows]"
MARKERS = ("[current results unavailable]", "[no results]")
TERMINAL = ("Completed", "Failed", "Expired", "Stopped", "Verified", "Succeeded", "NotSucceeded")


class RunbookError(Exception):
    """The runbook could not go on (an API error, a timeout): printed, exit code 1."""


@dataclass
class EndpointRow:
    """What the final table shows for one endpoint."""

    name: str
    computer_id: str
    monitor: str = ""
    binary: str = ""
    action: str = ""
    outcome: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class Runbook:
    """The runbook's steps over an ``httpx.Client`` already pointed at the server with its ``session``.

    >>> with httpx.Client(base_url=url, headers={"session": token}) as http:  # doctest: +SKIP
    ...     rows = Runbook(http, progress=None).status(where=None)
    """

    def __init__(
        self,
        http: Any,
        *,
        progress: Any,
        max_data_age: int = 60,
        poll_interval: float = 5.0,
        timeout: float = 600.0,
        complete_percent: float = 95.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.progress = progress
        self.max_data_age = max_data_age
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.complete_percent = complete_percent
        self.sleep = sleep
        self.monotonic = monotonic

    # -- HTTP ---------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None) -> Any:
        import httpx

        try:
            r = self.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise RunbookError(f"{method} {path} failed: {exc.__class__.__name__}") from exc
        if r.status_code >= 400:
            try:
                text = r.json().get("text", r.text)
            except ValueError:
                text = r.text[:200]
            raise RunbookError(f"{method} {path} -> {text}")
        return r.json()["data"]

    def _task(self, description: str, total: float | None) -> Any:
        return self.progress.add_task(description, total=total) if self.progress is not None else None

    def _update(self, task: Any, **kwargs: Any) -> None:
        if self.progress is not None and task is not None:
            self.progress.update(task, **kwargs)

    def _deadline_passed(self, started: float) -> bool:
        return self.monotonic() - started > self.timeout

    # -- questions ----------------------------------------------------------------------------------
    def ask(self, columns: list[str], where: str | None, label: str) -> list[dict[str, str]]:
        """Ask with Maximum Data Age on every sensor; wait for the percentage rule; rows as dicts."""
        text = f"Get {' and '.join(columns)} from all machines" + (f" with {where}" if where else "")
        question = self._call("POST", "/api/v2/parse_question", {"text": text})[0]
        for select in question.get("selects", []):
            select.setdefault("filter", {})["max_age_seconds"] = self.max_data_age
        for filt in (question.get("group") or {}).get("filters", []):
            filt["max_age_seconds"] = self.max_data_age
        qid = self._call("POST", "/api/v2/questions", question)["id"]
        task = self._task(label, None)
        started = self.monotonic()
        while True:
            (info,) = self._call("GET", f"/api/v2/result_info/question/{qid}")["result_infos"]
            total, tested = int(info["estimated_total"]), int(info["mr_tested"])
            self._update(task, total=max(total, 1), completed=tested)
            if total == 0 or tested * 100 >= self.complete_percent * total:
                break
            if self._deadline_passed(started):
                raise RunbookError(
                    f"question {qid} still at {tested}/{total} answers after {self.timeout:g} s"
                )
            self.sleep(self.poll_interval)
        (result,) = self._call("GET", f"/api/v2/result_data/question/{qid}")["result_sets"]
        names = [c["name"] for c in result.get("columns", [])]
        rows = []
        for row in result.get("rows", []):
            values = {
                name: cells[0]["text"] if cells else ""
                for name, cells in zip(names, row["data"], strict=False)
            }
            if not any(values.get(c) in MARKERS for c in ("Computer Name", "Computer ID")):
                rows.append(values)
        return rows

    # -- actions ------------------------------------------------------------------------------------
    def deploy(self, package_name: str, computer_ids: list[str], label: str) -> dict[str, str]:
        """Deploy a package to computer ids; wait until every target is done; {computer id: status}."""
        package = self._call("GET", f"/api/v2/packages/by-name/{package_name}")
        target = {
            "and_flag": False,
            "filters": [
                {"sensor": {"name": "Computer ID"}, "operator": "Equal", "value": cid} for cid in computer_ids
            ],
        }
        action = self._call(
            "POST",
            "/api/v2/actions",
            {
                "name": f"runbook: {package_name}",
                "package_spec": {"source_id": package["id"]},
                "target_group": target,
                "action_group": {"name": "Default"},
            },
        )
        task = self._task(f"{label} (action {action['id']})", len(computer_ids))
        started = self.monotonic()
        while True:
            (result,) = self._call("GET", f"/api/v2/result_data/action/{action['id']}")["result_sets"]
            statuses = {
                row["cid"]: row["data"][1][0]["text"].split(":", 1)[-1].rstrip(".") for row in result["rows"]
            }
            done = sum(1 for s in statuses.values() if s in TERMINAL)
            self._update(task, completed=done)
            if done == len(computer_ids):
                return statuses
            if self._deadline_passed(started):
                raise RunbookError(f"action {action['id']} not done after {self.timeout:g} s")
            self.sleep(self.poll_interval)

    def until(
        self, columns: list[str], where: str, label: str, done: Callable[[dict[str, str]], bool]
    ) -> list[dict[str, str]]:
        """Re-ask until ``done`` holds for every row (the "until it says Not Running" step)."""
        started = self.monotonic()
        attempt = 1
        while True:
            rows = self.ask(columns, where, f"{label} (ask {attempt})")
            if rows and all(done(r) for r in rows):
                return rows
            if self._deadline_passed(started):
                return rows
            attempt += 1
            self.sleep(self.poll_interval)

    # -- the three steps ----------------------------------------------------------------------------
    def status(self, where: str | None) -> list[EndpointRow]:
        rows = self.ask(
            [
                "Computer Name",
                "Computer ID",
                MONITOR,
                f"File Exists[{LINUX_BINARY}]",
                f"File Exists[{WINDOWS_BINARY}]",
            ],
            where,
            "asking for the scanner's state",
        )
        return [_row(r) for r in rows]

    def stop(self, where: str | None, *, scoped: bool) -> list[EndpointRow]:
        found = self.ask(
            ["Computer Name", "Computer ID", MONITOR],
            where if scoped else f"{MONITOR} equals Running",
            "finding running scanners",
        )
        running = [_row(r) for r in found if r.get(MONITOR) == "Running"]
        if not running:
            return []
        statuses = self.deploy(STOP_PACKAGE, [r.computer_id for r in running], "stopping the scanner")
        after = self.until(
            ["Computer Name", "Computer ID", MONITOR],
            _ids_clause(running),
            "waiting for Not Running",
            lambda r: r.get(MONITOR) == "Not Running",
        )
        now = {r["Computer ID"]: r.get(MONITOR, "") for r in after}
        for row in running:
            row.action = statuses.get(row.computer_id, "")
            row.monitor = now.get(row.computer_id, "no answer")
            row.outcome = "stopped" if row.monitor == "Not Running" else "NOT VERIFIED"
        return running

    def uninstall(self, where: str | None, *, force: bool) -> list[EndpointRow]:
        rows = [r for r in self.status(where) if r.binary]
        refused = [r for r in rows if r.monitor == "Running" and not force]
        for row in refused:
            row.outcome = "refused: scanner still running (stop it first, or --force)"
        todo = [r for r in rows if r not in refused]
        for package, platform in ((UNINSTALL_LINUX, "Linux"), (UNINSTALL_WINDOWS, "Windows")):
            targets = [r for r in todo if r.extra.get("platform") == platform]
            if targets:
                statuses = self.deploy(
                    package, [r.computer_id for r in targets], f"uninstalling ({platform})"
                )
                for row in targets:
                    row.action = statuses.get(row.computer_id, "")
        if todo:
            after = self.until(
                [
                    "Computer Name",
                    "Computer ID",
                    MONITOR,
                    f"File Exists[{LINUX_BINARY}]",
                    f"File Exists[{WINDOWS_BINARY}]",
                ],
                _ids_clause(todo),
                "verifying the binary is gone",
                lambda r: not _row(r).binary,
            )
            now = {r["Computer ID"]: _row(r) for r in after}
            for row in todo:
                fresh = now.get(row.computer_id)
                row.binary = "no answer" if fresh is None else fresh.binary or "gone"
                row.monitor = row.monitor if fresh is None else fresh.monitor
                row.outcome = "removed" if row.binary == "gone" else "NOT VERIFIED"
                if row.binary == "gone" and row.monitor == "Running":
                    row.outcome = "removed, but still running from memory"
        return rows


def _row(values: dict[str, str]) -> EndpointRow:
    linux = values.get(f"File Exists[{LINUX_BINARY}]", "")
    windows = values.get(f"File Exists[{WINDOWS_BINARY}]", "")
    binary, platform = "", ""
    if linux.startswith("File Exists"):
        binary, platform = LINUX_BINARY, "Linux"
    elif windows.startswith("File Exists"):
        binary, platform = WINDOWS_BINARY, "Windows"
    return EndpointRow(
        name=values.get("Computer Name", ""),
        computer_id=values.get("Computer ID", ""),
        monitor=values.get(MONITOR, ""),
        binary=binary,
        extra={"platform": platform} if platform else {},
    )


def _ids_clause(rows: list[EndpointRow]) -> str:
    return " or ".join(f"Computer ID equals {r.computer_id}" for r in rows)


# ---------------------------------------------------------------------------------------------- CLI


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "runbook",
        help="stop / uninstall the scanner through Tanium questions and actions (the operators' runbook)",
        description=(
            "Walk the operators' runbook against a Tanium server (or this simulator): status asks where "
            "the scanner runs and where its binary is; stop deploys the stop package and re-asks until "
            "Not Running; uninstall deploys the per-platform uninstall package and verifies the file is gone."
        ),
    )
    p.add_argument("step", choices=("status", "stop", "uninstall"), help="what to do")
    p.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    p.add_argument(
        "--token",
        default=os.environ.get("TANIUM_TOKEN", ""),
        help="API token for the `session` header (default: $TANIUM_TOKEN)",
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument(
        "--computer-name", action="append", default=[], metavar="NAME", help="an endpoint (repeat)"
    )
    scope.add_argument("--where", help="a from-clause, e.g. 'Computer Name contains web'")
    scope.add_argument("--all", action="store_true", help="every endpoint")
    p.add_argument("--max-data-age", type=int, default=60, help="Maximum Data Age in seconds (default 60)")
    p.add_argument("--force", action="store_true", help="uninstall even where the scanner still runs")
    p.add_argument("--poll-interval", type=float, default=5.0, help="seconds between polls (default 5)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each step (default 600)")
    p.add_argument("--complete-percent", type=float, default=95.0, help="answers needed, in %% (default 95)")
    p.set_defaults(func=_run)


def _scope(args: argparse.Namespace) -> tuple[str | None, bool]:
    from simulator.cli.types import UsageError

    if args.computer_name:
        for name in args.computer_name:
            if not name.strip() or " or " in name or " and " in name:
                raise UsageError(f"--computer-name must be one endpoint name, got {name!r}")
        return " or ".join(f"Computer Name equals {n.strip()}" for n in args.computer_name), True
    if args.where:
        return str(args.where), True
    if args.all or args.step == "status":
        return None, False
    raise UsageError(f"runbook {args.step} needs the endpoints: --computer-name NAME, --where TEXT or --all")


def _run(args: argparse.Namespace) -> int:
    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from simulator.cli.types import UsageError

    if not args.token:
        raise UsageError("--token is required (or set TANIUM_TOKEN)")
    if args.max_data_age < 0 or args.poll_interval < 0 or args.timeout <= 0:
        raise UsageError("--max-data-age and --poll-interval must be >= 0 and --timeout > 0")
    if not args.url.startswith(("http://", "https://")):
        raise UsageError(f"--url must start with http:// or https://, got {args.url!r}")
    where, scoped = _scope(args)
    out = Console(width=160) if not Console().is_terminal else Console()
    err = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )
    with httpx.Client(base_url=args.url, headers={"session": args.token}, timeout=60.0) as http:
        try:
            http.get("/api/v2/session/current").raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise UsageError(f"the server refused the token ({exc.response.status_code})") from None
        except httpx.HTTPError as exc:
            raise UsageError(f"cannot reach {args.url} ({exc.__class__.__name__})") from None
        book = Runbook(
            http,
            progress=progress,
            max_data_age=args.max_data_age,
            poll_interval=args.poll_interval,
            timeout=args.timeout,
            complete_percent=args.complete_percent,
        )
        try:
            with progress:
                if args.step == "status":
                    rows = book.status(where)
                elif args.step == "stop":
                    rows = book.stop(where, scoped=scoped)
                else:
                    rows = book.uninstall(where, force=args.force)
        except RunbookError as exc:
            err.print(f"tanium-sim runbook: {exc}")
            return 1
    table = Table(title=f"runbook {args.step}: {len(rows)} endpoint(s)")
    for column in ("Computer Name", "Computer ID", "Monitor", "Binary", "Action", "Outcome"):
        table.add_column(column, overflow="fold")
    for row in sorted(rows, key=lambda r: r.name):
        table.add_row(
            row.name, row.computer_id, row.monitor, row.binary or "-", row.action or "-", row.outcome or "-"
        )
    out.print(table)
    if not rows and args.step != "status":
        out.print(
            "nothing to do: no endpoint in scope"
            + (" runs the scanner" if args.step == "stop" else " has it")
        )
    verified = ("stopped", "removed", "removed, but still running from memory")  # the last only with --force
    failed = [r for r in rows if r.outcome and r.outcome not in verified]
    return 1 if failed else 0
