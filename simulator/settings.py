"""Settings: one frozen dataclass built once (from the CLI or the environment) and passed in.

Nothing reads the environment at import time. ``Lifecycle`` holds the timings that scenarios change.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from simulator.faults.latency import Distribution
from simulator.limits import ConnectionLimits
from simulator.traces.spec import ChurnRates

DEFAULT_PROFILE_MIX: dict[str, float] = {"small": 0.5, "medium": 0.4, "large": 0.1}


@dataclass(frozen=True)
class Lifecycle:
    """How long things take in the simulated world (seconds) and how often they go wrong."""

    connect_delay_s: float = 0.2  # waiting -> connected
    offline_fraction: float = 0.0  # endpoints that never answer a connect
    offline_timeout_s: float = 5.0  # waiting -> timeout for offline or unknown endpoints
    idle_timeout_s: float = 600.0  # connected and unused -> timeout
    task_duration_s: float = 0.3  # STARTED -> terminal
    missing_trace_fraction: float = 0.0  # endpoints with no trace file on disk
    missing_path_status: str = "ERROR"  # task status for a path that does not exist (ERROR | INCOMPLETE)
    # Scenario knobs, sampled per record at creation (None / empty = the fixed values above).
    connect_delay: Distribution | None = None  # replaces connect_delay_s
    task_duration: Distribution | None = None  # replaces task_duration_s
    task_polls: int = 0  # > 0: a task turns terminal on its Nth GET /tasks/{id} instead of by time
    intermediate_statuses: tuple[str, ...] = ()  # shown in turn between STARTED and the outcome
    outcome_weights: tuple[tuple[str, float], ...] = ()  # trace-file tasks: COMPLETED/INCOMPLETE/ERROR


@dataclass(frozen=True)
class TLSSettings:
    """HTTPS (off by default): the certificate to serve and its fault. See simulator/tls.py, docs/tls.md."""

    enabled: bool = False
    cert_file: str = ""  # the user's own certificate chain (PEM); empty = issued by the simulator's CA
    key_file: str = ""  # its private key (PEM), when not inside cert_file
    hostnames: tuple[str, ...] = ()  # names the issued certificate covers besides localhost and 127.0.0.1
    fault: str = ""  # "" | expired | wrong-hostname | rotate-after-N (simulator.tls.TLSFault)
    state_dir: str = (
        ""  # the CA lives in <state_dir>/tls; "" = $TANIUM_SIM_STATE, else the user's data folder
    )


@dataclass(frozen=True)
class FleetProfile:
    """What the fleet looks like: platform mix and trace size profiles."""

    linux_fraction: float = 0.7
    profile_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PROFILE_MIX))


CLOCKS = ("system", "manual")


@dataclass(frozen=True)
class Settings:
    """Everything the simulator needs to start. Build with ``Settings(...)`` or :meth:`from_env`."""

    host: str = "127.0.0.1"
    port: int = 8080
    seed: int = 0
    endpoints: int = 25
    token: str = ""  # API token accepted in the `session` header; generated when empty
    admin_token: str = ""  # bearer token for /_sim/ control routes; generated when empty
    username: str = "admin"
    password: str = "tanium"
    session_lifetime_s: float = 7 * 24 * 3600.0  # login sessions
    token_lifetime_s: float = 7 * 24 * 3600.0  # API tokens (Tanium's default: 7 days)
    max_body_bytes: int = 1 << 20
    trace_cache_bytes: int = 512 << 20
    journal: bool = True
    linux_trace_path: str = "/opt/cryptosense/traces/trace.cst.gz"
    windows_trace_path: str = "C:\\ProgramData\\Cryptosense\\traces\\trace.cst.gz"
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    fleet: FleetProfile = field(default_factory=FleetProfile)
    tls: TLSSettings = field(default_factory=TLSSettings)
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    # Scans after the first: every scan_interval_s of clock time while the scanner runs (0: only on
    # demand, POST /_sim/endpoints/{clientId}/scan); churn: how inventories change between scans.
    scan_interval_s: float = 0.0
    churn: ChurnRates = field(default_factory=ChurnRates)
    # Finished tasks kept (the API has no task delete); past it the oldest-finished are forgotten and
    # answer 404. INFERRED: Tanium's own retention is undocumented. 0 keeps every task.
    task_retention: int = 10_000
    # A folder of real CST trace files served as endpoints' traces (simulator/traces/sources.py,
    # docs/recording.md "Bring your own traces"); "" = every trace is generated.
    traces_dir: str = ""
    # "system": the real time. "manual": virtual time in the world's store that moves only when advanced
    # (POST /_sim/clock, injected delays), the same for every process: what `qa --url` drives.
    clock: str = "system"
    # The QA heatmap (`tanium-sim qa --html FILE`) the console links to and GET /_sim/qa-report serves:
    # this one file, named at start (`serve --qa-report FILE`); "" = none.
    qa_report: str = ""

    def __post_init__(self) -> None:
        if self.endpoints < 0:
            raise ValueError("endpoints must be >= 0")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if not self.scan_interval_s >= 0:
            raise ValueError("scan_interval_s must be >= 0 (0: scans only on demand)")
        if self.task_retention < 0:
            raise ValueError("task_retention must be >= 0 (0: keep every task)")
        if self.clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}")
        if not self.token:
            object.__setattr__(self, "token", "token-" + secrets.token_hex(16))
        if not self.admin_token:
            object.__setattr__(self, "admin_token", secrets.token_urlsafe(24))

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields changed (settings are frozen)."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``TANIUM_SIM_*`` variables (used by ``uvicorn --factory``), then overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, conv in (
            ("host", str),
            ("port", int),
            ("seed", int),
            ("endpoints", int),
            ("token", str),
            ("admin_token", str),
            ("username", str),
            ("password", str),
            ("scan_interval_s", float),
            ("task_retention", int),
            ("traces_dir", str),
            ("clock", str),
        ):
            raw = env.get(f"TANIUM_SIM_{name.upper()}")
            if raw is not None and raw != "":
                values[name] = conv(raw)
        values.update(overrides)
        return cls(**values)
