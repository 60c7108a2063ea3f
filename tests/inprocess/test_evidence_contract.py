"""File evidence: listing, paging, sorting, the ZipCrypto download, and deletion."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import zipfile

import pytest
from cryptography import x509

from .conftest import TR, World

pytestmark = pytest.mark.anyio

EVIDENCE_KEYS = {
    "uuid",
    "hostname",
    "path",
    "downloaded",
    "hash",
    "size",
    "process_creation_time",
    "created_by",
    "created_by_proc",
    "last_modified",
    "last_modified_by",
    "last_modified_by_proc",
    "tags",
    "comments",
    "username",
    "evidenceType",
}


def _uuid(task: dict[str, object]) -> str:
    results = task["results"]
    assert isinstance(results, dict)
    return str(results["fileResults"][0]["uuid"])


async def test_evidence_appears_only_when_the_task_completes(world: World) -> None:
    conn = await world.connected(0)
    path = world.backend.files.trace_path(world.endpoint(0))
    await world.client.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})
    assert (await world.client.get(f"{TR}/filedownload")).json() == {"fileEvidence": [], "totalCount": 0}
    world.clock.advance(2.0)
    page = (await world.client.get(f"{TR}/filedownload")).json()
    assert set(page) == {"fileEvidence", "totalCount"} and page["totalCount"] == 1
    (item,) = page["fileEvidence"]
    assert set(item) == EVIDENCE_KEYS
    assert item["path"] == path and item["hostname"] == world.endpoint(0).hostname
    assert item["evidenceType"] == "file" and item["username"] is None


async def test_get_one_evidence(world: World) -> None:
    task = await world.completed_task(0)
    uuid = _uuid(task)
    r = await world.client.get(f"{TR}/filedownload/{uuid}")
    assert r.status_code == 200 and set(r.json()) == {"evidence"}
    assert r.json()["evidence"]["uuid"] == uuid
    assert r.json()["evidence"]["size"] == task["results"]["fileResults"][0]["response"]["totalBytes"]


async def test_paging_and_sorting(world: World) -> None:
    uuids = [_uuid(await world.completed_task(i)) for i in range(4)]
    page = (await world.client.get(f"{TR}/filedownload", params={"limit": 2, "offset": 1})).json()
    assert page["totalCount"] == 4
    assert [e["uuid"] for e in page["fileEvidence"]] == uuids[1:3]
    asc = (await world.client.get(f"{TR}/filedownload", params={"sort": "uuid"})).json()["fileEvidence"]
    assert [e["uuid"] for e in asc] == sorted(uuids)
    desc = (await world.client.get(f"{TR}/filedownload", params={"sort": "-hostname"})).json()["fileEvidence"]
    assert [e["hostname"] for e in desc] == sorted((e["hostname"] for e in desc), reverse=True)
    by_size = (await world.client.get(f"{TR}/filedownload", params={"sort": "size"})).json()["fileEvidence"]
    assert [e["size"] for e in by_size] == sorted(e["size"] for e in by_size)


@pytest.mark.parametrize(
    "params", [{"limit": "x"}, {"limit": "-1"}, {"offset": "1.5"}, {"sort": "password"}, {"sort": "-nope"}]
)
async def test_bad_listing_queries_are_400(world: World, params: dict[str, str]) -> None:
    r = await world.client.get(f"{TR}/filedownload", params=params)
    assert r.status_code == 400 and r.json()["text"].startswith("400 Bad Request")


async def test_download_is_a_zipcrypto_zip_of_the_gzipped_trace(world: World) -> None:
    task = await world.completed_task(0)
    uuid = _uuid(task)
    response = task["results"]["fileResults"][0]["response"]
    r = await world.client.get(f"{TR}/filedownload/data/{uuid}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == f"attachment; filename={uuid}.zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        (info,) = zf.infolist()
        assert info.flag_bits & 0x1, "the member must be encrypted"
        assert info.filename == "trace.cst.gz"
        with pytest.raises(RuntimeError):
            zf.read(info)  # needs the password
        member = zf.read(info, pwd=b"infected")
    assert len(member) == response["totalBytes"]
    assert hashlib.sha256(member).hexdigest() == response["transferHash"]
    text = gzip.decompress(member).decode()
    objects = [json.loads(line) for line in text.splitlines() if line.strip()]
    header, records = objects[0], [o for o in objects[1:] if o and "path" in o]
    assert header["format"] == "CST" and isinstance(header["version"], str)
    assert records, "a trace holds records"
    certs = [r for r in records if "encoded" in r.get("details", {})]
    assert certs, "a trace holds certificates"
    for record in certs:
        cert = x509.load_der_x509_certificate(base64.b64decode(record["details"]["encoded"]))
        tbs = record["details"]["tbs_certificate"]
        assert int(tbs["serial"]) == cert.serial_number


async def test_download_twice_gives_identical_bytes(world: World) -> None:
    uuid = _uuid(await world.completed_task(0))
    first = (await world.client.get(f"{TR}/filedownload/data/{uuid}")).content
    second = (await world.client.get(f"{TR}/filedownload/data/{uuid}")).content
    assert first == second


async def test_delete_bulk_and_one(world: World) -> None:
    a = _uuid(await world.completed_task(0))
    b = _uuid(await world.completed_task(1))
    c = _uuid(await world.completed_task(2))
    r = await world.client.request("DELETE", f"{TR}/filedownload", json={"ids": [a, b]})
    assert r.status_code == 200 and r.json() == {}
    r = await world.client.delete(f"{TR}/filedownload/{c}")
    assert r.status_code == 200 and r.json() == {}
    assert (await world.client.get(f"{TR}/filedownload")).json() == {"fileEvidence": [], "totalCount": 0}
    for uuid in (a, c):
        for path in (f"{TR}/filedownload/{uuid}", f"{TR}/filedownload/data/{uuid}"):
            r = await world.client.get(path)
            assert r.status_code == 404 and r.json() == {"text": "404 Item Not Found"}


async def test_bulk_delete_with_an_unknown_id_deletes_nothing(world: World) -> None:
    a = _uuid(await world.completed_task(0))
    r = await world.client.request("DELETE", f"{TR}/filedownload", json={"ids": [a, "nope"]})
    assert r.status_code == 404
    assert (await world.client.get(f"{TR}/filedownload")).json()["totalCount"] == 1


@pytest.mark.parametrize("body", [{}, {"ids": "abc"}, {"ids": [1, 2]}, {"ids": [""]}, []])
async def test_bulk_delete_bad_bodies(world: World, body: object) -> None:
    r = await world.client.request("DELETE", f"{TR}/filedownload", json=body)
    assert r.status_code == 400 and r.json()["text"].startswith("400 Bad Request")
