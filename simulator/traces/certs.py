"""Certificate builder: real DER plus the facts the trace record and the manifest need.

:func:`build_certificate` signs with ``cryptography``'s builder (ECDSA deterministically, RFC 6979,
so traces stay byte-identical) and falls back to :func:`simulator.traces.der.resign_rsa` for SHA-1
and MD5 signatures. The returned :class:`CertFacts` is what the generator knows about the
certificate at generation time: the record's ``tbs_certificate`` is rendered from it and the
manifest's findings are counted from it, never from re-parsing the DER.

>>> import random
>>> import simulator.traces.keys as keys
>>> k = keys.ec_key(random.Random(0), "secp256r1")
>>> name = (("CN", "Example Root"),)
>>> c = build_certificate(subject=name, issuer=name, public_key=k.public_key(), signer=k,
...     serial=1, not_before=1_600_000_000, not_after=1_900_000_000, is_ca=True)
>>> c.signature_algorithm
'ecdsa-with-SHA256'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import simulator.traces.der as der
from simulator.traces.keys import PrivateKey, PublicKey, key_facts

Name = tuple[tuple[str, str], ...]  # RDNs in DER order: (("C", "US"), ("O", "..."), ("CN", "..."))

NAME_OIDS = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME,
    "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
}
EKU_OIDS = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
}
_HASHES: dict[str, hashes.SHA256 | hashes.SHA384 | hashes.SHA512] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
_UTC = dt.UTC


@dataclass(frozen=True, slots=True)
class CertFacts:
    """A certificate as generated: its DER and every field the trace and the findings use."""

    der: bytes
    signature: bytes
    serial: int
    issuer: Name
    subject: Name
    not_before: int  # epoch seconds
    not_after: int
    signature_algorithm: str  # e.g. sha256WithRSAEncryption, ecdsa-with-SHA384, ed25519
    key_alg: str  # rsa | dsa | ec | ed25519
    key_bits: int
    curve: str | None
    is_ca: bool | None  # None: no basicConstraints extension
    eku: tuple[str, ...]

    @property
    def self_signed(self) -> bool:
        return self.issuer == self.subject


def signature_algorithm_name(signer: PrivateKey, hash_name: str) -> str:
    """The signature algorithm's name as OpenSSL (and ``cryptography``'s OID names) spell it."""
    if isinstance(signer, rsa.RSAPrivateKey):
        return f"{hash_name}WithRSAEncryption"
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        return f"ecdsa-with-{hash_name.upper()}"
    if isinstance(signer, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise TypeError("DSA signatures are randomized: never sign certificates with DSA here")


def _name(rdns: Name) -> x509.Name:
    return x509.Name([x509.NameAttribute(NAME_OIDS[t], v) for t, v in rdns])


def _time(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, _UTC)


def build_certificate(
    *,
    subject: Name,
    issuer: Name,
    public_key: PublicKey,
    signer: PrivateKey,
    serial: int,
    not_before: int,
    not_after: int,
    is_ca: bool | None,
    eku: tuple[str, ...] = (),
    hash_name: str = "sha256",
    san: tuple[str, ...] = (),
) -> CertFacts:
    """Build and sign one certificate; ``hash_name`` sha1/md5 needs an RSA ``signer``.

    >>> # build_certificate(subject=leaf, issuer=ca.subject, public_key=k.public_key(), signer=ca_key,
    >>> #     serial=7, not_before=t0, not_after=t1, is_ca=False, eku=("serverAuth",))
    """
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(_time(not_before))
        .not_valid_after(_time(not_after))
    )
    if is_ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([EKU_OIDS[e] for e in eku]), critical=False)
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in san]), critical=False
        )
    weak = hash_name in ("sha1", "md5")
    if weak or isinstance(signer, rsa.RSAPrivateKey):
        if not isinstance(signer, rsa.RSAPrivateKey):
            raise ValueError("SHA-1/MD5 certificates are RSA-signed here")
        cert = builder.sign(signer, _HASHES["sha256" if weak else hash_name])
    elif isinstance(signer, ec.EllipticCurvePrivateKey):
        cert = builder.sign(signer, _HASHES[hash_name], ecdsa_deterministic=True)
    elif isinstance(signer, ed25519.Ed25519PrivateKey):
        cert = builder.sign(signer, None)
    else:
        assert not isinstance(signer, dsa.DSAPrivateKey)
        raise TypeError(f"unsupported signer {type(signer).__name__}")
    if weak:
        assert isinstance(signer, rsa.RSAPrivateKey)
        cert_der, signature = der.resign_rsa(cert.tbs_certificate_bytes, signer, hash_name)
    else:
        cert_der, signature = cert.public_bytes(Encoding.DER), cert.signature
    alg, bits, curve = key_facts(public_key)
    return CertFacts(
        der=cert_der,
        signature=signature,
        serial=serial,
        issuer=issuer,
        subject=subject,
        not_before=not_before,
        not_after=not_after,
        signature_algorithm=signature_algorithm_name(signer, hash_name),
        key_alg=alg,
        key_bits=bits,
        curve=curve,
        is_ca=is_ca,
        eku=eku,
    )
