"""Tests that kill mutmut's survivors in simulator/state/connections.py (docs/testing.md).

A connection's status at each boundary (ready, idle and unreachable timeouts, close), the vendor
object it renders, and the cached rendering with the span of time it holds for.
"""

from __future__ import annotations

import math
import pickle

import orjson
import pytest

from simulator.state.connections import (
    DISCONNECTED_MESSAGE,
    TIMEOUT_MESSAGE,
    ConnectionRecord,
    Rendering,
    render_listing,
)


def _record(
    *,
    reachable: bool = True,
    initiated: float = 100.0,
    ready: float = 0.5,
    unreachable: float = 5.0,
    idle: float = 600.0,
    activity: float = 100.0,
    closed: float | None = None,
) -> ConnectionRecord:
    return ConnectionRecord(
        "c1", "42", "web-a-01", "10.16.0.1", "Linux", "7", "3", initiated, ready, reachable, unreachable,
        idle, activity, closed,
    )  # fmt: skip


def test_messages() -> None:
    assert DISCONNECTED_MESSAGE == "The connection has been disconnected."
    assert TIMEOUT_MESSAGE == "The connection has timed out."


def test_a_reachable_connection_waits_connects_and_times_out_when_idle() -> None:
    record = _record()
    assert record.connected_at == 100.5
    assert record.status_at(100.0) == "waiting"
    assert record.status_at(100.4999) == "waiting"
    assert record.status_at(100.5) == "connected"
    assert record.status_at(700.4999) == "connected"
    assert record.status_at(700.5) == "timeout"  # idle since it connected
    touched = record.touched(650.0)
    assert touched.last_activity_at == 650.0 and touched.id == "c1"
    assert touched.status_at(1249.99) == "connected"
    assert touched.status_at(1250.0) == "timeout"


def test_activity_before_the_connection_was_ready_counts_from_ready() -> None:
    record = _record(activity=50.0, idle=10.0)
    assert record.status_at(110.4) == "connected"
    assert record.status_at(110.5) == "timeout"


def test_an_unreachable_endpoint_waits_then_times_out() -> None:
    record = _record(reachable=False)
    assert record.status_at(104.999) == "waiting"
    assert record.status_at(105.0) == "timeout"
    assert record.status_at(100.5) == "waiting"  # never connects
    assert record.was_connected(1000.0) is False


def test_a_closed_connection_is_disconnected_from_its_close_on() -> None:
    record = _record().closed(200.0)
    assert record.closed_at == 200.0
    assert record.status_at(199.9) == "connected"
    assert record.status_at(200.0) == "disconnected"
    assert record.closed(300.0) is record  # the first close stands
    assert _record(reachable=False).closed(101.0).status_at(101.0) == "disconnected"
    assert _record(reachable=False).closed(101.0).status_at(100.9) == "waiting"


def test_was_connected_ends_at_the_close() -> None:
    assert _record().was_connected(100.4) is False
    assert _record().was_connected(100.5) is True
    assert _record(closed=100.4).was_connected(500.0) is False
    assert _record(closed=100.5).was_connected(500.0) is True
    assert _record(closed=101.0).was_connected(0.0) is True


def test_the_vendor_object_before_and_after_the_connection() -> None:
    record = _record()
    assert record.render(100.2) == {
        "sessionId": None,
        "ip": "10.16.0.1",
        "hostname": "web-a-01",
        "clientId": "42",
        "platform": "Linux",
        "initiatedAt": 100000,
        "status": "waiting",
        "message": "",
        "userId": "3",
        "personaId": 0,
        "id": "c1",
    }
    connected = record.render(200.0)
    assert connected == {
        **record.render(100.2),
        "status": "connected",
        "eid": "7",
        "connectedAt": 100500,
        "hasTools": True,
    }
    assert record.render(800.0)["message"] == TIMEOUT_MESSAGE
    assert record.closed(300.0).render(301.0)["message"] == DISCONNECTED_MESSAGE
    assert record.closed(300.0).render(301.0)["status"] == "disconnected"
    assert "eid" not in _record(reachable=False).render(200.0)


def test_steady_spans() -> None:
    record = _record()
    assert record.steady(100.2) == (-math.inf, 100.5)
    assert record.steady(100.5) == (100.5, 700.5)
    assert record.steady(800.0) == (700.5, math.inf)
    closed = _record(closed=300.0)
    assert closed.steady(200.0) == (100.5, 300.0)
    assert closed.steady(300.0) == (300.0, 700.5)
    unreachable = _record(reachable=False)
    assert unreachable.steady(101.0) == (-math.inf, 105.0)
    assert unreachable.steady(105.0) == (105.0, math.inf)
    assert _record(reachable=False, closed=103.0).steady(101.0) == (-math.inf, 103.0)
    assert _record(reachable=False, closed=110.0).steady(106.0) == (105.0, 110.0)
    # The earliest time after now bounds the span, whatever the order.
    assert _record(closed=100.2).steady(0.0) == (-math.inf, 100.2)
    assert _record(closed=900.0).steady(200.0) == (100.5, 700.5)
    assert _record(closed=50.0).steady(800.0) == (700.5, math.inf)
    assert _record(closed=750.0).steady(800.0) == (750.0, math.inf)


def test_nan_times_are_skipped_and_a_nan_now_gives_an_empty_span() -> None:
    record = _record(idle=math.nan)
    assert record.steady(200.0) == (100.5, math.inf)
    since, _until = _record().steady(math.nan)
    assert not since <= math.nan


def test_a_rendering_is_reused_inside_its_span_only() -> None:
    record = _record()
    first = record.rendering(200.0)
    assert first == Rendering(100.5, 700.5, record.render(200.0), orjson.dumps(record.render(200.0)))
    assert record.rendering(100.5) is first
    assert record.rendering(700.4) is first
    later = record.rendering(700.5)
    assert later is not first and later.body["status"] == "timeout"
    assert record.rendering(700.5) is later
    earlier = record.rendering(100.4)
    assert earlier.body["status"] == "waiting"
    assert record.rendering(100.4) is earlier


def test_to_api_hands_out_copies_and_api_json_is_its_json() -> None:
    record = _record()
    body = record.to_api(200.0)
    body["status"] = "changed"
    assert record.to_api(200.0)["status"] == "connected"
    assert record.api_json(200.0) == orjson.dumps(record.to_api(200.0))
    assert record.api_json(100.0) == orjson.dumps(record.render(100.0))


def test_the_cached_rendering_stays_out_of_pickles() -> None:
    record = _record()
    assert record.__getstate__() == dict(record.__dict__)
    record.rendering(200.0)
    state = record.__getstate__()
    assert "_api" not in state and state["id"] == "c1"
    assert "_api" in record.__dict__
    copy = pickle.loads(pickle.dumps(record))
    assert copy == record and "_api" not in copy.__dict__


@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_listing_is_the_records_json_array(count: int) -> None:
    records = [_record(), _record(reachable=False), _record(closed=150.0)][:count]
    assert render_listing(records, 200.0) == orjson.dumps([r.to_api(200.0) for r in records])
