"""The store on Redis (or Valkey): several processes and hosts serving one simulated Tanium.

Layout, under one key prefix per simulated world (``--store-prefix``, so two simulators can share one
Redis)::

    <p>:s:gen               the generation (bumped by a reset)
    <p>:s:o:<table>         a sorted set of the table's keys, scored by first insertion: Tanium's order
    <p>:s:r:<table>:<key>   one record, pickled
    <p>:s:c:<counter>       an integer id counter (INCR)
    <p>:s:tables            the tables and counters in use (what a reset deletes)

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
import pickle
from collections.abc import Iterator
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from simulator.errors import ServiceUnavailable
from simulator.state.updates import DELETE, Updater

_PUT = """
if ARGV[1] ~= '' and (redis.call('GET', KEYS[1]) or '1') ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[2])
  redis.call('SADD', KEYS[5], 'o:' .. ARGV[4])
end
redis.call('SET', KEYS[2], ARGV[3])
return 1
"""

# ARGV: generation, key, expected present ('0'/'1'), expected bytes, new bytes, op ('set'/'del'), table
_CAS = """
if ARGV[1] ~= '' and (redis.call('GET', KEYS[1]) or '1') ~= ARGV[1] then return -1 end
local cur = redis.call('GET', KEYS[2])
if ARGV[3] == '0' then
  if cur then return 0 end
elseif (not cur) or cur ~= ARGV[4] then
  return 0
end
if ARGV[6] == 'del' then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
  return 1
end
if not cur then
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[2])
  redis.call('SADD', KEYS[5], 'o:' .. ARGV[7])
end
redis.call('SET', KEYS[2], ARGV[5])
return 1
"""

_DELETE = """
if ARGV[1] ~= '' and (redis.call('GET', KEYS[1]) or '1') ~= ARGV[1] then return 0 end
local n = redis.call('DEL', KEYS[2])
if n > 0 then redis.call('ZREM', KEYS[3], ARGV[2]) end
return n
"""

_VALUES = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for i = 1, #ids, 500 do
  local chunk = {}
  for j = i, math.min(i + 499, #ids) do chunk[#chunk + 1] = ARGV[1] .. ids[j] end
  local vals = redis.call('MGET', unpack(chunk))
  for k = 1, #vals do
    if vals[k] then out[#out + 1] = vals[k] end
  end
end
return out
"""

_NEXT_ID = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SADD', KEYS[2], 'c:' .. ARGV[2])
end
return redis.call('INCR', KEYS[1])
"""

# ARGV[1]: the prefix of every store key ("<p>:s:"); ARGV[2]: one table, or '' for everything
_CLEAR = """
local base = ARGV[1]
local function drop_table(name)
  local okey = base .. 'o:' .. name
  local ids = redis.call('ZRANGE', okey, 0, -1)
  for i = 1, #ids, 500 do
    local chunk = {}
    for j = i, math.min(i + 499, #ids) do chunk[#chunk + 1] = base .. 'r:' .. name .. ':' .. ids[j] end
    redis.call('DEL', unpack(chunk))
  end
  redis.call('DEL', okey)
end
if ARGV[2] ~= '' then
  drop_table(ARGV[2])
  redis.call('SREM', KEYS[2], 'o:' .. ARGV[2])
  return 1
end
redis.call('INCR', KEYS[1])
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local kind, name = string.sub(entry, 1, 1), string.sub(entry, 3)
  if kind == 'o' then drop_table(name) else redis.call('DEL', base .. 'c:' .. name) end
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
        self._values = client.register_script(_VALUES)
        self._next_id = client.register_script(_NEXT_ID)
        self._clear = client.register_script(_CLEAR)

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

    def _rkey(self, table: str, key: str) -> str:
        return f"{self._base}r:{table}:{key}"

    def _okey(self, table: str) -> str:
        return f"{self._base}o:{table}"

    # -- the Store interface ----------------------------------------------------------------------
    def generation(self) -> int:
        try:
            raw = self.client.get(self._gen_key)
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        return int(raw) if raw else 1

    def get(self, table: str, key: str) -> Any | None:
        try:
            raw = self.client.get(self._rkey(table, key))
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        return None if raw is None else loads(raw)

    def put(self, table: str, key: str, record: Any, *, generation: int | None = None) -> bool:
        keys = [self._gen_key, self._rkey(table, key), self._okey(table), self._seq_key, self._tables_key]
        gen = "" if generation is None else str(generation)
        try:
            return bool(self._put(keys=keys, args=[gen, key, dumps(record), table]))
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def update(
        self,
        table: str,
        key: str,
        fn: Updater,
        *,
        create: bool = False,
        generation: int | None = None,
    ) -> Any | None:
        rkey = self._rkey(table, key)
        keys = [self._gen_key, rkey, self._okey(table), self._seq_key, self._tables_key]
        gen = "" if generation is None else str(generation)
        try:
            while True:
                raw_gen, raw = self.client.mget(self._gen_key, rkey)
                if generation is not None and int(raw_gen or 1) != generation:
                    return None
                if raw is None and not create:
                    return None
                current = None if raw is None else loads(raw)
                new = fn(current)
                if new is current and current is not None:
                    return current
                op, data = ("del", b"") if new is DELETE else ("set", dumps(new))
                if op == "del" and raw is None:
                    return None
                present = "0" if raw is None else "1"
                done = self._cas(keys=keys, args=[gen, key, present, raw or b"", data, op, table])
                if done == -1:
                    return None  # reset meanwhile
                if done == 1:
                    return None if new is DELETE else new
                # another writer got in first: read again and apply fn to what it wrote
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def delete(self, table: str, key: str, *, generation: int | None = None) -> bool:
        gen = "" if generation is None else str(generation)
        keys = [self._gen_key, self._rkey(table, key), self._okey(table)]
        try:
            return bool(self._delete(keys=keys, args=[gen, key]))
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def values(self, table: str) -> Iterator[Any]:
        try:
            raws = self._values(keys=[self._okey(table)], args=[f"{self._base}r:{table}:"])
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        return iter([loads(raw) for raw in raws])

    def count(self, table: str) -> int:
        try:
            return int(self.client.zcard(self._okey(table)))
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def next_id(self, counter: str, start: int = 1) -> int:
        keys = [f"{self._base}c:{counter}", self._tables_key]
        try:
            return int(self._next_id(keys=keys, args=[start - 1, counter]))
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def clear(self, table: str | None = None) -> None:
        try:
            self._clear(keys=[self._gen_key, self._tables_key], args=[self._base, table or ""])
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

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
