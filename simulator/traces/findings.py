"""Ground-truth findings (docs/cst-format.md, "Findings"), counted from generation-time facts.

The manifest's counts come from what the generator decided about each record (:class:`Facts`), not
from re-parsing the trace, so an end-to-end test comparing them with the reader's counts checks the
writer and the reader against each other.

>>> f = Facts(public=False, encrypted=False, key_alg="rsa", key_bits=1024)
>>> sorted(record_findings(f, scan_time=0))
['quantum_vulnerable', 'unencrypted_private_key', 'weak_key']
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass

from simulator.traces.certs import CertFacts
from simulator.traces.keys import WEAK_CURVES

FINDING_KEYS = (
    "expired",
    "expiring_7d",
    "expiring_30d",
    "not_yet_valid",
    "weak_key",
    "weak_signature",
    "self_signed_leaf",
    "overlong_validity",
    "weak_curve",
    "quantum_vulnerable",
    "unencrypted_private_key",
)
DAY = 86_400
QUANTUM_VULNERABLE = frozenset({"rsa", "dsa", "ec", "ed25519", "ed448", "dh", "ecdh"})
# (not_before from, maximum validity in days) for public TLS certificates (CA/B Forum ballot SC-081).
TLS_LIMITS = (
    (calendar.timegm((2029, 3, 15, 0, 0, 0)), 47),
    (calendar.timegm((2027, 3, 15, 0, 0, 0)), 100),
    (calendar.timegm((2026, 3, 15, 0, 0, 0)), 200),
)


def tls_validity_limit_days(not_before: int) -> int:
    """Maximum validity in days of a public TLS leaf issued at ``not_before``.

    >>> tls_validity_limit_days(0), tls_validity_limit_days(1_900_000_000)
    (398, 47)
    """
    for start, days in TLS_LIMITS:
        if not_before >= start:
            return days
    return 398


@dataclass(frozen=True, slots=True)
class Facts:
    """What the generator knows about one record: enough to apply every finding rule."""

    public: bool
    encrypted: bool
    key_alg: str | None = None  # visible key material (None: an encrypted blob)
    key_bits: int | None = None
    curve: str | None = None
    cert: CertFacts | None = None


def cert_facts(cert: CertFacts) -> Facts:
    """Facts of a certificate record (its key material is the certificate's public key)."""
    return Facts(True, False, cert.key_alg, cert.key_bits, cert.curve, cert)


def record_findings(f: Facts, scan_time: int) -> list[str]:
    """The finding keys one record counts towards, at ``scan_time`` (epoch seconds)."""
    out = []
    c = f.cert
    if c is not None:
        if c.not_after < scan_time:
            out.append("expired")
        elif c.not_after <= scan_time + 7 * DAY:
            out.append("expiring_7d")
        elif c.not_after <= scan_time + 30 * DAY:
            out.append("expiring_30d")
        if c.not_before > scan_time:
            out.append("not_yet_valid")
        if c.signature_algorithm.startswith(("sha1With", "md5With", "ecdsa-with-SHA1")):
            out.append("weak_signature")
        if c.self_signed and c.is_ca is not True:
            out.append("self_signed_leaf")
        if (
            c.is_ca is not True
            and "serverAuth" in c.eku
            and c.not_after - c.not_before > tls_validity_limit_days(c.not_before) * DAY
        ):
            out.append("overlong_validity")
    if f.key_alg in ("rsa", "dsa") and f.key_bits is not None and f.key_bits < 2048:
        out.append("weak_key")
    if f.key_alg == "ec" and f.curve in WEAK_CURVES:
        out.append("weak_curve")
    if f.key_alg in QUANTUM_VULNERABLE:
        out.append("quantum_vulnerable")
    if not f.public and not f.encrypted:
        out.append("unencrypted_private_key")
    return out


def count_findings(facts: list[Facts], scan_time: int) -> Counter[str]:
    """Findings of many records, as a Counter (keys absent when zero)."""
    counts: Counter[str] = Counter()
    for f in facts:
        counts.update(record_findings(f, scan_time))
    return counts


def empty_findings() -> dict[str, int]:
    """Every finding key at zero, in the documented order."""
    return dict.fromkeys(FINDING_KEYS, 0)
