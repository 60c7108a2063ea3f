"""Sensors: the runbook's five, what each answers on an endpoint, and how answers are cached.

A sensor answer is cached on the endpoint: it is re-evaluated every half of the sensor's
``max_age_seconds``, on a grid whose phase is seeded per endpoint and sensor. A question takes the cached
answer when it is no older than the question's Maximum Data Age (the select/filter ``max_age_seconds``,
0 = the sensor's own), otherwise the endpoint evaluates afresh. Everything is derived from the clock and
the seed — no cache is stored — which is exactly what makes a default-age question still say ``Running``
right after a stop action while a 60-second one already says ``Not Running``.

>>> catalog = SensorCatalog()
>>> catalog.by_name("file exists").parameter_keys
('filePath',)
"""

from __future__ import annotations

import json
import math
import ntpath
from dataclasses import dataclass
from typing import Any

from simulator.errors import NotFound
from simulator.platform.timing import PlatformTiming
from simulator.state.filesystem import EndpointFiles
from simulator.state.fleet import Endpoint, stable_fraction, stable_hash
from simulator.state.scanner import ScannerBook

NO_RESULTS = "[no results]"
UNAVAILABLE = "[current results unavailable]"
FILE_EXISTS = "File Exists: {path}"  # INFERRED answer strings (spec)
FILE_MISSING = "File does not exist"


@dataclass(frozen=True)
class Sensor:
    """One sensor definition as ``GET /api/v2/sensors/by-name/{name}`` shows it."""

    id: int
    name: str
    category: str
    description: str
    parameter_keys: tuple[str, ...] = ()
    value_type: str = "String"
    parameter_examples: tuple[str, ...] = ()  # one value per key, for the hint in a 400

    def example(self) -> str:
        """The sensor as question text with every parameter filled, e.g. ``File Exists[/etc/hosts]``."""
        if not self.parameter_keys:
            return self.name
        values = self.parameter_examples or tuple(f"<{key}>" for key in self.parameter_keys)
        return f"{self.name}[{', '.join(values)}]"

    @property
    def hash(self) -> int:
        return stable_hash("sensor", self.name) & 0xFFFFFFFF

    def parameter_definition(self) -> str:
        if not self.parameter_keys:
            return ""
        params = [
            {
                "key": key,
                "label": key,
                "parameterType": "com.tanium.components.parameters::TextInputParameter",
                "model": "com.tanium.components.parameters::TextInputParameter",
                "defaultValue": "",
                "validationExpressions": [],
            }
            for key in self.parameter_keys
        ]
        return json.dumps(
            {"parameters": params, "model": "com.tanium.components.parameters::ParametersArray"}
        )

    def to_api(self, max_age_seconds: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "hash": self.hash,
            "category": self.category,
            "description": self.description,
            "max_age_seconds": max_age_seconds,
            "parameter_definition": self.parameter_definition(),
            "value_type": self.value_type,
            "hidden_flag": False,
            "ignore_case_flag": True,
            "exclude_from_parse_flag": False,
            "source_id": 0,
            "delimiter": ",",
            "content_set": {"id": 7, "name": "Cryptosense"},
            "queries": [],
            "subcolumns": [],
        }


SENSORS: tuple[Sensor, ...] = (
    Sensor(1, "Online", "Reserved", "Returns True for every machine that answers (INFERRED)."),
    Sensor(
        2,
        "3P Cryptosense - Monitor",
        "Cryptosense",
        "Whether the Cryptosense Filesystem Scanner process is running: Running / Not Running.",
    ),
    Sensor(
        3,
        "File Exists",
        "File System",
        "Whether the file at the given path exists.",
        parameter_keys=("filePath",),
        parameter_examples=("/opt/cryptosense/bin/cs-host-scanner",),
    ),
    Sensor(4, "Computer Name", "Reserved", "The name of the machine."),
    Sensor(5, "Computer ID", "Reserved", "The Tanium client's computer id.", value_type="Numeric"),
)


