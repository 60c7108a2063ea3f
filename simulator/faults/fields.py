"""The scenario format as data: field tables that both check a scenario and generate its JSON Schema.

Each field of the format is one node here: its type, bounds, choices, default and description. The
loader checks input against the table (:meth:`Field.check` collects *every* problem, each a
:class:`~simulator.faults.spec.SpecError` with its path) and only then converts the values, and
``tanium-sim scenario schema`` prints :func:`json_schema` of the same table: the schema an editor
validates with cannot drift from what the loader accepts. A condition that spans fields (``truncate``
needs exactly one of ``at_byte`` or ``fraction``) is a ``rules`` entry in Python, with its JSON Schema
form, where JSON Schema can say it, in ``extra`` beside it.

>>> rate = Record(fields={"bytes_per_s": Number(minimum=1), "per_connection": Boolean(default=False)})
>>> for error in rate.problems({"bytes_per_s": 0, "colour": "red"}, ("bandwidth",)):
...     print(error.line())
bandwidth.bytes_per_s: expected a number >= 1, got 0
bandwidth.colour: unknown field (allowed: bytes_per_s, per_connection)
>>> rate.schema({})["properties"]["per_connection"]
{'type': 'boolean', 'default': False}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.faults.latency import Distribution
from simulator.faults.spec import Path, SpecError, type_name

DIALECT = "https://json-schema.org/draft/2020-12/schema"
Schema = dict[str, Any]
Errors = list[SpecError]
# A condition spanning fields: (the raw value, its path) -> the problems. It runs on whatever the
# input holds (its fields may be invalid too), so it checks the types it relies on.
Rule = Callable[[Any, Path], Errors]


@dataclass(frozen=True, kw_only=True)
class Field:
    """One field of the format. ``nullable``: ``null`` reads as absent; ``extra``: more JSON Schema."""

    doc: str = ""
    nullable: bool = False
    default: Any = None
    example: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def check(self, value: Any, path: Path, errors: Errors) -> None:
        """Append the problems of ``value`` (found at ``path``) to ``errors``."""
        if value is None and self.nullable:
            return
        self._check(value, path, errors)

    def problems(self, value: Any, path: Path = ()) -> Errors:
        errors: Errors = []
        self.check(value, path, errors)
        return errors

    def schema(self, defs: dict[str, Schema]) -> Schema:
        """This field's JSON Schema (shared parts go into ``defs``, the document's ``$defs``)."""
        body = {**self._schema(defs), **self.extra}
        if self.nullable:
            body = _or_null(body)
        if self.doc:
            body = {"description": self.doc, **body}
        if self.default is not None:
            body["default"] = self.default
        if self.example is not None:
            body["examples"] = [self.example]
        return body

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        raise NotImplementedError

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        raise NotImplementedError


def _or_null(body: Schema) -> Schema:
    simple = isinstance(body.get("type"), str) and not {"enum", "const", "anyOf", "allOf", "$ref"} & set(body)
    if simple:
        return {**body, "type": [body["type"], "null"]}
    return {"anyOf": [body, {"type": "null"}]}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class Number(Field):
    """A finite number within ``[minimum, maximum]`` (``None``: unbounded); ``integer`` for whole ones.

    ``rule`` adds a condition (the value -> the problem, or ``None``); ``extra`` says it in JSON Schema.
    """

    minimum: float | None = 0.0
    maximum: float | None = None
    integer: bool = False
    rule: Callable[[float], str | None] | None = None

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        if not _number(value):
            errors.append(SpecError(path, f"expected a number, got {type_name(value)}"))
        elif self.integer and not (math.isfinite(value) and float(value).is_integer()):
            errors.append(SpecError(path, f"expected a whole number, got {value}"))
        elif self.minimum is not None and not (math.isfinite(value) and value >= self.minimum):
            errors.append(SpecError(path, f"expected a number >= {self.minimum:g}, got {value}"))
        elif not math.isfinite(value):
            errors.append(SpecError(path, f"expected a finite number, got {value}"))
        elif self.maximum is not None and value > self.maximum:
            errors.append(SpecError(path, f"expected a number <= {self.maximum:g}, got {value}"))
        elif self.rule is not None and (problem := self.rule(float(value))):
            errors.append(SpecError(path, problem))

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        body: Schema = {"type": "integer" if self.integer else "number"}
        if self.minimum is not None:
            body["minimum"] = self.minimum
        if self.maximum is not None:
            body["maximum"] = self.maximum
        return body


@dataclass(frozen=True, kw_only=True)
class Boolean(Field):
    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        if not isinstance(value, bool):
            errors.append(SpecError(path, "expected true or false"))

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        return {"type": "boolean"}


@dataclass(frozen=True, kw_only=True)
class Text(Field):
    """A string, non-empty unless ``min_length`` is 0, one of ``enum`` when given (an unknown ``noun``).

    ``rule``: a further condition (the value -> the problem, or ``None``).
    """

    enum: tuple[str, ...] | None = None
    noun: str = "value"
    min_length: int = 1
    what: str = "a non-empty string"
    rule: Callable[[str], str | None] | None = None

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        if not isinstance(value, str) or len(value) < self.min_length:
            errors.append(SpecError(path, f"expected {self.what}, got {type_name(value)}"))
        elif self.enum is not None and value not in self.enum:
            errors.append(SpecError(path, f"unknown {self.noun} {value!r}", self.enum))
        elif self.rule is not None and (problem := self.rule(value)):
            errors.append(SpecError(path, problem))

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        body: Schema = {"type": "string"}
        if self.min_length:
            body["minLength"] = self.min_length
        if self.enum is not None:
            body["enum"] = list(self.enum)
        return body


@dataclass(frozen=True, kw_only=True)
class Const(Field):
    """Exactly ``value`` (``churn: none``)."""

    value: str
    what: str = ""

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        if value != self.value:
            errors.append(SpecError(path, f"expected {self.what or repr(self.value)}, got {value!r}"))

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        return {"const": self.value}


@dataclass(frozen=True, kw_only=True)
class Texts(Field):
    """A string or a list of strings (each non-empty, one of ``enum`` when given, none of ``exclude``).

    ``integers``: whole numbers count as their text (client ids); ``non_empty``: ``[]`` is refused.
    """

    enum: tuple[str, ...] | None = None
    noun: str = "value"
    exclude: tuple[str, ...] = ()
    exclude_problem: str = ""
    integers: bool = False
    non_empty: bool = False
    what: str = "a string or a list of strings"

    def _item_ok(self, item: Any) -> bool:
        if self.integers and isinstance(item, int) and not isinstance(item, bool):
            return True
        return isinstance(item, str) and bool(item)

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        items = (
            [(path, value)] if not isinstance(value, list) else [((*path, i), v) for i, v in enumerate(value)]
        )
        if not all(self._item_ok(item) for _, item in items) or (self.non_empty and not items):
            errors.append(SpecError(path, f"expected {self.what}"))
            return
        for where, item in items:
            if self.enum is not None and item not in self.enum:
                errors.append(SpecError(where, f"unknown {self.noun} {item!r}", self.enum))
            elif item in self.exclude:
                errors.append(SpecError(where, self.exclude_problem or f"{item!r} is not allowed here"))

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        item: Schema = {"type": "string", "minLength": 1}
        if self.enum is not None:
            item["enum"] = list(self.enum)
        if self.exclude:
            item["not"] = {"enum": list(self.exclude)}
        alternatives = [item] if not self.integers else [item, {"type": "integer"}]
        items: Schema = {"type": "array", "items": {"anyOf": alternatives} if self.integers else item}
        if self.non_empty:
            items["minItems"] = 1
        return {"anyOf": [*alternatives, items]}


@dataclass(frozen=True, kw_only=True)
class Record(Field):
    """A mapping of known fields; ``required`` ones must be there; ``rules`` check across fields."""

    fields: Mapping[str, Field]
    required: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    what: str = "a mapping"

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        if not isinstance(value, dict):
            errors.append(SpecError(path, f"expected {self.what}, got {type_name(value)}"))
            return
        for key, item in value.items():
            if key in self.fields:
                self.fields[key].check(item, (*path, key), errors)
            else:
                errors.append(SpecError((*path, str(key)), "unknown field", tuple(self.fields)))
        for key in self.required:
            if key not in value:
                errors.append(SpecError((*path, key), "is required"))
        for rule in self.rules:
            errors.extend(rule(value, path))

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        body: Schema = {
            "type": "object",
            "properties": {key: item.schema(defs) for key, item in self.fields.items()},
            "additionalProperties": False,
        }
        if self.required:
            body["required"] = list(self.required)
        return body


@dataclass(frozen=True, kw_only=True)
class MapOf(Field):
    """A mapping of names (one of ``keys`` when given, else any) to values of one kind."""

    value: Field
    keys: tuple[str, ...] | None = None
    noun: str = "field"
    min_items: int = 0
    what: str = "a mapping"

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        if not isinstance(value, dict) or len(value) < self.min_items:
            got = "an empty mapping" if value == {} else type_name(value)
            errors.append(SpecError(path, f"expected {self.what}, got {got}"))
            return
        for key, item in value.items():
            if self.keys is not None and key not in self.keys:
                errors.append(SpecError((*path, str(key)), f"unknown {self.noun}", self.keys))
            else:
                self.value.check(item, (*path, str(key)), errors)

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        body: Schema = {"type": "object"}
        if self.keys is not None:
            body["propertyNames"] = {"enum": list(self.keys)}
        body["additionalProperties"] = self.value.schema(defs)
        if self.min_items:
            body["minProperties"] = self.min_items
        return body


@dataclass(frozen=True, kw_only=True)
class Weights(Field):
    """A mapping of some of ``keys`` to non-negative weights with a positive total."""

    keys: tuple[str, ...]

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        if not isinstance(value, dict):
            errors.append(SpecError(path, f"expected a mapping, got {type_name(value)}"))
            return
        before = len(errors)
        weight = Number()
        for key, item in value.items():
            if key not in self.keys:
                errors.append(SpecError((*path, str(key)), "unknown field", self.keys))
            else:
                weight.check(item, (*path, key), errors)
        if len(errors) == before and sum(value.values()) <= 0:
            errors.append(SpecError(path, "expected at least one positive weight"))

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        return {
            "type": "object",
            "properties": {key: {"type": "number", "minimum": 0} for key in self.keys},
            "additionalProperties": False,
            "anyOf": [{"required": [key], "properties": {key: {"exclusiveMinimum": 0}}} for key in self.keys],
        }


@dataclass(frozen=True, kw_only=True)
class ListOf(Field):
    """A list of ``item``; ``rules`` check across items (unique names)."""

    item: Field
    rules: tuple[Rule, ...] = ()
    what: str = "a list"

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        if not isinstance(value, list):
            errors.append(SpecError(path, f"expected {self.what}, got {type_name(value)}"))
            return
        for i, item in enumerate(value):
            self.item.check(item, (*path, i), errors)
        for rule in self.rules:
            errors.extend(rule(value, path))

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        return {"type": "array", "items": self.item.schema(defs)}


@dataclass(frozen=True, kw_only=True)
class Delay(Field):
    """A delay distribution (:mod:`simulator.faults.latency`); a bare number is in ``unit``."""

    unit: str = "ms"

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        for problem in Distribution.problems(value, default_unit=self.unit):
            where = (*path, problem.field) if problem.field else path
            errors.append(SpecError(where, str(problem), problem.allowed))

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        name = f"delay_{self.unit}"
        defs.setdefault(name, Distribution.json_schema(self.unit))
        return {"$ref": f"#/$defs/{name}"}


@dataclass(frozen=True, kw_only=True)
class Tagged(Field):
    """A mapping whose ``tag`` field picks its kind, and with it the other fields (``fault: {type: ...}``)."""

    variants: Mapping[str, Record]
    tag: str = "type"
    noun: str = "kind"

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        if not isinstance(value, dict):
            errors.append(SpecError(path, f"expected a mapping with a '{self.tag}', got {type_name(value)}"))
            return
        kind = value.get(self.tag)
        if self.tag not in value:
            errors.append(SpecError((*path, self.tag), "is required", tuple(self.variants)))
        elif not isinstance(kind, str) or kind not in self.variants:
            errors.append(SpecError((*path, self.tag), f"unknown {self.noun} {kind!r}", tuple(self.variants)))
        else:
            self.variants[kind].check(value, path, errors)

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        return {
            "type": "object",
            "required": [self.tag],
            "properties": {self.tag: {"enum": list(self.variants)}},
            "allOf": [
                {
                    "if": {"properties": {self.tag: {"const": kind}}, "required": [self.tag]},
                    "then": variant.schema(defs),
                }
                for kind, variant in self.variants.items()
            ],
        }


@dataclass(frozen=True, kw_only=True)
class Either(Field):
    """One of ``options``, picked by the input's Python type (``churn: none`` or a mapping of rates)."""

    options: tuple[tuple[type, Field], ...]
    what: str

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        for kind, option in self.options:
            if isinstance(value, kind):
                option.check(value, path, errors)
                return
        errors.append(SpecError(path, f"expected {self.what}, got {type_name(value)}"))

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        return {"anyOf": [option.schema(defs) for _, option in self.options]}


