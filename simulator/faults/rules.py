"""Fault rules: an ordered list, first firing rule wins, each with its own seeded random stream.

A rule is ``match`` (which requests) + triggers (when) + ``fault`` (what goes wrong)::

    - name: tasks-flaky
      match: {operation: get_task, method: GET, client_id: "123", header: {x-trace: "*"}}
      probability: 0.2        # of the matching requests that reach the triggers
      after: 3                # let the first 3 matching requests through
      every_n: 2              # then fire on every 2nd one
      times: 5                # and stop after firing 5 times
      window_s: [10, 60]      # only between 10 s and 60 s after the scenario started
      fault: {type: status, status: 503, retry_after_s: 2}

Rules are evaluated in order; a rule that matches counts the request whether or not it fires, and the
first rule that fires decides (later rules do not see the request). Each rule draws from
``random.Random(hash(seed, rule name))``, so adding a rule never shifts another rule's outcomes.

>>> rules = RuleSet.parse([{"name": "r", "match": {"operation": "login"}, "times": 1,
...                          "fault": {"type": "status", "status": 503}}], seed=1)
>>> rules.decide(RequestInfo("login", "POST", "/api/v2/session/login"), 0.0).fault.status
503
>>> rules.decide(RequestInfo("login", "POST", "/api/v2/session/login"), 0.0) is None
True
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from simulator.faults.latency import Distribution, DistributionError
from simulator.faults.spec import (
    Path,
    SpecError,
    mapping,
    read_number,
    read_optional_number,
    read_str,
    read_strings,
    type_name,
)

# Fault type -> its own fields (besides "type"). Units are in the field names.
FAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "status": ("status", "text", "retry_after_s"),
    "session_invalid": ("text",),  # 401, and the request's login session is forgotten
    "session_expired": ("text",),  # 403, and the request's login session expires: log in again, retry
    "reset": (),  # TCP RST: SO_LINGER 0 then abort
    "empty": ("status",),  # the real status, no body
    "malformed_json": (),  # the real status, the body cut mid-JSON
    "truncate": ("at_byte", "fraction"),  # full Content-Length declared, fewer bytes sent, then close
    "hang": ("max_s",),  # accept the request and never answer (until the client gives up)
    "dribble": ("chunk_bytes", "interval_ms"),  # the real answer, a few bytes at a time
    "corrupt": ("bytes",),  # flip bytes in the body (evidence zips)
    "content_type": ("content_type",),  # the real body under a wrong Content-Type
    "delay": ("latency",),  # extra latency from a distribution, then the real answer
}
WIRE_FAULTS = frozenset({"reset", "hang", "truncate", "dribble"})
# Faults that answer without running the vendor operation (it changes nothing; a session fault
# still ends the request's login session, simulator/faults/http.py end_session).
SHORT_CIRCUIT = frozenset({"status", "session_invalid", "session_expired", "reset", "hang"})
MATCH_FIELDS = ("operation", "method", "path", "path_regex", "client_id", "header")
RULE_FIELDS = ("name", "match", "probability", "after", "times", "every_n", "window_s", "fault", "enabled")


@dataclass(frozen=True)
class Fault:
    """What goes wrong; only the fields of its ``type`` are meaningful."""

    type: str
    status: int | None = None
    text: str = ""
    retry_after_s: float | None = None
    at_byte: int | None = None
    fraction: float | None = None
    max_s: float = 300.0
    chunk_bytes: int = 64
    interval_s: float = 0.05
    bytes: int = 16
    content_type: str = "text/html; charset=utf-8"
    latency: Distribution | None = None

    @property
    def is_wire(self) -> bool:
        return self.type in WIRE_FAULTS

    @classmethod
    def parse(cls, raw: Any, path: Path) -> Fault:
        if not isinstance(raw, dict):
            raise SpecError(path, f"expected a mapping with a 'type', got {type_name(raw)}")
        kind = raw.get("type")
        if kind not in FAULT_FIELDS:
            raise SpecError(
                (*path, "type"), f"unknown fault {kind!r}; expected one of {', '.join(FAULT_FIELDS)}"
            )
        body = mapping(raw, path, ("type", *FAULT_FIELDS[kind]))
        values: dict[str, Any] = {"type": kind}
        if "text" in body:
            values["text"] = read_str(body, "text", path)
        if kind == "status":
            values["status"] = int(read_number(body, "status", path, minimum=400, maximum=599, integer=True))
            values["retry_after_s"] = read_optional_number(body, "retry_after_s", path)
            if values["retry_after_s"] is None and values["status"] in (429, 503):
                values["retry_after_s"] = 1.0
        elif kind == "empty":
            values["status"] = int(read_number(body, "status", path, default=200, minimum=100, maximum=599))
        elif kind == "truncate":
            at_byte = read_optional_number(body, "at_byte", path, integer=True)
            fraction = read_optional_number(body, "fraction", path, maximum=1.0)
            if (at_byte is None) == (fraction is None):
                raise SpecError(path, "truncate needs exactly one of at_byte or fraction")
            values["at_byte"] = None if at_byte is None else int(at_byte)
            values["fraction"] = fraction
        elif kind == "hang":
            values["max_s"] = read_number(body, "max_s", path, default=300.0)
        elif kind == "dribble":
            values["chunk_bytes"] = int(
                read_number(body, "chunk_bytes", path, default=64, minimum=1, integer=True)
            )
            values["interval_s"] = read_number(body, "interval_ms", path, default=50.0) / 1000
        elif kind == "corrupt":
            values["bytes"] = int(read_number(body, "bytes", path, default=16, minimum=1, integer=True))
        elif kind == "content_type":
            values["content_type"] = read_str(body, "content_type", path, default=cls.content_type)
        elif kind == "delay":
            values["latency"] = parse_distribution(body.get("latency"), (*path, "latency"))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.text:
            out["text"] = self.text
        table: dict[str, dict[str, Any]] = {
            "status": {"status": self.status, "retry_after_s": self.retry_after_s},
            "empty": {"status": self.status},
            "truncate": {"at_byte": self.at_byte, "fraction": self.fraction},
            "hang": {"max_s": self.max_s},
            "dribble": {"chunk_bytes": self.chunk_bytes, "interval_ms": round(self.interval_s * 1000, 3)},
            "corrupt": {"bytes": self.bytes},
            "content_type": {"content_type": self.content_type},
            "delay": {"latency": self.latency.to_dict() if self.latency else None},
        }
        extra = table.get(self.type, {})
        out.update({k: v for k, v in extra.items() if v is not None})
        return out


def parse_distribution(raw: Any, path: Path, *, default_unit: str = "ms") -> Distribution:
    """A :class:`Distribution` or a :class:`SpecError` located at ``path``."""
    try:
        return Distribution.parse(raw, default_unit=default_unit)
    except DistributionError as exc:
        raise SpecError((*path, exc.field) if exc.field else path, str(exc)) from None


@dataclass(frozen=True)
class RequestInfo:
    """What rules can match on; ``client_id`` and ``headers`` are filled only when a rule needs them."""

    operation: str
    method: str
    path: str
    client_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    """Which requests a rule applies to; every given field must match (empty = any)."""

    operations: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    path: str | None = None  # a glob: "*/filedownload/data/*"
    path_regex: re.Pattern[str] | None = None
    client_ids: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # (lower-case name, glob on the value; "*" = present)

    @classmethod
    def parse(cls, raw: Any, path: Path, operations: Iterable[str] | None) -> Match:
        body = mapping(raw if raw is not None else {}, path, MATCH_FIELDS)
        ops = read_strings(body, "operation", path)
        known = tuple(operations) if operations is not None else None
        for i, op in enumerate(ops):
            if known is not None and op not in known:
                where = (
                    (*path, "operation")
                    if isinstance(body.get("operation"), str)
                    else (*path, "operation", i)
                )
                raise SpecError(where, f"unknown operation {op!r}; expected one of {', '.join(known)}")
        regex = None
        if body.get("path_regex") is not None:
            try:
                regex = re.compile(read_str(body, "path_regex", path))
            except re.error as exc:
                raise SpecError((*path, "path_regex"), f"expected a regular expression ({exc})") from None
        headers: list[tuple[str, str]] = []
        raw_headers = body.get("header") or {}
        if not isinstance(raw_headers, dict):
            raise SpecError((*path, "header"), "expected a mapping of header name to value pattern")
        for name, value in raw_headers.items():
            if not isinstance(value, str):
                raise SpecError((*path, "header", str(name)), "expected a string pattern ('*' = present)")
            headers.append((str(name).lower(), value))
        client_ids = body.get("client_id")
        if isinstance(client_ids, int) and not isinstance(client_ids, bool):
            client_ids = str(client_ids)
        return cls(
            operations=ops,
            methods=tuple(m.upper() for m in read_strings(body, "method", path)),
            path=read_str(body, "path", path) if body.get("path") is not None else None,
            path_regex=regex,
            client_ids=read_strings({"client_id": client_ids}, "client_id", path),
            headers=tuple(headers),
        )

    @property
    def needs_client_id(self) -> bool:
        return bool(self.client_ids)

    def matches(self, req: RequestInfo) -> bool:
        if self.operations and req.operation not in self.operations:
            return False
        if self.methods and req.method not in self.methods:
            return False
        if self.path is not None and not fnmatch.fnmatchcase(req.path, self.path):
            return False
        if self.path_regex is not None and not self.path_regex.search(req.path):
            return False
        if self.client_ids and req.client_id not in self.client_ids:
            return False
        for name, pattern in self.headers:
            value = req.headers.get(name)
            if value is None or not fnmatch.fnmatchcase(value, pattern):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.operations:
            out["operation"] = list(self.operations)
        if self.methods:
            out["method"] = list(self.methods)
        if self.path is not None:
            out["path"] = self.path
        if self.path_regex is not None:
            out["path_regex"] = self.path_regex.pattern
        if self.client_ids:
            out["client_id"] = list(self.client_ids)
        if self.headers:
            out["header"] = dict(self.headers)
        return out


@dataclass(frozen=True)
class FaultRule:
    """One rule as declared (immutable); its counters and random stream live in :class:`RuleState`."""

    name: str
    match: Match
    fault: Fault
    probability: float = 1.0
    after: int = 0
    times: int | None = None
    every_n: int = 1
    window_s: tuple[float, float] | None = None
    enabled: bool = True

    @classmethod
    def parse(cls, raw: Any, path: Path, operations: Iterable[str] | None = None) -> FaultRule:
        body = mapping(raw, path, RULE_FIELDS)
        window = body.get("window_s")
        parsed_window: tuple[float, float] | None = None
        if window is not None:
            if isinstance(window, dict):
                window = [window.get("start", 0), window.get("end", float("inf"))]
            if (
                not isinstance(window, list)
                or len(window) != 2
                or not all(isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in window)
                or window[1] < window[0]
            ):
                raise SpecError((*path, "window_s"), "expected [start_s, end_s] with 0 <= start_s <= end_s")
            parsed_window = (float(window[0]), float(window[1]))
        times = read_optional_number(body, "times", path, minimum=1, integer=True)
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise SpecError((*path, "enabled"), "expected true or false")
        if "fault" not in body:
            raise SpecError((*path, "fault"), "is required: a mapping with a 'type'")
        return cls(
            name=read_str(body, "name", path),
            match=Match.parse(body.get("match"), (*path, "match"), operations),
            fault=Fault.parse(body["fault"], (*path, "fault")),
            probability=read_number(body, "probability", path, default=1.0, maximum=1.0),
            after=int(read_number(body, "after", path, default=0, integer=True)),
            times=None if times is None else int(times),
            every_n=int(read_number(body, "every_n", path, default=1, minimum=1, integer=True)),
            window_s=parsed_window,
            enabled=enabled,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "match": self.match.to_dict(),
            "fault": self.fault.to_dict(),
        }
        if self.probability != 1.0:
            out["probability"] = self.probability
        if self.after:
            out["after"] = self.after
        if self.times is not None:
            out["times"] = self.times
        if self.every_n != 1:
            out["every_n"] = self.every_n
        if self.window_s is not None:
            out["window_s"] = list(self.window_s)
        if not self.enabled:
            out["enabled"] = False
        return out


class SharedCounter(Protocol):
    """A rule's counters kept outside this process (several simulator processes on one Redis)."""

    def consider(self, rule: FaultRule, rng: random.Random) -> bool: ...

    def counts(self) -> tuple[int, int]: ...

    def forget(self) -> None: ...


