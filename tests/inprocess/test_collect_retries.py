"""``tanium-sim collect`` tells what happened: each endpoint's retries (and why), and why ``--diff`` pulled
a full trace. In-process: the command runs on the simulator app through ``httpx.ASGITransport``, with
fault scenarios and an injected sleep (no wait is real), or on respx for a download cut short.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import client
from client import CollectOptions, collect_endpoint
from client._client import AsyncTaniumClient
from simulator.app import create_app
from simulator.cli import main
from simulator.clock import ManualClock
from simulator.scenarios import Scenario
from simulator.settings import FleetProfile, Lifecycle, Settings
from simulator.traces import ChurnRates
from tests.inprocess.tanium_fakes import (
    BASE,
    CLIENT_ID,
    TOKEN,
    UUID,
    FakeTanium,
    conn,
    listed_after_connect,
    ok,
    plays,
    task,
    zip_response,
)

ADMIN = "admin-secret"
CHURN = ChurnRates(renew_in_place=0.2, new_artifacts=0.15, remove_key=0.1, move_file=0.05)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TANIUM_URL", "TANIUM_TOKEN", "TANIUM_USERNAME", "TANIUM_PASSWORD", "TANIUM_DOMAIN"):
        monkeypatch.delenv(name, raising=False)


class Waits:
    """The sleep given to the client: records each wait and moves the simulator's clock, never sleeps."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def simulator(scenario: str | Scenario | None = None, *, endpoints: int = 2, churn: bool = False) -> Any:
    settings = Settings(
        seed=3,  # every endpoint online, with a trace, running the scanner (tests/inprocess/test_diff_e2e.py)
        endpoints=endpoints,
        token=TOKEN,
        admin_token=ADMIN,
        lifecycle=Lifecycle(connect_delay_s=0.0, task_duration_s=0.0),
        fleet=FleetProfile(profile_mix={"small": 1.0}),
        **({"churn": CHURN} if churn else {}),
    )
    if isinstance(scenario, str):
        scenario = Scenario.from_text(scenario)
    clock = ManualClock()
    return create_app(settings, clock=clock, **({"scenario": scenario} if scenario else {})), clock


def run_on(monkeypatch: pytest.MonkeyPatch, app: Any, waits: Waits) -> None:
    """Make the command's ``client.collect_many`` run on ``app`` in-process, waiting through ``waits``."""
    real = client.collect_many
    transport = httpx.ASGITransport(app=app)
    monkeypatch.setattr(
        client, "collect_many", lambda options, **kw: real(options, transport=transport, sleep=waits, **kw)
    )


def collect(out: Path, *extra: str) -> list[str]:
    return [
        "collect",
        "--url",
        "http://sim",
        "--token",
        TOKEN,
        "--out",
        str(out),
        "--concurrency",
        "2",
        *extra,
    ]


