"""``tanium-sim record`` over real sockets: the recording proxy (a child process) in front of a simulator.

The reference client collects through the proxy exactly as it would from the simulator; the tests then
read the HAR and its side files back and search them for every real credential (and, pseudonymized,
every real hostname, IP and clientId). A proxy killed with SIGKILL leaves every exchange its client saw
answered readable; a 500 MB download through it grows its memory by a few MB, not by the body.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import ipaddress
import json
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from client import AsyncTaniumClient, CollectOptions, collect_many
from loadtests.bench_record import TARGET_GROWTH_MB, check, measure, recorder, stub_upstream
from simulator.cli import main
from simulator.record.har import Exchange, iter_bodies, read_har
from simulator.server import BackgroundServer
from simulator.settings import Lifecycle, Settings, TLSSettings

pytestmark = pytest.mark.sockets

TOKEN = "token-5ec12e7a0ff1ce42"
ADMIN = "admin-5ecret-0ff1ce-77"
USER = "rec-operator"
PASSWORD = "pw-Re3ord-Secret-91"
COOKIE = "cookie-5ecret-abcdef123"
ENDPOINTS = 4
RECORD = [sys.executable, "-m", "simulator", "record"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "TANIUM_URL", "TANIUM_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def fleet_settings(tls: TLSSettings | None = None) -> Settings:
    """Four endpoints with medium traces (seed 3: two evidence zips over 1 MiB, so side files)."""
    settings = Settings(
        port=0,
        endpoints=ENDPOINTS,
        seed=3,
        token=TOKEN,
        admin_token=ADMIN,
        username=USER,
        password=PASSWORD,
        lifecycle=Lifecycle(connect_delay_s=0, task_duration_s=0),
        tls=tls or TLSSettings(),
    )
    return dataclasses.replace(settings, fleet=dataclasses.replace(settings.fleet, profile_mix={"medium": 1}))


def collect_all(url: str, out: Path) -> None:
    """``collect --all`` through ``url`` with the reference client; every endpoint must succeed."""
    options = CollectOptions(
        url=url,
        token=TOKEN,
        username=None,
        password=None,
        domain=None,
        client_ids=(),
        all=True,
        out=out,
        concurrency=ENDPOINTS,
        deadline_s=60,
        request_timeout_s=30,
        trace_path=None,
        poll_interval_s=0.05,
    )
    outcomes, fatal = asyncio.run(collect_many(options))
    assert fatal is None
    assert [o.status for o in outcomes] == ["ok"] * ENDPOINTS, [o.message for o in outcomes]


def stop(proc: subprocess.Popen[str], how: int = signal.SIGINT) -> str:
    """Ctrl-C (or SIGTERM) the recorder: it exits 0 with one line; its stdout."""
    proc.send_signal(how)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out


def everything(har: Path) -> list[bytes]:
    """Every byte the recording holds: the HAR, each side file and its name, each decoded body."""
    blobs = [har.read_bytes()]
    blobs += [p.read_bytes() for p in iter_bodies(har)] + [p.name.encode() for p in iter_bodies(har)]
    for e in read_har(har):
        blobs += [e.request_body, e.response_body or b"", e.url.encode()]
    return blobs


def findings(har: Path, values: list[str]) -> list[str]:
    blobs = everything(har)
    return [v for v in values if any(v.encode() in blob for blob in blobs)]


async def session_calls(url: str) -> list[str]:
    """Logins, validate, current, logout, a GET login, the admin route and a cookie, through ``url``;
    the sessions the upstream issued."""
    async with AsyncTaniumClient(url, username=USER, password=PASSWORD) as tanium:
        first = await tanium.login(USER, PASSWORD)
        assert await tanium.validate()
        assert (await tanium.current())["name"] == USER
        assert len(await tanium.system_status()) == ENDPOINTS
        await tanium.logout()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        login = await http.get("/api/v2/session/login", params={"username": USER, "password": PASSWORD})
        second = login.json()["data"]["session"]
        (await http.get("/_sim/state", headers={"authorization": f"Bearer {ADMIN}"})).raise_for_status()
        current = await http.get(
            "/api/v2/session/current", headers={"session": second, "cookie": f"sid={COOKIE}"}
        )
        current.raise_for_status()
    return [first, second]


def only(exchanges: list[Exchange], path: str) -> list[Exchange]:
    return [e for e in exchanges if e.path == path]


def test_a_recorded_collect_holds_no_credential(tmp_path: Path) -> None:
    har = tmp_path / "session.har"
    with BackgroundServer(fleet_settings()) as upstream, recorder(upstream.url, har) as (proc, url):
        collect_all(url, tmp_path / "traces")  # the transferHash checks pass: bodies arrive intact
        sessions = asyncio.run(session_calls(url))
        out = stop(proc)
    exchanges = read_har(har)
    assert out.strip() == f"recorded {len(exchanges)} exchanges into {har}"
    side_files = list(iter_bodies(har))
    assert len(side_files) >= 1  # the evidence zips over 1 MiB
    for path in side_files:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    downloads = [e for e in exchanges if "/filedownload/data/" in e.path]
    assert len(downloads) == ENDPOINTS and all(e.response_body and e.status == 200 for e in downloads)

    assert findings(har, [TOKEN, PASSWORD, ADMIN, COOKIE, *sessions]) == []
    tokened = {e.header("session", response=False) for e in exchanges if e.path.startswith("/plugin/")}
    assert tokened == {"<session-1>"}  # one token, one placeholder, in every exchange
    post_login, get_login = only(exchanges, "/api/v2/session/login")
    assert json.loads(post_login.request_body) == {"username": "<redacted>", "password": "<redacted>"}
    issued = json.loads(post_login.response_body or b"")["data"]["session"]
    assert re.fullmatch(r"<session-\d+>", issued) and issued != "<session-1>"
    (validate,) = only(exchanges, "/api/v2/session/validate")
    assert validate.header("session", response=False) == issued
    assert json.loads(validate.request_body) == {"session": issued}
    assert get_login.query == [("username", "<redacted>"), ("password", "<redacted>")]
    (state,) = only(exchanges, "/_sim/state")
    assert re.fullmatch(r"Bearer <session-\d+>", state.header("authorization", response=False) or "")
    assert only(exchanges, "/api/v2/session/current")[-1].header("cookie", response=False) == "sid=<cookie-1>"


def test_a_pseudonymized_recording_holds_no_real_identity(tmp_path: Path) -> None:
    har, mapping_path = tmp_path / "session.har", tmp_path / "mapping.json"
    mapping_path.write_text("an earlier mapping, readable by all")
    mapping_path.chmod(0o644)
    extra = ("--pseudonymize", "--mapping-out", str(mapping_path))
    with BackgroundServer(fleet_settings()) as upstream, recorder(upstream.url, har, *extra) as (proc, url):
        with httpx.Client(base_url=upstream.url, headers={"session": TOKEN}) as direct:  # not recorded
            fleet = direct.get("/plugin/products/dec/v1/endpoints").json()["data"]
            rows = direct.get("/api/v2/system_status").json()["data"][:-1]
        collect_all(url, tmp_path / "traces")
        with httpx.Client(base_url=url, headers={"session": TOKEN}) as c:
            for ep in fleet:  # discovery by each identity, in the query string
                for key, value in (
                    ("hostname", ep["hostname"]),
                    ("ip", ep["ip"]),
                    ("clientId", ep["clientId"]),
                ):
                    found = c.get("/plugin/products/dec/v1/endpoints", params={key: value}).json()["data"]
                    assert [x["clientId"] for x in found] == [ep["clientId"]]
        out = stop(proc, signal.SIGTERM)  # a service manager's stop: the same clean end as Ctrl-C
    assert re.fullmatch(rf"recorded \d+ exchanges into {re.escape(str(har))}; mapping in .*\n", out)
    reals = [ep[k] for ep in fleet for k in ("hostname", "ip", "clientId")] + [rows[0]["ipaddress_server"]]
    assert findings(har, reals) == []
    assert list(iter_bodies(har))  # the side files were searched too

    assert stat.S_IMODE(mapping_path.stat().st_mode) == 0o600
    mapping = json.loads(mapping_path.read_text())
    recorded = only(read_har(har), "/api/v2/system_status")[0]
    fakes = json.loads(recorded.response_body or b"")["data"][:-1]
    for real, fake in zip(rows, fakes, strict=True):
        assert fake["host_name"] == mapping["hostnames"][real["host_name"]]
        assert re.fullmatch(r"host-\d{4}", fake["host_name"])
        assert fake["computer_id"] == mapping["client_ids"][real["computer_id"]]
        assert fake["computer_id"].isdigit() and len(fake["computer_id"]) == len(real["computer_id"])
        assert fake["ipaddress_client"] == mapping["ips"][real["ipaddress_client"]]
        assert ipaddress.ip_address(fake["ipaddress_client"]) in ipaddress.ip_network("192.0.2.0/24")
    assert TOKEN not in mapping_path.read_text()


def test_a_killed_recorder_leaves_every_answered_exchange_readable(tmp_path: Path) -> None:
    """SIGKILL with a 3 MiB download in flight: the five answered exchanges are there, whole."""
    har, release = tmp_path / "session.har", threading.Event()
    try:
        with (
            BackgroundServer(Settings(port=0), app=stub_upstream(release)) as upstream,
            recorder(upstream.url, har) as (proc, url),
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            for i in range(5):
                assert client.get(f"/json/n{i}").json() == {"name": f"n{i}"}
            with client.stream("GET", "/bytes", params={"size": 3 << 20, "stall": "1"}) as response:
                received = 0
                for chunk in response.iter_raw():
                    received += len(chunk)
                    if received >= 2 << 20:  # past the inline limit: a side file is being written
                        break
                proc.kill()
                assert proc.wait(timeout=10) == -signal.SIGKILL
                release.set()  # the stub's answer may end now: the proxy is gone
    finally:
        release.set()
    json.loads(har.read_text())  # still a whole JSON document
    exchanges = read_har(har)
    assert [(e.path, e.status, e.response_body) for e in exchanges] == [
        (f"/json/n{i}", 200, json.dumps({"name": f"n{i}"}, separators=(",", ":")).encode()) for i in range(5)
    ]
    assert list(iter_bodies(har)) == []  # the unfinished body is no side file
    assert [p.name.startswith(".partial-") for p in (tmp_path / "session.bodies").iterdir()] == [True]


def wait_for_exchanges(har: Path, count: int, timeout_s: float = 15.0) -> list[Exchange]:
    """The HAR's exchanges once it holds ``count`` (polled, bounded by ``timeout_s``)."""
    deadline, tick = time.monotonic() + timeout_s, threading.Event()
    while len(exchanges := read_har(har)) < count:
        assert time.monotonic() < deadline, f"{len(exchanges)} exchanges recorded after {timeout_s} s"
        tick.wait(0.02)
    return exchanges


