"""CST trace validation: the format rules (spec sections 2-3, docs/cst-format.md), one object at a time.

:func:`validate_trace` reads a trace through the streaming reader (:func:`client._trace.read_objects`:
zip, gzip or plain; nothing held whole) and applies the rules to each object: the header, each
artifact record (fields, fingerprint, keys, and a certificate's ``tbs_certificate`` against its DER)
and a diff trace's summary trailer. Each problem is a :class:`TraceIssue` placed by object index and
byte offset; a stream that does not parse raises, as the reader does.

>>> header = b'{"format": "CST", "version": "1.0", "api": "fs", "api_specific": {}}\\n'
>>> validate_trace(header)
[]
>>> import json
>>> record = {"path": "/etc/ssl/k.pem", "type": "key", "size_bytes": -1, "encrypted": False,
...           "public": False, "last_modified": 1_793_491_200, "details": {}}
>>> [str(issue) for issue in validate_trace(header + json.dumps(record).encode())]
['object 1 at byte 69: size_bytes must be an int >= 0']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeGuard

from client._trace import (
    CHUNK_BYTES,
    Record,
    Source,
    TraceStats,
    decode_der,
    is_trailer,
    parse_bigint,
    parse_time,
    read_objects,
)


@dataclass(frozen=True, slots=True)
class TraceIssue:
    """One way a trace breaks the format: which object, where, and what is wrong."""

    index: int
    offset: int
    message: str

    def __str__(self) -> str:
        return f"object {self.index} at byte {self.offset}: {self.message}"


_FINGERPRINT_KINDS = {"cert-der", "spki", "openpgp-v4", "blob"}
_KEY_FIELDS = {"rsa": ("n", "e"), "dsa": ("p", "q", "g", "y"), "ec": ("x", "y")}
_HEX = re.compile(r"[0-9a-fA-F]+")


def validate_trace(
    source: Source, *, max_errors: int = 20, chunk_size: int = CHUNK_BYTES
) -> list[TraceIssue]:
    """Check a trace against the CST format (spec sections 2-3, docs/cst-format.md); ``[]`` means valid.

    Stops after ``max_errors`` issues. A stream that does not parse raises instead (TraceFormatError,
    or IntegrityError for the zip layer), because nothing after that point can be checked.

    >>> for issue in validate_trace("host.cst.gz"):  # doctest: +SKIP
    ...     print(issue)  # object 12 at byte 3456: size_bytes must be an int >= 0
    """
    stats = TraceStats()
    checker = _Checker()
    issues: list[TraceIssue] = []
    objects = read_objects(source, stats, chunk_size)
    try:
        for index, offset, value in objects:
            for message in checker.check(value):
                issues.append(TraceIssue(index, offset, message))
                if len(issues) >= max_errors:
                    return issues
        issues.extend(TraceIssue(stats.objects, stats.decompressed_bytes, m) for m in checker.finish())
    finally:
        objects.close()
    return issues[:max_errors]


class _Checker:
    """Format rules applied object by object; keeps the little state the trailer check needs."""

    def __init__(self) -> None:
        # Trust-store roots repeat across a trace: parse each DER once (per validation, not globally).
        self.cert_view = lru_cache(maxsize=4096)(_cert_view)
        self.header: Record | None = None
        self.records = 0
        self.ops: dict[str, int] = {"added": 0, "removed": 0, "modified": 0}
        self.trailer: Record | None = None

    def check(self, value: Any) -> list[str]:
        if not isinstance(value, dict):
            return ["a top-level value is not a JSON object"]
        if not value:
            return []
        if self.trailer is not None:
            return ["an object follows the summary trailer, which must be last"]
        if self.header is None:
            self.header = value
            if value.get("format") != "CST" and "path" in value:
                return ["the first object must be the CST header, found a record", *self._record(value)]
            return self._header(value)
        if is_trailer(value):
            self.trailer = value
            return self._trailer(value)
        self.records += 1
        return self._record(value)

    def finish(self) -> list[str]:
        return ["the trace is empty: it has no header"] if self.header is None else []

    def _header(self, h: Record) -> list[str]:
        problems = []
        if h.get("format") != "CST":
            problems.append("header: format must be 'CST'")
        for name in ("version", "api"):
            if not isinstance(h.get(name), str):
                problems.append(f"header: {name} must be a string")
        if "tags" in h and not isinstance(h["tags"], list):
            problems.append("header: tags must be a list")
        if "anonymized" in h and not isinstance(h["anonymized"], bool):
            problems.append("header: anonymized must be a boolean")
        spec = h.get("api_specific")
        if not isinstance(spec, dict):
            return [*problems, "header: api_specific must be an object"]
        if "scan_time" in spec:
            problems += _time_problem("header: api_specific.scan_time", spec["scan_time"], strings_only=True)
        mode = spec.get("scan_mode", "full")
        if mode not in ("full", "diff"):
            problems.append("header: api_specific.scan_mode must be 'full' or 'diff'")
        if mode == "diff":
            if not isinstance(spec.get("baseline_scan_id"), str):
                problems.append("header: a diff trace needs api_specific.baseline_scan_id (string)")
            count = spec.get("baseline_record_count")
            if "baseline_record_count" in spec and not (_is_int(count) and count >= 0):
                problems.append("header: api_specific.baseline_record_count must be an int >= 0")
        return problems

    def _record(self, r: Record) -> list[str]:
        problems: list[str] = []
        op = r.get("op")
        if op is not None:
            if op not in self.ops:
                return ["op must be 'added', 'removed' or 'modified'"]
            self.ops[op] += 1
        for name in ("path", "type"):
            if not isinstance(r.get(name), str) or not r[name]:
                problems.append(f"{name} must be a non-empty string")
        if "fingerprint" in r or op == "removed":
            problems += _fingerprint_problems(r.get("fingerprint"))
        if op == "removed":  # a removal carries only its identity
            return problems
        if op == "modified" and not isinstance(r.get("previous"), dict):
            problems.append("a modified record needs a previous object")
        size = r.get("size_bytes")
        if not (_is_int(size) and size >= 0):
            problems.append("size_bytes must be an int >= 0")
        for name in ("encrypted", "public"):
            if not isinstance(r.get(name), bool):
                problems.append(f"{name} must be a boolean")
        problems += _time_problem("last_modified", r.get("last_modified"), strings_only=False)
        if "key" in r:
            problems += _key_problems("key", r["key"])
        details = r.get("details")
        if not isinstance(details, dict):
            return [*problems, "details must be an object"]
        pgp = details.get("key")
        if isinstance(pgp, dict) and isinstance(pgp.get("key"), dict):
            problems += _key_problems("details.key.key", pgp["key"], value_optional=True)
        if "encoded" in details:
            problems += _certificate_problems(details, r.get("fingerprint"), self.cert_view)
        return problems

    def _trailer(self, t: Record) -> list[str]:
        summary = t["summary"]
        if not isinstance(summary, dict):
            return ["summary trailer: summary must be an object"]
        problems = []
        for op, seen in self.ops.items():
            if op in summary and summary[op] != seen:
                problems.append(f"summary trailer: {op} says {summary[op]!r} but the trace holds {seen}")
        if "records" in summary and summary["records"] != self.records:
            problems.append(
                f"summary trailer: records says {summary['records']!r} but the trace holds {self.records}"
            )
        return problems


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _time_problem(name: str, value: object, *, strings_only: bool) -> list[str]:
    if _is_int(value) and not strings_only:
        return []
    if isinstance(value, str):
        try:
            parse_time(value)
        except ValueError:
            return [f"{name} is not an RFC 3339 time: {value!r}"]
        return []
    kinds = "an RFC 3339 string" if strings_only else "an int (epoch seconds or ms) or an RFC 3339 string"
    return [f"{name} must be {kinds}"]


def _fingerprint_problems(fp: object) -> list[str]:
    if not isinstance(fp, dict):
        return ["fingerprint must be an object with alg, kind and value"]
    problems = []
    if fp.get("alg") not in ("sha256", "openpgp-v4"):
        problems.append("fingerprint.alg must be 'sha256' or 'openpgp-v4'")
    if fp.get("kind") not in _FINGERPRINT_KINDS:
        problems.append(f"fingerprint.kind must be one of {sorted(_FINGERPRINT_KINDS)}")
    value = fp.get("value")
    want = 40 if fp.get("alg") == "openpgp-v4" else 64
    if not (isinstance(value, str) and len(value) == want and _HEX.fullmatch(value)):
        problems.append(f"fingerprint.value must be {want} hex digits")
    return problems


def _key_problems(name: str, key: object, *, value_optional: bool = False) -> list[str]:
    if not isinstance(key, dict) or not isinstance(key.get("type"), str):
        return [f"{name} must be an object with a type"]
    value = key.get("value")
    if value is None and value_optional:
        return []
    if not isinstance(value, dict):
        return [f"{name}.value must be an object"]
    problems = []
    for field in _KEY_FIELDS.get(key["type"], ()):
        try:
            parse_bigint(value.get(field))
        except ValueError:
            problems.append(f"{name}.value.{field} must be a decimal (or 0x-hex) integer string")
    if key["type"] == "ec" and not isinstance(value.get("curve"), str):
        problems.append(f"{name}.value.curve must be a string")
    return problems


# Attribute type spellings a trace may use, mapped to OIDs; unknown spellings compare as dotted OIDs.
_NAME_TYPES = {
    "cn": "2.5.4.3", "commonname": "2.5.4.3", "c": "2.5.4.6", "countryname": "2.5.4.6",
    "l": "2.5.4.7", "localityname": "2.5.4.7", "st": "2.5.4.8", "s": "2.5.4.8",
    "stateorprovincename": "2.5.4.8", "street": "2.5.4.9", "streetaddress": "2.5.4.9",
    "o": "2.5.4.10", "organizationname": "2.5.4.10", "ou": "2.5.4.11",
    "organizationalunitname": "2.5.4.11", "serialnumber": "2.5.4.5", "title": "2.5.4.12",
    "dc": "0.9.2342.19200300.100.1.25", "domaincomponent": "0.9.2342.19200300.100.1.25",
    "uid": "0.9.2342.19200300.100.1.1", "userid": "0.9.2342.19200300.100.1.1",
    "emailaddress": "1.2.840.113549.1.9.1", "email": "1.2.840.113549.1.9.1", "e": "1.2.840.113549.1.9.1",
    "sn": "2.5.4.4", "surname": "2.5.4.4", "gn": "2.5.4.42", "givenname": "2.5.4.42",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _CertView:
    """What the DER says, in the shape the trace's fields are compared against."""

    sha256: str
    version: int
    serial: int
    issuer: tuple[tuple[str, str], ...]
    subject: tuple[tuple[str, str], ...]
    not_before: datetime
    not_after: datetime
    signature_names: frozenset[str]  # lower-case names and the dotted OID of the signature algorithm
    signature: str


