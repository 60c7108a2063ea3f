"""``tanium-sim conform``: a recording made from the simulator conforms; an edited one names the field.

The recording is the reference client's whole evidence workflow against a fresh in-process simulator
(tests/conform_helpers.py), credentials masked as a sanitized recording holds them. Conformance runs it
again against the simulator in-process (a manual clock: polls cost no time).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.cli import main
from simulator.record.conform import (
    ConformReport,
    Target,
    _Replay,
    conform,
    recorded_fleet_size,
    simulator_target,
)
from simulator.record.har import read_har
from tests.conform_helpers import edit_har, entries_of, record_login_session, record_session

SEED, ENDPOINTS, INDEX = 5, 4, 1
TASK = "/tasks/1"
CONNS = "/threat-response/api/v1/conns"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TANIUM_TOKEN", raising=False)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recording")
    return asyncio.run(record_session(folder / "session.har", seed=SEED, endpoints=ENDPOINTS, index=INDEX))


def run(har: Path, *, seed: int = SEED, endpoints: int = ENDPOINTS, max_polls: int = 60) -> ConformReport:
    async def go() -> ConformReport:
        async with simulator_target(seed, endpoints) as target:
            return await conform(read_har(har), target, max_polls=max_polls)

    return asyncio.run(go())


def found(report: ConformReport) -> list[tuple[str, str, str, str, str]]:
    return [(d.operation, d.kind, d.path, d.expected, d.got) for d in report.differences]


# --------------------------------------------------------------------------- the recording conforms


def test_the_recording_holds_the_whole_workflow(recording: Path) -> None:
    ops = [e["request"]["method"] + " " + e["request"]["url"].split("/")[-1] for e in entries_of(recording)]
    assert ops[0] == "GET system_status" and ops[-1] == "DELETE filedownload"
    assert all(
        h["value"] == "<session-1>"
        for e in entries_of(recording)
        for h in e["request"]["headers"]
        if h["name"] == "session"
    )
    assert recorded_fleet_size(read_har(recording)) == ENDPOINTS


def test_a_recording_made_from_the_simulator_conforms(recording: Path) -> None:
    report = run(recording)
    assert found(report) == []
    assert report.ok and report.skipped == []
    assert report.replayed == report.recorded == len(entries_of(recording))
    assert list(report.operations) == [
        "system_status",
        "list_connections",  # the client lists them before connecting, to tell its new one
        "connect",
        "request_file",
        "get_task",
        "close_connection",
        "download_evidence",
        "delete_evidence",
    ]


def test_ids_are_followed_into_another_world(recording: Path) -> None:
    """Seed 0 has other clientIds, hostnames and so connection ids: each is mapped to the target's."""
    report = run(recording, seed=0)
    assert found(report) == []
    assert report.operations["request_file"].requests == 1


def test_a_session_that_starts_with_connect_gets_one_of_the_targets_endpoints(
    recording: Path, tmp_path: Path
) -> None:
    doc = json.loads(recording.read_text())
    doc["log"]["entries"] = doc["log"]["entries"][1:]  # no system_status: the clientId was never listed
    edited = tmp_path / "no-listing.har"
    edited.write_text(json.dumps(doc))
    assert found(run(edited, seed=0)) == []


def test_the_targets_clients_are_listed_past_the_first_system_status_page() -> None:
    """A target fleet over two pages of system_status: every clientId is known, so a recorded clientId
    the target has (past the first 500 rows too) is kept, not swapped for another endpoint."""
    fleet_size = 1_234

    async def go() -> tuple[list[str], list[str], list[int], str]:
        async with simulator_target(SEED, fleet_size) as target:
            dec = await target.client.get(
                "/plugin/products/dec/v1/endpoints?limit=5000", headers={"session": target.token}
            )
            fleet = [e["clientId"] for e in dec.json()["data"]]
            starts: list[int] = []

            async def seen(request: httpx.Request) -> None:
                if request.url.path.endswith("/system_status"):
                    starts.append(json.loads(request.headers["tanium-options"])["row_start"])

            target.client.event_hooks["request"].append(seen)
            replay = _Replay(target, ConformReport(target={}), max_polls=1, poll_interval_s=0.0)
            mapped = await replay.client_id(fleet[-1])  # lists the target's fleet once
            return fleet, replay._target_clients or [], starts, mapped

    fleet, listed, starts, mapped = asyncio.run(go())
    assert len(fleet) == fleet_size
    assert listed == fleet  # every page, in order, none twice
    assert starts == [0, 500, 1000]
    assert mapped == fleet[-1]  # on the third page: the target's own endpoint


