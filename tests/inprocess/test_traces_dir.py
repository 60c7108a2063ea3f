"""``serve --traces-dir DIR``: real CST trace files served as endpoints' traces (simulator/traces/sources.py).

The files are real traces written by ``tanium-sim trace generate`` (with their ground-truth manifests
beside them); the reference client collects them through the whole evidence workflow and gets the very
bytes of each file. Files that cannot be served stop ``serve`` before it starts: exit 2, their name and
why, one line.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from client import AsyncTaniumClient, PollPolicy, collect_trace
from simulator.app import create_app
from simulator.cli import main
from simulator.clock import ManualClock, VirtualSleep
from simulator.settings import Settings
from simulator.state.fleet import Fleet
from simulator.traces.sources import TraceSourceError

pytestmark = pytest.mark.anyio
TR = "/plugin/products/threat-response/api/v1"
SEED, ENDPOINTS = 3, 5
NAMED = 3  # the endpoint index whose clientId names a file


def client_id(index: int) -> str:
    return Fleet(SEED, ENDPOINTS).client_id(index)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real traces from ``tanium-sim trace generate``, each with its manifest beside it."""
    folder = tmp_path_factory.mktemp("generated")
    for name, endpoint, profile in (("b-host", 0, "small"), ("a-host", 1, "medium"), ("named", 2, "small")):
        argv = ["trace", "generate", "--seed", "21", "--profile", profile, "--endpoint", str(endpoint)]
        assert main([*argv, "--out", str(folder / f"{name}.cst.gz")]) == 0
    return folder


@pytest.fixture
def traces(generated: Path, tmp_path: Path) -> Path:
    """DIR: a-host and b-host for the first endpoints in order, one file named by a clientId, clutter."""
    folder = tmp_path / "traces"
    folder.mkdir()
    for name in ("a-host", "b-host"):
        shutil.copy(generated / f"{name}.cst.gz", folder / f"{name}.cst.gz")
    shutil.copy(generated / "named.cst.gz", folder / f"{client_id(NAMED)}.cst.gz")
    (folder / "README.txt").write_text("not a trace: ignored")
    (folder / "sub.cst.gz").mkdir()  # a folder: ignored
    return folder


def truth(generated: Path, name: str) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((generated / f"{name}.cst.gz.manifest.json").read_text())
    return manifest


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(traces: Path, clock: ManualClock) -> Starlette:
    settings = Settings(seed=SEED, endpoints=ENDPOINTS, traces_dir=str(traces), admin_token="admin")
    return create_app(settings, clock=clock, sleep=VirtualSleep(clock))


@pytest.fixture
async def http(app: Starlette) -> Any:
    token = app.state.settings.token
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers={"session": token}) as c:
        yield c


# --------------------------------------------------------------------------- which endpoint serves what


def test_files_are_assigned_by_clientid_then_in_sorted_order(app: Starlette) -> None:
    backend = app.state.backend
    served = {}
    for i in range(ENDPOINTS):
        f = backend.trace_file(backend.fleet.endpoint(i))
        served[i] = f.name if f else None
    assert served == {
        0: "a-host.cst.gz",
        1: "b-host.cst.gz",
        2: None,
        NAMED: f"{client_id(NAMED)}.cst.gz",
        4: None,
    }


async def test_the_reference_client_collects_the_files_byte_for_byte(
    app: Starlette, traces: Path, clock: ManualClock, tmp_path: Path
) -> None:
    out = tmp_path / "collected"
    backend = app.state.backend
    sleep = VirtualSleep(clock)
    transport = httpx.ASGITransport(app=app)
    async with AsyncTaniumClient("http://sim", token=app.state.settings.token, transport=transport) as c:
        for i in range(ENDPOINTS):
            cid = client_id(i)
            await collect_trace(
                c, cid, dest=out, poll=PollPolicy(0.1, 0.1, 1.0), clock=clock.now, sleep=sleep
            )
    files = {0: "a-host", 1: "b-host", NAMED: client_id(NAMED)}
    for i, name in files.items():
        assert (out / f"{client_id(i)}.cst.gz").read_bytes() == (traces / f"{name}.cst.gz").read_bytes()
    for i in (2, 4):  # no file: the generated trace, as before
        spec = backend.trace_spec(backend.fleet.endpoint(i))
        assert spec.source_file is None
        assert (out / f"{client_id(i)}.cst.gz").read_bytes() == backend.catalog.trace(spec).data


