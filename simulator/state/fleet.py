"""The fleet: endpoints computed on demand from (seed, index), never stored.

Endpoint ``i`` is a pure function of the seed and ``i``, so a million-endpoint fleet costs what ten
do until endpoints are touched, and every worker or host derives the same fleet. Identifiers are
invertible (computer id, hostname and IP all encode the index), so lookups are O(1) without a map.

>>> fleet = Fleet(seed=7, size=1_000_000)
>>> ep = fleet.endpoint(41)
>>> fleet.by_client_id(ep.client_id) == ep
True
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from simulator.ids import parse_id
from simulator.settings import FleetProfile

_MASK32 = (1 << 32) - 1
_MULT = 0x9E3779B1  # odd, so multiplication mod 2**32 is a bijection
_MULT_INV = pow(_MULT, -1, 1 << 32)

LINUX_ROLES = ("web", "db", "app", "build", "ci", "k8s", "mail", "vpn", "proxy", "cache", "kafka", "git")
WINDOWS_ROLES = ("ws", "dc", "sql", "file", "rdp", "exch", "laptop", "iis")
LINUX_OS = ("Debian 12", "Ubuntu 22.04", "Ubuntu 24.04", "Red Hat Enterprise Linux 9", "Rocky Linux 8")
WINDOWS_OS = ("Windows Server 2022", "Windows Server 2019", "Windows 11 Enterprise", "Windows 10 Enterprise")
SCANNER_VERSIONS = ("1.11.2", "1.12.0", "1.12.1")


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of the parts that is the same in every process (unlike ``hash()``)."""
    data = ":".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def stable_fraction(*parts: object) -> float:
    """A number in [0, 1) derived from the parts, for seeded yes/no and weighted choices."""
    return stable_hash(*parts) / 2**64


def weighted_choice(weights: dict[str, float], fraction: float) -> str:
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("weights must add up to more than 0")
    acc = 0.0
    for name, weight in weights.items():
        acc += weight / total
        if fraction < acc:
            return name
    return next(reversed(weights))


@dataclass(frozen=True)
class Endpoint:
    """One managed endpoint as Tanium knows it, plus what the simulator decides about it."""

    index: int
    client_id: str
    hostname: str
    ip: str
    platform: str  # "Linux" | "Windows"
    os: str
    user: str
    profile: str  # trace size profile: small | medium | large | stress
    online: bool
    has_trace: bool
    scanner_version: str

    @property
    def is_windows(self) -> bool:
        return self.platform == "Windows"


class Fleet:
    """``size`` endpoints derived from ``seed``; see the module docstring."""

    def __init__(
        self,
        seed: int,
        size: int,
        profile: FleetProfile | None = None,
        *,
        offline_fraction: float = 0.0,
        missing_trace_fraction: float = 0.0,
        cache_size: int = 65_536,
    ) -> None:
        self.seed = seed
        self.size = size
        self.profile = profile or FleetProfile()
        self.offline_fraction = offline_fraction
        self.missing_trace_fraction = missing_trace_fraction
        self._offset = stable_hash(seed, "client-id-offset") & _MASK32
        self._words = _word_pool(seed)
        self._users = _user_pool(seed)
        self.endpoint = functools.lru_cache(maxsize=cache_size)(self._build)  # type: ignore[method-assign]

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Endpoint]:
        return (self.endpoint(i) for i in range(self.size))

    def client_id(self, index: int) -> str:
        return str((((index + self._offset) & _MASK32) * _MULT) & _MASK32)

    def endpoint(self, index: int) -> Endpoint:  # replaced per instance by a cached version
        return self._build(index)

    def _build(self, index: int) -> Endpoint:
        if not 0 <= index < self.size:
            raise IndexError(index)
        seed = self.seed
        windows = stable_fraction(seed, index, "platform") >= self.profile.linux_fraction
        h = stable_hash(seed, index, "names")
        roles = WINDOWS_ROLES if windows else LINUX_ROLES
        role = roles[h % len(roles)]
        word = self._words[(h >> 8) % len(self._words)]
        hostname = f"{role}-{word}-{index + 1:02d}"
        ip = str(ipaddress.IPv4Address((10 << 24) + (16 << 16) + index + 1))
        oses = WINDOWS_OS if windows else LINUX_OS
        return Endpoint(
            index=index,
            client_id=self.client_id(index),
            hostname=hostname,
            ip=ip,
            platform="Windows" if windows else "Linux",
            os=oses[(h >> 20) % len(oses)],
            user=self._users[(h >> 28) % len(self._users)],
            profile=weighted_choice(self.profile.profile_mix, stable_fraction(seed, index, "profile")),
            online=stable_fraction(seed, index, "online") >= self.offline_fraction,
            has_trace=stable_fraction(seed, index, "trace") >= self.missing_trace_fraction,
            scanner_version=SCANNER_VERSIONS[(h >> 36) % len(SCANNER_VERSIONS)],
        )

    # -- O(1) lookups by identifier ----------------------------------------------------------------
    def index_of_client_id(self, client_id: str) -> int | None:
        value = parse_id(client_id.strip() if isinstance(client_id, str) else client_id)
        if value is None or value > _MASK32:
            return None
        index = ((value * _MULT_INV) - self._offset) & _MASK32
        return index if index < self.size else None

    def by_client_id(self, client_id: str) -> Endpoint | None:
        index = self.index_of_client_id(client_id)
        return None if index is None else self.endpoint(index)

    def by_hostname(self, hostname: str) -> Endpoint | None:
        match = re.fullmatch(r"[a-z0-9]+-[a-z]+-([0-9]{2,})", hostname.strip().lower())
        number = parse_id(match.group(1)) if match else None  # None past 18 digits: no such host
        if number is None or not 0 <= number - 1 < self.size:
            return None
        index = number - 1
        ep = self.endpoint(index)
        return ep if ep.hostname == hostname.strip().lower() else None

    def by_ip(self, ip: str) -> Endpoint | None:
        try:
            index = int(ipaddress.IPv4Address(ip.strip())) - ((10 << 24) + (16 << 16)) - 1
        except ValueError:
            return None
        return self.endpoint(index) if 0 <= index < self.size else None


@functools.lru_cache(maxsize=16)
def _word_pool(seed: int) -> tuple[str, ...]:
    fake = _faker(seed)
    words = {re.sub(r"[^a-z]", "", fake.last_name().lower()) for _ in range(600)}
    return tuple(sorted(w for w in words if 3 <= len(w) <= 10))


@functools.lru_cache(maxsize=16)
def _user_pool(seed: int) -> tuple[str, ...]:
    fake = _faker(seed + 1)
    return tuple(sorted({fake.user_name() for _ in range(300)}))


def _faker(seed: int) -> Any:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    return fake
