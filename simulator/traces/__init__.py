"""Trace generation: deterministic gzipped CST traces, their manifests, and the evidence zip.

CONTRACT used by the rest of the simulator (keep these names and signatures):

- ``TraceSpec``: what identifies one trace (seed, endpoint identity, profile, scan number, scan time).
- ``generate_trace(spec) -> GeneratedTrace``: byte-identical output for the same spec.
- ``build_evidence_zip(member_name, data) -> bytes``: a one-member ZipCrypto zip, password ``infected``.
- ``TraceCatalog(cache_bytes)``: memory-bounded cache; ``.trace(spec)`` and ``.evidence_zip(spec)``.

Modules: ``keys`` (key pool), ``der``/``certs`` (certificates), ``roots`` (per-seed trust-store pool),
``artifacts`` (leaves, keys, SSH, PGP, keystores), ``stores`` (where trust stores live), ``profiles``
(sizes and planted-finding rates), ``records`` (record JSON), ``types`` (the type table), ``findings``
(ground truth), ``generator`` (the CST writer), ``churn`` (how scans change), ``diff`` (diff traces),
``zipcrypto`` (evidence zip), ``catalog`` (the cache).

>>> spec = TraceSpec(seed=1, index=0, client_id="1", hostname="web-a-01", platform="Linux", profile="small")
>>> trace = generate_trace(spec)
>>> trace.manifest["record_count"] == sum(trace.manifest["by_type"].values())
True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from simulator.traces.churn import ChurnRates

EVIDENCE_PASSWORD = b"infected"

__all__ = [
    "EVIDENCE_PASSWORD",
    "FINDING_KEYS",
    "PROFILES",
    "TYPES",
    "ChurnRates",
    "GeneratedTrace",
    "TraceCatalog",
    "TraceSpec",
    "build_evidence_zip",
    "generate_trace",
    "render_trace",
]


@dataclass(frozen=True)
class TraceSpec:
    """Everything a trace is a function of."""

    seed: int
    index: int  # endpoint index in the fleet
    client_id: str
    hostname: str
    platform: str  # "Linux" | "Windows"
    profile: str  # small | medium | large | stress
    scan: int = 1
    scan_time: float = 1_793_491_200.0  # epoch seconds of the scan (2026-11-01T00:00:00Z by default)
    scanner_version: str = "1.12.1"
    path: str | None = None  # the trace's path on the endpoint (manifest["path"]); None: platform default
    user: str = ""  # the endpoint's main user (home folders); empty: derived from the seed
    records: int | None = None  # exact record count, overriding the profile (sizes stress traces)
    # Scan k of the chain happened at scan_time - (scan - k) * scan_interval_s (churn dates use it).
    scan_interval_s: float = 86_400.0
    churn: ChurnRates = field(default_factory=ChurnRates)  # how inventories change per scan
    diff: bool = False  # True: the diff trace of scan `scan` against scan - 1 (docs/cst-format.md)


@dataclass(frozen=True)
class GeneratedTrace:
    """A generated trace: the gzipped CST bytes and the ground truth about them."""

    data: bytes  # gzip of the concatenated-JSON trace: what sits on the endpoint's disk
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# Re-exported below the dataclasses: these modules import TraceSpec/GeneratedTrace lazily.
from simulator.traces.catalog import TraceCatalog  # noqa: E402
from simulator.traces.findings import FINDING_KEYS  # noqa: E402
from simulator.traces.generator import generate_trace, render_trace  # noqa: E402
from simulator.traces.profiles import PROFILES  # noqa: E402
from simulator.traces.types import TYPES  # noqa: E402
from simulator.traces.zipcrypto import build_evidence_zip  # noqa: E402
