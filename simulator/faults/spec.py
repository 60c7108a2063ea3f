"""The errors of scenario and fault-rule checking: a :class:`SpecError` names a field by its path.

The field tables (:mod:`simulator.faults.fields`) check plain data (what YAML or JSON produced) and
report each problem as a :class:`SpecError` carrying the path of the offending field
(``("faults", 2, "fault", "status")``) and what was expected; the scenario loader turns the path into a
file line using the YAML node marks. Several at once are one :class:`SpecErrors`.

>>> too_big = SpecError(("p",), "expected a number <= 1, got 2")
>>> raise_errors([too_big, SpecError(("q",), "unknown field", ("a", "b"))])
Traceback (most recent call last):
...
simulator.faults.spec.SpecErrors: p: expected a number <= 1, got 2 | q: unknown field; expected one of a, b
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Path = tuple[str | int, ...]


class SpecError(ValueError):
    """An invalid scenario or rule field: ``path`` locates it, ``message`` says what was expected.

    ``problem`` is what is wrong and ``allowed`` the values that would do (empty when not a choice);
    ``message`` joins them (``unknown field; expected one of a, b``) and :meth:`line` writes them the
    way ``tanium-sim scenario validate`` prints them (``unknown field (allowed: a, b)``).
    """

    def __init__(self, path: Path, message: str, allowed: Iterable[str] = ()) -> None:
        self.path = path
        self.problem = message
        self.allowed = tuple(allowed)
        self.message = f"{message}; expected one of {', '.join(self.allowed)}" if self.allowed else message
        super().__init__(f"{dotted(path)}: {self.message}" if path else self.message)

    @property
    def errors(self) -> tuple[SpecError, ...]:
        """Every error this one stands for (itself; several for :class:`SpecErrors`)."""
        return (self,)

    def line(self) -> str:
        """``path: problem (allowed: ...)``: one line of ``scenario validate``."""
        text = f"{self.problem} (allowed: {', '.join(self.allowed)})" if self.allowed else self.problem
        return f"{dotted(self.path)}: {text}" if self.path else text


# How many errors a joined message (a 400's text) spells out; the rest are counted.
MAX_JOINED = 10


def joined(texts: list[str]) -> str:
    """Several error texts as one: the first :data:`MAX_JOINED` joined by `` | ``, the rest counted."""
    shown = " | ".join(texts[:MAX_JOINED])
    rest = len(texts) - MAX_JOINED
    return f"{shown} | and {rest} more" if rest > 0 else shown


class SpecErrors(SpecError):
    """Several invalid fields at once; ``path`` and ``message`` are the first's, ``errors`` all of them."""

    def __init__(self, errors: Iterable[SpecError]) -> None:
        self._errors = tuple(errors)
        first = self._errors[0]
        super().__init__(first.path, first.problem, first.allowed)
        self.args = (joined([str(e) for e in self._errors]),)

    @property
    def errors(self) -> tuple[SpecError, ...]:
        return self._errors

    def __str__(self) -> str:
        return str(self.args[0])


def raise_errors(errors: list[SpecError]) -> None:
    """Raise ``errors`` as one :class:`SpecError` (the error itself when there is only one)."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise SpecErrors(errors)


def dotted(path: Path) -> str:
    """``("faults", 2, "fault")`` -> ``"faults[2].fault"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


__all__ = [
    "MAX_JOINED",
    "Path",
    "SpecError",
    "SpecErrors",
    "dotted",
    "joined",
    "raise_errors",
    "type_name",
]
