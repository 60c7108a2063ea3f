"""What a question asks: selects, filters and groups — their JSON shapes both ways and their canonical text.

The same model serves the three ``POST /api/v2/questions`` body forms (query text, a parse candidate posted
back, a hand-built body) and the target groups of actions. Bad shapes raise 400; a sensor the server does
not know raises 404, as for ``/sensors/by-name``.

>>> catalog = SensorCatalog()
>>> spec = QuerySpec((Select(SensorRef(catalog.by_name("Online"))),), None)
>>> spec.text()
'Get Online from all machines'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.errors import BadRequest, NotFound
from simulator.platform.sensors import SensorCatalog, SensorRef

OPERATORS = ("Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "RegexMatch")
_CONTAINS = re.compile(r"^\.\*(.*)\.\*$", re.S)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Filter:
    """``<sensor> <operator> <value>``; ``max_age_seconds`` is the Maximum Data Age (0 = sensor's)."""

    ref: SensorRef
    operator: str
    value: str
    not_flag: bool = False
    ignore_case_flag: bool = True
    max_age_seconds: int = 0
    value_type: str = "String"

    def matches(self, answer: str) -> bool:
        return self._test(answer) != self.not_flag

    def _test(self, answer: str) -> bool:
        flags = re.I if self.ignore_case_flag else 0
        if self.operator == "RegexMatch":
            return re.fullmatch(self.value, answer, flags | re.S) is not None
        if self.operator == "Equal":
            return answer.lower() == self.value.lower() if self.ignore_case_flag else answer == self.value
        left, right = _number(answer), _number(self.value)
        a: Any = left if left is not None and right is not None else answer
        b: Any = right if left is not None and right is not None else self.value
        outcome: bool = {
            "Less": a < b,
            "LessEqual": a <= b,
            "Greater": a > b,
            "GreaterEqual": a >= b,
        }[self.operator]
        return outcome

    def condition_api(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "value": self.value,
            "value_type": self.value_type,
            "not_flag": self.not_flag,
            "ignore_case_flag": self.ignore_case_flag,
            "max_age_seconds": self.max_age_seconds,
            "all_values_flag": False,
            "substring_flag": False,
        }

    def to_api(self) -> dict[str, Any]:
        return {"sensor": self.ref.to_api(), **self.condition_api()}

    def text(self) -> str:
        value = self.value
        if self.operator == "Equal":
            verb = "does not equal" if self.not_flag else "equals"
        elif self.operator == "RegexMatch" and (m := _CONTAINS.match(value)):
            verb, value = ("does not contain" if self.not_flag else "contains"), re.sub(r"\\(.)", r"\1", m[1])
        else:
            verb = {
                "RegexMatch": "matches",
                "Less": "is less than",
                "LessEqual": "is less than or equal to",
                "Greater": "is greater than",
                "GreaterEqual": "is greater than or equal to",
            }[self.operator]
            verb = f"not {verb}" if self.not_flag else verb
        return f"{self.ref.display_name} {verb} {value}"


@dataclass(frozen=True)
class Group:
    """A from-clause: filters (and nested groups) joined by AND or OR; non-matching machines drop out."""

    filters: tuple[Filter, ...] = ()
    sub_groups: tuple[Group, ...] = ()
    and_flag: bool = True
    not_flag: bool = False
    id: int | None = None

    def evaluate(self, test: Callable[[Filter], bool]) -> bool:
        results = [test(f) for f in self.filters] + [g.evaluate(test) for g in self.sub_groups]
        if not results:
            return not self.not_flag
        outcome = all(results) if self.and_flag else any(results)
        return outcome != self.not_flag

    def all_filters(self) -> list[Filter]:
        return [*self.filters, *(f for g in self.sub_groups for f in g.all_filters())]

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "and_flag": self.and_flag,
            "not_flag": self.not_flag,
            "filters": [f.to_api() for f in self.filters],
            "sub_groups": [g.to_api() for g in self.sub_groups],
        }
        if self.id is not None:
            body["id"] = self.id
        return body

    def text(self) -> str:
        parts = [f.text() for f in self.filters] + [f"({g.text()})" for g in self.sub_groups]
        joined = (" and " if self.and_flag else " or ").join(parts)
        return f"not ({joined})" if self.not_flag else joined


@dataclass(frozen=True)
class Select:
    """One column of a question; ``condition`` (a select filter) shows ``[no results]`` when unmet."""

    ref: SensorRef
    condition: Filter | None = None
    max_age_seconds: int = 0

    def to_api(self) -> dict[str, Any]:
        if self.condition is not None:
            filt = self.condition.condition_api()
        else:
            filt = {"not_flag": False, "ignore_case_flag": True, "value_type": "String"}
        filt["max_age_seconds"] = self.max_age_seconds
        return {"sensor": self.ref.to_api(), "filter": filt}


@dataclass(frozen=True)
class QuerySpec:
    """Selects plus an optional from-clause group."""

    selects: tuple[Select, ...]
    group: Group | None = None
    sensor_positions: tuple[int, ...] = field(default=(), compare=False)

    def text(self) -> str:
        head = "Get " + " and ".join(s.ref.display_name for s in self.selects) + " from all machines"
        return f"{head} with {self.group.text()}" if self.group and self.group.text() else head


# ------------------------------------------------------------------------------------------ decoding


def _int(value: Any, name: str, default: int = 0) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"{name} must be an integer")
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {str(value)[:40]!r}") from None
    if number < 0:
        raise BadRequest(f"{name} must be >= 0")
    return number