def summary(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return loaded


def lines_about(err: str, client_id: str) -> list[str]:
    return [line for line in err.splitlines() if f" {client_id}: " in line]


# --------------------------------------------------------------------------- retries per endpoint


def test_each_endpoint_reports_its_retries_by_reason_on_its_line_and_in_the_summary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app, clock = simulator()
    first, second = (app.state.backend.fleet.endpoint(i).client_id for i in range(2))
    rules = [  # endpoint by endpoint, so which one retried what is certain whatever the interleaving
        (first, "get_task", "busy", 2, "{type: status, status: 503, retry_after_s: 1}"),
        (first, "download_evidence", "reset", 1, "{type: reset}"),
        (second, "connect", "slow-down", 1, "{type: status, status: 429, retry_after_s: 2}"),
        (second, "get_task", "hang", 1, "{type: hang}"),  # in-process: the client's read timeout at once
        (second, "download_evidence", "flip", 1, "{type: corrupt, bytes: 32}"),
    ]
    faults = ", ".join(
        f'{{name: {name}-{cid}, match: {{operation: {op}, client_id: "{cid}"}}, times: {n}, fault: {fault}}}'
        for cid, op, name, n, fault in rules
    )
    app.state.runtime.install(Scenario.from_text(f"faults: [{faults}]"), seed=3)
    waits = Waits(clock)
    run_on(monkeypatch, app, waits)
    assert main([*collect(tmp_path), "--client-id", first, second]) == 0
    out, err = capsys.readouterr()
    assert lines_about(err, first) == [
        f"ok {first}: retried 3× (2×503, 1×reset; 2 after the server's Retry-After)"
    ]
    assert lines_about(err, second) == [
        f"ok {second}: retried 3× (1×429, 1×corrupt, 1×timeout; 1 after the server's Retry-After)"
    ]
    assert "; 6 requests sent again for 2 endpoints (2×503, 1×429, 1×corrupt, 1×reset, 1×timeout)" in out
    report = summary(tmp_path)
    one, two = report["endpoints"][first]["retries"], report["endpoints"][second]["retries"]
    assert (one["count"], one["reasons"], one["retry_after_honoured"]) == (3, {"503": 2, "reset": 1}, 2)
    assert (two["count"], two["reasons"], two["retry_after_honoured"]) == (
        3,
        {"429": 1, "corrupt": 1, "timeout": 1},
        1,
    )
    ops = {(e["operation"].split("/")[1], e["reason"], e["retry_after_s"]) for e in one["events"]}
    assert ops == {("tasks", "503", 1.0), ("filedownload", "reset", None)}
    assert [e["operation"] for e in two["events"] if e["reason"] == "429"] == ["POST /conns/connect"]
    corrupt = next(e for e in two["events"] if e["reason"] == "corrupt")
    assert corrupt["operation"].startswith("GET /filedownload/data/")  # the workflow fetched it again
    assert 2.0 in waits.waits and waits.waits.count(1.0) >= 2  # each Retry-After was waited out
    assert report["retries"] == {
        "count": 6,
        "reasons": {"503": 2, "429": 1, "corrupt": 1, "reset": 1, "timeout": 1},
        "retry_after_honoured": 3,
        "waited_s": report["retries"]["waited_s"],
        "endpoints_retried": 2,
    }
    assert report["retries"]["waited_s"] >= 4.0
    assert report["counts"] == {"total": 2, "ok": 2, "failed": 0}  # the keys that were there stay


@pytest.mark.parametrize("name", ["flaky-5xx", "rate-limited"])
def test_retries_reported_are_the_faults_the_server_injected(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app, clock = simulator(Scenario.load(name), endpoints=4)
    run_on(monkeypatch, app, Waits(clock))
    ids = [app.state.backend.fleet.endpoint(i).client_id for i in range(4)]
    assert main([*collect(tmp_path, "--concurrency", "1"), "--client-id", *ids]) == 0
    err = capsys.readouterr().err
    faulted = [
        e for e in app.state.runtime.journal.query(faulted=True) if e.operation != "system_status"
    ]  # the fleet listing's retries are not an endpoint's
    assert faulted, "the scenario injected nothing: pick another seed"
    by_status: dict[str, int] = {}
    for entry in faulted:
        by_status[str(entry.status)] = by_status.get(str(entry.status), 0) + 1
    report = summary(tmp_path)
    assert report["retries"]["count"] == len(faulted)
    assert report["retries"]["reasons"] == dict(sorted(by_status.items(), key=lambda kv: (-kv[1], kv[0])))
    assert sum(e["retries"]["count"] for e in report["endpoints"].values()) == len(faulted)
    for cid, entry in report["endpoints"].items():
        said = lines_about(err, cid)
        assert bool(said) == bool(entry["retries"]["count"])
        if said:
            assert f"retried {entry['retries']['count']}× (" in said[0]


def test_a_re_login_after_a_403_is_a_retry_with_its_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app, clock = simulator(
        "faults: [{name: expired, match: {operation: get_task}, times: 1, fault: {type: session_expired}}]",
        endpoints=1,
    )
    cid = app.state.backend.fleet.endpoint(0).client_id
    run_on(monkeypatch, app, Waits(clock))
    argv = ["collect", "--url", "http://sim", "--username", "admin", "--password", "tanium"]
    assert main([*argv, "--out", str(tmp_path), "--client-id", cid]) == 0
    assert lines_about(capsys.readouterr().err, cid) == [f"ok {cid}: retried 1× (1×relogin)"]
    events = summary(tmp_path)["endpoints"][cid]["retries"]["events"]
    assert [(e["operation"].split("/")[1], e["reason"]) for e in events] == [("tasks", "relogin")]


@pytest.mark.anyio
async def test_a_download_cut_short_and_fetched_again_is_a_truncated_retry(
    mock: respx.MockRouter, tmp_path: Path
) -> None:
    fake = FakeTanium(mock)
    fake.conns.side_effect = listed_after_connect(fake.connect, conn("connected"))
    fake.task.side_effect = plays(ok(task("COMPLETED")))
    cut = zip_response(fake.zip[: len(fake.zip) // 2], **{"Content-Length": str(len(fake.zip))})
    fake.download.side_effect = plays(cut, zip_response(fake.zip))
    options = CollectOptions(
        url=BASE, token=TOKEN, username=None, password=None, domain=None, client_ids=(CLIENT_ID,),
        all=False, out=tmp_path, concurrency=1, deadline_s=60.0, request_timeout_s=30.0, trace_path=None,
    )  # fmt: skip
    async with AsyncTaniumClient(BASE, token=TOKEN) as tanium:
        outcome = await collect_endpoint(tanium, CLIENT_ID, options)
    assert outcome.status == "ok" and fake.download.call_count == 2
    assert outcome.retries["reasons"] == {"truncated": 1}
    assert outcome.retries["events"][0]["operation"] == f"GET /filedownload/data/{UUID}"
    assert outcome.notes() == ["retried 1× (1×truncated)"]


def test_an_endpoint_that_fails_says_what_it_retried_before_giving_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app, clock = simulator(
        "faults: [{name: down, match: {operation: connect}, fault: {type: status, status: 503}}]", endpoints=1
    )
    cid = app.state.backend.fleet.endpoint(0).client_id
    run_on(monkeypatch, app, Waits(clock))
    assert main([*collect(tmp_path, "--retries", "2"), "--client-id", cid]) == 1
    (line,) = lines_about(capsys.readouterr().err, cid)
    assert line.startswith(f"failed {cid}: server_error: ")
    assert line.endswith("; retried 2× (2×503; 2 after the server's Retry-After)")
    assert summary(tmp_path)["endpoints"][cid]["retries"]["count"] == 2


# --------------------------------------------------------------------------- why --diff pulled a full trace


@pytest.fixture
def diff_world(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    app, clock = simulator(endpoints=1, churn=True)
    run_on(monkeypatch, app, Waits(clock))
    return app, app.state.backend.fleet.endpoint(0).client_id


def full_reason(out: Path, client_id: str) -> tuple[str, str | None, str | None]:
    diff = summary(out)["endpoints"][client_id]["diff"]
    return diff["mode"], diff["full_reason"], diff["full_detail"]


def test_diff_first_collect_pulls_the_full_trace_for_lack_of_a_previous_inventory(
    diff_world: tuple[Any, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, cid = diff_world
    assert main([*collect(tmp_path, "--diff"), "--client-id", cid]) == 0
    out, err = capsys.readouterr()
    mode, reason, detail = full_reason(tmp_path, cid)
    assert (mode, reason) == ("full", "no_previous_inventory")
    assert detail is not None and "holds no previous inventory" in detail
    assert lines_about(err, cid) == [f"ok {cid}: full trace, not a diff: no_previous_inventory ({detail})"]
    assert summary(tmp_path)["transfer"]["full_reasons"] == {"no_previous_inventory": 1}
    assert "(1×no_previous_inventory pulled in full)" in out


def test_diff_with_no_new_scan_since_the_first_finds_no_diff_on_the_endpoint(
    diff_world: tuple[Any, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, cid = diff_world
    assert main([*collect(tmp_path, "--diff"), "--client-id", cid]) == 0
    assert main([*collect(tmp_path, "--diff"), "--client-id", cid]) == 0  # scan 1 still: no diff exists
    assert full_reason(tmp_path, cid)[:2] == ("full", "no_diff_on_server")
    assert "no_diff_on_server" in lines_about(capsys.readouterr().err, cid)[-1]


def test_diff_after_a_missed_scan_does_not_fit_the_inventory_held(
    diff_world: tuple[Any, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app, cid = diff_world
    assert main([*collect(tmp_path, "--diff"), "--client-id", cid]) == 0
    app.state.backend.scan_now(cid)
    app.state.backend.scan_now(cid)  # scan 3: its diff is against scan 2, never pulled
    assert main([*collect(tmp_path, "--diff"), "--client-id", cid]) == 0
    mode, reason, detail = full_reason(tmp_path, cid)
    assert (mode, reason) == ("full", "baseline_mismatch")
    assert detail is not None and "the diff was made against scan" in detail
    assert lines_about(capsys.readouterr().err, cid)[-1].startswith(
        f"ok {cid}: full trace, not a diff: baseline_mismatch (the diff was made against scan"
    )
    app.state.backend.scan_now(cid)  # and the next diff fits again
    assert main([*collect(tmp_path, "--diff"), "--client-id", cid]) == 0
    assert full_reason(tmp_path, cid) == ("diff", None, None)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("trace", "previous_inventory_changed"),
        ("record", "previous_inventory_unreadable"),
        ("record-gone", "no_previous_inventory"),
    ],
)
def test_diff_with_a_previous_inventory_that_cannot_be_trusted_pulls_the_full_trace(
    damage: str, reason: str, diff_world: tuple[Any, str], tmp_path: Path
) -> None:
    app, cid = diff_world
    assert main([*collect(tmp_path, "--diff"), "--client-id", cid]) == 0
    app.state.backend.scan_now(cid)  # a diff exists: only the damage stands in the way
    trace, record = tmp_path / f"{cid}.cst.gz", tmp_path / ".inventory" / f"{cid}.json"
    if damage == "trace":
        trace.write_bytes(gzip.compress(gzip.decompress(trace.read_bytes()) + b"\n"))
    elif damage == "record":
        record.write_text("{not json")
    else:
        record.unlink()
    assert main([*collect(tmp_path, "--diff"), "--client-id", cid]) == 0
    assert full_reason(tmp_path, cid)[:2] == ("full", reason)


def test_diff_that_was_cut_short_on_the_endpoint_is_invalid(
    diff_world: tuple[Any, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app, cid = diff_world
    assert main([*collect(tmp_path, "--diff"), "--client-id", cid]) == 0
    app.state.backend.scan_now(cid)
    catalog = app.state.backend.catalog
    real = catalog.trace

    def without_trailer(spec: Any) -> Any:  # the scanner died before writing the diff's summary
        made = real(spec)
        if not spec.diff:
            return made
        lines = gzip.decompress(made.data).rstrip(b"\n").split(b"\n")
        assert b'"summary"' in lines[-1]
        # mtime=0: this runs per request (the announced hash, then the download); gzip's default stamps the
        # wall clock, and two calls a second apart made different bytes (failed as corrupt, not invalid).
        return replace(made, data=gzip.compress(b"\n".join(lines[:-1]) + b"\n", mtime=0))

    monkeypatch.setattr(catalog, "trace", without_trailer)
    assert main([*collect(tmp_path, "--diff"), "--client-id", cid]) == 0
    mode, reason, detail = full_reason(tmp_path, cid)
    assert (mode, reason) == ("full", "diff_invalid")
    assert detail is not None and "no summary trailer" in detail
