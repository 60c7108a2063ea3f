"""Tests that kill mutmut's survivors in simulator/state/store.py (docs/testing.md).

The memory store's contract step by step: generations and stale writes, ``update``'s create / same /
DELETE cases, snapshots, counters, ``clear`` of one table or of everything, and ``open_store``'s URLs.
"""

from __future__ import annotations

from typing import Any

import pytest

from simulator.state import redis_store
from simulator.state.store import DELETE, MemoryStore, open_store


def _never(record: Any) -> Any:
    raise AssertionError("fn must not be called")


def test_a_new_store_is_empty_at_generation_1() -> None:
    store = MemoryStore()
    assert store.generation() == 1
    assert store.get("t", "a") is None
    assert store.count("t") == 0
    assert list(store.values("t")) == []


def test_put_and_get() -> None:
    store = MemoryStore()
    assert store.put("t", "a", 1) is True
    assert store.put("t", "a", 2, generation=1) is True
    assert store.get("t", "a") == 2
    assert store.get("t", "b") is None
    assert store.get("u", "a") is None
    assert store.count("t") == 1 and store.count("u") == 0


def test_writes_for_another_generation_are_dropped() -> None:
    store = MemoryStore()
    store.put("t", "a", 1)
    store.clear()
    assert store.generation() == 2
    assert store.put("t", "a", 5, generation=1) is False
    assert store.update("t", "a", _never, create=True, generation=1) is None
    store.put("t", "a", 6)
    assert store.delete("t", "a", generation=1) is False
    assert store.get("t", "a") == 6
    assert store.put("t", "a", 7, generation=3) is False  # a newer one is not current either
    assert store.update("t", "a", lambda n: n + 1, generation=2) == 7
    assert store.delete("t", "a", generation=2) is True
    assert store.get("t", "a") is None


def test_update_of_an_absent_record() -> None:
    store = MemoryStore()
    assert store.update("t", "a", _never) is None
    assert store.count("t") == 0
    seen: list[Any] = []

    def make(record: Any) -> Any:
        seen.append(record)
        return "new"

    assert store.update("t", "a", make, create=True) == "new"
    assert seen == [None]
    assert store.get("t", "a") == "new"


def test_update_writes_the_new_record_keeps_the_same_one_and_deletes() -> None:
    store = MemoryStore()
    first = ["x"]
    store.put("t", "a", first)
    store.put("t", "b", 0)
    assert store.update("t", "a", lambda r: r) is first
    assert store.get("t", "a") is first
    equal = ["x"]
    assert store.update("t", "a", lambda r: equal) is equal
    assert store.get("t", "a") is equal
    assert store.update("t", "a", lambda r: DELETE) is None
    assert store.get("t", "a") is None
    assert store.count("t") == 1
    assert store.update("t", "c", lambda r: DELETE, create=True) is None  # deleting nothing is fine
    assert list(store.values("t")) == [0]


def test_an_update_that_raises_changes_nothing() -> None:
    store = MemoryStore()
    store.put("t", "a", 1)

    def boom(record: Any) -> Any:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.update("t", "a", boom)
    assert store.get("t", "a") == 1


def test_delete_says_whether_there_was_a_record() -> None:
    store = MemoryStore()
    store.put("t", "a", 0)  # a falsy record is still a record
    assert store.delete("t", "a") is True
    assert store.delete("t", "a") is False
    assert store.delete("never", "a") is False


def test_values_are_an_insertion_order_snapshot() -> None:
    store = MemoryStore()
    for key in ("b", "a", "c"):
        store.put("t", key, key.upper())
    store.put("t", "b", "B2")  # a replaced key keeps its place
    snapshot = store.values("t")
    store.put("t", "d", "D")
    store.delete("t", "a")
    assert list(snapshot) == ["B2", "A", "C"]
    assert list(store.values("t")) == ["B2", "C", "D"]
    assert store.count("t") == 3


def test_counters_start_where_asked_and_are_independent() -> None:
    store = MemoryStore()
    assert [store.next_id("x") for _ in range(3)] == [1, 2, 3]
    assert store.next_id("y", start=10) == 10
    assert store.next_id("y", start=10) == 11
    assert store.next_id("y") == 12
    assert store.next_id("z", start=0) == 0


def test_clearing_one_table_keeps_the_rest_and_the_generation() -> None:
    store = MemoryStore()
    store.put("t", "a", 1)
    store.put("u", "a", 2)
    store.next_id("x")
    store.clear("t")
    assert store.get("t", "a") is None and store.count("t") == 0
    assert store.get("u", "a") == 2
    assert store.generation() == 1
    assert store.next_id("x") == 2
    store.clear("never")  # no such table: nothing happens
    assert store.generation() == 1


def test_clearing_everything_forgets_tables_and_counters_and_bumps_the_generation() -> None:
    store = MemoryStore()
    store.put("t", "a", 1)
    store.put("u", "a", 2)
    store.next_id("x")
    store.next_id("x")
    store.clear()
    assert store.get("t", "a") is None and store.get("u", "a") is None
    assert store.next_id("x") == 1
    assert store.generation() == 2
    store.clear()
    assert store.generation() == 3
    assert store.put("t", "a", 3, generation=3) is True


@pytest.mark.parametrize("url", ["memory", "", "  memory  ", None])
def test_open_store_memory(url: str) -> None:
    assert isinstance(open_store(url), MemoryStore)


@pytest.mark.parametrize(
    "url",
    [
        "redis://h:1/0",
        "REDIS://h:1/0",
        "rediss://h:1/0",
        "unix:///tmp/r.sock?db=1",
        "valkey://h/0",
        "redis://h:1/0?client_name=a://b",
        "valkeys://h/0",
    ],
)
def test_open_store_redis_urls(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []

    def fake(cls: type, text: str, *, prefix: str = "tanium-sim") -> str:
        calls.append((text, prefix))
        return "redis store"

    monkeypatch.setattr(redis_store.RedisStore, "from_url", classmethod(fake))
    assert open_store(f"  {url} ", prefix="p") == "redis store"
    assert open_store(url) == "redis store"
    assert calls == [(url, "p"), (url, "tanium-sim")]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mysql://h/0", "'mysql://h/0'"),
        ("memory2", "'memory2'"),
        ("redis:/h", "'redis:/h'"),
        ("x" * 100, repr("x" * 60)),
    ],
)
def test_open_store_refuses_anything_else_in_one_sentence(url: str, shown: str) -> None:
    with pytest.raises(ValueError, match=r"^--store must be") as caught:
        open_store(url)
    assert str(caught.value) == (
        f"--store must be 'memory' or a Redis URL like redis://127.0.0.1:6379/0, not {shown}"
    )
