"""Trace generation: deterministic gzipped CST traces, their manifests, and the evidence zip.

CONTRACT used by the rest of the simulator (keep these names and signatures):

- ``TraceSpec``: what identifies one trace (seed, endpoint identity, profile, scan number, scan time).
- ``generate_trace(spec) -> GeneratedTrace``: byte-identical output for the same spec.
- ``build_evidence_zip(member_name, data) -> bytes``: a one-member ZipCrypto zip, password ``infected``.
- ``TraceCatalog(cache_bytes)``: memory-bounded cache; ``.trace(spec)`` and ``.evidence_zip(spec)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

EVIDENCE_PASSWORD = b"infected"


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
