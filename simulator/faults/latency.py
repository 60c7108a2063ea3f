"""Delay distributions: fixed, uniform, normal and lognormal, in seconds, drawn from an injected RNG.

Scenarios declare them with units in the field names (``ms`` or ``s``), toxiproxy-style::

    {model: fixed, ms: 100}
    {model: uniform, min_ms: 20, max_ms: 80}
    {model: normal, mean_ms: 50, stddev_ms: 10}
    {model: lognormal, median_ms: 40, sigma: 0.6}

A bare number is a fixed delay in the declaring field's default unit. Samples are never negative
(a normal draw below zero is clamped to zero: a request cannot be answered before it is sent).

>>> import random
>>> d = Distribution.parse({"model": "lognormal", "median_ms": 40, "sigma": 0.5})
>>> round(d.median * 1000)
40
>>> 0 <= d.sample(random.Random(1))
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

MODELS = ("fixed", "uniform", "normal", "lognormal")
# Per model: the parameters (in seconds once parsed) and which of them are required.
_PARAMS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "uniform": ("min", "max"),
    "normal": ("mean", "stddev"),
    "lognormal": ("median",),
}
_UNITS = {"ms": 0.001, "s": 1.0}


class DistributionError(ValueError):
    """A distribution spec that cannot be used; ``field`` names the offending key."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Distribution:
    """A non-negative delay distribution; all values in seconds."""

    model: str = "fixed"
    value: float = 0.0  # fixed
    min: float = 0.0  # uniform
    max: float = 0.0
    mean: float = 0.0  # normal
    stddev: float = 0.0
    median_s: float = 0.0  # lognormal
    sigma: float = 0.0

    @classmethod
    def fixed(cls, seconds: float) -> Distribution:
        """``Distribution.fixed(0.1)``: always 100 ms."""
        return cls("fixed", value=seconds)

    @property
    def median(self) -> float:
        """The distribution's median in seconds (what the latency tests compare against)."""
        if self.model == "fixed":
            return self.value
        if self.model == "uniform":
            return (self.min + self.max) / 2
        if self.model == "normal":
            return max(0.0, self.mean)
        return self.median_s

    @property
    def is_zero(self) -> bool:
        return self.model == "fixed" and self.value == 0.0

    def sample(self, rng: random.Random) -> float:
        """One delay in seconds, drawn from ``rng`` (never the global random module)."""
        if self.model == "fixed":
            return self.value
        if self.model == "uniform":
            return rng.uniform(self.min, self.max)
        if self.model == "normal":
            return max(0.0, rng.gauss(self.mean, self.stddev))
        return math.exp(rng.gauss(math.log(self.median_s), self.sigma)) if self.median_s > 0 else 0.0

    def to_dict(self, unit: str = "ms") -> dict[str, Any]:
        scale = _UNITS[unit]

        def v(x: float) -> float:
            return round(x / scale, 6)

        if self.model == "fixed":
            return {"model": "fixed", unit: v(self.value)}
        if self.model == "uniform":
            return {"model": "uniform", f"min_{unit}": v(self.min), f"max_{unit}": v(self.max)}
        if self.model == "normal":
            return {"model": "normal", f"mean_{unit}": v(self.mean), f"stddev_{unit}": v(self.stddev)}
        return {"model": "lognormal", f"median_{unit}": v(self.median_s), "sigma": self.sigma}

    @classmethod
    def parse(cls, raw: Any, *, default_unit: str = "ms") -> Distribution:
        """A distribution from a scenario value: a number (fixed, ``default_unit``) or a mapping.

        Raises :class:`DistributionError` naming the offending field and what was expected.
        """
        if isinstance(raw, bool):
            raise DistributionError("expected a number or a mapping with a 'model'")
        if isinstance(raw, int | float):
            if not math.isfinite(raw) or raw < 0:
                raise DistributionError(f"expected a non-negative delay, got {raw:g}")
            return cls._checked("fixed", {"value": float(raw) * _UNITS[default_unit]}, {})
        if not isinstance(raw, dict):
            raise DistributionError("expected a number or a mapping with a 'model'")
        model = raw.get("model", "fixed")
        if model not in MODELS:
            raise DistributionError(f"expected one of {', '.join(MODELS)}, got {model!r}", "model")
        values: dict[str, float] = {}
        extra: dict[str, float] = {}
        for key, value in raw.items():
            if key == "model":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DistributionError(f"expected a number, got {value!r}", str(key))
            if not math.isfinite(value) or value < 0:
                raise DistributionError(f"expected a non-negative number, got {value:g}", str(key))
            if key == "sigma" and model == "lognormal":
                extra["sigma"] = float(value)
                continue
            base, unit = _split_unit(str(key), model)
            if base is None or unit is None:
                allowed = ", ".join(f"{p}_ms|{p}_s" if p != "value" else "ms|s" for p in _PARAMS[model])
                extra_hint = ", sigma" if model == "lognormal" else ""
                raise DistributionError(
                    f"unknown field for model {model}; expected {allowed}{extra_hint}", key
                )
            values[base] = float(value) * _UNITS[unit]
        return cls._checked(model, values, extra)

    @classmethod
    def _checked(cls, model: str, values: dict[str, float], extra: dict[str, float]) -> Distribution:
        for name in _PARAMS[model]:
            if name not in values:
                field = "ms" if name == "value" else f"{name}_ms"
                raise DistributionError(f"model {model} needs {field} (or {field[:-2]}s)", field)
        for name, value in (*values.items(), *extra.items()):
            if not math.isfinite(value) or value < 0:
                field = name if name == "sigma" else ("ms" if name == "value" else f"{name}_ms")
                raise DistributionError(f"expected a non-negative number, got {value:g}", field)
        if model == "fixed":
            return cls("fixed", value=values["value"])
        if model == "uniform":
            if values["max"] < values["min"]:
                raise DistributionError("expected max >= min", "max_ms")
            return cls("uniform", min=values["min"], max=values["max"])
        if model == "normal":
            return cls("normal", mean=values["mean"], stddev=values["stddev"])
        return cls("lognormal", median_s=values["median"], sigma=extra.get("sigma", 0.5))


def _split_unit(key: str, model: str) -> tuple[str | None, str | None]:
    if model == "fixed" and key in _UNITS:
        return "value", key
    base, _, unit = key.rpartition("_")
    if unit in _UNITS and base in _PARAMS[model]:
        return base, unit
    return None, None


ZERO = Distribution.fixed(0.0)

__all__ = ["MODELS", "ZERO", "Distribution", "DistributionError"]
