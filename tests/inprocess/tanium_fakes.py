"""Test doubles for the reference client: a respx Threat Response, an evidence zip, a fake clock.

``FakeTanium`` is the docs/api.md §7 happy path as respx routes (data, one attribute per route); a test swaps
one route's side effect to inject the failure it is about, then asserts on ``route.called``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import respx

BASE = "http://tanium.test"
TR = f"{BASE}/plugin/products/threat-response/api/v1"
TOKEN = "token-feedface"
CLIENT_ID = "123"
HOSTNAME = "web-01"
CONN_ID = "remote:web-01:123:2"
UUID = "c0531415-87a6-4d28-a226-b485784b1881"
LINUX_PATH = "/opt/cryptosense/traces/trace.cst.gz"
_HEADER = {
    "format": "CST",
    "version": "1.0",
    "api": "host-scanner",
    "tags": [],
    "anonymized": False,
    "api_specific": {
        "os": "linux",
        "hostname": HOSTNAME,
        "roots": ["/"],
        "scan_time": "2026-11-01T00:00:00Z",
    },
}
_RECORD = {
    "path": "/etc/ssl/private/a.key",
    "last_modified": 1_790_000_000,
    "size_bytes": 1704,
    "type": "PEM PRIVATE KEY",
    "encrypted": False,
    "public": False,
    "details": {},
}
TRACE = gzip.compress(
    (json.dumps(_HEADER) + "\n" + (json.dumps(_RECORD) + "\n") * 50).encode(), mtime=0
)  # a small valid CST trace: 50 unencrypted private keys


# --------------------------------------------------------------------------- evidence zip


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def _zipcrypto_encrypt(data: bytes, password: bytes) -> bytes:
    keys = [0x12345678, 0x23456789, 0x34567890]

    def crc(value: int, byte: int) -> int:
        return (value >> 8) ^ _CRC_TABLE[(value ^ byte) & 0xFF]

    def update(byte: int) -> None:
        keys[0] = crc(keys[0], byte)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = crc(keys[2], keys[1] >> 24)

    for byte in password:
        update(byte)
    out = bytearray()
    for byte in data:
        t = (keys[2] | 2) & 0xFFFF
        out.append(byte ^ (((t * (t ^ 1)) >> 8) & 0xFF))
        update(byte)
    return bytes(out)


def zipcrypto_zip(members: dict[str, bytes], password: bytes = b"infected") -> bytes:
    """A stored (uncompressed) ZipCrypto zip: what Threat Response serves as evidence (docs/api.md §6)."""
    local = bytearray()
    central = bytearray()
    for name, data in members.items():
        crc = zlib.crc32(data)
        header = bytes(range(11)) + bytes([crc >> 24])  # the last header byte checks the password
        payload = _zipcrypto_encrypt(header + data, password)
        raw_name = name.encode()
        offset = len(local)
        fields = (20, 1, 0, 0, 0x21, crc, len(payload), len(data), len(raw_name), 0)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + raw_name + payload
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, offset) + raw_name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(local), 0)
    return bytes(local + central + end)


def evidence_zip(member_name: str, data: bytes) -> bytes:
    """The simulator's own builder when it has landed, else the local ZipCrypto writer."""
    try:
        from simulator.traces import build_evidence_zip  # type: ignore[attr-defined]
    except ImportError:
        return zipcrypto_zip({member_name: data})
    result: bytes = build_evidence_zip(member_name, data)
    return result


# --------------------------------------------------------------------------- API objects


def conn(
    status: str,
    *,
    id: str = CONN_ID,
    client_id: str = CLIENT_ID,
    initiated_at: int = 1_700_000_000_000,
    platform: str = "Linux",
    hostname: str = HOSTNAME,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sessionId": None,
        "ip": "10.0.4.17",
        "hostname": hostname,
        "clientId": client_id,
        "platform": platform,
        "initiatedAt": initiated_at,
        "status": status,
        "message": "",
        "userId": "1",
        "personaId": 0,
        "id": id,
    }
    if status == "connected":
        body.update(eid="2", connectedAt=initiated_at + 5000, hasTools=True)
    return body


