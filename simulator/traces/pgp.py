"""OpenPGP key records: the parsed fields key-parsers reports, with a real v4 fingerprint.

No OpenPGP library is needed: the record carries only parsed fields, and the v4 fingerprint is
SHA-1 over the public-key packet (RFC 4880 §12.2), which is small enough to build here.

>>> import random
>>> import simulator.traces.keys as keys
>>> fp = v4_fingerprint(keys.ed25519_key(random.Random(0)).public_key(), 1_600_000_000)
>>> len(fp)
40
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric import dsa, ed25519, rsa

from simulator.traces.keys import PublicKey, key_object

_ED25519_OID = bytes.fromhex("2b06010401da470f01")  # 1.3.6.1.4.1.11591.15.1


def _mpi(value: int) -> bytes:
    return value.bit_length().to_bytes(2, "big") + value.to_bytes((value.bit_length() + 7) // 8, "big")


def public_key_packet_body(key: PublicKey, created: int) -> bytes:
    """The v4 public-key packet body (version, creation time, algorithm, key material)."""
    head = b"\x04" + created.to_bytes(4, "big")
    if isinstance(key, rsa.RSAPublicKey):
        n = key.public_numbers()
        return head + b"\x01" + _mpi(n.n) + _mpi(n.e)
    if isinstance(key, dsa.DSAPublicKey):
        d = key.public_numbers()
        p = d.parameter_numbers
        return head + b"\x11" + _mpi(p.p) + _mpi(p.q) + _mpi(p.g) + _mpi(d.y)
    if isinstance(key, ed25519.Ed25519PublicKey):
        point = b"\x40" + key.public_bytes_raw()
        return (
            head + b"\x16" + bytes((len(_ED25519_OID),)) + _ED25519_OID + _mpi(int.from_bytes(point, "big"))
        )
    raise TypeError(f"no OpenPGP encoding here for {type(key).__name__}")


def v4_fingerprint(key: PublicKey, created: int) -> str:
    """The OpenPGP v4 fingerprint (40 hex digits, lower case)."""
    body = public_key_packet_body(key, created)
    return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest()


def pgp_details(
    key: PublicKey, created: int, user_ids: list[str], *, has_private_key: bool
) -> dict[str, Any]:
    """``details`` of a ``pgp`` record, mirroring key-parsers' output."""
    uses = ["Certification", "Sign data"]
    if not isinstance(key, ed25519.Ed25519PublicKey):
        uses.append("Encrypt communication")
    return {
        "key": {
            "key": key_object(key),
            "info": {
                "creation_time": created,
                "has_private_key": has_private_key,
                "ids": user_ids,
                "validity_period": None,  # v4 keys carry expiry in self-signatures, not here
                "version": 4,
                "uses": uses,
                "revocation_reason": [],
            },
        }
    }
