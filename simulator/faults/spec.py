"""Validation helpers shared by scenario and fault-rule parsing: typed field readers that fail with a path.

Every parser reads plain data (what YAML or JSON produced) and raises :class:`SpecError` carrying the
path of the offending field (``("faults", 2, "fault", "status")``) and what was expected; the scenario
loader turns the path into a file line using the YAML node marks.

>>> read_number({"p": 2}, "p", (), maximum=1)
Traceback (most recent call last):
...
simulator.faults.spec.SpecError: p: expected a number <= 1, got 2
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

Path = tuple[str | int, ...]


class SpecError(ValueError):
    """An invalid scenario or rule field: ``path`` locates it, ``message`` says what was expected."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{dotted(path)}: {message}" if path else message)


def dotted(path: Path) -> str:
    """``("faults", 2, "fault")`` -> ``"faults[2].fault"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def mapping(raw: Any, path: Path, allowed: Iterable[str]) -> dict[str, Any]:
    """``raw`` as a mapping whose keys are all in ``allowed``."""
    if not isinstance(raw, dict):
        raise SpecError(path, f"expected a mapping, got {type_name(raw)}")
    allowed = tuple(allowed)
    for key in raw:
        if key not in allowed:
            raise SpecError((*path, str(key)), f"unknown field; expected one of {', '.join(allowed)}")
    return raw


def type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


def read_number(
    raw: dict[str, Any],
    key: str,
    path: Path,
    *,
    default: float | None = None,
    minimum: float = 0.0,
    maximum: float | None = None,
    integer: bool = False,
) -> float:
    value = raw.get(key, default)
    where = (*path, key)
    if value is None:
        raise SpecError(where, "is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(where, f"expected a number, got {type_name(value)}")
    if integer and not float(value).is_integer():
        raise SpecError(where, f"expected a whole number, got {value}")
    if not math.isfinite(value) or value < minimum:
        raise SpecError(where, f"expected a number >= {minimum:g}, got {value}")
    if maximum is not None and value > maximum:
        raise SpecError(where, f"expected a number <= {maximum:g}, got {value}")
    return float(value)


def read_optional_number(raw: dict[str, Any], key: str, path: Path, **kw: Any) -> float | None:
    return None if raw.get(key) is None else read_number(raw, key, path, **kw)


def read_str(raw: dict[str, Any], key: str, path: Path, *, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise SpecError((*path, key), f"expected a non-empty string, got {type_name(value)}")
    return value


def read_strings(raw: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    """A string or a list of strings, as a tuple (empty when absent)."""
    value = raw.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise SpecError((*path, key), "expected a string or a list of strings")


def read_weights(raw: Any, path: Path, allowed: Iterable[str]) -> dict[str, float]:
    """A mapping of name -> non-negative weight, with a positive total."""
    body = mapping(raw, path, allowed)
    weights = {str(k): read_number(body, str(k), path) for k in body}
    if not weights or sum(weights.values()) <= 0:
        raise SpecError(path, "expected at least one positive weight")
    return weights


__all__ = [
    "Path",
    "SpecError",
    "dotted",
    "mapping",
    "read_number",
    "read_optional_number",
    "read_str",
    "read_strings",
    "read_weights",
    "type_name",
]
