"""A real ``redis-server`` (or ``valkey-server``) for the test suite: see :class:`RedisServer`.

The class lives in ``loadtests/_redis.py`` so that the benchmarks start Redis the same way; the
fixtures in ``tests/conftest.py`` (``redis_server``, ``redis_url``) are the usual way to get one::

    from tests.redis_server import RedisServer

    with RedisServer() as server:          # unix socket in a temporary folder, nothing saved to disk
        url = server.url                   # unix:///.../redis.sock?db=0
        server.restart()                   # same socket: clients reconnect
"""

from __future__ import annotations

from loadtests._redis import BINARY_ENV, MISSING, RedisServer, find_binary

__all__ = ["BINARY_ENV", "MISSING", "RedisServer", "find_binary"]
