"""The question parser: Question Builder text -> :class:`QuerySpec`, with a clear 400 for what it cannot read.

It reads the canonical texts the runbook uses and their near variants::

    Get <sensor>[ and <sensor>]... from all machines[ with <filter>[ and|or <filter>]...]
    <filter> = <sensor> equals|does not equal|contains|does not contain|starts with|ends with|matches|
               is greater than|is less than|... <value>

Sensor names contain spaces and dashes (``3P Cryptosense - Monitor``), so the parser matches known sensor
names rather than splitting on words; a value runs until `` and `` / `` or `` followed by a sensor name.

>>> parse_question("Get Online from all machines with 3P Cryptosense - Monitor equals Running").text()
'Get Online from all machines with 3P Cryptosense - Monitor equals Running'
"""

from __future__ import annotations

import re
from typing import Any

from simulator.errors import BadRequest
from simulator.platform.query import Filter, Group, QuerySpec, Select, make_ref
from simulator.platform.sensors import SensorCatalog, SensorRef

MAX_TEXT = 4096
FROM_ALL = re.compile(r"\s+from\s+all\s+machines\b", re.I)
WITH = re.compile(r"\s+with\s+", re.I)

# (phrase, operator, not_flag, value template) — longest phrases first so "is less than or equal to" wins.
_PHRASES: tuple[tuple[str, str, bool, str], ...] = tuple(
    sorted(
        (
            ("equals", "Equal", False, "{}"),
            ("is equal to", "Equal", False, "{}"),
            ("does not equal", "Equal", True, "{}"),
            ("is not equal to", "Equal", True, "{}"),
            ("not equals", "Equal", True, "{}"),
            ("contains", "RegexMatch", False, ".*{}.*"),
            ("does not contain", "RegexMatch", True, ".*{}.*"),
            ("starts with", "RegexMatch", False, "{}.*"),
            ("ends with", "RegexMatch", False, ".*{}"),
            ("matches", "RegexMatch", False, "{raw}"),
            ("is greater than", "Greater", False, "{}"),
            ("greater than", "Greater", False, "{}"),
            ("is greater than or equal to", "GreaterEqual", False, "{}"),
            ("is less than", "Less", False, "{}"),
            ("less than", "Less", False, "{}"),
            ("is less than or equal to", "LessEqual", False, "{}"),
        ),
        key=lambda p: len(p[0]),
        reverse=True,
    )
)


