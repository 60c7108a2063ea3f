"""Scenarios: one YAML (or JSON) file declaring latency, bandwidth, lifecycles, fleet and fault rules.

A scenario is validated completely when loaded; a mistake is a :class:`ScenarioError` naming the file,
the line, the field and what was expected (``scenarios/x.yaml:12: faults[0].probability: expected a
number <= 1, got 1.5``). Lines come from PyYAML's composed node marks; JSON is parsed by YAML's
composer for the marks too (JSON is YAML), and by :mod:`json` for the values.

Schema in brief (every section optional; units are in field names)::

    # One sentence: the situation simulated and the client behaviour it tests.
    seed: 7
    latency:   {default: {model: lognormal, median_ms: 40, sigma: 0.5},
                operations: {download_evidence: {model: fixed, ms: 200}}}
    bandwidth: {bytes_per_s: 250000, per_connection: true, chunk_bytes: 16384}
    lifecycle: {connect_delay: {model: uniform, min_s: 1, max_s: 4}, offline_fraction: 0.2,
                offline_timeout_s: 30, idle_timeout_s: 600, task_duration: {median_s: 20, ...},
                task_polls: 0, intermediate_statuses: [QUEUED, RUNNING],
                task_outcomes: {COMPLETED: 8, INCOMPLETE: 1, ERROR: 1}, missing_trace_fraction: 0.1,
                missing_path_status: ERROR, session_lifetime_s: 300}
    fleet:     {endpoints: 25, linux_fraction: 0.7, profile_mix: {small: 5, medium: 4, large: 1}}
    scans:     {interval_s: 86400, churn: {renew_in_place: 0.05, new_artifacts: 0.03, remove_key: 0.02,
                move_file: 0.01, pgp_new_uid: 0.05, pgp_revoked: 0.02}}   # churn rates per scan; or none
    faults:    [ {name, match, probability, after, times, every_n, window_s, fault}, ... ]
    expect:    {default: success}   # or a failure reason, or a list of acceptable outcomes

The format is data (:data:`SCENARIO_FORMAT`, the field tables of :mod:`simulator.faults.fields`): the
loader checks input against it, reporting every problem at once, and :func:`scenario_schema` turns it
into the JSON Schema ``tanium-sim scenario schema`` prints (``scenarios/scenario.schema.json``).

>>> scenario = Scenario.from_text("seed: 3\\nlatency: {default: 50}\\n", source="inline.yaml")
>>> scenario.seed, scenario.latency_default.median
(3, 0.05)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from simulator.faults.fields import (
    Boolean,
    Const,
    Delay,
    Either,
    MapOf,
    Number,
    Record,
    Schema,
    Text,
    Texts,
    Weights,
    json_schema,
    value_of,
)
from simulator.faults.latency import ZERO, Distribution
from simulator.faults.rules import FaultRule, rules_format
from simulator.faults.spec import SpecError, dotted, joined, raise_errors
from simulator.operations import VENDOR_OPERATIONS
from simulator.settings import Settings
from simulator.traces.profiles import PROFILES
from simulator.traces.spec import ChurnRates


def _scenario_dir() -> Path:
    """``scenarios/`` of a checkout (or an editable install), else the copy a wheel ships in the package."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "scenarios"
    return checkout if checkout.is_dir() else here / "_scenarios"


