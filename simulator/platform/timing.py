"""The platform's timing and failure knobs: one frozen dataclass, injectable, with defaults.

Scenarios change these (answer latency, sensor max ages, how long an action takes per endpoint, how often
it fails); the platform backend reads them and nothing else. The share of offline endpoints is the fleet's
(``Settings.lifecycle.offline_fraction``), so the same endpoints are offline for every API.

>>> timing = PlatformTiming(answer_delay_s=0.5, action_failure_rate=0.1)
>>> timing.sensor_max_age("3P Cryptosense - Monitor")
900
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_SENSOR_MAX_AGE_S: dict[str, int] = {
    # INFERRED: Tanium's stock sensors cache for 10-15 minutes; identity sensors for a day.
    "Online": 600,
    "3P Cryptosense - Monitor": 900,
    "File Exists": 900,
    "Computer Name": 86_400,
    "Computer ID": 86_400,
}


@dataclass(frozen=True)
class PlatformTiming:
    """How long the platform's questions and actions take (seconds) and how often actions fail."""

    answer_delay_s: float = 2.0  # fastest endpoint answer after a question is asked
    answer_jitter_s: float = 8.0  # answers spread over [delay, delay + jitter] per endpoint
    sensor_max_age_s: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SENSOR_MAX_AGE_S))
    action_pending_s: float = 1.0  # Pending -> Active
    action_download_s: float = 3.0  # Downloading after the endpoint received the action
    action_run_s: float = 5.0  # Running, then Completed (or Failed)
    action_failure_rate: float = 0.0  # share of online endpoints whose action run fails
    offline_action_fail_s: float = 60.0  # offline targets report Waiting, then Failed after this
    scanner_running_fraction: float = 0.9  # endpoints whose scanner runs before any action

    def __post_init__(self) -> None:
        for name in ("answer_delay_s", "answer_jitter_s", "action_pending_s", "action_download_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not 0.0 <= self.action_failure_rate <= 1.0:
            raise ValueError("action_failure_rate must be between 0 and 1")
        if any(age <= 0 for age in self.sensor_max_age_s.values()):
            raise ValueError("sensor max ages must be > 0")

    def sensor_max_age(self, sensor: str) -> int:
        return self.sensor_max_age_s.get(sensor, DEFAULT_SENSOR_MAX_AGE_S.get(sensor, 600))


__all__ = ["DEFAULT_SENSOR_MAX_AGE_S", "PlatformTiming"]
