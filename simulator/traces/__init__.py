"""Trace generation: deterministic gzipped CST traces, their manifests, and the evidence zip.

CONTRACT used by the rest of the simulator (keep these names and signatures):

- ``TraceSpec``: what identifies one trace (seed, endpoint identity, profile, scan number, scan time).
- ``generate_trace(spec) -> GeneratedTrace``: byte-identical output for the same spec.
- ``build_evidence_zip(member_name, data) -> bytes``: a one-member ZipCrypto zip, password ``infected``.
- ``TraceCatalog(cache_bytes)``: memory-bounded cache; ``.trace(spec)`` and ``.evidence_zip(spec)``.

Modules, leaves first (each imports only modules listed before it, and never this package):
``spec`` (TraceSpec, GeneratedTrace, ChurnRates: standard library only), ``types`` (the type table),
``profiles`` (sizes and planted-finding rates), ``stores`` (where trust stores live), ``zipcrypto``
(evidence zip), ``keys`` (key pool), ``der``/``certs`` (certificates), ``findings`` (ground truth),
``records`` (record JSON), ``pgp``, ``roots`` (per-seed trust-store pool), ``artifacts`` (leaves, keys,
SSH, PGP, keystores), ``churn`` (how scans change), ``render`` (inventories and the uncompressed CST),
``diff`` (diff traces), ``generator`` (the CST writer), ``catalog`` (the cache).

This package only re-exports. The :mod:`~simulator.traces.spec` names load with it; the others on
first use, so ``simulator.settings`` can name ``ChurnRates`` without loading cryptography.

>>> from simulator.traces import TraceSpec, generate_trace
>>> spec = TraceSpec(seed=1, index=0, client_id="1", hostname="web-a-01", platform="Linux", profile="small")
>>> trace = generate_trace(spec)
>>> trace.manifest["record_count"] == sum(trace.manifest["by_type"].values())
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from simulator.traces.spec import EVIDENCE_PASSWORD, ChurnRates, GeneratedTrace, TraceSpec

if TYPE_CHECKING:
    from simulator.traces.catalog import TraceCatalog
    from simulator.traces.findings import FINDING_KEYS
    from simulator.traces.generator import generate_trace
    from simulator.traces.profiles import PROFILES
    from simulator.traces.render import render_trace
    from simulator.traces.types import TYPES
    from simulator.traces.zipcrypto import build_evidence_zip

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

# Re-exported on first use (PEP 562), from the module that defines each: the same names as the
# TYPE_CHECKING block above, which is what type checkers and import-graph tools read.
_LAZY = {
    "FINDING_KEYS": "simulator.traces.findings",
    "PROFILES": "simulator.traces.profiles",
    "TYPES": "simulator.traces.types",
    "TraceCatalog": "simulator.traces.catalog",
    "build_evidence_zip": "simulator.traces.zipcrypto",
    "generate_trace": "simulator.traces.generator",
    "render_trace": "simulator.traces.render",
}

if not TYPE_CHECKING:  # hidden from mypy, so a misspelt name is still an error there

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY})