@dataclass(frozen=True)
class SensorRef:
    """A sensor with its parameter values: what one select or filter asks about."""

    sensor: Sensor
    params: tuple[tuple[str, str], ...] = ()

    @property
    def display_name(self) -> str:
        if not self.params:
            return self.sensor.name
        return f"{self.sensor.name}[{', '.join(v for _, v in self.params)}]"

    @property
    def hash(self) -> int:
        if not self.params:
            return self.sensor.hash
        return stable_hash("sensor", self.sensor.name, *self.params) & 0xFFFFFFFF

    def param(self, key: str) -> str:
        return dict(self.params).get(key, "")

    def to_api(self) -> dict[str, Any]:
        if not self.params:
            return {"id": self.sensor.id, "name": self.sensor.name, "hash": self.sensor.hash}
        return {
            "source_id": self.sensor.id,
            "source_hash": self.sensor.hash,
            "name": self.sensor.name,
            "hash": self.hash,
            "parameters": [{"key": f"||{k}||", "value": v} for k, v in self.params],
        }


class SensorCatalog:
    """The sensors the simulated server knows, looked up by name (any case), hash or id."""

    def __init__(self, sensors: tuple[Sensor, ...] = SENSORS) -> None:
        self.sensors = sensors
        self._by_name = {s.name.lower(): s for s in sensors}

    def find(self, name: str) -> Sensor | None:
        return self._by_name.get(name.strip().lower())

    def by_name(self, name: str) -> Sensor:
        sensor = self.find(name)
        if sensor is None:
            raise NotFound(f"no sensor named {name!r}")
        return sensor

    def by_id_or_hash(self, *, sensor_id: object = None, sensor_hash: object = None) -> Sensor | None:
        for s in self.sensors:
            if (sensor_id is not None and str(sensor_id) == str(s.id)) or (
                sensor_hash is not None and str(sensor_hash) == str(s.hash)
            ):
                return s
        return None

    def names_longest_first(self) -> list[str]:
        return sorted((s.name for s in self.sensors), key=len, reverse=True)


class SensorEvaluator:
    """What each sensor answers on an endpoint at a time, with the endpoint-side cache."""

    def __init__(self, seed: int, scanner: ScannerBook, files: EndpointFiles, timing: PlatformTiming) -> None:
        self.seed = seed
        self.scanner = scanner
        self.files = files
        self.timing = timing

    def truth(self, ref: SensorRef, endpoint: Endpoint, t: float) -> str:
        """The value a fresh evaluation gives at ``t``."""
        name = ref.sensor.name
        if name == "Online":
            return "True"
        if name == "Computer Name":
            return endpoint.hostname
        if name == "Computer ID":
            return endpoint.client_id
        if name == "3P Cryptosense - Monitor":
            return "Running" if self.scanner.running_at(endpoint, t) else "Not Running"
        if name == "File Exists":
            path = ref.param("filePath")
            return FILE_EXISTS.format(path=path) if self._file_exists(endpoint, path, t) else FILE_MISSING
        return NO_RESULTS

    def _file_exists(self, endpoint: Endpoint, path: str, t: float) -> bool:
        if not path or not self.scanner.installed_at(endpoint, t):
            return False
        wanted = {self.files.scanner_path(endpoint)}
        if endpoint.has_trace:
            wanted.add(self.files.trace_path(endpoint))
        if endpoint.is_windows:
            return ntpath.normcase(path.replace("/", "\\")) in {ntpath.normcase(p) for p in wanted}
        return path in wanted

    def last_evaluation(self, ref: SensorRef, endpoint: Endpoint, t: float) -> float:
        """When the endpoint last refreshed its cached answer (every half max age, seeded phase)."""
        period = self.timing.sensor_max_age(ref.sensor.name) / 2.0
        phase = stable_fraction(self.seed, endpoint.index, "sensor-phase", ref.hash) * period
        return phase + math.floor((t - phase) / period) * period

    def answer(self, ref: SensorRef, endpoint: Endpoint, t: float, max_age_seconds: int = 0) -> str:
        """The answer at ``t`` for a question whose Maximum Data Age is ``max_age_seconds`` (0 = sensor's)."""
        limit = max_age_seconds if max_age_seconds > 0 else self.timing.sensor_max_age(ref.sensor.name)
        cached_at = self.last_evaluation(ref, endpoint, t)
        return self.truth(ref, endpoint, cached_at if t - cached_at <= limit else t)


__all__ = [
    "FILE_EXISTS",
    "FILE_MISSING",
    "NO_RESULTS",
    "SENSORS",
    "UNAVAILABLE",
    "Sensor",
    "SensorCatalog",
    "SensorEvaluator",
    "SensorRef",
]