def test_a_recorded_login_is_replayed_with_the_targets_credentials(tmp_path: Path) -> None:
    """The recording's session placeholder is followed: ``current`` and ``logout`` use the new session."""
    har = asyncio.run(record_login_session(tmp_path / "login.har"))
    recorded = entries_of(har)
    assert "<redacted>" in recorded[0]["request"]["postData"]["text"]
    assert "<session-1>" in recorded[2]["request"]["postData"]["text"]  # logout {"session": ...}
    report = run(har)
    assert found(report) == [] and report.skipped == []
    assert list(report.operations) == ["login", "current", "logout"]


def test_without_the_targets_credentials_logins_are_skipped(tmp_path: Path) -> None:
    har = asyncio.run(record_login_session(tmp_path / "login.har"))

    async def go() -> ConformReport:
        async with simulator_target() as target:
            anonymous = Target(target.client, target.token, target.sleep, report={"kind": "url"})
            return await conform(read_har(har), anonymous)

    report = asyncio.run(go())
    assert found(report) == [] and list(report.operations) == ["current"]
    assert [(s.entry, s.operation) for s in report.skipped] == [(1, "login"), (3, "logout")]
    assert "username and password are not known" in report.skipped[0].reason


# --------------------------------------------------------------------------- edited recordings


def _task_id_as_text(body: Any) -> None:
    body["data"]["id"] = str(body["data"]["id"])


def _has_tools_as_text(conns: Any) -> None:
    for conn in conns:
        if "hasTools" in conn:
            conn["hasTools"] = "true"


def _no_transfer_hash(body: Any) -> None:
    for result in body["data"]["results"]["fileResults"]:
        del result["response"]["transferHash"]


def _one_more_field(body: Any) -> None:
    body["data"]["priority"] = 3


def _task_info_in_a_list(body: Any) -> None:
    body["taskInfo"] = [body["taskInfo"]]


@pytest.mark.parametrize(
    ("suffix", "change", "expected"),
    [
        (TASK, _task_id_as_text, ("get_task", "type", "$.data.id", "str", "int")),
        (CONNS, _has_tools_as_text, ("list_connections", "type", "$[].hasTools", "str", "bool")),
        (
            TASK,
            _no_transfer_hash,
            ("get_task", "extra", "$.data.results.fileResults[].response.transferHash", "absent", "str"),
        ),
        (TASK, _one_more_field, ("get_task", "missing", "$.data.priority", "int", "absent")),
        ("/file", _task_info_in_a_list, ("request_file", "type", "$.taskInfo", "list", "dict")),
    ],
    ids=["type-int-to-str", "type-bool-to-str", "dropped-field", "field-the-target-lacks", "envelope"],
)
def test_an_edited_answer_is_reported_with_operation_path_and_types(
    recording: Path,
    tmp_path: Path,
    suffix: str,
    change: Callable[[Any], None],
    expected: tuple[str, str, str, str, str],
) -> None:
    edited = edit_har(recording, tmp_path / "edited.har", suffix, change)
    assert found(run(edited)) == [expected]


def test_a_state_the_target_never_reaches_is_a_difference(recording: Path, tmp_path: Path) -> None:
    def finished(body: Any) -> None:
        if body["data"]["status"] == "COMPLETED":
            body["data"]["status"] = "FINISHED"

    edited = edit_har(recording, tmp_path / "finished.har", TASK, finished)
    report = run(edited, max_polls=5)
    assert found(report) == [("get_task", "unreached", "$.data.status", "FINISHED", "COMPLETED")]
    assert report.operations["get_task"].requests == 5
    assert report.differences[0].polls == 5