class RuleState:
    """A rule's live counters and its own random stream.

    With a ``counter`` (a shared store), matching requests are counted there, over every process, and
    the counter decides ``after``, ``every_n`` and ``times`` in one atomic step.
    """

    def __init__(self, rule: FaultRule, rng: random.Random, counter: SharedCounter | None = None) -> None:
        self.rule = rule
        self.rng = rng
        self.counter = counter
        self._matched = 0
        self._fired = 0

    @property
    def matched(self) -> int:
        return self.counter.counts()[0] if self.counter is not None else self._matched

    @property
    def fired(self) -> int:
        return self.counter.counts()[1] if self.counter is not None else self._fired

    def consider(self, req: RequestInfo, elapsed_s: float) -> bool:
        """Count ``req`` if it matches and say whether the rule fires for it."""
        rule = self.rule
        if not rule.enabled or not rule.match.matches(req):
            return False
        if rule.window_s is not None and not rule.window_s[0] <= elapsed_s < rule.window_s[1]:
            return False
        if self.counter is not None:
            return self.counter.consider(rule, self.rng)
        self._matched += 1
        if rule.times is not None and self._fired >= rule.times:
            return False
        position = self._matched - rule.after
        if position <= 0 or position % rule.every_n:
            return False
        # Draw only when everything else allows firing, so counters alone decide the draw sequence.
        if rule.probability < 1.0 and self.rng.random() >= rule.probability:
            return False
        self._fired += 1
        return True

    def to_dict(self) -> dict[str, Any]:
        matched, fired = self.counter.counts() if self.counter is not None else (self._matched, self._fired)
        return {**self.rule.to_dict(), "matched": matched, "fired": fired}


