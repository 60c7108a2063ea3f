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

from simulator.faults.latency import ZERO, Distribution
from simulator.faults.rules import FaultRule, parse_distribution
from simulator.faults.spec import (
    SpecError,
    dotted,
    mapping,
    read_number,
    read_optional_number,
    read_str,
    read_strings,
    read_weights,
    type_name,
)
from simulator.operations import VENDOR_OPERATIONS
from simulator.settings import Settings
from simulator.traces.spec import ChurnRates


def _scenario_dir() -> Path:
    """``scenarios/`` of a checkout (or an editable install), else the copy a wheel ships in the package."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "scenarios"
    return checkout if checkout.is_dir() else here / "_scenarios"


SCENARIO_DIR = _scenario_dir()
DEFAULT_SCENARIO = "baseline"
SUFFIXES = (".yaml", ".yml", ".json")
SECTIONS = ("name", "seed", "latency", "bandwidth", "lifecycle", "fleet", "scans", "faults", "expect")
LIFECYCLE_FIELDS = (
    "connect_delay",
    "offline_fraction",
    "offline_timeout_s",
    "idle_timeout_s",
    "task_duration",
    "task_polls",
    "intermediate_statuses",
    "task_outcomes",
    "missing_trace_fraction",
    "missing_path_status",
    "session_lifetime_s",
)
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
    """A scenario that cannot be used: where (file, line, field) and what was expected."""

    def __init__(self, source: str, line: int | None, field: str, message: str) -> None:
        self.source, self.line, self.field, self.message = source, line, field, message
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


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
        """Parse YAML or JSON text; every error names ``source``, the line and the field."""
        if len(text) > MAX_BYTES:
            raise ScenarioError(source, None, "", f"larger than {MAX_BYTES} characters; is it a scenario?")
        try:
            root = yaml.compose(text, Loader=_DepthLimitedLoader)
        except _TooDeep as exc:
            raise ScenarioError(
                source, exc.line, "", f"nested deeper than {MAX_DEPTH} levels; a scenario needs a handful"
            ) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ScenarioError(
                source, mark.line + 1 if mark else None, "", f"not valid YAML ({problem})"
            ) from None
        try:
            if text.lstrip().startswith("{") or source.endswith(".json"):
                data = json.loads(text)
            else:
                data = yaml.load(text, Loader=_DepthLimitedLoader)  # a SafeLoader subclass
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
            raise ScenarioError(source, line, "", f"not valid JSON or YAML ({exc})") from None
        if data is None:
            data = {}
        try:
            return cls.from_data(data, source=source, name=name, description=leading_comment(text))
        except SpecError as exc:
            raise ScenarioError(source, line_of(root, exc.path), dotted(exc.path), exc.message) from None

    @classmethod
    def from_data(
        cls, data: Any, *, source: str = "<data>", name: str | None = None, description: str = ""
    ) -> Scenario:
        """Validate already-parsed data (raises :class:`SpecError` with the field path)."""
        operations = list(VENDOR_OPERATIONS)
        body = mapping(data, (), SECTIONS)
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise SpecError(("seed",), f"expected a whole number, got {type_name(seed)}")
        latency_default, latency_ops = _latency(body.get("latency"), operations)
        lifecycle, session_lifetime = _lifecycle(body.get("lifecycle"))
        raw_faults = body.get("faults") or []
        if not isinstance(raw_faults, list):
            raise SpecError(("faults",), "expected a list of rules")
        rules = [FaultRule.parse(r, ("faults", i), operations) for i, r in enumerate(raw_faults)]
        seen: set[str] = set()
        for i, rule in enumerate(rules):
            if rule.name in seen:
                raise SpecError(
                    ("faults", i, "name"), f"duplicate rule name {rule.name!r}; names must be unique"
                )
            seen.add(rule.name)
        return cls(
            name=read_str(body, "name", ()) if body.get("name") is not None else (name or "scenario"),
            description=description,
            source=source,
            seed=seed,
            latency_default=latency_default,
            latency_operations=latency_ops,
            bandwidth=_bandwidth(body.get("bandwidth")),
            lifecycle=lifecycle,
            session_lifetime_s=session_lifetime,
            fleet=_fleet(body.get("fleet")),
            scans=_scans(body.get("scans")),
            faults=tuple(rules),
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
        if not candidate.is_file():
            raise ScenarioError(str(candidate), None, "", "no such file")
        return candidate
    for suffix in SUFFIXES:
        path = directory / f"{name_or_path}{suffix}"
        if path.is_file():
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
        if path.is_relative_to(root) and path.is_file():
            return path
    known = ", ".join(available(directory)) or "none"
    raise ScenarioError(name, None, "", f"no scenario by that name; known: {known}")


def available(directory: Path = SCENARIO_DIR) -> list[str]:
    """Names of the scenario files in ``directory``, sorted."""
    if not directory.is_dir():
        return []
    return sorted({p.stem for p in directory.iterdir() if p.suffix in SUFFIXES})


def leading_comment(text: str) -> str:
    """The comment lines a scenario file opens with, joined into one paragraph."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
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


