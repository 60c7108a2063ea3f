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


MODEL_DOCS = {
    "fixed": "always the same delay: {ms: 100} (a bare number is this too)",
    "uniform": "any delay between min and max, equally likely: {model: uniform, min_ms: 20, max_ms: 80}",
    "normal": "a bell curve, clamped at 0: {model: normal, mean_ms: 50, stddev_ms: 10}",
    "lognormal": "a long right tail, like real networks: {model: lognormal, median_ms: 40, sigma: 0.6}",
}
DEFAULT_SIGMA = 0.5


class DistributionError(ValueError):
    """A distribution spec that cannot be used; ``field`` names the offending key, ``allowed`` the choices."""

    def __init__(self, message: str, field: str = "", allowed: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.field = field
        self.allowed = allowed


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

        Raises :class:`DistributionError` naming the offending field and what was expected (the first
        of :meth:`problems`).
        """
        problems = cls.problems(raw, default_unit=default_unit)
        if problems:
            raise problems[0]
        if isinstance(raw, int | float):
            return cls.fixed(float(raw) * _UNITS[default_unit])
        model = raw.get("model", "fixed")
        values = _seconds(raw, model)
        if model == "fixed":
            return cls("fixed", value=values["value"])
        if model == "uniform":
            return cls("uniform", min=values["min"], max=values["max"])
        if model == "normal":
            return cls("normal", mean=values["mean"], stddev=values["stddev"])
        return cls("lognormal", median_s=values["median"], sigma=float(raw.get("sigma", DEFAULT_SIGMA)))

    @classmethod
    def problems(cls, raw: Any, *, default_unit: str = "ms") -> list[DistributionError]:
        """Every problem of a distribution spec, in field order (empty: :meth:`parse` accepts it)."""
        if isinstance(raw, bool) or not isinstance(raw, int | float | dict):
            return [DistributionError("expected a number or a mapping with a 'model'")]
        if not isinstance(raw, dict):
            if not math.isfinite(raw) or raw < 0:
                return [DistributionError(f"expected a non-negative delay, got {raw:g}")]
            return []
        model = raw.get("model", "fixed")
        if model not in MODELS:
            return [DistributionError(f"unknown model {model!r}", "model", MODELS)]
        out: list[DistributionError] = []
        seen: set[str] = set()
        for key, value in raw.items():
            if key == "model":
                continue
            base, _ = _split_unit(str(key), model)
            if base is None and not (key == "sigma" and model == "lognormal"):
                allowed = ("model", *model_fields(model))
                if "model" in raw:
                    out.append(DistributionError(f"unknown field for model {model}", str(key), allowed))
                else:  # no model: a fixed delay, unless the model is named
                    out.append(
                        DistributionError(
                            f"unknown field; with no 'model' the delay is fixed; models: {', '.join(MODELS)}",
                            str(key),
                            allowed,
                        )
                    )
                continue
            seen.add(base or "sigma")
            if isinstance(value, bool) or not isinstance(value, int | float):
                out.append(DistributionError(f"expected a number, got {value!r}", str(key)))
            elif not math.isfinite(value) or value < 0:
                out.append(DistributionError(f"expected a non-negative number, got {value:g}", str(key)))
        for name in _PARAMS[model]:
            if name not in seen:
                field = "ms" if name == "value" else f"{name}_ms"
                out.append(DistributionError(f"model {model} needs {field} (or {field[:-2]}s)", field))
        if not out and model == "uniform":
            values = _seconds(raw, model)
            if values["max"] < values["min"]:
                out.append(
                    DistributionError("expected max >= min", next(k for k in raw if k.startswith("max_")))
                )
        return out

    @staticmethod
    def json_schema(default_unit: str = "ms") -> dict[str, Any]:
        """The JSON Schema of a distribution spec, generated from :data:`MODELS` and their fields."""
        unit_word = {"ms": "milliseconds", "s": "seconds"}[default_unit]
        number = {"type": "number", "minimum": 0}
        variants: list[dict[str, Any]] = [{**number, "description": f"a fixed delay in {unit_word}"}]
        for model in MODELS:
            properties: dict[str, Any] = {"model": {"const": model}}
            needs: list[dict[str, Any]] = []
            for name in _PARAMS[model]:
                keys = [f"{name}_{u}" if name != "value" else u for u in _UNITS]
                properties.update({key: dict(number) for key in keys})
                needs.append({"anyOf": [{"required": [key]} for key in keys]})
            if model == "lognormal":
                properties["sigma"] = {**number, "default": DEFAULT_SIGMA}
            variant: dict[str, Any] = {
                "type": "object",
                "description": MODEL_DOCS[model],
                "properties": properties,
                "additionalProperties": False,
                "allOf": needs,
            }
            if model != "fixed":  # a mapping without a model is a fixed delay
                variant["required"] = ["model"]
            variants.append(variant)
        return {"anyOf": variants}


def model_fields(model: str) -> tuple[str, ...]:
    """The fields a model takes besides ``model``: ``("min_ms", "min_s", "max_ms", "max_s")``."""
    keys = tuple(f"{p}_{u}" if p != "value" else u for p in _PARAMS[model] for u in _UNITS)
    return (*keys, "sigma") if model == "lognormal" else keys


def _seconds(raw: dict[str, Any], model: str) -> dict[str, float]:
    """A valid spec's parameters in seconds, by base name (``{"min": 0.02, "max": 0.08}``)."""
    values: dict[str, float] = {}
    for key, value in raw.items():
        base, unit = _split_unit(str(key), model)
        if base is not None and unit is not None:
            values[base] = float(value) * _UNITS[unit]
    return values


def _split_unit(key: str, model: str) -> tuple[str | None, str | None]:
    if model == "fixed" and key in _UNITS:
        return "value", key
    base, _, unit = key.rpartition("_")
    if unit in _UNITS and base in _PARAMS[model]:
        return base, unit
    return None, None


ZERO = Distribution.fixed(0.0)

__all__ = [
    "DEFAULT_SIGMA",
    "MODELS",
    "MODEL_DOCS",
    "ZERO",
    "Distribution",
    "DistributionError",
    "model_fields",
]
