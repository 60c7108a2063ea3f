"""Builders for hand-made CST traces: certificates, key records, traces, and a tiny ZipCrypto writer.

Shared by the reader and findings tests (no tests here). Certificates are real (cryptography's builder);
a SHA-1 one is re-signed at the DER level because the builder refuses SHA-1.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SCAN_TIME = datetime(2026, 11, 1, tzinfo=UTC)
SCAN_TIME_TEXT = "2026-11-01T00:00:00Z"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def header(**api_specific: Any) -> dict[str, Any]:
    spec = {"scanner_version": "1.12.1", "os": "linux", "hostname": "web-01", "scan_time": SCAN_TIME_TEXT}
    spec.update(api_specific)
    return {
        "format": "CST",
        "version": "1.0",
        "api": "host-scanner",
        "tags": [],
        "anonymized": False,
        "api_specific": spec,
    }


def make_cert(
    key: PrivateKey,
    cn: str = "leaf.example",
    *,
    issuer_cn: str | None = None,
    issuer_key: PrivateKey | None = None,
    not_before: datetime = SCAN_TIME - timedelta(days=30),
    days: float = 90,
    ca: bool | None = None,
    server_auth: bool = False,
    serial: int = 0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0,
) -> x509.Certificate:
    """A real certificate; ``issuer_cn=None`` makes it self-signed; ``ca=None`` omits basicConstraints."""
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme")]
    )
    issuer = subject if issuer_cn is None else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=days))
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if server_auth:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    signer = issuer_key or key
    return builder.sign(signer, None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256())


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def resign_sha1(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> x509.Certificate:
    """The same certificate signed sha1WithRSAEncryption (cryptography's builder refuses SHA-1)."""
    sha256_rsa = bytes.fromhex("06092a864886f70d01010b")
    sha1_rsa = bytes.fromhex("06092a864886f70d010105")
    tbs = cert.tbs_certificate_bytes.replace(sha256_rsa, sha1_rsa)
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())  # weak on purpose: a fixture
    algorithm = _tlv(0x30, sha1_rsa + b"\x05\x00")
    der = _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)


_SHORT = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O", NameOID.COUNTRY_NAME: "C"}


def _name(name: x509.Name) -> list[dict[str, str]]:
    return [{"type": _SHORT.get(a.oid, a.oid.dotted_string), "value": str(a.value)} for a in name]