def task(
    status: str,
    *,
    uuid: str | None = UUID,
    data: bytes = TRACE,
    path: str = LINUX_PATH,
    task_id: int = 833,
    error: str | None = None,
) -> dict[str, Any]:
    results: dict[str, Any] = {"completed": [], "failed": [], "fileResults": []}
    if status == "COMPLETED":
        results["completed"] = [path]
    elif status in ("ERROR", "INCOMPLETE"):
        results["failed"] = [path]
    if uuid is not None and status in ("COMPLETED", "INCOMPLETE"):
        results["fileResults"] = [
            {
                "response": {
                    "source": path,
                    "target": f"/tmp/{uuid}",
                    "totalBytes": len(data),
                    "transferHash": hashlib.sha256(data).hexdigest(),
                    "totalTimeMs": 260,
                    "avgBytesPerSecond": 504123.07,
                },
                "uuid": uuid,
                "finalPath": f"/opt/Tanium/evidence/files/{uuid}.zip",
            }
        ]
    return {
        "data": {
            "id": task_id,
            "type": "fileDownload",
            "status": status,
            "metadata": {"connection": CONN_ID, "paths": [path], "compress": "true"},
            "results": results,
            "error": error,
            "startTime": "2021-09-05T13:46:16.606Z",
            "endTime": None,
            "createdAt": "2021-09-05T13:46:16.606Z",
            "updatedAt": "2021-09-05T13:46:16.606Z",
        }
    }


def evidence(
    *,
    uuid: str = UUID,
    hostname: str = HOSTNAME,
    path: str = LINUX_PATH,
    data: bytes = TRACE,
    downloaded: str = "2022-01-11T20:03:15.629Z",
) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "hostname": hostname,
        "path": path,
        "downloaded": downloaded,
        "hash": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "process_creation_time": downloaded,
        "created_by": "",
        "created_by_proc": "",
        "last_modified": downloaded,
        "last_modified_by": "",
        "last_modified_by_proc": "",
        "tags": "",
        "comments": "",
        "username": None,
        "evidenceType": "file",
    }


def plays(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    """A side effect playing one response per call, then repeating the last one."""
    queue = list(responses)

    def effect(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return effect


def listed_after_connect(
    connect: respx.Route, *entries: dict[str, Any]
) -> Callable[[httpx.Request], httpx.Response]:
    """A ``GET /conns`` side effect listing each entry once a connect to its clientId was posted."""

    def effect(request: httpx.Request) -> httpx.Response:
        asked = {json.loads(call.request.content)["target"]["clientId"] for call in connect.calls}
        return ok([entry for entry in entries if entry["clientId"] in asked])

    return effect


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


def zip_response(content: bytes, **headers: str) -> httpx.Response:
    return httpx.Response(
        200,
        content=content,
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f"attachment; filename={UUID}.zip",
            **headers,
        },
    )


class FakeTanium:
    """The §7 happy path as respx routes; reassign ``route.side_effect`` to inject a failure."""

    def __init__(self, router: respx.MockRouter, *, data: bytes = TRACE, platform: str = "Linux") -> None:
        self.data = data
        self.zip = evidence_zip("trace.cst.gz", data)
        self.login = router.post(f"{BASE}/api/v2/session/login").mock(
            return_value=ok({"data": {"session": "1-224-abc"}})
        )
        self.system_status = router.get(f"{BASE}/api/v2/system_status").mock(  # collect checks its ids here
            return_value=ok(
                {"data": [{"computer_id": CLIENT_ID, "host_name": "h", "ipaddress_client": "10.0.0.1"}]}
            )
        )
        self.connect = router.post(f"{TR}/conns/connect").mock(
            return_value=ok(f"remote:undefined:{CLIENT_ID}:")
        )
        # the listing before connect (nothing yet), then our new connection waiting, then connected
        self.conns = router.get(f"{TR}/conns").mock(
            side_effect=plays(
                ok([]), ok([conn("waiting", platform=platform)]), ok([conn("connected", platform=platform)])
            )
        )
        self.request_file = router.post(f"{TR}/conns/{CONN_ID}/file").mock(
            return_value=ok(
                {
                    "taskInfo": {
                        "id": 833,
                        "status": "STARTED",
                        "metadata": {"connection": CONN_ID, "paths": [LINUX_PATH], "compress": "true"},
                        "startTime": "2021-09-05T13:46:16.606Z",
                    },
                    "status": "ACCEPTED",
                }
            )
        )
        self.task = router.get(f"{TR}/tasks/833").mock(
            side_effect=plays(ok(task("STARTED", uuid=None)), ok(task("COMPLETED", data=data)))
        )
        # GET /tasks: what a workflow lists to find duplicates after an ambiguous file request
        self.tasks = router.get(f"{TR}/tasks").mock(return_value=ok({"data": []}))
        self.close = router.delete(f"{TR}/conns/close/{CONN_ID}").mock(return_value=ok({}))
        self.evidence_list = router.get(f"{TR}/filedownload").mock(
            return_value=ok({"fileEvidence": [evidence(data=data)], "totalCount": 1})
        )
        self.download = router.get(f"{TR}/filedownload/data/{UUID}").mock(return_value=zip_response(self.zip))
        self.delete = router.delete(f"{TR}/filedownload").mock(return_value=ok({}))


class FakeClock:
    """A monotonic clock that only moves when the workflow sleeps."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