def _cert_view(encoded: str) -> _CertView:
    from cryptography import x509

    der = decode_der(encoded)
    cert = x509.load_der_x509_certificate(der)
    oid = cert.signature_algorithm_oid
    names = {oid.dotted_string}
    if oid._name != "Unknown OID":
        names.add(oid._name.lower())

    def rdns(name: x509.Name) -> tuple[tuple[str, str], ...]:
        return tuple((a.oid.dotted_string, str(a.value)) for a in name)

    return _CertView(
        sha256=hashlib.sha256(der).hexdigest(),
        version=cert.version.value + 1,
        serial=cert.serial_number,
        issuer=rdns(cert.issuer),
        subject=rdns(cert.subject),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        signature_names=frozenset(names),
        signature=cert.signature.hex(),
    )


def _trace_name(value: object) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            return None
        kind: str = item["type"]
        out.append((_NAME_TYPES.get(kind.lower(), kind), str(item.get("value"))))
    return tuple(out)


def _certificate_problems(
    details: Record, fingerprint: object, cert_view: Callable[[str], _CertView]
) -> list[str]:
    try:
        view = cert_view(details["encoded"]) if isinstance(details["encoded"], str) else None
    except ValueError as exc:  # cryptography raises ValueError for DER it cannot parse
        return [f"details.encoded is not a parseable DER certificate ({exc})"]
    if view is None:
        return ["details.encoded must be a base64 string"]
    problems = []
    tbs = details.get("tbs_certificate")
    if not isinstance(tbs, dict):
        problems.append("details.tbs_certificate must be an object")
        tbs = {}
    checks: list[tuple[str, Callable[[], bool]]] = [
        ("version", lambda: str(tbs["version"]) == str(view.version)),
        ("serial", lambda: parse_bigint(tbs["serial"]) == view.serial),
        ("issuer", lambda: _trace_name(tbs["issuer"]) == view.issuer),
        ("subject", lambda: _trace_name(tbs["subject"]) == view.subject),
        ("validity.not_before", lambda: parse_time(tbs["validity"]["not_before"]) == view.not_before),
        ("validity.not_after", lambda: parse_time(tbs["validity"]["not_after"]) == view.not_after),
    ]
    for name, agrees in checks:
        try:
            ok = agrees()
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(f"tbs_certificate.{name} does not agree with the DER in details.encoded")
    algorithm = details.get("signature_algorithm")
    if not (isinstance(algorithm, dict) and str(algorithm.get("algorithm")).lower() in view.signature_names):
        problems.append("signature_algorithm does not agree with the DER in details.encoded")
    signature = details.get("signature")
    if signature is not None and (not isinstance(signature, str) or signature.lower() != view.signature):
        problems.append("signature does not agree with the DER in details.encoded")
    if (
        isinstance(fingerprint, dict)
        and fingerprint.get("kind") == "cert-der"
        and str(fingerprint.get("value")).lower() != view.sha256
    ):
        problems.append("fingerprint.value is not the SHA-256 of the certificate DER")
    return problems


__all__ = ["TraceIssue", "validate_trace"]
