"""Per-seed pools of trust-store roots and intermediate CAs, built once per process and reused.

Trust-store roots are > 90 % of a trace and the same few hundred certificates everywhere, so each
seed gets one pool: the certificates are signed once, each root's record tail (details and
fingerprint) is serialized once per container format, and its findings are computed once per scan
time. Stores then cost a join of cached bytes. Intermediates (with their keys) issue the per-endpoint
leaves.

>>> pool = root_pool(7)
>>> len(pool.roots) >= 150
True
"""

from __future__ import annotations

import calendar
import functools
import random
import threading
from dataclasses import dataclass, field

import simulator.traces.keys as keys
from simulator.traces.certs import CertFacts, Name, build_certificate
from simulator.traces.findings import cert_facts, record_findings
from simulator.traces.keys import PrivateKey
from simulator.traces.records import cert_tail, pem_size
from simulator.traces.types import CONTAINER_FORMATS

POOL_ROOTS = 172  # bundles pick 120-152 of them, as Mozilla's set changes between releases
POOL_INTERMEDIATES = 16
_PREFIXES = (
    "Global", "Secure", "Trust", "Cyber", "Prime", "Net", "Quantum", "Atlas", "Sentinel", "Certi",
    "Veri", "Ident", "Nova", "Aegis", "Orion", "Polar", "Summit", "Harbor", "Crest", "Beacon",
)  # fmt: skip
_SUFFIXES = ("Sign", "Trust", "Cert", "Guard", "Key", "Seal", "Shield", "Gate")
_FORMS = ("Ltd.", "Inc.", "S.A.", "GmbH", "AG", "Corporation", "B.V.", "LLC")
_COUNTRIES = ("US", "GB", "DE", "FR", "ES", "NL", "CH", "JP", "BE", "PL", "TW", "HK", "CN", "KR", "IT")
_VARIANTS = ("Root CA", "Root CA - G2", "Root CA - G3", "Root R1", "Root E46", "ECC Root", "Root 2018",
             "Primary Root", "Root Certification Authority", "Root CA 2")  # fmt: skip


def _epoch(year: int, month: int = 1, day: int = 1) -> int:
    return calendar.timegm((year, month, day, 0, 0, 0))


@dataclass(frozen=True)
class Issuer:
    """A CA that can sign: its certificate and private key."""

    cert: CertFacts
    key: PrivateKey

    @property
    def is_rsa(self) -> bool:
        return self.cert.key_alg == "rsa"


@dataclass
class Root:
    """One trust-store root and its cached serializations."""

    cert: CertFacts
    alias: str  # keystore alias, e.g. "globalsignrootca [jdk]"
    file_stem: str  # file name in /usr/share/ca-certificates/mozilla
    pem_size: int
    _tails: dict[str | None, bytes] = field(default_factory=dict)

    def tail(self, container_type: str | None) -> bytes:
        """The record bytes after ``"type"`` for a plain file (None) or a keystore type."""
        tail = self._tails.get(container_type)
        if tail is None:
            container = None
            if container_type is not None:
                container = {"format": CONTAINER_FORMATS[container_type], "alias": self.alias}
            tail = self._tails[container_type] = cert_tail(self.cert, container)
        return tail