def test_a_client_that_leaves_mid_download_is_recorded_as_such(tmp_path: Path) -> None:
    """The upstream is stalled mid-body: the proxy notices the client is gone, not the next chunk."""
    har, release = tmp_path / "session.har", threading.Event()
    with (
        BackgroundServer(Settings(port=0), app=stub_upstream(release)) as upstream,
        recorder(upstream.url, har) as (proc, url),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        with client.stream("GET", "/bytes", params={"size": 3 << 20, "stall": "1"}) as response:
            received = 0
            for chunk in response.iter_raw():
                received += len(chunk)
                if received >= 2 << 20:
                    break  # leaving the block closes the connection mid-body
        (e,) = wait_for_exchanges(har, 1)
        release.set()
        stop(proc)
    assert e.status == 200 and e.comment.startswith("the client disconnected after ")
    assert e.comment.endswith(f" of {6 << 20} bytes")
    assert received <= e.size <= 3 << 20
    assert e.response_body is not None and hashlib.sha256(e.response_body).hexdigest() == e.response_sha256


@pytest.mark.slow
def test_ctrl_c_mid_download_finishes_the_har_with_what_arrived(tmp_path: Path) -> None:
    """The answer in flight gets the grace period (10 s), then is cut and recorded as far as it got."""
    har, release = tmp_path / "session.har", threading.Event()
    with (
        BackgroundServer(Settings(port=0), app=stub_upstream(release)) as upstream,
        recorder(upstream.url, har) as (proc, url),
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        with client.stream("GET", "/bytes", params={"size": 3 << 20, "stall": "1"}) as response:
            received = 0
            for chunk in response.iter_raw():
                received += len(chunk)
                if received >= 2 << 20:
                    out = stop(proc)
                    break
        release.set()
    assert out == f"recorded 1 exchange into {har}\n"
    (e,) = read_har(har)
    assert e.comment == f"the recording stopped after {e.size} of {6 << 20} bytes"
    assert received <= e.size <= 3 << 20
    assert e.response_body is not None and hashlib.sha256(e.response_body).hexdigest() == e.response_sha256


def test_recording_a_500_mb_download_keeps_the_proxy_memory_bounded(tmp_path: Path) -> None:
    """The proxy streams 500 MB to the client and into a side file; its RSS grows by a few MB."""
    figures = measure(500 << 20, tmp_path)
    try:
        assert check(figures, tmp_path) == "side file, SHA-256 checked"
        assert figures.growth_mb < TARGET_GROWTH_MB, f"RSS grew by {figures.growth_mb:.1f} MB"
    finally:
        for path in iter_bodies(tmp_path / "big.har"):
            path.unlink()


def test_max_body_keeps_only_the_size_and_hash_of_a_large_download(tmp_path: Path) -> None:
    figures = measure(20 << 20, tmp_path, "--max-body", "1M")
    assert check(figures, tmp_path) == "size and SHA-256 only"
    assert figures.content == {
        "size": 20 << 20,
        "mimeType": "application/zip",
        "_omitted": True,
        "_sha256": figures.client_sha256,
    }
    assert list(iter_bodies(tmp_path / "big.har")) == []  # the 2 MiB warm-up body is over 1M too


def test_an_upstream_that_breaks_off_mid_body_is_passed_on_and_recorded(tmp_path: Path) -> None:
    har, release = tmp_path / "session.har", threading.Event()
    with (
        BackgroundServer(Settings(port=0), app=stub_upstream(release)) as upstream,
        recorder(upstream.url, har) as (proc, url),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        release.set()  # the stub sends 64 KiB of the 128 KiB it declares, then ends: the upstream broke off
        with (
            pytest.raises(httpx.RemoteProtocolError),
            client.stream("GET", "/bytes", params={"size": 64 << 10, "stall": "1"}) as response,
        ):
            response.read()
        out = stop(proc)
    assert out.startswith("recorded 1 exchange into")
    (e,) = read_har(har)
    assert e.status == 200 and e.size == 64 << 10
    assert e.comment.startswith(f"the upstream broke off after {64 << 10} of {128 << 10} bytes")


def test_an_https_upstream_is_trusted_through_its_ca_bundle(tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = fleet_settings(tls=TLSSettings(enabled=True, state_dir=str(state)))
    ca = tmp_path / "ca.pem"
    with BackgroundServer(settings) as upstream:
        assert main(["tls", "export-ca", str(ca), "--state-dir", str(state)]) == 0
        with recorder(upstream.url, tmp_path / "untrusted.har") as (proc, url):
            refused = httpx.get(f"{url}/api/v2/system_status", headers={"session": TOKEN}, timeout=30)
            stop(proc)
        with recorder(upstream.url, tmp_path / "trusted.har", "--ca-bundle", str(ca)) as (proc, url):
            trusted = httpx.get(f"{url}/api/v2/system_status", headers={"session": TOKEN}, timeout=30)
            stop(proc)
    assert refused.status_code == 502
    assert refused.json()["text"].startswith(f"502 Bad Gateway: cannot reach the upstream {upstream.url}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in refused.json()["text"]
    (e,) = read_har(tmp_path / "untrusted.har")
    assert e.status == 502 and e.comment.startswith("upstream unreachable: ")
    assert trusted.status_code == 200 and len(trusted.json()["data"]) == ENDPOINTS + 1
    assert [x.status for x in read_har(tmp_path / "trusted.har")] == [200]


def test_a_refused_upstream_is_answered_502(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with recorder(f"http://127.0.0.1:{port}", tmp_path / "s.har") as (proc, url):
        r = httpx.get(f"{url}/api/v2/system_status", headers={"session": TOKEN}, timeout=30)
        out = stop(proc)
    assert r.status_code == 502 and r.json()["text"].startswith("502 Bad Gateway: cannot reach the upstream")
    assert out.startswith("recorded 1 exchange into")
    (e,) = read_har(tmp_path / "s.har")
    assert e.status == 502 and e.comment.startswith("upstream unreachable")
    assert TOKEN not in (tmp_path / "s.har").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--upstream", "ftp://tanium"], "--upstream 'ftp://tanium' is not a server URL"),
        (["--upstream", "https://u:p@tanium"], "--upstream must not hold credentials"),
        (["--upstream", "http://t", "--mapping-out", "m.json"], "--mapping-out needs --pseudonymize"),
        (["--upstream", "http://t", "--ca-bundle", "missing.pem"], "--ca-bundle missing.pem cannot be read"),
    ],
)
def test_bad_arguments_are_one_sentence_and_exit_2(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["record", *args, "--out", "s.har", "--listen", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tanium-sim: {message}") and err.count("\n") == 1
    assert not (tmp_path / "s.har").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "8081"], "argument --listen: '8081' is not HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "argument --listen: '127.0.0.1:99999' is not HOST:PORT"),
        (["--max-body", "lots"], "argument --max-body: 'lots' is not a number of bytes"),
    ],
)
def test_bad_option_values_are_rejected_by_the_parser(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["record", "--upstream", "http://t", "--out", "s.har", *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_busy_port_or_a_folder_as_out_is_a_usage_error_that_keeps_the_old_recording(tmp_path: Path) -> None:
    old = tmp_path / "old.har"
    old.write_text("an earlier recording")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(
            [*RECORD, "--upstream", "http://t", "--out", str(old), "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert (
        run.stderr
        == f"tanium-sim: cannot listen on 127.0.0.1:{port} (Address already in use); try another --listen\n"
    )
    assert old.read_text() == "an earlier recording"
    folder = subprocess.run(
        [*RECORD, "--upstream", "http://t", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert folder.returncode == 2 and folder.stderr.startswith(f"tanium-sim: --out {tmp_path} is a folder")


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), ("--pseudonymize",)], ids=["plain", "pseudonymized"])
def test_a_recorded_collect_replays_strict_with_nothing_behind_it(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    """record -> serve --replay (strict, no simulator) -> collect: the same traces, byte for byte."""
    from tests.sockets.test_replay_collect import serve_replay, traces

    har = tmp_path / "session.har"
    with BackgroundServer(fleet_settings()) as upstream, recorder(upstream.url, har, *extra) as (proc, url):
        collect_all(url, tmp_path / "live")
        stop(proc)
    assert findings(har, [TOKEN, PASSWORD, ADMIN]) == []
    with serve_replay(har, "--replay-mode", "strict") as replay_url:
        collect_all(replay_url, tmp_path / "replayed")  # any token: the recording holds placeholders
    live, replayed = traces(tmp_path / "live"), traces(tmp_path / "replayed")
    assert len(live) == ENDPOINTS == len(replayed)
    if extra:  # pseudonymized: the trace files are named by the fake clientIds; the bytes are the same
        assert sorted(replayed.values()) == sorted(live.values()) and replayed.keys().isdisjoint(live)
    else:
        assert replayed == live
