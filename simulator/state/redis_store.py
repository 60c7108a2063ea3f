"""The store on Redis (or Valkey): several processes and hosts serving one simulated Tanium.

Layout, under one key prefix per simulated world (``--store-prefix``, so two simulators can share one
Redis)::

    <p>:s:gen               the generation (bumped by a reset)
    <p>:s:h:<table>         a hash: key -> the record, pickled
    <p>:s:o:<table>         a sorted set of the table's keys, scored by first insertion: Tanium's order
    <p>:s:c:<counter>       an integer id counter (INCR)
    <p>:s:tables            the tables and counters in use (what a reset deletes)

A listing is one round trip of two plain commands (HGETALL and ZRANGE, pipelined), and records that
were decoded before are not decoded again (a bounded cache keyed by their bytes: records are immutable).

Every write is one server-side script, so it is atomic on the server: ``put`` and ``delete`` check
the generation and write; ``update`` reads the record, applies the function here, and writes with a
compare-and-set script that fails when the record changed meanwhile (then it reads and applies the
function again). Records are pickled with a loader that only builds the simulator's own classes and
plain containers, so a Redis that someone else can write to still cannot make the simulator run code
— but keep the Redis private all the same (docs/scaling.md).

Redis calls are synchronous: on loopback or a LAN they take tens of microseconds, and the backend is
synchronous by design (state derived on read). A Redis that is down or unreachable makes each request
answer a 503 envelope (:class:`~simulator.errors.ServiceUnavailable`); the server recovers by itself
when Redis is back.
"""

from __future__ import annotations

import io
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from simulator.errors import ServiceUnavailable
from simulator.state.updates import DELETE, Updater

_GEN_OK = "if ARGV[1] ~= '' and (redis.call('GET', KEYS[1]) or '1') ~= ARGV[1] then return {fail} end\n"

# KEYS: gen, hash, order, seq, tables; ARGV: generation, key, record, table
_PUT = (
    _GEN_OK.format(fail=0)
    + """
if redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) == 1 then
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[2])
  redis.call('SADD', KEYS[5], 'o:' .. ARGV[4])
end
return 1
"""
)

# KEYS: gen, hash, order, seq, tables
# ARGV: generation, key, expected present ('0'/'1'), expected bytes, new bytes, op ('set'/'del'), table
_CAS = (
    _GEN_OK.format(fail=-1)
    + """
local cur = redis.call('HGET', KEYS[2], ARGV[2])
if ARGV[3] == '0' then
  if cur then return 0 end
elseif (not cur) or cur ~= ARGV[4] then
  return 0
end
if ARGV[6] == 'del' then
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
  return 1
end
if not cur then
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[2])
  redis.call('SADD', KEYS[5], 'o:' .. ARGV[7])
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[5])
return 1
"""
)

# KEYS: gen, hash, order; ARGV: generation, key
_DELETE = (
    _GEN_OK.format(fail=0)
    + """
local n = redis.call('HDEL', KEYS[2], ARGV[2])
if n > 0 then redis.call('ZREM', KEYS[3], ARGV[2]) end
return n
"""
)

_NEXT_ID = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SADD', KEYS[2], 'c:' .. ARGV[2])
end
return redis.call('INCR', KEYS[1])
"""

# KEYS: gen, tables; ARGV[1]: the prefix of every store key ("<p>:s:"); ARGV[2]: one table, or ''
_CLEAR = """
local base = ARGV[1]
if ARGV[2] ~= '' then
  redis.call('DEL', base .. 'h:' .. ARGV[2], base .. 'o:' .. ARGV[2])
  redis.call('SREM', KEYS[2], 'o:' .. ARGV[2])
  return 1
end
redis.call('INCR', KEYS[1])
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local kind, name = string.sub(entry, 1, 1), string.sub(entry, 3)
  if kind == 'o' then
    redis.call('DEL', base .. 'h:' .. name, base .. 'o:' .. name)
  else
    redis.call('DEL', base .. 'c:' .. name)
  end
