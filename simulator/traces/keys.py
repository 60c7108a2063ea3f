"""Key material that keeps traces deterministic: a shipped RSA/DSA pool and seeded EC/Ed25519 keys.

RSA and DSA key generation in ``cryptography`` cannot be seeded and is slow (RSA-4096 takes ~0.4 s),
so the package ships a small pool of pre-generated keys (``data/keypool.txt``) and a seeded
``random.Random`` picks from it. EC keys are derived from a seeded scalar and Ed25519 keys from seeded
bytes, so they are unlimited and still deterministic. Regenerate the pool with
``python -m simulator.traces.keys`` (only ever needed if the file is lost: changing it changes every
trace).

>>> import random
>>> key = rsa_key(random.Random(1), 2048)
>>> key.key_size
2048
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import sys
from pathlib import Path
from typing import Any, TypeAlias

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey | dsa.DSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
)
PublicKey: TypeAlias = (
    rsa.RSAPublicKey | dsa.DSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
)

POOL_FILE = Path(__file__).with_name("data") / "keypool.txt"
# How many keys of each (algorithm, bits) the shipped pool holds.
POOL_SIZES: dict[tuple[str, int], int] = {
    ("rsa", 1024): 6,
    ("rsa", 2048): 16,
    ("rsa", 3072): 6,
    ("rsa", 4096): 8,
    ("dsa", 1024): 3,
    ("dsa", 2048): 3,
}

# Curve name as the trace writes it (OpenSSL/SEC names) -> cryptography curve class.
CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "secp192r1": ec.SECP192R1,
    "secp224r1": ec.SECP224R1,
    "secp256k1": ec.SECP256K1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpoolP384r1": ec.BrainpoolP384R1,
    "brainpoolP512r1": ec.BrainpoolP512R1,
}
WEAK_CURVES = frozenset({"secp192r1", "secp224r1", "secp256k1"}) | {c for c in CURVES if "brainpool" in c}


@functools.lru_cache(maxsize=1)
def _pool() -> dict[tuple[str, int], tuple[bytes, ...]]:
    pool: dict[tuple[str, int], list[bytes]] = {}
    for line in POOL_FILE.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        alg, bits, b64 = line.split()
        pool.setdefault((alg, int(bits)), []).append(base64.b64decode(b64))
    return {k: tuple(v) for k, v in pool.items()}


@functools.lru_cache(maxsize=256)
def _load(der: bytes) -> PrivateKey:
    # The pool is our own data: skipping RSA validation saves milliseconds per 4096-bit key.
    key = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    assert isinstance(key, (rsa.RSAPrivateKey, dsa.DSAPrivateKey))
    return key


def pool_key(rng: random.Random, alg: str, bits: int) -> PrivateKey:
    """A pooled RSA or DSA key of ``bits`` bits picked by ``rng``.

    >>> pool_key(random.Random(0), "dsa", 1024).key_size
    1024
    """
    choices = _pool()[(alg, bits)]
    return _load(choices[rng.randrange(len(choices))])


def rsa_key(rng: random.Random, bits: int) -> rsa.RSAPrivateKey:
    """A pooled RSA key (1024, 2048, 3072 or 4096 bits).

    >>> rsa_key(random.Random(0), 4096).key_size
    4096
    """
    key = pool_key(rng, "rsa", bits)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def ec_key(rng: random.Random, curve: str) -> ec.EllipticCurvePrivateKey:
    """An EC key on ``curve`` (a name from :data:`CURVES`) derived from a seeded scalar.

    >>> ec_key(random.Random(0), "secp384r1").curve.name
    'secp384r1'
    """
    ec_curve = CURVES[curve]()
    # One bit shorter than the curve keeps the scalar below the group order for every curve here.
    scalar = rng.getrandbits(ec_curve.key_size - 1) | 1
    return ec.derive_private_key(scalar, ec_curve)


def ed25519_key(rng: random.Random) -> ed25519.Ed25519PrivateKey:
    """An Ed25519 key from 32 seeded bytes.

    >>> len(ed25519_key(random.Random(0)).public_key().public_bytes_raw())
    32
    """
    return ed25519.Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))


def spki_der(public_key: PublicKey) -> bytes:
    """The SubjectPublicKeyInfo DER of a public key (what ``spki`` fingerprints hash)."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def spki_sha256(public_key: PublicKey) -> str:
    """The ``spki`` fingerprint: hex SHA-256 of the SubjectPublicKeyInfo DER."""
    return hashlib.sha256(spki_der(public_key)).hexdigest()


def key_facts(public_key: PublicKey) -> tuple[str, int, str | None]:
    """(algorithm, bit_length, curve or None) as the trace names them."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa", public_key.key_size, None
    if isinstance(public_key, dsa.DSAPublicKey):
        return "dsa", public_key.key_size, None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ec", public_key.curve.key_size, public_key.curve.name
    return "ed25519", 256, None


def key_object(public_key: PublicKey) -> dict[str, Any]:
    """The record's ``key`` object (big integers as decimal strings), see docs/cst-format.md."""
    if isinstance(public_key, rsa.RSAPublicKey):
        rn = public_key.public_numbers()
        return {"type": "rsa", "value": {"type": "exact", "n": str(rn.n), "e": str(rn.e)}}
    if isinstance(public_key, dsa.DSAPublicKey):
        dn = public_key.public_numbers()
        pn = dn.parameter_numbers
        value = {"type": "exact", "p": str(pn.p), "q": str(pn.q), "g": str(pn.g), "y": str(dn.y)}
        return {"type": "dsa", "value": value}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        en = public_key.public_numbers()
        value = {"type": "exact", "curve": public_key.curve.name, "x": str(en.x), "y": str(en.y)}
        return {"type": "ec", "value": value}
    return {"type": "ed25519", "value": {"type": "exact", "public": public_key.public_bytes_raw().hex()}}


def _regenerate(path: Path = POOL_FILE) -> None:
    lines = ["# Pre-generated RSA/DSA keys (PKCS#8 DER, base64) for deterministic traces. Do not edit."]
    for (alg, bits), count in POOL_SIZES.items():
        params = dsa.generate_parameters(bits) if alg == "dsa" else None
        for _ in range(count):
            key: PrivateKey = (
                params.generate_private_key() if params else rsa.generate_private_key(65537, bits)
            )
            der = key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            lines.append(f"{alg} {bits} {base64.b64encode(der).decode()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    _regenerate(Path(sys.argv[1]) if len(sys.argv) > 1 else POOL_FILE)