# -- sections ---------------------------------------------------------------------------------------
def _latency(raw: Any, operations: list[str]) -> tuple[Distribution, dict[str, Distribution]]:
    if raw is None:
        return ZERO, {}
    body = mapping(raw, ("latency",), ("default", "operations"))
    default = parse_distribution(body["default"], ("latency", "default")) if "default" in body else ZERO
    per_op: dict[str, Distribution] = {}
    ops = body.get("operations") or {}
    if not isinstance(ops, dict):
        raise SpecError(("latency", "operations"), "expected a mapping of operation name to distribution")
    for name, spec in ops.items():
        if name not in operations:
            raise SpecError(
                ("latency", "operations", str(name)),
                f"unknown operation; expected one of {', '.join(operations)}",
            )
        per_op[str(name)] = parse_distribution(spec, ("latency", "operations", str(name)))
    return default, per_op


def _bandwidth(raw: Any) -> Bandwidth:
    if raw is None:
        return Bandwidth()
    path = ("bandwidth",)
    body = mapping(raw, path, ("bytes_per_s", "per_connection", "chunk_bytes"))
    per_connection = body.get("per_connection", False)
    if not isinstance(per_connection, bool):
        raise SpecError((*path, "per_connection"), "expected true or false")
    rate = read_optional_number(body, "bytes_per_s", path, minimum=1)
    chunk = int(read_number(body, "chunk_bytes", path, default=16_384, minimum=1, integer=True))
    return Bandwidth(rate, per_connection, chunk)


def _lifecycle(raw: Any) -> tuple[dict[str, Any], float | None]:
    if raw is None:
        return {}, None
    path = ("lifecycle",)
    body = mapping(raw, path, LIFECYCLE_FIELDS)
    out: dict[str, Any] = {}
    for key in ("connect_delay", "task_duration"):
        if key in body:
            out[key] = parse_distribution(body[key], (*path, key), default_unit="s")
    for key in ("offline_fraction", "missing_trace_fraction"):
        if key in body:
            out[key] = read_number(body, key, path, maximum=1.0)
    for key in ("offline_timeout_s", "idle_timeout_s"):
        if key in body:
            out[key] = read_number(body, key, path)
    if "task_polls" in body:
        out["task_polls"] = int(read_number(body, "task_polls", path, integer=True))
    if "intermediate_statuses" in body:
        statuses = read_strings(body, "intermediate_statuses", path)
        for i, status in enumerate(statuses):
            if status in OUTCOMES or status == "STARTED":
                raise SpecError(
                    (*path, "intermediate_statuses", i), "expected a non-terminal status other than STARTED"
                )
        out["intermediate_statuses"] = statuses
    if "task_outcomes" in body:
        weights = read_weights(body["task_outcomes"], (*path, "task_outcomes"), OUTCOMES)
        out["outcome_weights"] = tuple(weights.items())
    if "missing_path_status" in body:
        status = read_str(body, "missing_path_status", path)
        if status not in ("ERROR", "INCOMPLETE"):
            raise SpecError((*path, "missing_path_status"), "expected ERROR or INCOMPLETE")
        out["missing_path_status"] = status
    lifetime = read_optional_number(body, "session_lifetime_s", path, minimum=0.001)
    return out, lifetime


