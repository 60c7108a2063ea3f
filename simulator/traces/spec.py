"""The types every trace module shares: what a trace is a function of, what generation returns.

A leaf: standard library only, so :mod:`simulator.settings` and the scenario loader can name
:class:`ChurnRates` and :class:`TraceSpec` without loading the generator (cryptography and all).

>>> spec = TraceSpec(seed=1, index=0, client_id="1", hostname="web-a-01", platform="Linux", profile="small")
>>> spec.churn == ChurnRates(), DEFAULT_TRACE_PATHS[spec.platform]
(True, '/opt/cryptosense/traces/trace.cst.gz')
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, replace
from typing import Any

EVIDENCE_PASSWORD = b"infected"  # the evidence zip's password (Tanium's)
# Where the scanner writes its trace when the spec names no path (manifest["path"]).
DEFAULT_TRACE_PATHS = {
    "Linux": "/opt/cryptosense/traces/trace.cst.gz",
    "Windows": "C:\\ProgramData\\Cryptosense\\traces\\trace.cst.gz",
}


@dataclass(frozen=True)
class ChurnRates:
    """Per-scan churn rates (probabilities per candidate; ``new_artifacts`` per existing non-root file).

    The scenario engine sets them (``Settings.churn``); :meth:`none` switches churn off. What each rate
    does: :mod:`simulator.traces.churn`.

    >>> ChurnRates(move_file=0.1).move_file
    0.1
    """

    renew_in_place: float = 0.05  # each leaf certificate issued by a seed intermediate
    new_artifacts: float = 0.03  # new artifact files per existing non-root file (stochastically rounded)
    remove_key: float = 0.02  # each key record (private, public, SSH)
    move_file: float = 0.01  # each non-root file
    pgp_new_uid: float = 0.05  # each PGP key gains a User ID
    pgp_revoked: float = 0.02  # each PGP key not yet revoked gets a revocation

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            limit = 10.0 if f.name == "new_artifacts" else 1.0
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= limit:
                raise ValueError(f"churn.{f.name} must be a number between 0 and {limit:g}, got {value!r}")

    @classmethod
    def none(cls) -> ChurnRates:
        """No churn at all: every scan repeats scan 1's inventory (only the scan time moves)."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChurnRates:
        """Rates from a scenario mapping; unknown names are a ValueError naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown churn rate {unknown[0]!r}; expected one of {', '.join(sorted(known))}")
        return cls(**{k: float(v) for k, v in data.items()})

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


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
    # A real trace file served instead of a generated trace (serve --traces-dir: simulator/traces/sources.py):
    # its checked, resolved path. Every field above but `path` then only places and dates the file.
    source_file: str | None = None

    def for_scan(self, scan: int) -> TraceSpec:
        """The full-trace spec of scan ``scan`` in this spec's chain, dated ``scan_interval_s`` per scan.

        ``replace(spec, scan=n)`` alone keeps this scan's time, so scan n would claim scan 1's time and
        rebuild scan 1's inventory from a different date: every record would then differ from the real
        scan 1 (``tanium-sim trace generate --scan`` did that). This moves both together.

        >>> s1 = TraceSpec(seed=1, index=0, client_id="1", hostname="h", platform="Linux", profile="small")
        >>> s3 = s1.for_scan(3)
        >>> s3.scan, s3.scan_time - s1.scan_time, s3.for_scan(1) == s1
        (3, 172800.0, True)
        """
        if scan < 1:
            raise ValueError("scan must be >= 1")
        moved = self.scan_time + (scan - self.scan) * self.scan_interval_s
        return replace(self, scan=scan, scan_time=moved, diff=False)


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


__all__ = ["DEFAULT_TRACE_PATHS", "EVIDENCE_PASSWORD", "ChurnRates", "GeneratedTrace", "TraceSpec"]
