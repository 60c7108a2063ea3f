"""Trace size profiles (docs/cst-trace.md §5) and the rates at which findings are planted.

A profile fixes the number of records (drawn per endpoint from its range) and the share that is not
a trust-store root; the rest of the trace is filled with trust stores. Planted findings live in the
non-root share: leaf certificates draw a defect from :data:`LEAF_DEFECTS` (test fixtures from
:data:`FIXTURE_DEFECTS`), keys are unencrypted at the rates in :data:`UNENCRYPTED_KEY_RATE`.

>>> PROFILES["small"].records
(150, 300)
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_STRESS_RECORDS = 100_000


@dataclass(frozen=True)
class Profile:
    """Records per trace (inclusive range) and the non-root share of them."""

    name: str
    records: tuple[int, int]
    nonroot_share: tuple[float, float]


PROFILES: dict[str, Profile] = {
    "small": Profile("small", (150, 300), (0.05, 0.09)),
    "medium": Profile("medium", (500, 1_500), (0.04, 0.08)),
    "large": Profile("large", (3_000, 10_000), (0.03, 0.06)),
    # Stress is sized by TraceSpec.records (default DEFAULT_STRESS_RECORDS), +/- 2 %.
    "stress": Profile("stress", (DEFAULT_STRESS_RECORDS, DEFAULT_STRESS_RECORDS), (0.02, 0.04)),
}

# Defect drawn for each leaf certificate of a deployed service (web server, pfx, keystore).
LEAF_DEFECTS: dict[str, float] = {
    "ok": 0.54,
    "expired": 0.09,
    "expiring_7d": 0.03,
    "expiring_30d": 0.05,
    "not_yet_valid": 0.02,
    "weak_rsa": 0.05,
    "sha1": 0.05,
    "md5": 0.01,
    "weak_curve": 0.04,
    "overlong": 0.12,
}
# Test fixtures shipped inside packages are mostly broken on purpose.
FIXTURE_DEFECTS: dict[str, float] = {
    "ok": 0.20,
    "expired": 0.20,
    "expiring_7d": 0.03,
    "expiring_30d": 0.03,
    "not_yet_valid": 0.08,
    "weak_rsa": 0.14,
    "sha1": 0.12,
    "md5": 0.06,
    "weak_curve": 0.08,
    "overlong": 0.06,
}
# Probability that a private key file of each origin is stored unencrypted.
UNENCRYPTED_KEY_RATE: dict[str, float] = {"server": 0.9, "ssh_host": 1.0, "ssh_user": 0.6, "fixture": 0.95}
# Non-root artifacts per platform and their weights (each yields one file of 1..n records).
LINUX_ARTIFACTS: dict[str, float] = {
    "tls_site": 0.22,
    "fixture": 0.22,
    "ssh_host": 0.06,
    "ssh_user": 0.12,
    "pgp": 0.08,
    "keystore": 0.08,
    "snakeoil": 0.05,
    "k8s_pki": 0.05,
    "enc_key": 0.06,
    "public_key": 0.06,
}
WINDOWS_ARTIFACTS: dict[str, float] = {
    "pfx": 0.25,
    "fixture": 0.2,
    "tls_site": 0.1,
    "ssh_user": 0.1,
    "ssh_host": 0.04,
    "pgp": 0.06,
    "keystore": 0.1,
    "p7b": 0.07,
    "enc_key": 0.04,
    "public_key": 0.04,
}
