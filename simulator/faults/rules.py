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
import functools
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from simulator.faults.fields import (
    Boolean,
    Delay,
    Errors,
    Field,
    ListOf,
    MapOf,
    Number,
    Record,
    Rule,
    Schema,
    Tagged,
    Text,
    Texts,
    Window,
    value_of,
)
from simulator.faults.latency import Distribution, DistributionError
from simulator.faults.spec import Path, SpecError, raise_errors

WIRE_FAULTS = frozenset({"reset", "hang", "truncate", "dribble"})
# Faults that answer without running the vendor operation (it changes nothing; a session fault
# still ends the request's login session, simulator/faults/http.py end_session).
SHORT_CIRCUIT = frozenset({"status", "session_invalid", "session_expired", "reset", "hang"})


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
        """A fault from its mapping; a :class:`SpecError` (every problem at once) when invalid."""
        raise_errors(FAULT.problems(raw, path))
        return cls.build(raw)

    @classmethod
    def build(cls, body: dict[str, Any]) -> Fault:
        """A fault from a mapping :data:`FAULT` accepts (absent fields take the table's defaults)."""
        kind = body["type"]
        table = FAULT.variants[kind]

        def get(key: str) -> Any:
            return value_of(table, body, key)

        values: dict[str, Any] = {"type": kind}
        if body.get("text") is not None:
            values["text"] = body["text"]
        if kind == "status":
            values["status"] = int(body["status"])
            retry = get("retry_after_s")
            if retry is None and values["status"] in (429, 503):
                retry = 1.0
            values["retry_after_s"] = None if retry is None else float(retry)
        elif kind == "empty":
            values["status"] = int(get("status"))
        elif kind == "truncate":
            values["at_byte"] = None if body.get("at_byte") is None else int(body["at_byte"])
            values["fraction"] = None if body.get("fraction") is None else float(body["fraction"])
        elif kind == "hang":
            values["max_s"] = float(get("max_s"))
        elif kind == "dribble":
            values["chunk_bytes"] = int(get("chunk_bytes"))
            values["interval_s"] = float(get("interval_ms")) / 1000
        elif kind == "corrupt":
            values["bytes"] = int(get("bytes"))
        elif kind == "content_type":
            values["content_type"] = get("content_type")
        elif kind == "delay":
            values["latency"] = Distribution.parse(body["latency"])
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


def _one_size(raw: Any, path: Path) -> Errors:
    if not isinstance(raw, dict) or ("at_byte" in raw) != ("fraction" in raw):
        return []
    return [SpecError(path, "truncate needs exactly one of at_byte or fraction")]


