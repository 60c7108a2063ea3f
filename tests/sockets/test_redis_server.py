"""``tests/redis_server.py``: a real redis-server that starts, restarts on the same address, and stops."""

from __future__ import annotations

import pytest

from tests.redis_server import BINARY_ENV, RedisServer, find_binary

redis = pytest.importorskip("redis")


@pytest.mark.redis
@pytest.mark.parametrize("tcp", [False, True], ids=["unix-socket", "tcp"])
def test_a_restart_keeps_the_address_and_clients_reconnect(tcp: bool) -> None:
    if find_binary() is None:
        pytest.skip("no redis-server or valkey-server")
    server = RedisServer(tcp=tcp)
    with server:
        url = server.url
        assert url.startswith("redis://127.0.0.1:" if tcp else "unix://")
        client = redis.Redis.from_url(url)
        try:
            client.set("k", "v")
            server.restart()
            assert server.url == url
            assert client.get("k") is None  # nothing is saved: a restart is an empty server
            client.set("k", "w")
            server.flushall()
            assert client.dbsize() == 0
        finally:
            client.close()
    assert not server.running and not server.ping()


def test_a_missing_binary_is_reported_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BINARY_ENV, "/nonexistent/redis-server")
    assert find_binary() is None and not RedisServer.available()
    with pytest.raises(FileNotFoundError, match="install one \\(apt-get install redis-server\\)"):
        RedisServer()