end
redis.call('DEL', KEYS[2])
return 1
"""

# What the loader may build: the simulator's own classes, and a few harmless builtins.
_SAFE_BUILTINS = frozenset({"set", "frozenset", "complex", "range", "slice", "bytearray"})
_SAFE_OTHERS = frozenset({("re", "_compile"), ("math", "inf")})


class _RecordUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("simulator.") or (module == "builtins" and name in _SAFE_BUILTINS):
            return super().find_class(module, name)
        if (module, name) in _SAFE_OTHERS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"the store holds a {module}.{name}, which is not a simulator record")


class DecodedCache:
    """Records decoded from their bytes, reused while the bytes are the same (records are immutable).

    A record read again (every poll lists the same connections) costs a dict lookup instead of an
    unpickling, and keeps the rendering its instance cached (``ConnectionRecord``). Bounded: emptied
    when full.
    """

    def __init__(self, capacity: int = 8192) -> None:
        self.capacity = capacity
        self._records: dict[bytes, Any] = {}

    def __call__(self, raw: bytes) -> Any:
        record = self._records.get(raw)
        if record is None:
            if len(self._records) >= self.capacity:
                self._records.clear()
            record = self._records[raw] = loads(raw)
        return record


def dumps(record: Any) -> bytes:
    return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes | str) -> Any:
    if isinstance(data, str):  # a client built with decode_responses: not ours
        raise TypeError("the Redis client must return bytes (decode_responses=False)")
    return _RecordUnpickler(io.BytesIO(data)).load()


def _unavailable(exc: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"the simulator's shared store (Redis) is unreachable ({type(exc).__name__}); retry later",
        headers={"Retry-After": "1"},
    )


class FastPath:
    """One command on this thread's own connection, without redis-py's per-command machinery.

    A plain ``client.get`` spends ~110 µs in redis-py (connection pool, retry wrapper, event dispatch,
    observability hooks) for a ~20 µs round trip on loopback (loadtests/RESULTS.md): on the request
    path, where every handler makes one to a few round trips, that machinery was most of the cost.
    Each thread (the event loop, the worker threads of slow handlers) keeps one connection; a broken
    one is dropped and the next call connects again, so the server recovers by itself when Redis is
    back. Scripts run by EVALSHA, loaded on first use.
    """

    def __init__(self, client: redis.Redis) -> None:
        pool = client.connection_pool
        self._make: Callable[[], Any] = lambda: pool.connection_class(**pool.connection_kwargs)
        self._local = threading.local()

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # a forked worker must not share a socket
            conn = self._local.conn = self._make()
            self._local.pid = os.getpid()
        return conn

    def __call__(self, *args: Any) -> Any:
        conn = self._connection()
        try:
            conn.send_command(*args)
            return conn.read_response()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            conn.disconnect()
            raise _unavailable(exc) from exc

    def pipeline(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several commands in one round trip (not a transaction)."""
        conn = self._connection()
        try:
            conn.send_packed_command(conn.pack_commands(commands))
            return [conn.read_response() for _ in commands]
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            conn.disconnect()
            raise _unavailable(exc) from exc

    def script(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return self("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            self("SCRIPT", "LOAD", script.script)
            return self("EVALSHA", script.sha, len(keys), *keys, *args)


class RedisStore:
    """:class:`~simulator.state.store.Store` on Redis; build it with :meth:`from_url`."""

    def __init__(self, client: redis.Redis, *, prefix: str = "tanium-sim", url: str = "") -> None:
        if not prefix or any(c.isspace() for c in prefix):
            raise ValueError("--store-prefix must be a non-empty word without spaces")
        self.client = client
        self.prefix = prefix
        self.url = url
        self.dropped = False  # set by drop(): late batched writes (journal, metrics) are skipped
        self._base = f"{prefix}:s:"
        self._gen_key = self._base + "gen"
        self._seq_key = self._base + "seq"
        self._tables_key = self._base + "tables"
        self._put = client.register_script(_PUT)
        self._cas = client.register_script(_CAS)
        self._delete = client.register_script(_DELETE)
        self._next_id = client.register_script(_NEXT_ID)
        self._clear = client.register_script(_CLEAR)
        self.fast = FastPath(client)
        self._decode = DecodedCache()

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "tanium-sim") -> RedisStore:
        """A store on the Redis at ``url`` (``redis://``, ``rediss://``, ``unix://``; ``valkey://`` too)."""
        if url.startswith("valkey"):
            url = "redis" + url[len("valkey") :]
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=5.0,
                socket_connect_timeout=1.0,
                retry=Retry(NoBackoff(), 1),
                health_check_interval=30,
            )
        except ValueError as exc:
            raise ValueError(f"--store {url!r} is not a Redis URL ({exc})") from None
        return cls(client, prefix=prefix, url=url)

    def check(self) -> str:
        """Ping the server; returns its name and version, or raises ``ConnectionError`` with one sentence."""
        try:
            info = self.client.info("server")
        except redis.RedisError as exc:
            raise ConnectionError(f"cannot reach Redis at {self.safe_url} ({exc})") from None
        name = "valkey" if "valkey_version" in info else "redis"
        return f"{name} {info.get('valkey_version') or info.get('redis_version', '?')}"

    @property
    def safe_url(self) -> str:
        """The URL without a password (never logged)."""
        head, sep, tail = self.url.rpartition("@")
        if not sep:
            return self.url
        scheme = head.partition("://")[0]
        return f"{scheme}://***@{tail}"

    def _hkey(self, table: str) -> str:
        return f"{self._base}h:{table}"

    def _okey(self, table: str) -> str:
        return f"{self._base}o:{table}"

    # -- the Store interface ----------------------------------------------------------------------
    def generation(self) -> int:
        raw = self.fast("GET", self._gen_key)
        return int(raw) if raw else 1

    def get(self, table: str, key: str) -> Any | None:
        raw = self.fast("HGET", self._hkey(table), key)
        return None if raw is None else self._decode(raw)

    def put(self, table: str, key: str, record: Any, *, generation: int | None = None) -> bool:
        keys = [self._gen_key, self._hkey(table), self._okey(table), self._seq_key, self._tables_key]
        gen = "" if generation is None else str(generation)
        return bool(self.fast.script(self._put, keys, [gen, key, dumps(record), table]))

    def update(
        self,
        table: str,
        key: str,
        fn: Updater,
        *,
        create: bool = False,
        generation: int | None = None,
    ) -> Any | None:
        hkey = self._hkey(table)
        keys = [self._gen_key, hkey, self._okey(table), self._seq_key, self._tables_key]
        gen = "" if generation is None else str(generation)
        while True:
            raw_gen, raw = self.fast.pipeline(("GET", self._gen_key), ("HGET", hkey, key))
            if generation is not None and int(raw_gen or 1) != generation:
                return None
            if raw is None and not create:
                return None
            current = None if raw is None else self._decode(raw)
            new = fn(current)
            if new is current and current is not None:
                return current
            op, data = ("del", b"") if new is DELETE else ("set", dumps(new))
            if op == "del" and raw is None:
                return None
            present = "0" if raw is None else "1"
            done = self.fast.script(self._cas, keys, [gen, key, present, raw or b"", data, op, table])
            if done == -1:
                return None  # reset meanwhile
            if done == 1:
                return None if new is DELETE else new
            # another writer got in first: read again and apply fn to what it wrote

    def delete(self, table: str, key: str, *, generation: int | None = None) -> bool:
        gen = "" if generation is None else str(generation)
        keys = [self._gen_key, self._hkey(table), self._okey(table)]
        return bool(self.fast.script(self._delete, keys, [gen, key]))

    def values(self, table: str) -> Iterator[Any]:
        rows, order = self.fast.pipeline(("HGETALL", self._hkey(table)), ("ZRANGE", self._okey(table), 0, -1))
        by_key = dict(zip(rows[0::2], rows[1::2], strict=True)) if isinstance(rows, list) else rows
        decode = self._decode
        return iter([decode(by_key[k]) for k in order if k in by_key])

    def count(self, table: str) -> int:
        return int(self.fast("HLEN", self._hkey(table)))

    def next_id(self, counter: str, start: int = 1) -> int:
        keys = [f"{self._base}c:{counter}", self._tables_key]
        return int(self.fast.script(self._next_id, keys, [start - 1, counter]))

    def clear(self, table: str | None = None) -> None:
        self.fast.script(self._clear, [self._gen_key, self._tables_key], [self._base, table or ""])

    def drop(self) -> int:
        """Delete every key of this world (its prefix), the shared runtime's too; returns how many."""
        self.dropped = True
        try:
            keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
            for i in range(0, len(keys), 500):
                self.client.unlink(*keys[i : i + 500])
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        return len(keys)

    def close(self) -> None:
        self.client.close()


__all__ = ["RedisStore", "dumps", "loads"]