def cert_record(
    cert: x509.Certificate, path: str = "/etc/ssl/certs/leaf.pem", **extra: Any
) -> dict[str, Any]:
    """The CST record of a certificate, every tbs field taken from the certificate itself."""
    der = cert.public_bytes(serialization.Encoding.DER)
    record = {
        "path": path,
        "last_modified": 1_790_000_000,
        "size_bytes": 1_500,
        "type": "X509 CERTIFICATE",
        "encrypted": False,
        "public": True,
        "details": {
            "tbs_certificate": {
                "version": "3",
                "serial": str(cert.serial_number),
                "issuer": _name(cert.issuer),
                "subject": _name(cert.subject),
                "validity": {
                    "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            },
            "signature_algorithm": {"algorithm": cert.signature_algorithm_oid._name},
            "signature": cert.signature.hex(),
            "encoded": base64.b64encode(der).decode(),
        },
        "fingerprint": {"alg": "sha256", "kind": "cert-der", "value": hashlib.sha256(der).hexdigest()},
    }
    record.update(extra)
    return record


def number_of_bits(bits: int) -> str:
    """A decimal integer of exactly ``bits`` bits (key records only need the size to be right)."""
    return str((1 << (bits - 1)) | 1)


def key_record(
    kind: str,
    *,
    bits: int = 2048,
    curve: str = "secp256r1",
    public: bool = False,
    encrypted: bool = False,
    type_: str | None = None,
) -> dict[str, Any]:
    """A key record with a ``key`` object of the documented shape (``kind``: rsa, dsa, ec, ed25519)."""
    value: dict[str, str]
    details: dict[str, Any] = {"bit_length": bits}
    if kind == "rsa":
        value = {"type": "exact", "n": number_of_bits(bits), "e": "65537"}
    elif kind == "dsa":
        value = {"type": "exact", "p": number_of_bits(bits), "q": number_of_bits(256), "g": "2", "y": "5"}
    elif kind == "ec":
        value = {"type": "exact", "curve": curve, "x": "1", "y": "2"}
        details = {"bit_length": 256, "curve": curve}
    else:
        value = {"type": "exact", "public": "ab" * 32}
        details = {"bit_length": 256}
    return {
        "path": f"/home/dev/.ssh/id_{kind}",
        "last_modified": 1_790_000_000,
        "size_bytes": 1_700,
        "type": type_ or f"{kind}_private_key",
        "encrypted": encrypted,
        "public": public,
        "details": details,
        "key": {"type": kind, "value": value},
        "fingerprint": {"alg": "sha256", "kind": "spki", "value": "0" * 64},
    }


def pgp_record(kind: str = "rsa", bits: int = 1024) -> dict[str, Any]:
    """A PGP public key record; the key material sits in ``details.key.key``."""
    value = {"type": "exact", "n": number_of_bits(bits), "e": "65537"} if kind == "rsa" else None
    key: dict[str, Any] = {"type": kind} if value is None else {"type": kind, "value": value}
    return {
        "path": "/home/dev/.gnupg/pubring.kbx",
        "last_modified": 1_790_000_000,
        "size_bytes": 4_000,
        "type": "pgp",
        "encrypted": False,
        "public": True,
        "details": {
            "key": {
                "key": key,
                "info": {
                    "creation_time": 1_600_000_000,
                    "has_private_key": False,
                    "ids": ["Dev <dev@example>"],
                },
            }
        },
        "fingerprint": {"alg": "openpgp-v4", "kind": "openpgp-v4", "value": "a" * 40},
    }


def blob_record() -> dict[str, Any]:
    """An encrypted private key whose algorithm is not visible: no key object, a blob fingerprint."""
    return {
        "path": "/srv/app/key.p8",
        "last_modified": "2026-01-02T03:04:05Z",
        "size_bytes": 1_800,
        "type": "ENCRYPTED PRIVATE KEY",
        "encrypted": True,
        "public": False,
        "details": {},
        "fingerprint": {"alg": "sha256", "kind": "blob", "value": "1" * 64},
    }


def trace_text(objects: Iterable[dict[str, Any]], sep: bytes = b"\n", *, indent: int | None = None) -> bytes:
    """Objects serialized one after another, separated by ``sep``."""
    return sep.join(json.dumps(o, indent=indent, ensure_ascii=False).encode() for o in objects) + sep


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


# --- a minimal ZipCrypto writer (until simulator.traces.build_evidence_zip lands) ----------------------

_CRC = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0xEDB88320 if _c & 1 else _c >> 1
    _CRC.append(_c)


def _zipcrypto(data: bytes, password: bytes) -> bytes:
    k = [0x12345678, 0x23456789, 0x34567890]

    def update(byte: int) -> None:
        k[0] = (k[0] >> 8) ^ _CRC[(k[0] ^ byte) & 0xFF]
        k[1] = ((k[1] + (k[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k[2] = (k[2] >> 8) ^ _CRC[(k[2] ^ (k[1] >> 24)) & 0xFF]

    for byte in password:
        update(byte)
    out = bytearray()
    for byte in data:
        t = (k[2] | 2) & 0xFFFF
        out.append(byte ^ (((t * (t ^ 1)) >> 8) & 0xFF))
        update(byte)
    return bytes(out)


def zipcrypto_zip(name: str, data: bytes, password: bytes = b"infected", *, deflate: bool = False) -> bytes:
    """A one-member zip encrypted with legacy ZipCrypto (what Threat Response serves as evidence)."""
    crc = zlib.crc32(data)
    body = data
    if deflate:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = c.compress(data) + c.flush()
    header12 = os.urandom(11) + bytes([crc >> 24])  # the last byte lets readers check the password
    payload = _zipcrypto(header12 + body, password)
    method = 8 if deflate else 0
    raw = name.encode()
    fields = struct.pack("<HHHHHIIIHH", 20, 0x1, method, 0, 0x21, crc, len(payload), len(data), len(raw), 0)
    local = b"PK\x03\x04" + fields + raw
    central = (
        b"PK\x01\x02"
        + struct.pack("<H", 20)
        + fields
        + struct.pack("<HHHII", 0, 0, 0, 0, 0)  # comment, disk, internal, external attributes, offset 0
        + raw
    )
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central), len(local) + len(payload), 0)
    return local + payload + central + end


def evidence_zip(data: bytes, name: str = "trace.cst.gz") -> bytes:
    """The evidence zip of ``data``: the simulator's builder when it exists, else the one above."""
    try:
        from simulator.traces import build_evidence_zip  # type: ignore[attr-defined]
    except ImportError:
        return zipcrypto_zip(name, data)
    result: bytes = build_evidence_zip(name, data)
    return result
