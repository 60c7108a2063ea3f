"""``tanium-sim runbook stop|uninstall|status``: the seed's scanner runbook, over the platform API v2.

The operators' guide says, when a scan hurts an environment: find the endpoints where the Filesystem
Scanner runs (``3P Cryptosense - Monitor`` equals ``Running``), deploy the stop action, re-ask with Maximum
Data Age 1 minute until it says ``Not Running``; then find the binary with
``File Exists[/opt/cryptosense/bin/cs-host-scanner]``, deploy ``3P Cryptosense - Host Scanner - Uninstall``
and verify the file is gone. This command does exactly that against a Tanium (or this simulator), waits for
questions by the documented rule (answered / estimated total >= 95 %), shows progress, and ends with a
per-endpoint table. It refuses to uninstall where the scanner still runs (the binary would be gone but
the process would keep scanning from memory) unless ``--force``.

It takes the server and credentials as ``collect`` does (``--url``/``$TANIUM_URL``, ``--token``/
``$TANIUM_TOKEN`` or ``--username``/``--password``, ``--ca-bundle``). Exit codes: 0 done and verified,
1 the runbook failed at run time (unreachable server, refused credential, an endpoint named by
``--computer-name`` that no answer names) or something is not verified (or was refused), 2 usage errors.
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
        self.answered: set[str] = set()  # every Computer Name an answer named (case folded)

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
                self.answered.add(values.get("Computer Name", "").casefold())
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

STEPS = {
    "status": "ask where the scanner runs and where its binary is; a table (changes nothing)",
    "stop": "deploy the stop package where the scanner runs, re-ask until it says Not Running",
    "uninstall": "deploy the per-platform uninstall package, re-ask until the binary is gone",
}


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
    steps = p.add_subparsers(dest="step", metavar="STEP", required=True)
    for name, what in STEPS.items():
        step = steps.add_parser(name, help=what, description=f"runbook {name}: {what}. Exit 0 when verified.")
        _step_options(step)
        if name == "uninstall":
            step.add_argument(
                "--force",
                action="store_true",
                help="uninstall even where the scanner still runs (it keeps scanning from memory)",
            )
        step.set_defaults(func=_run, force=False)


def _step_options(p: argparse.ArgumentParser) -> None:
    from simulator.cli.collect import add_trust_options
    from simulator.cli.types import non_negative_float, non_negative_int, percent, positive_float

    server = p.add_argument_group("server and credentials (as for `tanium-sim collect`)")
    server.add_argument("--url", help="the server, e.g. http://127.0.0.1:8080 (default: $TANIUM_URL)")
    server.add_argument("--token", help="API token for the `session` header (default: $TANIUM_TOKEN)")
    server.add_argument("--username", help="user for a session login (default: $TANIUM_USERNAME)")
    server.add_argument("--password", help="password for --username (default: $TANIUM_PASSWORD)")
    server.add_argument("--domain", help="login domain, if the account needs one")
    add_trust_options(server)
    scope = p.add_argument_group("endpoints (stop and uninstall need one of these)")
    only = scope.add_mutually_exclusive_group()
    only.add_argument(
        "--computer-name",
        action="append",
        default=[],
        metavar="NAME",
        help="an endpoint (repeat); one no answer names is an error (exit 1)",
    )
    only.add_argument("--where", metavar="TEXT", help="a from-clause, e.g. 'Computer Name contains web'")
    only.add_argument("--all", action="store_true", help="every endpoint")
    timing = p.add_argument_group("questions and waiting")
    timing.add_argument(
        "--max-data-age",
        type=non_negative_int,
        default=60,
        metavar="SECONDS",
        help="Maximum Data Age for every sensor (default 60)",
    )
    timing.add_argument(
        "--poll-interval",
        type=non_negative_float,
        default=5.0,
        metavar="SECONDS",
        help="between polls (default 5)",
    )
    timing.add_argument(
        "--timeout",
        type=positive_float,
        default=600.0,
        metavar="SECONDS",
        help="to wait for each step (default 600)",
    )
    timing.add_argument(
        "--complete-percent",
        type=percent,
        default=95.0,
        metavar="PERCENT",
        help="answers needed before a question counts as answered, 0 to 100 %% of the estimated total "
        "(default 95)",
    )


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


def _server(args: argparse.Namespace, env: dict[str, str]) -> tuple[str, dict[str, str], Any]:
    """The URL, credential and ``verify`` from the arguments and ``TANIUM_*``, as ``collect`` reads them."""
    import ssl

    from simulator.cli.collect import ca_bundle_from_args
    from simulator.cli.types import UsageError

    url = args.url or env.get("TANIUM_URL", "")
    if not url:
        raise UsageError("no server URL: pass --url or set TANIUM_URL")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"{url!r} is not a server URL: use http://HOST:PORT or https://HOST")
    token = args.token or env.get("TANIUM_TOKEN", "")
    username = args.username or env.get("TANIUM_USERNAME", "")
    password = args.password or env.get("TANIUM_PASSWORD", "")
    if token:
        credential = {"token": token}
    elif username and password:
        credential = {"username": username, "password": password}
        domain = args.domain or env.get("TANIUM_DOMAIN", "")
        if domain:
            credential["domain"] = domain
    elif username:
        raise UsageError("--username needs a password: pass --password or set TANIUM_PASSWORD")
    else:
        raise UsageError("no credential: pass --token (or set TANIUM_TOKEN), or --username and --password")
    bundle = ca_bundle_from_args(args, env)
    verify: Any = not args.insecure
    if bundle is not None:
        verify = ssl.create_default_context(cafile=str(bundle))
    return url, credential, verify


def _session(http: Any, url: str, credential: dict[str, str]) -> None:
    """Logs in (for --username) and checks the session, setting the ``session`` header; RunbookError."""
    import httpx

    try:
        if "token" in credential:
            http.headers["session"] = credential["token"]
        else:
            login = http.post("/api/v2/session/login", json=credential)
            if login.status_code >= 400:
                raise RunbookError(
                    f"the server refused the login of {credential['username']} ({login.status_code})"
                )
            http.headers["session"] = login.json()["data"]["session"]
        current = http.get("/api/v2/session/current")
        if current.status_code >= 400:
            raise RunbookError(f"the server refused the token ({current.status_code})")
    except httpx.HTTPError as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise RunbookError(f"cannot reach {url} ({detail})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise RunbookError(f"{url} did not answer the login like a Tanium server ({exc!r})") from None


def _run(args: argparse.Namespace) -> int:
    import httpx
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from simulator.cli.types import output_console

    url, credential, verify = _server(args, dict(os.environ))
    where, scoped = _scope(args)
    out = output_console()
    err = output_console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )
    with httpx.Client(base_url=url, timeout=60.0, verify=verify) as http:
        book = Runbook(
            http,
            progress=progress,
            max_data_age=args.max_data_age,
            poll_interval=args.poll_interval,
            timeout=args.timeout,
            complete_percent=args.complete_percent,
        )
        try:
            _session(http, url, credential)
            with progress:
                if args.step == "status":
                    rows = book.status(where)
                elif args.step == "stop":
                    rows = book.stop(where, scoped=scoped)
                else:
                    rows = book.uninstall(where, force=args.force)
        except RunbookError as exc:
            err.print(f"tanium-sim runbook: {exc}", highlight=False, markup=False)
            return 1
    table = Table(title=f"runbook {args.step}: {len(rows)} endpoint(s)")
    for column in ("Computer Name", "Computer ID", "Monitor", "Binary", "Action", "Outcome"):
        table.add_column(column, overflow="fold")
    for row in sorted(rows, key=lambda r: r.name):
        table.add_row(
            row.name, row.computer_id, row.monitor, row.binary or "-", row.action or "-", row.outcome or "-"
        )
    out.print(table)
    unknown = [n.strip() for n in args.computer_name if n.strip().casefold() not in book.answered]
    if not rows and args.step != "status" and not unknown:
        out.print(
            "nothing to do: no endpoint in scope"
            + (" runs the scanner" if args.step == "stop" else " has it")
        )
    if unknown:
        err.print(
            f"tanium-sim runbook: no endpoint named {', '.join(unknown)} answered: unknown or offline "
            "(check the name with `tanium-sim runbook status`)",
            highlight=False,
            markup=False,
        )
        return 1
    verified = ("stopped", "removed", "removed, but still running from memory")  # the last only with --force
    failed = [r for r in rows if r.outcome and r.outcome not in verified]
    return 1 if failed else 0
