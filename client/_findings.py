"""The inventory a trace describes: record counts by type and the findings of docs/cst-format.md.

Findings are computed from the cryptographic material itself, never from the descriptive fields a
scanner wrote beside it: certificates from their DER (``details.encoded``, parsed with cryptography),
keys from their ``key`` objects (RSA modulus, DSA ``p``, EC curve), PGP keys from ``details.key.key``.
The keys of :attr:`InventorySummary.findings` are exactly the table's keys (all present, zero when none)
because the end-to-end tests compare them with the simulator's manifest.

Certificate parsing dominates the cost, and >90% of a host's certificates are trust-store roots that
repeat (across a fleet and across scans too), so facts are cached for the whole process, keyed by a
digest of the encoded DER: :func:`_known_cert_facts`.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from client._trace import Record, decode_der, parse_time

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

_DAY = 86_400.0
# CA/Browser Forum ballot SC-081: maximum TLS leaf validity by issuance (not_before) date, newest first.
_VALIDITY_LIMITS = (
    (datetime(2029, 3, 15, tzinfo=UTC).timestamp(), 47 * _DAY),
    (datetime(2027, 3, 15, tzinfo=UTC).timestamp(), 100 * _DAY),
    (datetime(2026, 3, 15, tzinfo=UTC).timestamp(), 200 * _DAY),
)
_DEFAULT_VALIDITY_LIMIT = 398 * _DAY
_WEAK_BITS = 2048
_WEAK_CURVES = frozenset({"secp192r1", "prime192v1", "p-192", "secp224r1", "p-224", "secp256k1"})
# Key type spellings -> the families of the docs' table; X25519/X448 are ECDH keys.
_ALGORITHMS = {
    "rsa": "rsa",
    "dsa": "dsa",
    "dss": "dsa",
    "ec": "ec",
    "ecdsa": "ec",
    "ed25519": "ed25519",
    "ed448": "ed448",
    "eddsa": "ed25519",
    "dh": "dh",
    "ecdh": "ecdh",
    "x25519": "ecdh",
    "x448": "ecdh",
}
_QUANTUM_VULNERABLE = frozenset({"rsa", "dsa", "ec", "ed25519", "ed448", "dh", "ecdh"})
# Signature algorithms whose hash is SHA-1 or MD5, by OID, for when cryptography cannot name the hash.
_WEAK_SIGNATURE_OIDS = frozenset(
    {
        "1.2.840.113549.1.1.4",  # md5WithRSAEncryption
        "1.2.840.113549.1.1.5",  # sha1WithRSAEncryption
        "1.3.14.3.2.29",  # sha1WithRSASignature (OIW)
        "1.2.840.10045.4.1",  # ecdsa-with-SHA1
        "1.2.840.10040.4.3",  # dsa-with-sha1
    }
)


@dataclass(frozen=True, slots=True)
class _KeyFacts:
    algorithm: str  # one of _ALGORITHMS' values, or the trace's own spelling when unknown
    bits: int | None  # RSA modulus or DSA p size
    curve: str | None


@dataclass(frozen=True, slots=True)
class _CertFacts:
    not_before: float  # epoch seconds
    not_after: float
    weak_signature: bool
    self_signed: bool
    is_ca: bool
    server_auth: bool
    key: _KeyFacts | None


@dataclass
class InventorySummary:
    """What one trace (or a fleet, via :meth:`merged`) holds: counts by type and findings."""

    record_count: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FINDING_KEYS, 0))
    scan_time: str | None = None  # RFC 3339; None for a merged fleet summary

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: ``record_count``, ``by_type``, ``findings`` (manifest names), ``scan_time``.

        >>> InventorySummary().to_dict()["findings"]["expired"]
        0
        """
        return {
            "record_count": self.record_count,
            "by_type": dict(sorted(self.by_type.items())),
            "findings": {key: self.findings.get(key, 0) for key in FINDING_KEYS},
            "scan_time": self.scan_time,
        }

    @classmethod
    def merged(cls, summaries: Iterable[InventorySummary]) -> InventorySummary:
        """Add summaries together (a fleet's inventory).

        >>> fleet = InventorySummary.merged(summarize(trace) for trace in traces)  # doctest: +SKIP
        """
        by_type: Counter[str] = Counter()
        findings: Counter[str] = Counter(dict.fromkeys(FINDING_KEYS, 0))
        count = 0
        for s in summaries:
            count += s.record_count
            by_type.update(s.by_type)
            findings.update(s.findings)
        return cls(count, dict(by_type), {key: findings[key] for key in FINDING_KEYS})

    def __rich__(self) -> RenderableType:
        types = Table(title="Records by type", title_justify="left")
        types.add_column("type")
        types.add_column("records", justify="right")
        for name, n in sorted(self.by_type.items(), key=lambda item: (-item[1], item[0])):
            types.add_row(name, f"{n:,}")
        types.add_section()
        types.add_row("total", f"{self.record_count:,}", style="bold")
        found = Table(
            title="Findings" + (f" at {self.scan_time}" if self.scan_time else ""), title_justify="left"
        )
        found.add_column("finding")
        found.add_column("records", justify="right")
        for key in FINDING_KEYS:
            n = self.findings.get(key, 0)
            found.add_row(key, f"{n:,}", style="bold red" if n and key != "quantum_vulnerable" else None)
        return Group(types, found)