class _Reader:
    """A cursor over the text with the sensor-aware matching the grammar needs."""

    def __init__(self, text: str, catalog: SensorCatalog) -> None:
        self.text = text
        self.catalog = catalog
        names = "|".join(re.escape(n) for n in catalog.names_longest_first())
        self.conjunction = re.compile(rf"\s+(and|or)\s+(?=(?:{names})(?:\[|\s|$))", re.I)

    def sensor(self, pos: int, end: int) -> tuple[SensorRef, int]:
        """The sensor (with ``[params]``) starting at ``pos``; 400 naming what was found instead."""
        for name in self.catalog.names_longest_first():
            stop = pos + len(name)
            if self.text[pos:stop].lower() == name.lower() and (stop == end or not self.text[stop].isalnum()):
                params: dict[str, str] = {}
                sensor = self.catalog.by_name(name)
                if stop < end and self.text[stop] == "[":
                    close = self.text.find("]", stop, end)
                    if close < 0:
                        raise BadRequest(f"unclosed '[' after sensor {sensor.name!r}")
                    values = [self.text[stop + 1 : close]]
                    if len(sensor.parameter_keys) != 1:
                        values = [v.strip() for v in values[0].split(",")]
                    if not sensor.parameter_keys:
                        raise BadRequest(f"sensor {sensor.name!r} takes no parameters")
                    if len(values) != len(sensor.parameter_keys):
                        raise BadRequest(
                            f"sensor {sensor.name!r} takes {len(sensor.parameter_keys)} parameters"
                        )
                    params = dict(zip(sensor.parameter_keys, (v.strip() for v in values), strict=True))
                    stop = close + 1
                return make_ref(sensor.name, params, self.catalog), stop
        known = ", ".join(s.name for s in self.catalog.sensors)
        found = self.text[pos:end][:40]
        raise BadRequest(
            f"could not parse the question: unknown sensor at {found!r} (known sensors: {known})"
        )

    def selects(self, pos: int, end: int) -> tuple[list[SensorRef], list[int]]:
        refs, positions = [], []
        while True:
            positions.append(pos)
            ref, pos = self.sensor(pos, end)
            refs.append(ref)
            if pos == end:
                return refs, positions
            m = re.compile(r"\s+and\s+", re.I).match(self.text, pos, end)
            if not m:
                raise BadRequest(
                    f"could not parse the question: expected ' and <sensor>' or ' from all machines' "
                    f"after {ref.display_name!r}"
                )
            pos = m.end()

    def filters(self, pos: int, end: int) -> Group:
        filters: list[Filter] = []
        joins: set[str] = set()
        while True:
            ref, pos = self.sensor(pos, end)
            rest = self.text[pos:end]
            stripped = rest.lstrip()
            phrase = next(
                (p for p in _PHRASES if stripped.lower().startswith(p[0] + " ") and stripped != p[0]), None
            )
            if stripped.lower() in {p[0] for p in _PHRASES}:
                raise BadRequest(f"could not parse the question: missing value after {stripped!r}")
            if phrase is None or not rest[:1].isspace():
                raise BadRequest(
                    f"could not parse the question: expected an operator (equals, contains, does not equal, "
                    f"...) after {ref.display_name!r}, found {stripped[:30]!r}"
                )
            pos = end - len(stripped) + len(phrase[0])
            m = self.conjunction.search(self.text, pos, end)
            value = _unquote(self.text[pos : m.start() if m else end].strip())
            if not value:
                raise BadRequest(f"could not parse the question: missing value after {phrase[0]!r}")
            _, operator, not_flag, template = phrase
            if template == "{raw}":
                try:
                    re.compile(value)
                except re.error as exc:
                    raise BadRequest(f"'matches' needs a valid regular expression: {exc}") from None
            else:
                value = template.format(re.escape(value) if operator == "RegexMatch" else value)
            filters.append(Filter(ref=ref, operator=operator, value=value, not_flag=not_flag))
            if m is None:
                break
            joins.add(m.group(1).lower())
            pos = m.end()
        if len(joins) > 1:
            raise BadRequest(
                "could not parse the question: mixing 'and' with 'or' needs parentheses (unsupported)"
            )
        return Group(filters=tuple(filters), and_flag=joins != {"or"})


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_question(text: Any, catalog: SensorCatalog | None = None) -> QuerySpec:
    """Question text to a :class:`QuerySpec`; 400 ``could not parse the question: ...`` otherwise.

    >>> spec = parse_question("Get File Exists[/opt/cryptosense/bin/cs-host-scanner] from all machines")
    >>> spec.selects[0].ref.params
    (('filePath', '/opt/cryptosense/bin/cs-host-scanner'),)
    """
    catalog = catalog or SensorCatalog()
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("text must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise BadRequest(f"question text is limited to {MAX_TEXT} characters")
    text = " ".join(text.split())
    reader = _Reader(text, catalog)
    if not text.lower().startswith("get "):
        raise BadRequest(
            "could not parse the question: it must start with 'Get ', e.g. 'Get Online from all machines'"
        )
    found = FROM_ALL.search(text)
    if found is None:
        raise BadRequest("could not parse the question: expected '... from all machines [with <filter>]'")
    refs, positions = reader.selects(4, found.start())
    group = None
    if found.end() < len(text):
        m = WITH.match(text, found.end())
        if m is None:
            raise BadRequest(
                f"could not parse the question: expected 'with' after 'from all machines', "
                f"found {text[found.end() :][:30].strip()!r}"
            )
        group = reader.filters(m.end(), len(text))
    return QuerySpec(tuple(Select(r) for r in refs), group, tuple(positions))


def parse_filter_text(text: Any, catalog: SensorCatalog | None = None) -> Group:
    """A from-clause alone (``POST /api/v2/groups {"text": ...}``), e.g. ``Computer Name equals web-01``."""
    catalog = catalog or SensorCatalog()
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("text must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise BadRequest(f"group text is limited to {MAX_TEXT} characters")
    text = " ".join(text.split())
    return _Reader(text, catalog).filters(0, len(text))


def candidate(spec: QuerySpec, asked_text: str) -> dict[str, Any]:
    """The one parse candidate ``POST /api/v2/parse_question`` returns for a text it reads."""
    canonical = spec.text()
    body: dict[str, Any] = {
        "from_canonical_text": 1 if " ".join(asked_text.split()) == canonical else 0,
        "question_text": canonical,
        "selects": [s.to_api() for s in spec.selects],
        "sensor_references": [
            {"name": s.ref.display_name, "start_char": str(p), "real_ms_avg": 0}
            for s, p in zip(spec.selects, spec.sensor_positions, strict=False)
        ],
        "expire_seconds": 600,
        "force_computer_id_flag": False,
    }
    if spec.group is not None:
        body["group"] = spec.group.to_api()
    values = [v for s in spec.selects for _, v in s.ref.params]
    values += [v for f in (spec.group.all_filters() if spec.group else []) for _, v in f.ref.params]
    if values:
        body["parameter_values"] = values
    return body


__all__ = ["candidate", "parse_filter_text", "parse_question"]
