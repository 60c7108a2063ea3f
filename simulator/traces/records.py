"""Record JSON: the bytes of one CST artifact record (one compact object per line).

Records are assembled from pre-serialized pieces so the hot path (trust-store roots, 90 % of a trace)
is byte concatenation: a root's ``details`` and ``fingerprint`` are serialized once per process
(:func:`cert_tail`) and each store only adds its own ``path``/``last_modified``/``size_bytes`` prefix
(:func:`record_prefix`). Every other record goes through :func:`record` with orjson.

>>> record_prefix("/etc/ssl/cert.pem", 1, 2, "X509 CERTIFICATE")[:28]
b'{"path":"/etc/ssl/cert.pem",'
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import orjson

from simulator.traces.certs import CertFacts, Name


def rfc3339(epoch: int) -> str:
    """Epoch seconds as RFC 3339 UTC with a ``Z`` (no fraction).

    >>> rfc3339(0)
    '1970-01-01T00:00:00Z'
    """
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def name_json(name: Name) -> list[dict[str, str]]:
    return [{"type": t, "value": v} for t, v in name]


def fingerprint(kind: str, value: str) -> dict[str, str]:
    """The record's ``fingerprint`` object (kind: cert-der | spki | openpgp-v4 | blob)."""
    return {"alg": "openpgp-v4" if kind == "openpgp-v4" else "sha256", "kind": kind, "value": value}


def blob_fingerprint(raw: bytes) -> dict[str, str]:
    """Fingerprint of an object the scanner cannot parse (an encrypted key): SHA-256 of its bytes."""
    return fingerprint("blob", hashlib.sha256(raw).hexdigest())


def cert_details(cert: CertFacts, container: dict[str, str] | None = None) -> dict[str, Any]:
    """``details`` of a certificate record, rendered from what the generator built."""
    spki: dict[str, Any] = {"algorithm": cert.key_alg, "bit_length": cert.key_bits}
    if cert.curve:
        spki["curve"] = cert.curve
    extensions: dict[str, Any] = {}
    if cert.is_ca is not None:
        extensions["basic_constraints"] = {"ca": cert.is_ca}
    if cert.eku:
        extensions["extended_key_usage"] = list(cert.eku)
    details: dict[str, Any] = {}
    if container is not None:
        details["container"] = container
    details["tbs_certificate"] = {
        "version": "3",
        "serial": str(cert.serial),
        "issuer": name_json(cert.issuer),
        "subject": name_json(cert.subject),
        "validity": {"not_before": rfc3339(cert.not_before), "not_after": rfc3339(cert.not_after)},
        "subject_public_key_info": spki,
        "extensions": extensions,
    }
    details["signature_algorithm"] = {"algorithm": cert.signature_algorithm}
    details["signature"] = cert.signature.hex()
    details["encoded"] = base64.b64encode(cert.der).decode()
    return details


def cert_fingerprint(cert: CertFacts) -> dict[str, str]:
    return fingerprint("cert-der", hashlib.sha256(cert.der).hexdigest())


def cert_tail(cert: CertFacts, container: dict[str, str] | None = None) -> bytes:
    """Everything of a certificate record after ``"type"``, serialized once and reused by stores."""
    details = orjson.dumps(cert_details(cert, container))
    fp = orjson.dumps(cert_fingerprint(cert))
    return b',"encrypted":false,"public":true,"details":' + details + b',"fingerprint":' + fp + b"}\n"


def record_prefix(path: str, last_modified: int, size_bytes: int, type_: str) -> bytes:
    """The start of a record, up to and including ``"type"``; :func:`cert_tail` completes it."""
    return orjson.dumps(
        {"path": path, "last_modified": last_modified, "size_bytes": size_bytes, "type": type_}
    )[:-1]


def record(
    path: str,
    last_modified: int,
    size_bytes: int,
    type_: str,
    *,
    encrypted: bool,
    public: bool,
    details: dict[str, Any],
    fingerprint: dict[str, str],
    key: dict[str, Any] | None = None,
) -> bytes:
    """One full record line.

    >>> record("/k", 0, 1, "rsa_pkcs8", encrypted=True, public=False, details={},
    ...        fingerprint=blob_fingerprint(b"x"))[:12]
    b'{"path":"/k"'
    """
    obj: dict[str, Any] = {
        "path": path,
        "last_modified": last_modified,
        "size_bytes": size_bytes,
        "type": type_,
        "encrypted": encrypted,
        "public": public,
        "details": details,
    }
    if key is not None:
        obj["key"] = key
    obj["fingerprint"] = fingerprint
    return orjson.dumps(obj) + b"\n"


def pem_size(der_len: int, label: str = "CERTIFICATE") -> int:
    """Bytes of the PEM rendering of ``der_len`` DER bytes (64-column base64 plus BEGIN/END lines)."""
    b64 = 4 * ((der_len + 2) // 3)
    return b64 + (b64 + 63) // 64 + 2 * len(label) + 30
