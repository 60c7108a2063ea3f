"""Tests that kill mutmut's survivors in simulator/state/evidence.py (docs/testing.md).

The vendor's evidence item carries empty strings (not absent keys, not nulls) in its audit fields, and
``sort=downloaded`` orders by the time the evidence became available.
"""

from __future__ import annotations

from simulator.state.evidence import SORT_FIELDS, EvidenceRecord


def _record(**overrides: object) -> EvidenceRecord:
    fields: dict[str, object] = {
        "uuid": "0b5c4c1e-0000-4000-8000-000000000001",
        "task_id": 7,
        "client_id": "client-1",
        "endpoint_index": 1,
        "hostname": "host-1.example",
        "path": "/traces/host-1.cst.zip",
        "scan": 3,
        "available_at": 1_630_849_576.606,
        "size": 4096,
        "hash": "ab" * 32,
        "file_modified_at": 1_630_849_500.0,
    }
    fields.update(overrides)
    return EvidenceRecord(**fields)  # type: ignore[arg-type]


def test_the_api_shape_is_the_vendors_with_empty_audit_strings() -> None:
    assert _record().to_api() == {
        "uuid": "0b5c4c1e-0000-4000-8000-000000000001",
        "hostname": "host-1.example",
        "path": "/traces/host-1.cst.zip",
        "downloaded": "2021-09-05T13:46:16.606Z",
        "hash": "ab" * 32,
        "size": 4096,
        "process_creation_time": "2021-09-05T13:45:00.000Z",
        "created_by": "",
        "created_by_proc": "",
        "last_modified": "2021-09-05T13:45:00.000Z",
        "last_modified_by": "",
        "last_modified_by_proc": "",
        "tags": "",
        "comments": "",
        "username": None,
        "evidenceType": "file",
    }


def test_sorting_by_downloaded_orders_by_availability() -> None:
    assert "downloaded" in SORT_FIELDS
    early, late = _record(available_at=100.0), _record(available_at=200.0)
    assert early.sort_key("downloaded") == 100.0
    assert sorted([late, early], key=lambda r: r.sort_key("downloaded")) == [early, late]
    assert _record().sort_key("size") == 4096
