"""What several simulator processes on one Redis share besides the store: the running scenario and its
fault rules (with counters that count every process's requests), the request journal and the metrics.

Keys, under the store's prefix ``<p>``::

    <p>:rt:scenario           the running scenario, its rules, seed and start (pickled records)
    <p>:rt:version            bumped on every change of the above (scenario switch, rule added or removed)
    <p>:rt:epoch              bumped when rule counters start again (scenario switch, fault reset)
    <p>:rt:rules:<epoch>      a hash: "<rule>:m" and "<rule>:f", matched and fired, over all processes
    <p>:rt:journal            the journal: a list capped at its capacity, oldest first
    <p>:rt:journal:total      entries ever appended (since the last clear)
    <p>:rt:metrics:procs      the processes that published metrics
    <p>:rt:metrics:<process>  one process's counters (absolute values, summed when scraped)

A change made through one process reaches the others within :data:`REFRESH_S` (each checks the version
at most that often, when a request comes in). Rule counters are exact across processes (one
server-side script per matching request decides ``after``, ``every_n`` and ``times``); a rule's
``probability`` draws from the deciding process's own stream. Journal entries and metrics are batched
per process and written at most :data:`FLUSH_S` after the request (and before any read of them), so a
request costs no Redis round trip for them. On the manual clock (``serve --clock manual``, what
``qa --url`` drives) consistency wins over speed: every request looks for a change first and its
journal entry is written before its response.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import redis
from prometheus_client import CollectorRegistry, generate_latest

from simulator.errors import ServiceUnavailable
from simulator.journal import Journal, JournalEntry
from simulator.metrics import Metrics, _Exporter
from simulator.state.redis_store import RedisStore, _unavailable, dumps, loads

if TYPE_CHECKING:
    from simulator.faults.rules import FaultRule, RuleSet, SharedCounter
    from simulator.scenarios import Scenario
    from simulator.settings import Settings

log = logging.getLogger("tanium_sim.shared")

REFRESH_S = 0.5  # how often a process looks for a scenario or rule change made through another one
FLUSH_S = 0.2  # how long journal entries and metrics wait before they are written

_CONSIDER = """
local m = redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':m', 1)
local f = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. ':f') or '0')
if ARGV[4] ~= '' and f >= tonumber(ARGV[4]) then return 0 end
local pos = m - tonumber(ARGV[2])
if pos <= 0 or pos % tonumber(ARGV[3]) ~= 0 then return 0 end
if ARGV[5] == '1' then
  redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':f', 1)
  return 1