SCENARIO_DIR = _scenario_dir()
DEFAULT_SCENARIO = "baseline"
SUFFIXES = (".yaml", ".yml", ".json")
# The JSON Schema of the format, beside the named scenarios (``tanium-sim scenario schema`` writes it);
# never a scenario itself, though it ends in .json.
SCHEMA_FILE = "scenario.schema.json"
# A scenario file may open with this comment to point an editor at the schema; it is no description.
SCHEMA_MODELINE = "# yaml-language-server: $schema=./scenario.schema.json"
OUTCOMES = ("COMPLETED", "INCOMPLETE", "ERROR")
CHURN_FIELDS = tuple(f.name for f in fields(ChurnRates))
# A scenario nests five levels at most (faults[0].fault.headers); PyYAML's composer and json recurse once
# per level, so a body nested 20,000 deep would exhaust the interpreter's stack long before validation.
MAX_DEPTH = 32
MAX_BYTES = 1 << 20
# What ``PUT /_sim/scenario?name=`` accepts: a plain file name, never a path.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class _TooDeep(Exception):
    """Nesting past :data:`MAX_DEPTH`, at a 1-based line."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than :data:`MAX_DEPTH` before recursing into it."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:  # block nesting (indentation, "- - -")
                raise _TooDeep(self.get_mark().line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def fetch_flow_collection_start(self, token_class: type[yaml.Token]) -> None:
        # Flow nesting ("[[[", "{{{", all of JSON) is refused by the scanner, which otherwise spends
        # time quadratic in the depth on its look-ahead before the composer sees the first node.
        if self.flow_level >= MAX_DEPTH:
            raise _TooDeep(self.get_mark().line + 1)
        super().fetch_flow_collection_start(token_class)


class ScenarioError(ValueError):
    """A scenario that cannot be used: where (file, line, field) and what was expected.

    One error stands for every problem found in the input: ``errors`` lists them (itself when there is
    one); ``source``, ``line``, ``field`` and ``message`` are the first's, and the text joins them all.
    ``problem`` and ``allowed`` split ``message`` into what is wrong and the values that would do;
    ``column`` is set for syntax errors.
    """

    def __init__(
        self,
        source: str,
        line: int | None,
        field: str,
        message: str,
        *,
        column: int | None = None,
        problem: str | None = None,
        allowed: tuple[str, ...] = (),
    ) -> None:
        self.source, self.line, self.field, self.message = source, line, field, message
        self.column = column
        self.problem = message if problem is None else problem
        self.allowed = allowed
        self.errors: tuple[ScenarioError, ...] = (self,)
        super().__init__(f"{self.where}: {field}: {message}" if field else f"{self.where}: {message}")

    @property
    def where(self) -> str:
        """``FILE:LINE`` (``FILE:LINE:COLUMN`` for a syntax error; ``FILE`` when the line is unknown)."""
        return self.source + "".join(f":{n}" for n in ((self.line, self.column) if self.line else ()) if n)

    @classmethod
    def of(cls, errors: list[ScenarioError]) -> ScenarioError:
        """One error standing for ``errors`` (in order); its text joins theirs."""
        first = errors[0]
        if len(errors) == 1:
            return first
        out = cls(first.source, first.line, first.field, first.message, column=first.column)
        out.problem, out.allowed, out.errors = first.problem, first.allowed, tuple(errors)
        out.args = (joined([str(e) for e in errors]),)
        return out

    def lines(self) -> list[str]:
        """Each problem as ``FILE:LINE[:COLUMN]: path.to.field: what is wrong (allowed: ...)``."""
        out = []
        for e in self.errors:
            what = f"{e.problem} (allowed: {', '.join(e.allowed)})" if e.allowed else e.problem
            out.append(f"{e.where}: {e.field}: {what}" if e.field else f"{e.where}: {what}")
        return out


@dataclass(frozen=True)
class Bandwidth:
    """Evidence download throttle: ``bytes_per_s`` shared by all downloads, or per connection."""

    bytes_per_s: float | None = None
    per_connection: bool = False
    chunk_bytes: int = 16_384

    def to_dict(self) -> dict[str, Any]:
        return {
            "bytes_per_s": self.bytes_per_s,
            "per_connection": self.per_connection,
            "chunk_bytes": self.chunk_bytes,
        }


# -- the format: the tables the loader checks input against and `scenario schema` prints -------------
MIN_SCAN_INTERVAL_S = 60.0


def _scan_interval(interval: float) -> str | None:
    # Scan n is built from scan n - 1 (a chain): a sub-minute period would make hours of serving
    # cost thousands of churn steps per trace. Real scanners run hourly to daily.
    if 0 < interval < MIN_SCAN_INTERVAL_S:
        return (
            f"expected 0 (scans on demand only) or at least {MIN_SCAN_INTERVAL_S:g} seconds, got {interval:g}"
        )
    return None


CHURN_DOCS = {
    "renew_in_place": "the chance each leaf certificate issued by a seed intermediate is renewed in place",
    "new_artifacts": "new artifact files per existing non-root file (up to 10)",
    "remove_key": "the chance each key record (private, public, SSH) is removed",
    "move_file": "the chance each non-root file moves",
    "pgp_new_uid": "the chance each PGP key gains a User ID",
    "pgp_revoked": "the chance each PGP key not yet revoked is revoked",
}
LATENCY = Record(
    doc="delay added before each answer, per operation",
    nullable=True,
    example={"default": {"model": "lognormal", "median_ms": 40, "sigma": 0.5}},
    fields={
        "default": Delay(doc="every operation's delay unless `operations` names it (a number: milliseconds)"),
        "operations": MapOf(
            doc="operation name -> its own delay (names as in GET /_sim/requests)",
            value=Delay(),
            keys=VENDOR_OPERATIONS,
            noun="operation",
            what="a mapping of operation name to distribution",
            nullable=True,
        ),
    },
)
BANDWIDTH = Record(
    doc="the evidence download throttle",
    nullable=True,
    example={"bytes_per_s": 250000, "per_connection": True},
    fields={
        "bytes_per_s": Number(
            doc="bytes per second for evidence downloads (none: no throttle)", minimum=1, nullable=True
        ),
        "per_connection": Boolean(
            doc="true: each download gets bytes_per_s; false: all downloads share it", default=False
        ),
        "chunk_bytes": Number(
            doc="bytes per write while throttled", minimum=1, integer=True, default=Bandwidth.chunk_bytes
        ),
    },
)
LIFECYCLE = Record(
    doc="how long things take in the simulated world, and how often they go wrong (the server's defaults "
    "for what is not given)",
    nullable=True,
    example={"connect_delay": {"model": "uniform", "min_s": 1, "max_s": 4}, "offline_fraction": 0.2},
    fields={
        "connect_delay": Delay(doc="time from a connect to connected (a number: seconds)", unit="s"),
        "offline_fraction": Number(doc="the share of endpoints that never answer a connect", maximum=1.0),
        "offline_timeout_s": Number(doc="seconds before a connect to an offline endpoint turns to timeout"),
        "idle_timeout_s": Number(doc="seconds a connected, unused connection lives"),
        "task_duration": Delay(
            doc="time a file task takes from STARTED to its outcome (a number: seconds)", unit="s"
        ),
        "task_polls": Number(
            doc="more than 0: a task ends on its n-th status poll, whatever the time", integer=True
        ),
        "intermediate_statuses": Texts(
            doc="statuses a task shows in turn between STARTED and its outcome",
            exclude=(*OUTCOMES, "STARTED"),
            exclude_problem="expected a non-terminal status other than STARTED",
            nullable=True,
        ),
        "task_outcomes": Weights(doc="weights of a file task's outcome", keys=OUTCOMES),
        "missing_trace_fraction": Number(
            doc="the share of endpoints whose scanner wrote no trace", maximum=1.0
        ),
        "missing_path_status": Text(
            doc="the task status for a path that does not exist", enum=("ERROR", "INCOMPLETE"), noun="status"
        ),
        "session_lifetime_s": Number(doc="seconds a login session lives", minimum=0.001, nullable=True),
    },
)
FLEET = Record(
    doc="the simulated endpoints",
    nullable=True,
    example={"endpoints": 25, "linux_fraction": 0.7, "profile_mix": {"small": 5, "medium": 4, "large": 1}},
    fields={
        "endpoints": Number(doc="how many endpoints", integer=True, maximum=10_000_000),
        "linux_fraction": Number(
            doc="the share of endpoints running Linux (the rest run Windows)", maximum=1.0
        ),
        "profile_mix": Weights(doc="weights of the trace size profiles", keys=tuple(PROFILES)),
    },
)
SCANS = Record(
    doc="scans over time: each endpoint's scanner runs on a schedule and its trace changes between scans",
    nullable=True,
    example={"interval_s": 86400, "churn": {"move_file": 0.01}},
    fields={
        "interval_s": Number(
            doc="seconds between an endpoint's scheduled scans: 0 (scans on demand only) or at least 60",
            rule=_scan_interval,
            extra={"anyOf": [{"const": 0}, {"minimum": MIN_SCAN_INTERVAL_S}]},
        ),
        "churn": Either(
            doc="what changes from one scan to the next: rates per scan by name (the others keep the "
            "server's), or none (every rate 0)",
            what="a mapping of churn rate to a number per scan, or none",
            options=(
                (str, Const(value="none", what="none")),
                (
                    dict,
                    Record(
                        fields={
                            # new_artifacts counts new files per existing file; the others are probabilities.
                            name: Number(
                                doc=CHURN_DOCS.get(name, ""),
                                maximum=10.0 if name == "new_artifacts" else 1.0,
                                default=getattr(ChurnRates(), name),
                            )
                            for name in CHURN_FIELDS
                        }
                    ),
                ),
            ),
        ),
    },
)
EXPECT = MapOf(
    doc="what each endpoint's collection may end as, per endpoint class (default, offline, missing_trace): "
    "success or a typed client error's reason, or a list of them (checked by tanium-sim qa)",
    value=Texts(what="an outcome name or a list of them", non_empty=True),
    min_items=1,
    what="a mapping such as {default: success}",
    nullable=True,
    example={"default": "success", "offline": "connection_timeout"},
)
# The whole format, section by section (every section optional).
SCENARIO_FORMAT = Record(
    doc="a tanium-sim scenario: latency, bandwidth, lifecycles, fleet, scans, fault rules and "
    "expected outcomes",
    nullable=True,
    fields={
        "name": Text(doc="the scenario's name (default: the file name without its suffix)", nullable=True),
        "seed": Number(
            doc="the seed of every random choice; the same seed replays the same run (default: the server's)",
            minimum=None,
            integer=True,
            nullable=True,
        ),
        "latency": LATENCY,
        "bandwidth": BANDWIDTH,
        "lifecycle": LIFECYCLE,
        "fleet": FLEET,
        "scans": SCANS,
        "faults": rules_format(VENDOR_OPERATIONS),
        "expect": EXPECT,
    },
)
SECTIONS = tuple(SCENARIO_FORMAT.fields)
LIFECYCLE_FIELDS = tuple(LIFECYCLE.fields)


def scenario_schema() -> Schema:
    """The JSON Schema (draft 2020-12) of a scenario file, generated from :data:`SCENARIO_FORMAT`.

    >>> schema = scenario_schema()
    >>> schema["$schema"], sorted(schema["properties"]) == sorted(SECTIONS)
    ('https://json-schema.org/draft/2020-12/schema', True)
    """
    return json_schema(
        SCENARIO_FORMAT,
        title="tanium-sim scenario",
        description="A tanium-sim scenario file (YAML or JSON). Generated by `tanium-sim scenario schema`; "
        "see docs/scenarios.md.",
    )


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. Build with :meth:`load`, :meth:`from_text` or :meth:`from_data`."""

    name: str = DEFAULT_SCENARIO
    description: str = ""
    source: str = "<default>"
    seed: int | None = None
    latency_default: Distribution = ZERO
    latency_operations: dict[str, Distribution] = field(default_factory=dict)
    bandwidth: Bandwidth = field(default_factory=Bandwidth)
    lifecycle: dict[str, Any] = field(default_factory=dict)  # Lifecycle field -> value
    session_lifetime_s: float | None = None
    fleet: dict[str, Any] = field(default_factory=dict)  # endpoints, linux_fraction, profile_mix
    scans: dict[str, Any] = field(default_factory=dict)  # scan_interval_s, churn (rate name -> value)
    faults: tuple[FaultRule, ...] = ()
    expect: dict[str, Any] = field(default_factory=lambda: {"default": "success"})
    raw: dict[str, Any] = field(default_factory=dict)

    # -- loading --------------------------------------------------------------------------------
    @classmethod
    def load(cls, name_or_path: str | Path, *, directory: Path = SCENARIO_DIR) -> Scenario:
        """A named scenario (``"flaky-5xx"`` -> ``scenarios/flaky-5xx.yaml``) or a file path."""
        path = resolve(name_or_path, directory=directory)
        try:
            with path.open("rb") as file:
                raw = file.read(MAX_BYTES + 1)
        except OSError as exc:
            raise ScenarioError(str(path), None, "", f"cannot read the file ({exc.strerror})") from None
        if len(raw) > MAX_BYTES:
            raise ScenarioError(str(path), None, "", f"larger than {MAX_BYTES} bytes; is it a scenario?")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ScenarioError(str(path), None, "", "not UTF-8 text; is it a scenario?") from None
        return cls.from_text(text, source=str(path), name=path.stem)

    @classmethod
    def load_named(cls, name: str, *, directory: Path = SCENARIO_DIR) -> Scenario:
        """A scenario by name only, from a file inside ``directory`` (see :func:`resolve_name`).

        >>> Scenario.load_named("flaky-5xx").name
        'flaky-5xx'
        """
        return cls.load(resolve_name(name, directory=directory), directory=directory)

    @classmethod
    def from_text(cls, text: str, *, source: str = "<text>", name: str | None = None) -> Scenario:
        """Parse YAML or JSON text; the error names ``source``, the line and the field of every problem.

        A ``.json`` source, or text opening with ``{`` from a source without a YAML suffix (a ``PUT``
        body), is read as JSON: a syntax error has JSON's line and column.
        """
        root, data = _parse(text, source)
        if data is None:
            data = {}
        try:
            return cls.from_data(data, source=source, name=name, description=leading_comment(text))
        except SpecError as exc:
            errors = [
                ScenarioError(
                    source,
                    line_of(root, e.path),
                    dotted(e.path),
                    e.message,
                    problem=e.problem,
                    allowed=e.allowed,
                )
                for e in exc.errors
            ]
            errors.sort(key=lambda e: e.line or 0)  # stable: document order, fields before their rules
            raise ScenarioError.of(errors) from None

    @classmethod
    def from_data(
        cls, data: Any, *, source: str = "<data>", name: str | None = None, description: str = ""
    ) -> Scenario:
        """Validate already-parsed data against :data:`SCENARIO_FORMAT` (raises :class:`SpecError` with
        the field path; :class:`~simulator.faults.spec.SpecErrors` when there are several)."""
        raise_errors(SCENARIO_FORMAT.problems(data))
        body: dict[str, Any] = data or {}
        latency_default, latency_ops = _latency(body.get("latency"))
        lifecycle, session_lifetime = _lifecycle(body.get("lifecycle"))
        seed = body.get("seed")
        return cls(
            name=body.get("name") or name or "scenario",
            description=description,
            source=source,
            seed=None if seed is None else int(seed),
            latency_default=latency_default,
            latency_operations=latency_ops,
            bandwidth=_bandwidth(body.get("bandwidth")),
            lifecycle=lifecycle,
            session_lifetime_s=session_lifetime,
            fleet=_fleet(body.get("fleet")),
            scans=_scans(body.get("scans")),
            faults=tuple(FaultRule.build(rule) for rule in body.get("faults") or []),
            expect=_expect(body.get("expect")),
            raw=dict(body),
        )

    # -- using ----------------------------------------------------------------------------------
    def apply(self, settings: Settings) -> Settings:
        """``settings`` with this scenario's seed, lifecycle, session lifetime, fleet and scans."""
        changes: dict[str, Any] = {}
        if self.seed is not None:
            changes["seed"] = self.seed
        if self.lifecycle:
            changes["lifecycle"] = replace(settings.lifecycle, **self.lifecycle)
        if self.session_lifetime_s is not None:
            changes["session_lifetime_s"] = self.session_lifetime_s
        if "endpoints" in self.fleet:
            changes["endpoints"] = self.fleet["endpoints"]
        profile = {k: v for k, v in self.fleet.items() if k in ("linux_fraction", "profile_mix")}
        if profile:
            changes["fleet"] = replace(settings.fleet, **profile)
        if "scan_interval_s" in self.scans:
            changes["scan_interval_s"] = self.scans["scan_interval_s"]
        if "churn" in self.scans:  # rates not named keep the settings' values
            changes["churn"] = replace(settings.churn, **self.scans["churn"])
        return settings.with_changes(**changes) if changes else settings

    def without_settings(self, names: Iterable[str]) -> Scenario:
        """This scenario minus what :meth:`apply` would write into the ``Settings`` fields ``names``.

        For callers whose own values for those fields must win over the scenario's (the pytest plugin's
        marker settings). Kept beside :meth:`apply`: the two share the map of sections to fields.

        >>> scenario = Scenario.from_text("seed: 4")
        >>> scenario.without_settings({"seed"}).apply(Settings(seed=1)).seed
        1
        """
        named = set(names)
        changes: dict[str, Any] = {}
        if "seed" in named:
            changes["seed"] = None
        if "session_lifetime_s" in named:
            changes["session_lifetime_s"] = None
        if "lifecycle" in named:
            changes["lifecycle"] = {}
        fleet_keys = ({"endpoints"} & named) | (
            {"linux_fraction", "profile_mix"} if "fleet" in named else set()
        )
        if fleet_keys:
            changes["fleet"] = {k: v for k, v in self.fleet.items() if k not in fleet_keys}
        scan_keys = {"scan_interval_s", "churn"} & named
        if scan_keys:
            changes["scans"] = {k: v for k, v in self.scans.items() if k not in scan_keys}
        return replace(self, **changes) if changes else self

    def latency_for(self, operation: str) -> Distribution:
        return self.latency_operations.get(operation, self.latency_default)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as served by ``GET /_sim/scenario`` (what was declared, plus where from)."""
        return {"name": self.name, "description": self.description, "source": self.source, **self.raw}


def resolve(name_or_path: str | Path, *, directory: Path = SCENARIO_DIR) -> Path:
    """A scenario name or path -> the file (``ScenarioError`` listing the known names when unknown)."""
    candidate = Path(name_or_path)
    if candidate.suffix in SUFFIXES or candidate.parent != Path(".") or candidate.is_file():
        if candidate.name == SCHEMA_FILE:
            raise ScenarioError(str(candidate), None, "", "the scenario format's JSON Schema, not a scenario")
        if not candidate.is_file():
            raise ScenarioError(str(candidate), None, "", "no such file")
        return candidate
    for suffix in SUFFIXES:
        path = directory / f"{name_or_path}{suffix}"
        if path.is_file() and path.name != SCHEMA_FILE:
            return path
    names = ", ".join(available(directory)) or "none"
    raise ScenarioError(str(name_or_path), None, "", f"no scenario by that name; known: {names}")


def resolve_name(name: str, *, directory: Path = SCENARIO_DIR) -> Path:
    """A scenario *name* -> its file inside ``directory``; never a path, never a file outside it.

    For callers that must not open what a request names (``PUT /_sim/scenario?name=``): the name is a
    plain file name (letters, digits, ``.``, ``_``, ``-``; no separator, no ``..``), with or without its
    suffix, and the file found must lie inside ``directory`` once symbolic links are resolved. Errors
    quote only the name given and the known names, never a file's content.

    >>> resolve_name("flaky-5xx").name
    'flaky-5xx.yaml'
    >>> resolve_name("../etc/passwd")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simulator.scenarios.ScenarioError: ?name=: expected a scenario name (...)...
    """
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise ScenarioError(
            "?name=",
            None,
            "",
            "expected a scenario name (letters, digits, '.', '_' or '-'; no path), "
            f"one of: {', '.join(available(directory)) or 'none'}",
        )
    root = directory.resolve()
    names = [name] if Path(name).suffix in SUFFIXES else [f"{name}{suffix}" for suffix in SUFFIXES]
    for candidate in names:
        path = (directory / candidate).resolve()
        if path.is_relative_to(root) and path.is_file() and candidate != SCHEMA_FILE:
            return path
    known = ", ".join(available(directory)) or "none"
    raise ScenarioError(name, None, "", f"no scenario by that name; known: {known}")


def available(directory: Path = SCENARIO_DIR) -> list[str]:
    """Names of the scenario files in ``directory``, sorted (its :data:`SCHEMA_FILE` is none)."""
    if not directory.is_dir():
        return []
    return sorted({p.stem for p in directory.iterdir() if p.suffix in SUFFIXES and p.name != SCHEMA_FILE})


def leading_comment(text: str) -> str:
    """The comment lines a scenario file opens with, joined into one paragraph.

    An editor's modeline (``# yaml-language-server: $schema=...``) is not part of it.

    >>> leading_comment("# yaml-language-server: $schema=./scenario.schema.json\\n# Hangs.\\nseed: 1")
    'Hangs.'
    """
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        if stripped.lstrip("#").strip().startswith("yaml-language-server:"):
            continue
        lines.append(stripped.lstrip("#").strip())
    return " ".join(x for x in lines if x)


def line_of(root: yaml.Node | None, path: Iterable[str | int]) -> int | None:
    """The 1-based line of the deepest node on ``path`` (the key's line for mapping entries)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


# -- parsing and sections -----------------------------------------------------------------------------
def _parse(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """``text`` -> (its YAML node tree for line numbers, or None; its data), or a ScenarioError."""
    if len(text) > MAX_BYTES:
        raise ScenarioError(source, None, "", f"larger than {MAX_BYTES} characters; is it a scenario?")
    # A .json file is JSON; so is text without a YAML suffix (a PUT body) that opens with "{".
    as_json = source.endswith(".json") or (
        not source.endswith((".yaml", ".yml")) and text.lstrip().startswith("{")
    )
    root: yaml.Node | None = None
    try:
        # Composed first in any case: the depth limit guards json's recursion too.
        root = yaml.compose(text, Loader=_DepthLimitedLoader)
    except _TooDeep as exc:
        raise ScenarioError(
            source, exc.line, "", f"nested deeper than {MAX_DEPTH} levels; a scenario needs a handful"
        ) from None
    except yaml.YAMLError as exc:
        if not as_json:  # (JSON that PyYAML cannot compose is read without line numbers)
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ScenarioError(
                source,
                mark.line + 1 if mark else None,
                "",
                f"not valid YAML ({problem})",
                column=mark.column + 1 if mark else None,
            ) from None
    if as_json:
        try:
            return root, json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(
                source,
                exc.lineno,
                "",
                f"not valid JSON ({exc.msg})",
                column=exc.colno,
            ) from None
        except RecursionError:  # only JSON PyYAML could not compose gets here unguarded
            raise ScenarioError(
                source, None, "", f"nested deeper than {MAX_DEPTH} levels; a scenario needs a handful"
            ) from None
    try:
        return root, yaml.load(text, Loader=_DepthLimitedLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:  # pragma: no cover - composed above, so it constructs
        raise ScenarioError(source, None, "", f"not valid YAML ({exc})") from None


def _latency(raw: dict[str, Any] | None) -> tuple[Distribution, dict[str, Distribution]]:
    body = raw or {}
    default = Distribution.parse(body["default"]) if "default" in body else ZERO
    ops = body.get("operations") or {}
    return default, {str(name): Distribution.parse(spec) for name, spec in ops.items()}


def _bandwidth(raw: dict[str, Any] | None) -> Bandwidth:
    if raw is None:
        return Bandwidth()
    rate = raw.get("bytes_per_s")
    return Bandwidth(
        None if rate is None else float(rate),
        bool(value_of(BANDWIDTH, raw, "per_connection")),
        int(value_of(BANDWIDTH, raw, "chunk_bytes")),
    )


def _lifecycle(raw: dict[str, Any] | None) -> tuple[dict[str, Any], float | None]:
    """The ``Lifecycle`` fields a scenario sets, and its session lifetime."""
    body = {k: v for k, v in (raw or {}).items() if v is not None}
    out: dict[str, Any] = {}
    for key in ("connect_delay", "task_duration"):
        if key in body:
            out[key] = Distribution.parse(body[key], default_unit="s")
    for key in ("offline_fraction", "missing_trace_fraction", "offline_timeout_s", "idle_timeout_s"):
        if key in body:
            out[key] = float(body[key])
    if "task_polls" in body:
        out["task_polls"] = int(body["task_polls"])
    if "intermediate_statuses" in body:
        statuses = body["intermediate_statuses"]
        out["intermediate_statuses"] = tuple(statuses) if isinstance(statuses, list) else (statuses,)
    if "task_outcomes" in body:
        out["outcome_weights"] = tuple((str(k), float(v)) for k, v in body["task_outcomes"].items())
    if "missing_path_status" in body:
        out["missing_path_status"] = body["missing_path_status"]
    lifetime = body.get("session_lifetime_s")
    return out, None if lifetime is None else float(lifetime)


def _fleet(raw: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    body = raw or {}
    if "endpoints" in body:
        out["endpoints"] = int(body["endpoints"])
    if "linux_fraction" in body:
        out["linux_fraction"] = float(body["linux_fraction"])
    if "profile_mix" in body:
        out["profile_mix"] = {str(k): float(v) for k, v in body["profile_mix"].items()}
    return out


def _scans(raw: dict[str, Any] | None) -> dict[str, Any]:
    """``scans: {interval_s, churn}`` -> ``{"scan_interval_s": float, "churn": {rate: float}}``."""
    out: dict[str, Any] = {}
    body = raw or {}
    if "interval_s" in body:
        out["scan_interval_s"] = float(body["interval_s"])
    if "churn" in body:
        churn = body["churn"]
        # none: every rate 0, so scans repeat scan 1's inventory and only the dates move
        rates = ChurnRates.none().to_dict() if churn == "none" else churn
        out["churn"] = {str(k): float(v) for k, v in rates.items()}
    return out


def _expect(raw: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (raw or {}).items():
        out[str(key)] = value if isinstance(value, str) else (value[0] if len(value) == 1 else list(value))
    out.setdefault("default", "success")
    return out


def expected_outcomes(scenario: Scenario, key: str = "default") -> set[str]:
    """The outcomes a scenario accepts for ``key`` (falls back to ``default``)."""
    value = scenario.expect.get(key, scenario.expect.get("default", "success"))
    return {value} if isinstance(value, str) else set(value)


__all__ = [
    "DEFAULT_SCENARIO",
    "SCENARIO_DIR",
    "SCENARIO_FORMAT",
    "SCHEMA_FILE",
    "SCHEMA_MODELINE",
    "Bandwidth",
    "Scenario",
    "ScenarioError",
    "available",
    "expected_outcomes",
    "leading_comment",
    "line_of",
    "resolve",
    "resolve_name",
    "scenario_schema",
]