def _fleet(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    path = ("fleet",)
    body = mapping(raw, path, ("endpoints", "linux_fraction", "profile_mix"))
    out: dict[str, Any] = {}
    if "endpoints" in body:
        out["endpoints"] = int(read_number(body, "endpoints", path, integer=True, maximum=10_000_000))
    if "linux_fraction" in body:
        out["linux_fraction"] = read_number(body, "linux_fraction", path, maximum=1.0)
    if "profile_mix" in body:
        from simulator.traces.profiles import PROFILES

        out["profile_mix"] = read_weights(body["profile_mix"], (*path, "profile_mix"), PROFILES)
    return out


MIN_SCAN_INTERVAL_S = 60.0


def _scans(raw: Any) -> dict[str, Any]:
    """``scans: {interval_s, churn}`` -> ``{"scan_interval_s": float, "churn": {rate: float}}``."""
    if raw is None:
        return {}
    path = ("scans",)
    body = mapping(raw, path, ("interval_s", "churn"))
    out: dict[str, Any] = {}
    if "interval_s" in body:
        interval = read_number(body, "interval_s", path)
        # Scan n is built from scan n - 1 (a chain): a sub-minute period would make hours of serving
        # cost thousands of churn steps per trace. Real scanners run hourly to daily.
        if 0 < interval < MIN_SCAN_INTERVAL_S:
            raise SpecError(
                (*path, "interval_s"),
                f"expected 0 (scans on demand only) or at least {MIN_SCAN_INTERVAL_S:g} seconds, "
                f"got {interval:g}",
            )
        out["scan_interval_s"] = interval
    if "churn" in body:
        churn = body["churn"]
        if churn == "none":  # every rate 0: scans repeat scan 1's inventory, only the dates move
            out["churn"] = ChurnRates.none().to_dict()
        elif not isinstance(churn, dict):
            raise SpecError(
                (*path, "churn"),
                f"expected a mapping of churn rate to a number per scan, or none; got {type_name(churn)}",
            )
        else:
            rates = mapping(churn, (*path, "churn"), CHURN_FIELDS)
            # new_artifacts counts new files per existing file; the others are probabilities.
            out["churn"] = {
                str(k): read_number(
                    rates, str(k), (*path, "churn"), maximum=10.0 if k == "new_artifacts" else 1.0
                )
                for k in rates
            }
    return out


def _expect(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"default": "success"}
    if not isinstance(raw, dict) or not raw:
        raise SpecError(("expect",), "expected a mapping such as {default: success}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        values = read_strings({"v": value}, "v", ("expect", str(key))) if value is not None else ()
        if not values:
            raise SpecError(("expect", str(key)), "expected an outcome name or a list of them")
        out[str(key)] = values[0] if len(values) == 1 else list(values)
    out.setdefault("default", "success")
    return out


def expected_outcomes(scenario: Scenario, key: str = "default") -> set[str]:
    """The outcomes a scenario accepts for ``key`` (falls back to ``default``)."""
    value = scenario.expect.get(key, scenario.expect.get("default", "success"))
    return {value} if isinstance(value, str) else set(value)


__all__ = [
    "DEFAULT_SCENARIO",
    "SCENARIO_DIR",
    "Bandwidth",
    "Scenario",
    "ScenarioError",
    "available",
    "expected_outcomes",
    "leading_comment",
    "line_of",
    "resolve",
    "resolve_name",
]