@dataclass(frozen=True, kw_only=True)
class Window(Field):
    """``[start_s, end_s]`` with ``0 <= start_s <= end_s`` (or ``{start: s, end: s}``, each optional)."""

    what: str = "[start_s, end_s] with 0 <= start_s <= end_s"

    def _check(self, value: Any, path: Path, errors: Errors) -> None:
        if isinstance(value, dict):
            extra = [k for k in value if k not in ("start", "end")]
            for key in extra:
                errors.append(SpecError((*path, str(key)), "unknown field", ("start", "end")))
            if extra:
                return
            value = [value.get("start", 0), value.get("end", math.inf)]
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(_number(w) and w >= 0 for w in value)
            or value[1] < value[0]
        ):
            errors.append(SpecError(path, f"expected {self.what}"))

    def _schema(self, defs: dict[str, Schema]) -> Schema:
        second = {"type": "number", "minimum": 0}
        return {
            "anyOf": [
                {"type": "array", "prefixItems": [second, second], "minItems": 2, "maxItems": 2},
                {
                    "type": "object",
                    "properties": {"start": second, "end": second},
                    "additionalProperties": False,
                },
            ]
        }


def json_schema(root: Field, *, title: str, description: str) -> Schema:
    """The JSON Schema (draft 2020-12) document of the format whose root is ``root``."""
    defs: dict[str, Schema] = {}
    body = root.schema(defs)
    document: Schema = {"$schema": DIALECT, "title": title, **body, "description": description}
    if defs:
        document["$defs"] = dict(sorted(defs.items()))
    return document


def value_of(record: Record, body: Mapping[str, Any], key: str) -> Any:
    """A checked mapping's ``key``: its value, else (absent or null) the table's default."""
    value = body.get(key)
    return record.fields[key].default if value is None else value


__all__ = [
    "DIALECT",
    "Boolean",
    "Const",
    "Delay",
    "Either",
    "Errors",
    "Field",
    "ListOf",
    "MapOf",
    "Number",
    "Record",
    "Rule",
    "Schema",
    "Tagged",
    "Text",
    "Texts",
    "Weights",
    "Window",
    "json_schema",
    "value_of",
]