async def test_manifests_sizes_and_task_totals_come_from_the_files(
    http: httpx.AsyncClient, app: Starlette, traces: Path, generated: Path, clock: ManualClock
) -> None:
    admin = {"authorization": "Bearer admin"}
    for index, name, source in ((0, "a-host", "a-host"), (NAMED, client_id(NAMED), "named")):
        data = (traces / f"{name}.cst.gz").read_bytes()
        manifest = (await http.get(f"/_sim/endpoints/{client_id(index)}/manifest", headers=admin)).json()
        expected = truth(generated, source)
        assert (manifest["size"], manifest["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        for key in ("record_count", "by_type", "findings", "scan_id", "scan_time"):
            assert manifest[key] == expected[key], key
        assert manifest["trace_file"] == f"{name}.cst.gz" and manifest["changes"] is None

        await http.post(f"{TR}/conns/connect", json={"target": {"clientId": client_id(index)}})
        clock.advance(1)
        conn = [c for c in (await http.get(f"{TR}/conns")).json() if c["clientId"] == client_id(index)][-1]
        path = app.state.backend.files.trace_path(app.state.backend.fleet.endpoint(index))
        info = (await http.get(f"{TR}/conns/{conn['id']}/file/info/{path}")).json()["info"]
        assert info["size"] == len(data)
        task = (await http.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})).json()["taskInfo"]
        clock.advance(1)
        done = (await http.get(f"{TR}/tasks/{task['id']}")).json()["data"]
        response = done["results"]["fileResults"][0]["response"]
        assert (response["totalBytes"], response["transferHash"]) == (manifest["size"], manifest["sha256"])
    generated_manifest = (await http.get(f"/_sim/endpoints/{client_id(2)}/manifest", headers=admin)).json()
    assert generated_manifest["trace_file"] is None


async def test_later_scans_serve_the_same_file_and_no_diff(
    http: httpx.AsyncClient, app: Starlette, traces: Path, clock: ManualClock
) -> None:
    admin = {"authorization": "Bearer admin"}
    cid = client_id(0)
    scanned = (await http.post(f"/_sim/endpoints/{cid}/scan", headers=admin)).json()
    assert scanned["scan"] == 2 and scanned["diff_path"] is None
    manifest = (await http.get(f"/_sim/endpoints/{cid}/manifest", headers=admin)).json()
    data = (traces / "a-host.cst.gz").read_bytes()
    assert (manifest["scan"], manifest["sha256"], manifest["changes"]) == (
        2,
        hashlib.sha256(data).hexdigest(),
        None,
    )
    await http.post(f"{TR}/conns/connect", json={"target": {"clientId": cid}})
    clock.advance(1)
    (conn,) = (await http.get(f"{TR}/conns")).json()
    endpoint = app.state.backend.fleet.endpoint(0)
    folder = app.state.backend.files.trace_path(endpoint).rsplit("/", 1)[0]
    listing = (await http.get(f"{TR}/conns/{conn['id']}/file/list/{folder}")).json()["entries"]
    assert [e["name"] for e in listing] == ["trace.cst.gz"]  # no trace.diff.cst.gz
    # Another endpoint's generated trace does have its diff from scan 2 on.
    await http.post(f"/_sim/endpoints/{client_id(2)}/scan", headers=admin)
    other = (await http.get(f"/_sim/endpoints/{client_id(2)}/manifest", headers=admin)).json()
    assert other["changes"] is not None


