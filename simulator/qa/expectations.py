"""What a scenario allows each endpoint's collection to end as: its ``expect:`` block, validated.

A scenario declares, per class of endpoint, the outcomes it accepts: ``success`` or the ``reason`` of a
typed client error (``connection_timeout``, ``task_failed``, ``integrity``, ...; see client/_errors.py)::

    expect:
      default: success                    # endpoints that are online and hold a trace
      offline: connection_timeout         # endpoints that never answer a connect
      missing_trace: task_failed          # endpoints whose scanner wrote no trace

A class that is not declared falls back to ``default``. The class of an endpoint comes from the
simulator's ground-truth manifest (``online``, ``has_trace``), so a scenario can demand success from
the healthy endpoints and a precise failure from the others. Anything else an endpoint ends as (an
untyped exception, a trace that does not match its manifest) is never allowed.

>>> expectations = Expectations.parse({"default": "success", "offline": "connection_timeout"})
>>> sorted(expectations.allowed(endpoint_class({"online": False, "has_trace": True})))
['connection_timeout']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from client import TaniumError

SUCCESS = "success"
CLASSES = ("default", "offline", "missing_trace")


def _reasons(cls: type[TaniumError]) -> Iterator[str]:
    yield cls.reason
    for sub in cls.__subclasses__():
        yield from _reasons(sub)


ERROR_REASONS: tuple[str, ...] = tuple(sorted(set(_reasons(TaniumError)) - {"error"}))
OUTCOMES: tuple[str, ...] = (SUCCESS, *ERROR_REASONS)


class ExpectationError(ValueError):
    """An ``expect:`` block that names an unknown endpoint class or outcome."""


def endpoint_class(manifest: Mapping[str, Any]) -> str:
    """``offline``, ``missing_trace`` or ``default`` for an endpoint's ground-truth manifest."""
    if not manifest.get("online", True):
        return "offline"
    if not manifest.get("has_trace", True):
        return "missing_trace"
    return "default"


@dataclass(frozen=True)
class Expectations:
    """Allowed outcomes per endpoint class (see the module docstring)."""

    by_class: Mapping[str, frozenset[str]]

    @classmethod
    def parse(cls, raw: Mapping[str, Any], source: str = "expect") -> Expectations:
        """From a scenario's ``expect`` mapping; raises :class:`ExpectationError` naming the problem."""
        out: dict[str, frozenset[str]] = {}
        for key, value in raw.items():
            if key not in CLASSES:
                raise ExpectationError(
                    f"{source}: unknown endpoint class {key!r}; expected one of {', '.join(CLASSES)}"
                )
            values = [value] if isinstance(value, str) else list(value or [])
            if not values:
                raise ExpectationError(f"{source}.{key}: expected an outcome or a list of outcomes")
            for outcome in values:
                if outcome not in OUTCOMES:
                    raise ExpectationError(
                        f"{source}.{key}: unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}"
                    )
            out[str(key)] = frozenset(values)
        out.setdefault("default", frozenset({SUCCESS}))
        return cls(out)

    @classmethod
    def of(cls, scenario: Any) -> Expectations:
        """The expectations of a loaded :class:`~simulator.scenarios.Scenario`."""
        return cls.parse(scenario.expect, f"{scenario.source}: expect")

    def allowed(self, klass: str) -> frozenset[str]:
        return self.by_class.get(klass, self.by_class["default"])

    def to_dict(self) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in self.by_class.items()}


__all__ = [
    "CLASSES",
    "ERROR_REASONS",
    "OUTCOMES",
    "SUCCESS",
    "ExpectationError",
    "Expectations",
    "endpoint_class",
]