def _flag(value: Any, name: str, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false"):
        return value in (1, "1", "true")
    raise BadRequest(f"{name} must be a boolean")


def decode_sensor(raw: Any, catalog: SensorCatalog) -> SensorRef:
    """A select's or filter's ``sensor`` object: by name, hash or id, or a parameterized source."""
    if not isinstance(raw, dict):
        raise BadRequest("sensor must be an object with a name, hash or id")
    source = catalog.by_id_or_hash(sensor_id=raw.get("source_id"), sensor_hash=raw.get("source_hash"))
    name = raw.get("name")
    if source is None and isinstance(name, str) and name.strip():
        base = name.split("[", 1)[0]
        source = catalog.find(base)
        if source is None:
            raise NotFound(f"no sensor named {name.strip()[:80]!r}")
    if source is None:
        source = catalog.by_id_or_hash(sensor_id=raw.get("id"), sensor_hash=raw.get("hash"))
    if source is None:
        if any(raw.get(k) is not None for k in ("id", "hash", "source_id", "source_hash")):
            raise NotFound("no sensor with that id or hash")
        raise BadRequest("sensor must have a name, hash or id")
    params_raw = raw.get("parameters") or []
    if not isinstance(params_raw, list):
        raise BadRequest("sensor parameters must be a list of {key, value}")
    params: dict[str, str] = {}
    for item in params_raw:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise BadRequest("each sensor parameter must be {key: '||name||', value: string}")
        key = str(item.get("key", "")).strip("|")
        if key not in source.parameter_keys:
            raise BadRequest(f"sensor {source.name!r} has no parameter {key!r}")
        params[key] = item["value"]
    return make_ref(source.name, params, catalog)


def make_ref(name: str, params: dict[str, str], catalog: SensorCatalog) -> SensorRef:
    """A sensor reference with every declared parameter filled (400 when one is missing)."""
    sensor = catalog.by_name(name)
    missing = [k for k in sensor.parameter_keys if not params.get(k)]
    if missing:
        raise BadRequest(
            f"sensor {sensor.name!r} needs a value for {', '.join(missing)}: in question text "
            f"'{sensor.example()}', in a select's sensor "
            f'"parameters": [{{"key": "||{missing[0]}||", "value": "..."}}]'
        )
    return SensorRef(sensor, tuple((k, params[k]) for k in sensor.parameter_keys))


def decode_condition(raw: Any, ref: SensorRef, *, where: str) -> Filter | None:
    """A filter object's condition; None when it carries no value (only a Maximum Data Age)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object")
    value = raw.get("value")
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise BadRequest(f"{where}.value must be a string")
    operator = raw.get("operator", "Equal")
    if operator not in OPERATORS:
        raise BadRequest(f"{where}.operator must be one of {', '.join(OPERATORS)}")
    value = str(value)
    if operator == "RegexMatch":
        try:
            re.compile(value)
        except re.error as exc:
            raise BadRequest(f"{where}.value is not a valid regular expression: {exc}") from None
    value_type = raw.get("value_type", "String")
    return Filter(
        ref=ref,
        operator=operator,
        value=value,
        not_flag=_flag(raw.get("not_flag"), f"{where}.not_flag", False),
        ignore_case_flag=_flag(raw.get("ignore_case_flag"), f"{where}.ignore_case_flag", True),
        max_age_seconds=_int(raw.get("max_age_seconds"), f"{where}.max_age_seconds"),
        value_type=value_type if isinstance(value_type, str) else "String",
    )


def decode_group(raw: Any, catalog: SensorCatalog, *, where: str = "group", depth: int = 0) -> Group:
    """An inline group ``{and_flag, not_flag, filters: [...], sub_groups: [...]}``."""
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object")
    if depth > 8:
        raise BadRequest(f"{where} nests too deeply")
    filters_raw = raw.get("filters") or []
    subs_raw = raw.get("sub_groups") or []
    if not isinstance(filters_raw, list) or not isinstance(subs_raw, list):
        raise BadRequest(f"{where}.filters and {where}.sub_groups must be lists")
    filters = []
    for i, item in enumerate(filters_raw):
        if not isinstance(item, dict):
            raise BadRequest(f"{where}.filters[{i}] must be an object")
        ref = decode_sensor(item.get("sensor"), catalog)
        condition = decode_condition(item, ref, where=f"{where}.filters[{i}]")
        if condition is None:
            raise BadRequest(f"{where}.filters[{i}] needs an operator and a value")
        filters.append(condition)
    subs = tuple(
        decode_group(g, catalog, where=f"{where}.sub_groups[{i}]", depth=depth + 1)
        for i, g in enumerate(subs_raw)
    )
    return Group(
        filters=tuple(filters),
        sub_groups=subs,
        and_flag=_flag(raw.get("and_flag"), f"{where}.and_flag", True),
        not_flag=_flag(raw.get("not_flag"), f"{where}.not_flag", False),
    )


def decode_selects(raw: Any, catalog: SensorCatalog) -> tuple[Select, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("selects must be a non-empty list of {sensor, filter}")
    selects = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BadRequest(f"selects[{i}] must be an object")
        ref = decode_sensor(item.get("sensor"), catalog)
        filt = item.get("filter")
        condition = decode_condition(filt, ref, where=f"selects[{i}].filter")
        max_age = _int(filt.get("max_age_seconds") if isinstance(filt, dict) else None, "max_age_seconds")
        selects.append(Select(ref, condition, max_age))
    return tuple(selects)


__all__ = [
    "OPERATORS",
    "Filter",
    "Group",
    "QuerySpec",
    "Select",
    "decode_condition",
    "decode_group",
    "decode_selects",
    "decode_sensor",
    "make_ref",
]