def test_a_changed_status_code_is_a_difference(recording: Path, tmp_path: Path) -> None:
    doc = json.loads(recording.read_text())
    closing = [e for e in doc["log"]["entries"] if "/conns/close/" in e["request"]["url"]]
    closing[0]["response"]["status"] = 204
    edited = tmp_path / "status.har"
    edited.write_text(json.dumps(doc))
    assert found(run(edited)) == [("close_connection", "status", "", "204", "200")]


def test_the_json_report_holds_shapes_and_no_recorded_values(recording: Path, tmp_path: Path) -> None:
    edited = edit_har(recording, tmp_path / "edited.har", TASK, _task_id_as_text)
    doc = json.loads(edited.read_text())
    listed = json.loads(doc["log"]["entries"][0]["response"]["content"]["text"])["data"][0]["computer_id"]
    unknown = json.loads(json.dumps(doc["log"]["entries"][0]))  # a request no operation of the table is
    unknown["request"]["url"] = f"http://tanium.example/api/v2/unknown/{listed}"
    doc["log"]["entries"].append(unknown)
    edited.write_text(json.dumps(doc))
    report = run(edited)
    assert [(s.operation, s.request) for s in report.skipped] == [(None, f"GET /api/v2/unknown/{listed}")]
    text = json.dumps(report.to_json())
    values = set()
    for exchange in read_har(recording):
        if exchange.mime_type == "application/json":
            body = json.loads(exchange.response_body or b"null")
            stack = [body]
            while stack:
                item = stack.pop()
                if isinstance(item, dict):
                    stack += item.values()
                elif isinstance(item, list):
                    stack += item
                elif isinstance(item, str) and len(item) > 3:
                    values.add(item)
    assert len(values) > 20  # clientIds, hostnames, connection ids, uuids, hashes, times, paths
    assert [v for v in values if v in text] == []
    assert listed in "\n".join(report.lines())  # the text report, for the user's eyes, may show it
    doc = report.to_json()
    assert doc["differences"] == 1
    get_task = next(op for op in doc["operations"] if op["operation"] == "get_task")
    assert get_task["differences"][0] | {"entries": []} == {
        "kind": "type",
        "path": "$.data.id",
        "expected": "str",
        "got": "int",
        "entries": [],
    }


# --------------------------------------------------------------------------- the command line


def test_cli_exit_0_when_nothing_differs(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conform", str(recording), "--seed", str(SEED)]) == 0
    out = capsys.readouterr().out
    assert f"seed {SEED}, {ENDPOINTS} endpoints" in out  # the fleet size inferred from the recording
    assert "no differences: 8 operations" in out


def test_cli_exit_1_and_the_field_when_something_differs(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = edit_har(recording, tmp_path / "edited.har", TASK, _task_id_as_text)
    assert main(["conform", str(edited), "--seed", str(SEED)]) == 1
    out = capsys.readouterr().out
    assert "get_task" in out and "$.data.id type: recorded str, target int" in out
    assert main(["conform", str(edited), "--seed", str(SEED), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "tanium-sim-conformance" and doc["differences"] == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.har"], "cannot read missing.har"),
        (["{notes}"], "not a HAR file"),
        (["{empty}"], "holds no recorded exchange"),
        (["{har}", "--against", "http://127.0.0.1:9"], "--against needs the server's API token"),
        (["{har}", "--against", "ftp://x", "--token", "t"], "is not a server URL"),
        (["{har}", "--token", "token-1"], "--token is for --against URL"),
        (["{har}", "--against", "http://h", "--token", "t", "--seed", "3"], "drop them with --against"),
        (["{har}", "--against", "http://127.0.0.1:{port}", "--token", "t"], "cannot reach http://127.0.0.1:"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_sentence(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    notes = tmp_path / "notes.har"
    notes.write_text("just some notes")
    empty = tmp_path / "empty.har"
    empty.write_text('{"log": {"version": "1.2", "entries": []}}')
    names = {"har": str(recording), "notes": str(notes), "empty": str(empty), "port": str(_closed_port())}
    args = [a.format(**names) for a in argv]
    assert main(["conform", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_a_bad_number_is_an_argparse_error(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["conform", str(recording), "--endpoints", "0"])
    assert exited.value.code == 2
    assert "'0' is not a whole number of at least 1" in capsys.readouterr().err