def summarize(records: Iterable[Record], scan_time: object = None) -> InventorySummary:
    """Count records by type and the findings of docs/cst-format.md at ``scan_time``.

    ``scan_time`` (datetime, epoch seconds or RFC 3339) defaults to the header's
    ``api_specific.scan_time``: pass an open trace (it has ``.header``) or objects whose first is the header.
    ``{}`` objects, a summary trailer and a diff's ``removed`` records are not inventory and are skipped.

    >>> with open_trace("host.zip") as trace:  # doctest: +SKIP
    ...     print(summarize(trace).findings["expired"])
    """
    if scan_time is None:
        header = getattr(records, "header", None)
        if isinstance(header, Mapping):
            scan_time = _header_scan_time(header)
    when = parse_time(scan_time).timestamp() if scan_time is not None else None
    by_type: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    count = 0
    for record in records:
        if "path" not in record:
            if when is None and record.get("format") == "CST":
                scan_time = _header_scan_time(record)
                when = parse_time(scan_time).timestamp() if scan_time is not None else None
            continue
        if record.get("op") == "removed":
            continue
        if when is None:
            raise ValueError(
                "summarize needs a scan_time: pass one, or a trace whose header has api_specific.scan_time"
            )
        count += 1
        by_type[str(record.get("type"))] += 1
        findings.update(_record_findings(record, when))
    return InventorySummary(
        record_count=count,
        by_type=dict(by_type),
        findings={key: findings[key] for key in FINDING_KEYS},
        scan_time=datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")
        if when is not None
        else None,
    )


def _header_scan_time(header: Mapping[str, Any]) -> object:
    spec = header.get("api_specific")
    return spec.get("scan_time") if isinstance(spec, Mapping) else None


def _record_findings(record: Record, when: float) -> set[str]:
    found: set[str] = set()
    details = record.get("details")
    details = details if isinstance(details, dict) else {}
    key: _KeyFacts | None = None
    encoded = details.get("encoded")
    cert = _known_cert_facts(encoded) if isinstance(encoded, str) else None
    if cert is not None:
        if cert.not_after < when:
            found.add("expired")
        elif cert.not_after <= when + 7 * _DAY:
            found.add("expiring_7d")
        elif cert.not_after <= when + 30 * _DAY:
            found.add("expiring_30d")
        if cert.not_before > when:
            found.add("not_yet_valid")
        if cert.weak_signature:
            found.add("weak_signature")
        if cert.self_signed and not cert.is_ca:
            found.add("self_signed_leaf")
        if (
            not cert.is_ca
            and cert.server_auth
            and cert.not_after - cert.not_before > _validity_limit(cert.not_before)
        ):
            found.add("overlong_validity")
        key = cert.key
    elif "key" in record:
        key = _key_facts(record["key"], details)
    elif isinstance(details.get("key"), dict):  # PGP: details.key.key
        key = _key_facts(details["key"].get("key"), {})
    if key is not None:
        if key.algorithm in ("rsa", "dsa") and key.bits is not None and key.bits < _WEAK_BITS:
            found.add("weak_key")
        if key.algorithm == "ec" and _weak_curve(key.curve):
            found.add("weak_curve")
        if key.algorithm in _QUANTUM_VULNERABLE:
            found.add("quantum_vulnerable")
    if record.get("public") is False and record.get("encrypted") is False:
        found.add("unencrypted_private_key")
    return found


def _validity_limit(not_before: float) -> float:
    for since, limit in _VALIDITY_LIMITS:
        if not_before >= since:
            return limit
    return _DEFAULT_VALIDITY_LIMIT


def _weak_curve(curve: str | None) -> bool:
    return curve is not None and (curve.lower() in _WEAK_CURVES or curve.lower().startswith("brainpool"))


