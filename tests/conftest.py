"""Shared fixtures. Async tests use anyio's pytest plugin with the asyncio backend.

The Redis tier: ``redis_server`` (session) runs one real ``redis-server`` or ``valkey-server`` for the
whole run (tests/redis_server.py), ``redis_url`` gives each test an empty database on it, and
``own_redis_server`` gives a test a server of its own to halt and restart. Tests that use any of them are
marked ``redis`` (deselect them with ``-m 'not redis'``) and skip, with one line in the
summary saying how to run them, where no server binary is installed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadtests._signals import hear_ctrl_c
from tests.redis_server import MISSING, RedisServer, find_binary

REDIS_FIXTURES = frozenset({"redis_server", "redis_url", "own_redis_server"})
_redis_wanted = pytest.StashKey[bool]()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real Redis for the whole run, on a unix socket in a temporary folder; skips without a binary."""
    if find_binary() is None:
        pytest.skip(f"Redis tier: {MISSING}")
    with RedisServer() as server:
        yield server


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A Redis of this test's own, started (it may halt, restart or stop it); skips without a binary."""
    if find_binary() is None:
        pytest.skip(f"Redis tier: {MISSING}")
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty Redis database (FLUSHALL first; started again if a test stopped it)."""
    redis_server.start()
    redis_server.flushall()
    return redis_server.url


def pytest_configure(config: pytest.Config) -> None:
    # Tests press Ctrl-C on child processes: in a run started as a background job, let them hear it.
    hear_ctrl_c()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = False
    for item in items:
        if REDIS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)
        wanted = wanted or item.get_closest_marker("redis") is not None
    config.stash[_redis_wanted] = wanted


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if config.stash.get(_redis_wanted, False) and find_binary() is None:
        terminalreporter.write_line(f"Redis tier skipped: {MISSING}")