def _regex(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"expected a regular expression ({exc})"
    return None


def _unique_names(raw: Any, path: Path) -> Errors:
    seen: set[str] = set()
    errors: Errors = []
    for i, rule in enumerate(raw):
        name = rule.get("name") if isinstance(rule, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            errors.append(
                SpecError((*path, i, "name"), f"duplicate rule name {name!r}; names must be unique")
            )
        seen.add(name)
    return errors


_TEXT = Text(
    doc='the detail after the status in the vendor body {"text": "503 Service Unavailable: DETAIL"} '
    '(default: "injected by the scenario"; "invalid session" or "session expired" for the session faults)'
)
_KIND = "the fault type; it decides which other fields the fault takes"


def _fault(
    doc: str,
    *,
    required: tuple[str, ...] = (),
    rules: tuple[Rule, ...] = (),
    extra: Schema | None = None,
    **fields: Field,
) -> Record:
    fields = {"type": Text(doc=_KIND), **fields}
    return Record(doc=doc, fields=fields, required=required, rules=rules, extra=extra or {})


# The fault types and their fields (units are in the field names): the table the loader checks a
# rule's ``fault`` against and the scenario schema is generated from.
FAULT = Tagged(
    doc="what goes wrong when the rule fires; `type` picks the fault and with it the other fields",
    noun="fault",
    variants={
        "status": _fault(
            "answer with an error status instead of running the operation",
            required=("status",),
            status=Number(doc="the HTTP status (4xx or 5xx)", minimum=400, maximum=599, integer=True),
            text=_TEXT,
            retry_after_s=Number(
                doc="the Retry-After header in seconds (default 1 for 429 and 503, else none)",
                nullable=True,
            ),
        ),
        "session_invalid": _fault("401: the request's login session is forgotten", text=_TEXT),
        "session_expired": _fault(
            "403: the request's login session expires (log in again, then retry)", text=_TEXT
        ),
        "reset": _fault("a TCP reset instead of an answer (SO_LINGER 0, then abort)"),
        "empty": _fault(
            "the real status with an empty body",
            status=Number(doc="the status to send", minimum=100, maximum=599, integer=True, default=200),
        ),
        "malformed_json": _fault("the real status, the JSON body cut short"),
        "truncate": _fault(
            "the full Content-Length declared, fewer bytes sent, then the connection closed "
            "(the operation has run); give exactly one of at_byte or fraction",
            rules=(_one_size,),
            extra={"oneOf": [{"required": ["at_byte"]}, {"required": ["fraction"]}]},
            at_byte=Number(doc="bytes of the body sent before the close", integer=True),
            fraction=Number(doc="the share of the body sent before the close", maximum=1.0),
        ),
        "hang": _fault(
            "accept the request and never answer, until the client gives up (or max_s passes)",
            max_s=Number(doc="seconds after which the connection is closed", default=Fault.max_s),
        ),
        "dribble": _fault(
            "the real answer, a few bytes at a time",
            chunk_bytes=Number(doc="bytes per write", minimum=1, integer=True, default=Fault.chunk_bytes),
            interval_ms=Number(doc="milliseconds between writes", default=Fault.interval_s * 1000),
        ),
        "corrupt": _fault(
            "flip bytes in the body (an evidence zip fails its checks)",
            bytes=Number(doc="how many bytes are flipped", minimum=1, integer=True, default=Fault.bytes),
        ),
        "content_type": _fault(
            "the real body under a wrong Content-Type",
            content_type=Text(doc="the Content-Type to send", default=Fault.content_type),
        ),
        "delay": _fault(
            "extra latency before the real answer",
            required=("latency",),
            latency=Delay(doc="the extra delay (a bare number is milliseconds)"),
        ),
    },
)
FAULT_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(k for k in variant.fields if k != "type") for kind, variant in FAULT.variants.items()
}


@functools.cache
def match_format(operations: tuple[str, ...] | None) -> Record:
    """The table of a rule's ``match``; ``operations``: what ``operation`` may name (``None``: any)."""
    return Record(
        doc="which requests the rule applies to; every field given must match (none: every request)",
        nullable=True,
        fields={
            "operation": Texts(
                doc="operation name(s), as in GET /_sim/requests",
                enum=operations,
                noun="operation",
                nullable=True,
            ),
            "method": Texts(doc="HTTP method(s), any case", nullable=True),
            "path": Text(doc='a glob on the request path: "*/filedownload/data/*"', nullable=True),
            "path_regex": Text(doc="a regular expression searched in the path", nullable=True, rule=_regex),
            "client_id": Texts(
                doc="endpoint client id(s) the request is about", integers=True, nullable=True
            ),
            "header": MapOf(
                doc='request header name -> glob on its value ("*": the header is present)',
                value=Text(min_length=0, what="a string pattern ('*' = present)"),
                what="a mapping of header name to value pattern",
                nullable=True,
            ),
        },
    )


@functools.cache
def rule_format(operations: tuple[str, ...] | None) -> Record:
    """The table of one fault rule; ``operations``: what ``match.operation`` may name (``None``: any)."""
    return Record(
        doc="one fault rule: which requests (match), when (the triggers), and what goes wrong (fault)",
        required=("name", "fault"),
        fields={
            "name": Text(
                doc="the rule's name, unique in the scenario (it also seeds the rule's random stream)"
            ),
            "match": match_format(operations),
            "probability": Number(
                doc="the chance the rule fires on a request that reaches it", maximum=1.0, default=1.0
            ),
            "after": Number(doc="let this many matching requests through first", integer=True, default=0),
            "times": Number(
                doc="stop after firing this many times (none: no limit)",
                minimum=1,
                integer=True,
                nullable=True,
            ),
            "every_n": Number(doc="fire on every n-th matching request", minimum=1, integer=True, default=1),
            "window_s": Window(
                doc="only between start_s and end_s seconds after the scenario started", nullable=True
            ),
            "fault": FAULT,
            "enabled": Boolean(doc="false keeps the rule listed but never firing", default=True),
        },
    )


def rules_format(operations: tuple[str, ...] | None) -> ListOf:
    """The table of a scenario's ``faults`` list: rules with unique names."""
    return ListOf(
        doc="fault rules, in order: the first rule that fires decides; a rule that matches counts the "
        "request whether or not it fires",
        item=rule_format(operations),
        rules=(_unique_names,),
        what="a list of rules",
        nullable=True,
    )


RULE_FIELDS = tuple(rule_format(None).fields)
MATCH_FIELDS = tuple(match_format(None).fields)


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
        """A match from its mapping (``None``: any request); a :class:`SpecError` when invalid."""
        known = tuple(operations) if operations is not None else None
        raise_errors(match_format(known).problems(raw, path))
        return cls.build(raw)

    @classmethod
    def build(cls, body: dict[str, Any] | None) -> Match:
        """A match from a mapping the table accepts."""
        body = body or {}

        def strings(key: str) -> tuple[str, ...]:
            value = body.get(key)
            if value is None:
                return ()
            return tuple(str(v) for v in (value if isinstance(value, list) else [value]))

        regex = body.get("path_regex")
        return cls(
            operations=strings("operation"),
            methods=tuple(m.upper() for m in strings("method")),
            path=body.get("path"),
            path_regex=None if regex is None else re.compile(regex),
            client_ids=strings("client_id"),
            headers=tuple((str(k).lower(), v) for k, v in (body.get("header") or {}).items()),
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
        """A rule from its mapping; a :class:`SpecError` naming every problem when invalid.

        ``operations``: the names ``match.operation`` may use (``None``: any).
        """
        known = tuple(operations) if operations is not None else None
        raise_errors(rule_format(known).problems(raw, path))
        return cls.build(raw)

    @classmethod
    def build(cls, body: dict[str, Any]) -> FaultRule:
        """A rule from a mapping :func:`rule_format` accepts (absent fields take the table's defaults)."""
        table = rule_format(None)

        def get(key: str) -> Any:
            return value_of(table, body, key)

        window = body.get("window_s")
        if isinstance(window, dict):
            window = [window.get("start", 0), window.get("end", float("inf"))]
        return cls(
            name=body["name"],
            match=Match.build(body.get("match")),
            fault=Fault.build(body["fault"]),
            probability=float(get("probability")),
            after=int(get("after")),
            times=None if body.get("times") is None else int(body["times"]),
            every_n=int(get("every_n")),
            window_s=None if window is None else (float(window[0]), float(window[1])),
            enabled=bool(get("enabled")),
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
        known = tuple(operations) if operations is not None else None
        raise_errors(rules_format(known).problems(raw, ("faults",)))
        return cls([FaultRule.build(r) for r in raw], seed=seed)

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
    "FAULT",
    "FAULT_FIELDS",
    "MATCH_FIELDS",
    "RULE_FIELDS",
    "SHORT_CIRCUIT",
    "WIRE_FAULTS",
    "Fault",
    "FaultRule",
    "Firing",
    "Match",
    "RequestInfo",
    "RuleSet",
    "RuleState",
    "match_format",
    "parse_distribution",
    "rule_format",
    "rule_rng",
    "rules_format",
]