def test_the_traces_dir_comes_from_the_environment(traces: Path) -> None:
    assert Settings.from_env({"TANIUM_SIM_TRACES_DIR": str(traces)}).traces_dir == str(traces)


# --------------------------------------------------------------------------- files that are refused


@pytest.fixture
def refuse(
    traces: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str]]:
    """Run ``serve --traces-dir`` and return (exit code, stderr); a serve that starts fails the test."""

    def started(*_: object, **__: object) -> None:
        pytest.fail("serve started serving: the --traces-dir was not refused")

    monkeypatch.setattr(uvicorn.Server, "run", started)

    def run(folder: Path | str = traces) -> tuple[int, str]:
        code = main(["serve", "--port", "0", "--traces-dir", str(folder)])
        return code, capsys.readouterr().err

    return run


def _gzip_lines(*objects: Any) -> bytes:
    return gzip.compress(b"".join(json.dumps(o).encode() + b"\n" for o in objects), mtime=0)


HEADER = {
    "format": "CST",
    "version": "1.0",
    "api": "fs",
    "api_specific": {"scan_time": "2026-11-01T00:00:00Z"},
}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"plain text, not gzip", "not a gzip-compressed CST trace"),
        (gzip.compress(b'{"format": "CST", "version": "1.0"', mtime=0), "not a valid CST trace"),
        (_gzip_lines({"format": "XYZ"}), "not a valid CST trace"),
        (
            _gzip_lines(
                HEADER,
                {
                    "path": "/k.pem",
                    "type": "key",
                    "size_bytes": -1,
                    "encrypted": False,
                    "public": False,
                    "last_modified": 1_793_491_200,
                    "details": {},
                },
            ),
            "not a valid CST trace: object 1 at byte",
        ),
        (
            _gzip_lines({**HEADER, "api_specific": {"scan_mode": "diff", "baseline_scan_id": "x"}}),
            "a diff trace",
        ),
    ],
    ids=["not-gzip", "truncated", "not-cst", "invalid-record", "diff-trace"],
)
def test_a_file_that_is_not_a_valid_trace_stops_serve_with_its_name(
    refuse: Any, traces: Path, content: bytes, reason: str
) -> None:
    (traces / "c-broken.cst.gz").write_bytes(content)
    code, err = refuse()
    assert code == 2
    assert err.startswith("tanium-sim: c-broken.cst.gz: ") and reason in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_link_out_of_the_folder_is_refused(refuse: Any, traces: Path, generated: Path) -> None:
    os.symlink(generated / "named.cst.gz", traces / "z-link.cst.gz")
    code, err = refuse()
    assert code == 2 and "z-link.cst.gz: a symbolic link to a file outside --traces-dir" in err


def test_a_link_inside_the_folder_is_served(traces: Path) -> None:
    os.symlink(traces / "a-host.cst.gz", traces / "c-alias.cst.gz")
    app = create_app(Settings(seed=SEED, endpoints=ENDPOINTS, traces_dir=str(traces)))
    backend = app.state.backend
    served = backend.trace_file(backend.fleet.endpoint(2))
    assert served is not None and served.name == "c-alias.cst.gz"
    assert served.path == str((traces / "a-host.cst.gz").resolve())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "is not a folder"),
        (lambda p: p / "empty", "holds no trace file (*.cst.gz)"),
    ],
    ids=["missing", "empty"],
)
def test_a_folder_without_traces_stops_serve(refuse: Any, tmp_path: Path, make: Any, message: str) -> None:
    (tmp_path / "empty").mkdir()
    code, err = refuse(make(tmp_path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_building_the_app_refuses_a_bad_folder_too(traces: Path) -> None:
    (traces / "c-broken.cst.gz").write_bytes(b"nope")
    with pytest.raises(TraceSourceError, match=r"c-broken\.cst\.gz: not a gzip-compressed CST trace"):
        create_app(Settings(traces_dir=str(traces)))