end
return 2
"""

_FIRE = """
local f = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. ':f') or '0')
if ARGV[2] ~= '' and f >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':f', 1)
return 1
"""

_APPEND = """
for i = 2, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
return redis.call('INCRBY', KEYS[2], #ARGV - 1)
"""

# The journal entries after a cursor, read where they lie (entry number n sits at list index
# n - first, first = total - length + 1): returns {total, the first entry's number, the entries}.
_SINCE = """
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
local length = redis.call('LLEN', KEYS[1])
local first = total - length + 1
local start = math.max(0, tonumber(ARGV[1]) - first + 1)
if start >= length or tonumber(ARGV[2]) < 1 then return {total, 0, {}} end
return {total, first + start, redis.call('LRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1)}
"""

_PUBLISH_IF_ABSENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])
"""


def _later(delay: float, callback: Callable[[], None]) -> bool:
    """Run ``callback`` on this thread's event loop after ``delay``; False when no loop runs here."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    loop.call_later(delay, callback)
    return True


class SharedRuntime(Protocol):
    """What :class:`SharedControl` needs of the running scenario (``faults.runtime.ScenarioRuntime``)."""

    scenario: Scenario
    seed: int
    started_at: float

    @property
    def current_rules(self) -> RuleSet: ...

    def install_shared(
        self,
        scenario: Scenario,
        seed: int,
        rules: Iterable[FaultRule],
        started_at: float,
        counter_for: Callable[[str], SharedCounter],
    ) -> None: ...


@dataclass(frozen=True)
class WorldIdentity:
    """What makes processes one world: the same fleet (seed, size) and the same credentials."""

    seed: int
    endpoints: int
    token: str
    admin_token: str
    username: str
    password: str
    clock: str = "system"


def join_world(store: RedisStore, settings: Settings) -> Settings:
    """``settings`` with the world's credentials; the first process on a prefix sets them.

    A process started without ``--token``/``--admin-token`` generates its own; on a shared store the
    world's win, so every process answers the same credentials (``serve`` prints them). A process with
    another seed or fleet size would serve another fleet: refused with one sentence saying what to pass.
    """
    mine = WorldIdentity(
        settings.seed,
        settings.endpoints,
        settings.token,
        settings.admin_token,
        settings.username,
        settings.password,
        settings.clock,
    )
    key = f"{store.prefix}:rt:identity"
    try:
        store.client.set(key, dumps(mine), nx=True)
        raw = store.client.get(key)
    except redis.RedisError as exc:
        raise ConnectionError(f"cannot reach Redis at {store.safe_url} ({exc})") from None
    world: WorldIdentity = loads(raw) if raw is not None else mine
    if (world.seed, world.endpoints) != (mine.seed, mine.endpoints):
        raise ValueError(
            f"the world under --store-prefix {store.prefix} runs seed {world.seed} with {world.endpoints} "
            f"endpoints; start this process with --seed {world.seed} --endpoints {world.endpoints}, "
            "or give it another --store-prefix"
        )
    if world.clock != mine.clock:
        raise ValueError(
            f"the world under --store-prefix {store.prefix} runs on the {world.clock} clock; start this "
            f"process with --clock {world.clock}, or give it another --store-prefix"
        )
    return settings.with_changes(
        token=world.token, admin_token=world.admin_token, username=world.username, password=world.password
    )


class RuleCounter:
    """One rule's matched/fired counts in a Redis hash shared by every process."""

    def __init__(self, shared: SharedControl, epoch: int, name: str) -> None:
        self.shared = shared
        self.key = shared.key(f"rules:{epoch}")
        self.name = name

    def consider(self, rule: FaultRule, rng: random.Random) -> bool:
        """Count a matching request; True when the rule fires for it (``times`` holds over all processes)."""
        times = "" if rule.times is None else str(rule.times)
        certain = "1" if rule.probability >= 1.0 else "0"
        args = [self.name, rule.after, rule.every_n, times, certain]
        verdict = int(self.shared.run(self.shared.consider_script, [self.key], args))
        if verdict != 2:
            return verdict == 1
        if rng.random() >= rule.probability:
            return False
        return bool(self.shared.run(self.shared.fire_script, [self.key], [self.name, times]))

    def counts(self) -> tuple[int, int]:
        matched, fired = self.shared.call(lambda c: c.hmget(self.key, f"{self.name}:m", f"{self.name}:f"))
        return int(matched or 0), int(fired or 0)

    def forget(self) -> None:
        self.shared.call(lambda c: c.hdel(self.key, f"{self.name}:m", f"{self.name}:f"))


@dataclass(frozen=True)
class ScenarioDoc:
    """The running scenario as every process installs it."""

    scenario: Scenario
    seed: int
    rules: tuple[FaultRule, ...]
    started_at: float
    epoch: int


class SharedControl:
    """The scenario, rule counters, journal and metrics of one world on Redis."""

    def __init__(self, store: RedisStore, *, refresh_s: float = REFRESH_S) -> None:
        self.store = store
        self.refresh_s = refresh_s  # 0: look for another process's change before every request
        self.client = store.client
        self.base = f"{store.prefix}:rt:"
        self.process = uuid.uuid4().hex[:12]
        self.consider_script = self.client.register_script(_CONSIDER)
        self.fire_script = self.client.register_script(_FIRE)
        self.append_script = self.client.register_script(_APPEND)
        self.since_script = self.client.register_script(_SINCE)
        self.publish_script = self.client.register_script(_PUBLISH_IF_ABSENT)
        self.version = 0
        self.epoch = 0
        self._checked_at = 0.0

    def key(self, name: str) -> str:
        return self.base + name

    def call(self, fn: Callable[[redis.Redis], Any]) -> Any:
        """One Redis call; an outage becomes the vendor's 503 envelope (see RedisStore)."""
        try:
            return fn(self.client)
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        return self.store.fast.script(script, keys, args)

    # -- the scenario ---------------------------------------------------------------------------
    def _doc(self, rt: SharedRuntime, epoch: int) -> bytes:
        rules = tuple(state.rule for state in rt.current_rules.states)
        return dumps(ScenarioDoc(rt.scenario, rt.seed, rules, rt.started_at, epoch))

    def join(self, rt: SharedRuntime) -> None:
        """At start: run the world's scenario if it has one, else make this process's the world's."""
        epoch = int(self.call(lambda c: c.incr(self.key("epoch"))))
        self.run(self.publish_script, [self.key("scenario"), self.key("version")], [self._doc(rt, epoch)])
        self.refresh(rt, force=True)

    def publish(self, rt: SharedRuntime, *, new_epoch: bool) -> None:
        """Make this process's scenario and rules the world's (after a switch, an added or removed rule)."""
        if new_epoch:
            self.epoch = int(self.call(lambda c: c.incr(self.key("epoch"))))
            rt.current_rules.attach_counters(self.counter_factory(self.epoch))
        doc = self._doc(rt, self.epoch)

        def write(c: redis.Redis) -> Any:
            pipe = c.pipeline(transaction=True)
            pipe.set(self.key("scenario"), doc)
            pipe.incr(self.key("version"))
            return pipe.execute()[-1]

        self.version = int(self.call(write))

    def counter_factory(self, epoch: int) -> Callable[[str], RuleCounter]:
        return lambda name: RuleCounter(self, epoch, name)

    def maybe_refresh(self, rt: SharedRuntime) -> None:
        now = time.monotonic()
        if now - self._checked_at >= self.refresh_s:
            self._checked_at = now
            try:
                self.refresh(rt)
            except ServiceUnavailable:  # Redis down: keep running what we have; requests answer 503
                log.warning("scenario not refreshed: the shared store is unreachable")

    def refresh(self, rt: SharedRuntime, *, force: bool = False) -> None:
        """Install the world's scenario here if another process changed it."""
        version = int(self.store.fast("GET", self.key("version")) or 0)
        if version == self.version and not force:
            return

        def read(c: redis.Redis) -> Any:
            pipe = c.pipeline(transaction=True)
            pipe.get(self.key("version"))
            pipe.get(self.key("scenario"))
            return pipe.execute()

        raw_version, raw_doc = self.call(read)
        if raw_doc is None:
            return
        doc: ScenarioDoc = loads(raw_doc)
        self.version, self.epoch = int(raw_version or 0), doc.epoch
        rt.install_shared(doc.scenario, doc.seed, doc.rules, doc.started_at, self.counter_factory(doc.epoch))


class SharedJournal(Journal):
    """The journal of every process: entries batched here, appended to one capped Redis list."""

    def __init__(
        self, shared: SharedControl, capacity: int, *, enabled: bool = True, flush_s: float = FLUSH_S
    ) -> None:
        super().__init__(capacity, enabled=enabled)
        self.shared = shared
        self.flush_s = flush_s  # 0: every entry is written before its response is sent
        self._list = shared.key("journal")
        self._total = shared.key("journal:total")
        self._pending: list[bytes] = []
        self._scheduled = False

    def record(self, **fields: Any) -> None:
        if not self.enabled:
            return
        self._pending.append(
            orjson.dumps(
                [
                    fields.get("at", 0.0),
                    fields["method"],
                    fields["path"],
                    fields["operation"],
                    fields["status"],
                    fields.get("fault"),
                    fields.get("fault_type"),
                    round(fields.get("delay_ms", 0.0), 3),
                    fields.get("client_id"),
                    fields.get("bytes", 0),
                ]
            )
        )
        if not self._scheduled:
            self._scheduled = self.flush_s > 0 and _later(self.flush_s, self._flush_later)
            if not self._scheduled:
                self.flush()

    def _flush_later(self) -> None:
        self._scheduled = False
        if self.shared.store.dropped:
            return
        try:
            self.flush()
        except Exception:  # Redis down: the entries wait for the next flush
            log.warning("journal entries not written yet: the shared store is unreachable")

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            self.shared.run(self.shared.append_script, [self._list, self._total], [self.capacity, *batch])
        except Exception:
            self._pending[:0] = batch
            raise

    def _read(self) -> tuple[list[bytes], int]:
        self.flush()

        def read(c: redis.Redis) -> Any:
            pipe = c.pipeline(transaction=True)
            pipe.lrange(self._list, 0, -1)
            pipe.get(self._total)
            return pipe.execute()

        raws, total = self.shared.call(read)
        return raws, int(total or 0)

    @property
    def total(self) -> int:
        return self._read()[1]

    @total.setter
    def total(self, value: int) -> None:  # the base class's constructor sets it
        pass

    @property
    def dropped(self) -> int:
        raws, total = self._read()
        return total - len(raws)

    def query(self, **filters: Any) -> list[JournalEntry]:
        raws, total = self._read()
        first = total - len(raws) + 1
        self._entries.clear()
        for i, raw in enumerate(raws):
            self._entries.append(JournalEntry(first + i, *orjson.loads(raw)))
        return super().query(**filters)

    def read_since(self, cursor: int, limit: int) -> tuple[list[JournalEntry], int]:
        """:meth:`Journal.read_since` on the shared list: one server-side script reads only the entries
        after ``cursor`` (never the whole list); the newest number is the world's total, which starts
        from 1 again after a clear."""
        self.flush()
        try:
            total, first, raws = self.shared.run(
                self.shared.since_script, [self._list, self._total], [cursor, limit]
            )
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        entries = [JournalEntry(int(first) + i, *orjson.loads(raw)) for i, raw in enumerate(raws)]
        return entries, int(total)

    def clear(self) -> None:
        self._pending.clear()
        self.shared.call(lambda c: c.delete(self._list, self._total))
        self.epoch += 1


class SharedMetrics(Metrics):
    """Counted here as usual; each process publishes its totals, and a scrape sums every process's."""

    def __init__(self, shared: SharedControl) -> None:
        super().__init__()
        self.shared = shared
        self._mine = shared.key(f"metrics:{shared.process}")
        self._procs = shared.key("metrics:procs")
        self._scheduled = False

    def observe(self, operation: str, status: str, sent: int, delay_s: float) -> None:
        super().observe(operation, status, sent, delay_s)
        self._schedule()

    def fault_fired(self, rule: str, fault_type: str) -> None:
        super().fault_fired(rule, fault_type)
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = _later(FLUSH_S, self._flush_later)

    def _flush_later(self) -> None:
        self._scheduled = False
        if self.shared.store.dropped:
            return
        try:
            self.flush()
        except Exception:
            log.warning("metrics not published yet: the shared store is unreachable")

    def _fields(self) -> dict[str, str]:
        out: dict[str, str] = {"in_flight": str(self.in_flight)}
        for (op, status), n in list(self.requests.items()):
            out[f"r\x1f{op}\x1f{status}"] = str(n)
        for (rule, kind), n in list(self.faults.items()):
            out[f"f\x1f{rule}\x1f{kind}"] = str(n)
        for op, n in list(self.bytes_served.items()):
            out[f"b\x1f{op}"] = str(n)
        for op, seconds in list(self.delay_seconds.items()):
            out[f"d\x1f{op}"] = repr(seconds)
        return out

    def flush(self) -> None:
        fields: dict[Any, Any] = self._fields()

        def write(c: redis.Redis) -> Any:
            pipe = c.pipeline(transaction=False)
            pipe.sadd(self._procs, self.shared.process)
            pipe.hset(self._mine, mapping=fields)
            return pipe.execute()

        self.shared.call(write)

    def render(self) -> bytes:
        self.flush()

        def read(c: redis.Redis) -> Any:
            procs = sorted(p.decode() if isinstance(p, bytes) else str(p) for p in c.smembers(self._procs))
            pipe = c.pipeline(transaction=False)
            for proc in procs:
                pipe.hgetall(self.shared.key(f"metrics:{proc}"))
            return pipe.execute()

        total = Metrics()
        for fields in self.shared.call(read):
            for raw_key, raw_value in fields.items():
                key, value = raw_key.decode(), raw_value.decode()
                kind, _, rest = key.partition("\x1f")
                if key == "in_flight":
                    total.in_flight += int(value)
                elif kind == "r":
                    op, _, status = rest.partition("\x1f")
                    total.requests[(op, status)] = total.requests.get((op, status), 0) + int(value)
                elif kind == "f":
                    rule, _, fault_type = rest.partition("\x1f")
                    total.faults[(rule, fault_type)] = total.faults.get((rule, fault_type), 0) + int(value)
                elif kind == "b":
                    total.bytes_served[rest] = total.bytes_served.get(rest, 0) + int(value)
                elif kind == "d":
                    total.delay_seconds[rest] = total.delay_seconds.get(rest, 0.0) + float(value)
        registry = CollectorRegistry(auto_describe=True)
        registry.register(_Exporter(total))
        return generate_latest(registry)


__all__ = [
    "FLUSH_S",
    "REFRESH_S",
    "RuleCounter",
    "ScenarioDoc",
    "SharedControl",
    "SharedJournal",
    "SharedMetrics",
]