@dataclass(frozen=True)
class Firing:
    """A rule that fired for one request: the fault to apply and the rule's stream for its details."""

    rule: str
    fault: Fault
    rng: random.Random


class RuleSet:
    """The live, ordered rule list of a running scenario (rules can be added and removed at run time)."""

    def __init__(
        self,
        rules: Iterable[FaultRule],
        *,
        seed: int,
        rng_for: RngFactory | None = None,
        counter_for: Callable[[str], SharedCounter] | None = None,
    ) -> None:
        self.seed = seed
        self._rng_for: RngFactory = rng_for or (lambda name: rule_rng(seed, name))
        self._counter_for = counter_for
        self.states: list[RuleState] = []
        for rule in rules:
            self.add(rule)

    @classmethod
    def parse(cls, raw: list[Any], *, seed: int, operations: Iterable[str] | None = None) -> RuleSet:
        return cls([FaultRule.parse(r, ("faults", i), operations) for i, r in enumerate(raw)], seed=seed)

    @property
    def needs_client_id(self) -> bool:
        return any(s.rule.match.needs_client_id for s in self.states)

    @property
    def needs_headers(self) -> bool:
        return any(s.rule.match.headers for s in self.states)

    def __len__(self) -> int:
        return len(self.states)

    def names(self) -> list[str]:
        return [s.rule.name for s in self.states]

    def add(self, rule: FaultRule, position: int | None = None) -> None:
        if rule.name in self.names():
            raise SpecError(("name",), f"a rule named {rule.name!r} already exists; pick another name")
        counter = self._counter_for(rule.name) if self._counter_for is not None else None
        state = RuleState(rule, self._rng_for(rule.name), counter)
        if position is None:
            self.states.append(state)
        else:
            self.states.insert(position, state)

    def remove(self, name: str) -> bool:
        gone = [s for s in self.states if s.rule.name == name]
        self.states = [s for s in self.states if s.rule.name != name]
        for state in gone:
            if state.counter is not None:
                state.counter.forget()
        return bool(gone)

    def attach_counters(self, counter_for: Callable[[str], SharedCounter]) -> None:
        """Count every rule in shared counters from now on (a fresh epoch: they start at zero)."""
        self._counter_for = counter_for
        for state in self.states:
            state.counter = counter_for(state.rule.name)

    def decide(self, req: RequestInfo, elapsed_s: float) -> Firing | None:
        for state in self.states:
            if state.consider(req, elapsed_s):
                return Firing(state.rule.name, state.rule.fault, state.rng)
        return None

    def to_list(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.states]


RngFactory = Callable[[str], random.Random]


def rule_rng(seed: int, name: str) -> random.Random:
    """The rule's own stream: a function of (seed, rule name) only."""
    from simulator.state.fleet import stable_hash

    return random.Random(stable_hash(seed, "fault-rule", name))


__all__ = [
    "FAULT_FIELDS",
    "SHORT_CIRCUIT",
    "WIRE_FAULTS",
    "Fault",
    "FaultRule",
    "Firing",
    "Match",
    "RequestInfo",
    "RuleSet",
    "RuleState",
    "parse_distribution",
    "rule_rng",
]