class RootPool:
    """The roots and intermediates of one seed (see the module docstring)."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"roots:{seed}")
        self.seed = seed
        self.roots: tuple[Root, ...] = tuple(self._roots(rng))
        self.issuers: tuple[Issuer, ...] = tuple(self._intermediates(rng))
        self._findings: dict[int, tuple[tuple[str, ...], ...]] = {}
        self._lock = threading.Lock()

    def _roots(self, rng: random.Random) -> list[Root]:
        self.root_keys: list[PrivateKey] = []
        seen: set[str] = set()
        out = []
        for _ in range(POOL_ROOTS):
            org = rng.choice(_PREFIXES) + rng.choice(_SUFFIXES)
            cn = f"{org} {rng.choice(_VARIANTS)}"
            while cn in seen:
                cn += f" {rng.randint(2, 9)}"
            seen.add(cn)
            name: Name = (("C", rng.choice(_COUNTRIES)), ("O", f"{org} {rng.choice(_FORMS)}"), ("CN", cn))
            kind = rng.choices(("rsa4096", "rsa2048", "p384", "p256"), (25, 45, 25, 5))[0]
            key: PrivateKey
            if kind.startswith("rsa"):
                key = keys.rsa_key(rng, int(kind[3:]))
                hash_name = "sha384" if kind == "rsa4096" and rng.random() < 0.3 else "sha256"
            else:
                key = keys.ec_key(rng, "secp384r1" if kind == "p384" else "secp256r1")
                hash_name = "sha384" if kind == "p384" else "sha256"
            not_before = rng.randint(_epoch(2000), _epoch(2021))
            not_after = not_before + rng.randint(20, 25) * 365 * 86_400
            not_after = max(not_after, _epoch(2029) + rng.randint(0, 10 * 365 * 86_400))
            serial = rng.getrandbits(rng.choice((8, 64, 127, 159))) | 1
            cert = build_certificate(
                subject=name, issuer=name, public_key=key.public_key(), signer=key, serial=serial,
                not_before=not_before, not_after=not_after, is_ca=True, hash_name=hash_name,
            )  # fmt: skip
            alias = "".join(ch for ch in cn.lower() if ch.isalnum()) + " [jdk]"
            stem = cn.replace(" ", "_").replace("-", "_")
            out.append(Root(cert, alias, stem, pem_size(len(cert.der))))
            self.root_keys.append(key)
        return out

    def _intermediates(self, rng: random.Random) -> list[Issuer]:
        out = []
        for i in range(POOL_INTERMEDIATES):
            ec_ca = i % 3 == 2  # a third of the issuing CAs are ECDSA, like today's public CAs
            while True:
                j = rng.randrange(len(self.roots))
                if (self.roots[j].cert.key_alg == "ec") == ec_ca:
                    break
            root, root_key = self.roots[j].cert, self.root_keys[j]
            key: PrivateKey = keys.ec_key(rng, "secp384r1") if ec_ca else keys.rsa_key(rng, 2048)
            org = dict(root.subject)["O"]
            name: Name = (
                ("C", dict(root.subject)["C"]),
                ("O", org),
                ("CN", f"{org.split()[0]} Issuing CA {i + 1}"),
            )
            not_before = rng.randint(_epoch(2021), _epoch(2024))
            cert = build_certificate(
                subject=name, issuer=root.subject, public_key=key.public_key(), signer=root_key,
                serial=rng.getrandbits(127) | 1, not_before=not_before,
                not_after=not_before + rng.randint(9, 12) * 365 * 86_400, is_ca=True,
                hash_name="sha384" if ec_ca else "sha256",
            )  # fmt: skip
            out.append(Issuer(cert, key))
        return out

    def root_findings(self, scan_time: int) -> tuple[tuple[str, ...], ...]:
        """Finding keys of each root at ``scan_time``, cached (a few scan times per process)."""
        cached = self._findings.get(scan_time)
        if cached is None:
            cached = tuple(tuple(record_findings(cert_facts(r.cert), scan_time)) for r in self.roots)
            with self._lock:
                if len(self._findings) > 64:
                    self._findings.clear()
                self._findings[scan_time] = cached
        return cached

    def release(self, version: int, size: int) -> list[int]:
        """Root indexes of one store release: ``size`` roots, stable for a given version."""
        rng = random.Random(f"release:{self.seed}:{version}:{size}")
        return sorted(rng.sample(range(len(self.roots)), min(size, len(self.roots))))


_POOLS_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _build(seed: int) -> RootPool:
    return RootPool(seed)


def root_pool(seed: int) -> RootPool:
    """The pool for ``seed`` (built on first use, ~1 s; then cached per process, thread-safe)."""
    with _POOLS_LOCK:
        return _build(seed)
