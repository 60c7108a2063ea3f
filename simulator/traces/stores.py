"""Where trust stores live on a Linux or Windows endpoint, as an endless, seeded list of stores.

Linux keeps trust on disk: the system bundle (Debian) or several renders of the same roots (RHEL),
the per-root files, Java cacerts, certifi copies; busy hosts add container layers with their own.
Windows keeps trust in the registry, so its filesystem holds app-bundled stores: Java cacerts, Git's
ca-bundle, certifi copies and ``.sst`` exports. The generator takes stores from :func:`store_slots`
until the profile's root budget is spent.

>>> import random
>>> next(store_slots("Linux", random.Random(0), "alice")).path.startswith("/etc/")
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Store:
    """One trust store: ``size`` roots of root-set ``release`` in one file (or one file per root)."""

    path: str  # the file, or the folder when per_file
    kind: str  # a key of simulator.traces.types.TYPES: cert | jks | sst | pkcs12
    release: int
    size: int
    per_file: bool = False


def _certifi(rng: random.Random) -> int:
    return rng.randint(120, 152)


def store_slots(platform: str, rng: random.Random, user: str) -> Iterator[Store]:
    """The endpoint's trust stores in scan order, without end (callers stop when they have enough)."""
    if platform == "Windows":
        yield from _windows(rng, user)
    elif rng.random() < 0.6:
        yield from _debian(rng, user)
    else:
        yield from _rhel(rng, user)


def _debian(rng: random.Random, user: str) -> Iterator[Store]:
    yield Store("/etc/ssl/certs/ca-certificates.crt", "cert", 0, 144)
    yield Store("/etc/ssl/certs/java/cacerts", "jks", 0, 144)
    yield Store("/usr/lib/python3/dist-packages/certifi/cacert.pem", "cert", 1, _certifi(rng))
    yield Store("/usr/share/ca-certificates/mozilla", "cert", 0, 144, per_file=True)
    yield Store("/usr/lib/python3/dist-packages/pip/_vendor/certifi/cacert.pem", "cert", 2, _certifi(rng))
    yield Store(
        f"/home/{user}/.local/lib/python3.11/site-packages/certifi/cacert.pem", "cert", 3, _certifi(rng)
    )
    yield from _containers(rng, "/var/lib/docker/overlay2")


def _rhel(rng: random.Random, user: str) -> Iterator[Store]:
    base = "/etc/pki/ca-trust/extracted"
    yield Store(f"{base}/pem/tls-ca-bundle.pem", "cert", 0, 144)
    yield Store(f"{base}/openssl/ca-bundle.trust.crt", "cert", 0, 144)
    yield Store(f"{base}/java/cacerts", "jks", 0, 144)
    yield Store(f"{base}/pem/email-ca-bundle.pem", "cert", 4, 128)
    yield Store(f"{base}/pem/objsign-ca-bundle.pem", "cert", 5, 120)
    yield Store("/usr/lib/python3.9/site-packages/pip/_vendor/certifi/cacert.pem", "cert", 2, _certifi(rng))
    yield Store(
        f"/home/{user}/.local/lib/python3.9/site-packages/certifi/cacert.pem", "cert", 3, _certifi(rng)
    )
    yield from _containers(rng, "/var/lib/containers/storage/overlay")


def _containers(rng: random.Random, root: str) -> Iterator[Store]:
    while True:  # one image layer after another, each with its own copies
        layer = f"{root}/{rng.getrandbits(256):064x}/diff"
        release = rng.randint(6, 30)
        yield Store(f"{layer}/etc/ssl/certs/ca-certificates.crt", "cert", release, rng.randint(128, 146))
        if rng.random() < 0.5:
            py = rng.choice(("3.10", "3.11", "3.12"))
            path = f"{layer}/usr/local/lib/python{py}/site-packages/certifi/cacert.pem"
            yield Store(path, "cert", release + 1, _certifi(rng))
        if rng.random() < 0.2:
            yield Store(
                f"{layer}/opt/java/openjdk/lib/security/cacerts", "jks", release, rng.randint(130, 146)
            )


def _windows(rng: random.Random, user: str) -> Iterator[Store]:
    yield Store("C:\\Program Files\\Java\\jre-1.8\\lib\\security\\cacerts", "jks", 0, 144)
    yield Store("C:\\Program Files\\Git\\mingw64\\etc\\ssl\\certs\\ca-bundle.crt", "cert", 1, _certifi(rng))
    py = f"C:\\Users\\{user}\\AppData\\Local\\Programs\\Python\\Python311\\Lib\\site-packages"
    yield Store(f"{py}\\certifi\\cacert.pem", "cert", 2, _certifi(rng))
    yield Store(f"C:\\Users\\{user}\\Documents\\trusted-roots.sst", "sst", 0, 144)
    yield Store("C:\\Program Files\\Git\\usr\\ssl\\certs\\ca-bundle.crt", "cert", 1, _certifi(rng))
    azure = "C:\\Program Files\\Microsoft SDKs\\Azure\\CLI2\\Lib\\site-packages\\certifi\\cacert.pem"
    yield Store(azure, "cert", 3, _certifi(rng))
    adoptium = "C:\\Program Files\\Eclipse Adoptium\\jdk-17.0.9.9-hotspot\\lib\\security\\cacerts"
    yield Store(adoptium, "jks", 4, rng.randint(130, 146))
    n = 0
    while True:  # developer checkouts, each with its own virtualenv
        n += 1
        repo = f"C:\\Users\\{user}\\source\\repos\\project{n:04d}"
        yield Store(
            f"{repo}\\.venv\\Lib\\site-packages\\certifi\\cacert.pem", "cert", 5 + n % 20, _certifi(rng)
        )
        if rng.random() < 0.15:
            jre = f"C:\\ProgramData\\App{n:04d}\\jre\\lib\\security\\cacerts"
            yield Store(jre, "jks", 5 + n % 20, rng.randint(130, 146))