def _bit_length(value: object) -> int | None:
    if isinstance(value, str) and len(value) > 4000 and value.isdigit():
        # Python refuses int() on > 4300 digits; such a number is far above any threshold anyway.
        return int(len(value) * math.log2(10))
    try:
        if isinstance(value, str) and value[:2].lower() == "0x":
            return int(value[2:], 16).bit_length()
        if isinstance(value, str) and value.isdigit():
            return int(value).bit_length()
    except ValueError:
        return None
    return None


def _key_facts(key: object, details: Mapping[str, Any]) -> _KeyFacts | None:
    if not isinstance(key, dict) or not isinstance(key.get("type"), str):
        return None
    spelled = key["type"].lower()
    algorithm = _ALGORITHMS.get(spelled, spelled)
    value = key.get("value")
    value = value if isinstance(value, dict) else {}
    bits = None
    if algorithm in ("rsa", "dsa"):
        bits = _bit_length(value.get("n" if algorithm == "rsa" else "p"))
        if bits is None and isinstance(details.get("bit_length"), int):  # no numbers: trust the size
            bits = details["bit_length"]
    curve = value.get("curve", details.get("curve"))
    return _KeyFacts(algorithm, bits, curve if isinstance(curve, str) else None)


CERT_CACHE_SIZE = 16384  # certificates whose facts are kept (a digest and a few numbers each: ~5 MB full)
_cert_cache: OrderedDict[bytes, _CertFacts | None] = OrderedDict()
_cert_cache_lock = threading.Lock()


def _known_cert_facts(encoded: str) -> _CertFacts | None:
    """:func:`_cert_facts` through a process-wide cache keyed by a digest of the encoded certificate.

    Parsing dominates reading a trace, and the same certificates come back: across endpoints (CAs, trust
    stores) and every scan of ``collect --diff`` (measured in loadtests/RESULTS.md). The facts are a pure
    function of the encoding, so sharing them between traces changes no answer; the cache holds digests,
    not certificates, and forgets the least recently used beyond :data:`CERT_CACHE_SIZE`.
    """
    key = hashlib.blake2b(encoded.encode(), digest_size=16).digest()
    with _cert_cache_lock:
        if key in _cert_cache:
            _cert_cache.move_to_end(key)
            return _cert_cache[key]
    facts = _cert_facts(encoded)
    with _cert_cache_lock:
        _cert_cache[key] = facts
        while len(_cert_cache) > CERT_CACHE_SIZE:
            _cert_cache.popitem(last=False)
    return facts


def _cert_facts(encoded: str) -> _CertFacts | None:
    """Facts from the DER alone; None when it does not parse (the validator reports that)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_der_x509_certificate(decode_der(encoded))
        not_before = cert.not_valid_before_utc.timestamp()
        not_after = cert.not_valid_after_utc.timestamp()
    except ValueError:
        return None
    try:
        weak_signature = isinstance(cert.signature_hash_algorithm, hashes.SHA1 | hashes.MD5)
    except (UnsupportedAlgorithm, ValueError):
        weak_signature = cert.signature_algorithm_oid.dotted_string in _WEAK_SIGNATURE_OIDS
    is_ca = server_auth = False
    try:
        for ext in cert.extensions:
            if isinstance(ext.value, x509.BasicConstraints):
                is_ca = ext.value.ca
            elif isinstance(ext.value, x509.ExtendedKeyUsage):
                server_auth = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in ext.value
    except ValueError:  # a malformed extension: judge the certificate without them
        pass
    try:
        self_signed = cert.issuer == cert.subject
    except ValueError:
        self_signed = False
    return _CertFacts(not_before, not_after, weak_signature, self_signed, is_ca, server_auth, _cert_key(cert))


def _cert_key(cert: Any) -> _KeyFacts | None:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dh, dsa, ec, ed448, ed25519, rsa, x448, x25519

    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        oid = cert.public_key_algorithm_oid.dotted_string
        family = {"1.2.840.10045.2.1": "ec", "1.2.840.10046.2.1": "dh", "1.2.840.113549.1.3.1": "dh"}.get(oid)
        return _KeyFacts(family, None, None) if family else None
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return _KeyFacts("rsa" if isinstance(key, rsa.RSAPublicKey) else "dsa", key.key_size, None)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _KeyFacts("ec", key.key_size, key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return _KeyFacts("ed25519", None, None)
    if isinstance(key, ed448.Ed448PublicKey):
        return _KeyFacts("ed448", None, None)
    if isinstance(key, x25519.X25519PublicKey | x448.X448PublicKey):
        return _KeyFacts("ecdh", None, None)
    if isinstance(key, dh.DHPublicKey):
        return _KeyFacts("dh", key.key_size, None)
    return None


__all__ = ["FINDING_KEYS", "InventorySummary", "summarize"]
