"""Diff traces: apply(full_n, diff(full_n, full_n+1)) == full_n+1, over random inventories and random churn.

The diff side is the simulator's (``simulator/traces/diff.py``), the apply side the reference client's
(``client/_diff.py``): each property checks one against the other, as docs/cst-format.md defines both.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client._diff import Inventory, apply_diff
from simulator.traces import TYPES
from simulator.traces.diff import diff_objects, encode_objects, inventory_digest, keyed

Record = dict[str, Any]
PATHS = ("/etc/ssl/certs/ca-certificates.crt", "/home/a/.ssh/known_hosts", "C:\\x\\store.jks", "/k.pem")
KINDS = ("cert-der", "spki", "openpgp-v4", "blob")


def header(scan_id: str) -> Record:
    return {
        "format": "CST",
        "version": "1.0",
        "api": "host-scanner",
        "api_specific": {"scan_id": scan_id, "scan_time": "2026-11-01T00:00:00Z", "scan_mode": "full"},
    }


records = st.fixed_dictionaries(
    {
        "path": st.sampled_from(PATHS),
        "last_modified": st.integers(0, 3),
        "size_bytes": st.integers(0, 3),
        "type": st.sampled_from(sorted(set(TYPES.values()))),
        "encrypted": st.booleans(),
        "public": st.booleans(),
        "details": st.dictionaries(
            st.sampled_from(("bit_length", "curve", "ids")), st.integers(0, 2), max_size=2
        ),
        "fingerprint": st.fixed_dictionaries(
            {"alg": st.just("sha256"), "kind": st.sampled_from(KINDS), "value": st.sampled_from("abc")}
        ),
    }
)  # small alphabets: duplicates in one file are common


@st.composite
def churned(draw: st.DrawFn) -> tuple[list[Record], list[Record]]:
    """A random inventory and a random next scan of it: removals, touches, renewals, moves, additions."""
    old = draw(st.lists(records, max_size=25))
    new: list[Record] = []
    for record in old:
        fate = draw(st.sampled_from(("keep", "keep", "drop", "touch", "renew", "move", "dup")))
        r = copy.deepcopy(record)
        if fate == "drop":
            continue
        if fate == "touch":
            r["last_modified"] += 10
            r["details"]["ids"] = 9
        elif fate == "renew":  # renewed in place: same path, new fingerprint
            r["fingerprint"]["value"] += "'"
        elif fate == "move":
            r["path"] = draw(st.sampled_from(PATHS)) + ".old"
        new.append(r)
        if fate == "dup":  # the same object twice in one file
            new.append(copy.deepcopy(r))
    for extra in draw(st.lists(records, max_size=5)):
        new.insert(draw(st.integers(0, len(new))), extra)
    return old, new


def roundtrip(old: list[Record], new: list[Record]) -> tuple[Inventory, Inventory, list[Record]]:
    objects = diff_objects(header("scan-1"), old, header("scan-2"), new)
    baseline = Inventory.from_records(header("scan-1"), old)
    return baseline, apply_diff(baseline, encode_objects(objects)), objects


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(churned())
def test_apply_of_diff_rebuilds_the_next_scan(pair: tuple[list[Record], list[Record]]) -> None:
    old, new = pair
    baseline, rebuilt, objects = roundtrip(old, new)
    expected = Inventory.from_records(header("scan-2"), new)
    assert rebuilt.records == expected.records
    assert rebuilt.scan_id == "scan-2" and rebuilt.header["api_specific"]["scan_mode"] == "full"
    assert rebuilt.digest() == inventory_digest(keyed(new))  # client and simulator digests agree
    assert baseline.records == Inventory.from_records(header("scan-1"), old).records  # untouched
    summary = objects[-1]["summary"]
    assert sum(summary.values()) == len(objects) - 2


@settings(max_examples=100, deadline=None)
@given(st.lists(records, max_size=20))
def test_diff_of_a_scan_with_itself_is_empty_and_applies(old: list[Record]) -> None:
    _, rebuilt, objects = roundtrip(old, copy.deepcopy(old))
    assert objects[-1] == {"summary": {"added": 0, "removed": 0, "modified": 0}}
    assert rebuilt.records == Inventory.from_records(header("x"), old).records


@settings(max_examples=100, deadline=None)
@given(churned())
def test_renewals_and_moves_are_never_modified(pair: tuple[list[Record], list[Record]]) -> None:
    old, new = pair
    _, _, objects = roundtrip(old, new)
    for op in objects[1:-1]:
        if op["op"] == "modified":  # same identity: same path and same fingerprint
            assert any(r["path"] == op["path"] and r["fingerprint"] == op["fingerprint"] for r in old), op


def cert(path: str, value: str, **extra: Any) -> Record:
    return {
        "path": path,
        "last_modified": 1,
        "size_bytes": 10,
        "type": "X509 CERTIFICATE",
        "encrypted": False,
        "public": True,
        "details": {"encoded": value},
        "fingerprint": {"alg": "sha256", "kind": "cert-der", "value": value},
        **extra,
    }


def test_duplicates_in_one_file_are_told_apart_by_occurrence() -> None:
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    old = [cert(bundle, "aa"), cert(bundle, "bb"), cert(bundle, "aa"), cert(bundle, "aa")]
    new = [cert(bundle, "aa"), cert(bundle, "bb"), cert(bundle, "aa")]  # one copy of aa gone
    _, rebuilt, objects = roundtrip(old, new)
    ops = objects[1:-1]
    assert ops == [
        {
            "op": "removed",
            "path": bundle,
            "type": "X509 CERTIFICATE",
            "fingerprint": old[0]["fingerprint"],
            "occurrence": 2,
        }
    ]
    assert len(rebuilt.records) == 3


def test_renewal_in_place_is_removed_plus_added() -> None:
    path = "/etc/nginx/ssl/www.example.com.fullchain.pem"
    old = [cert(path, "old-leaf"), cert(path, "issuer")]
    new = [cert(path, "new-leaf", last_modified=2), cert(path, "issuer", last_modified=2)]
    _, rebuilt, objects = roundtrip(old, new)
    assert [(o["op"], o["fingerprint"]["value"]) for o in objects[1:-1]] == [
        ("removed", "old-leaf"),
        ("modified", "issuer"),
        ("added", "new-leaf"),
    ]
    assert objects[2]["previous"] == {"last_modified": 1}  # the file was rewritten: only its time changed
    assert rebuilt.records == Inventory.from_records(header("s"), new).records
