"""HTTPS for the simulator: a local CA kept in a state folder, the server certificate, and TLS faults.

Integration developers rehearse the real deployment's trust problem offline: the simulator serves a
certificate signed by its own CA, and clients must be told to trust that CA (``--ca-bundle`` for the
reference client, ``keytool -import`` into ``cacerts`` for Java programs; see docs/tls.md). The CA is
created on first use in ``<state>/tls/`` (``<state>`` = ``--state-dir``, ``$TANIUM_SIM_STATE``, else the
user's data folder, ``~/.local/share/tanium-sim`` on Linux) and loaded on later runs, from any working
directory, so a CA exported once stays valid across restarts. A state folder the user names must exist
(:func:`check_state_dir`): a typo must not silently start a second CA. The server certificate is issued
afresh at each start for ``localhost``, ``127.0.0.1`` and any extra names, and the server sends the CA
certificate after it, so a client that refuses it can say which CA signed it (:func:`ca_notice` prints
the same fingerprint). Nothing here touches a system trust store.

trustme (a maintained test-CA library) issues the certificates; ``trustme.CA.from_pem`` restores the
persisted CA. Certificates use trustme's fixed validity (2000-01-01 to 3000-01-01), so no clock is read:
an expired certificate is simply one whose validity ended in 2001.

TLS faults (:class:`TLSFault`), for QA and scenarios:

- ``expired``: the server certificate's validity ended long ago (signed by the real CA, so the only
  problem a client sees is the date);
- ``wrong-hostname``: the certificate names only ``wrong-host.tanium-sim.invalid``;
- ``rotate-after-N``: the first N TLS handshakes get the usual certificate, later ones a certificate
  from a brand-new CA, as when a server is re-provisioned mid-run: connections already open keep
  working, new ones fail verification with a CA bundle exported before the rotation.

>>> tls = ServerTLS.from_settings(TLSSettings(enabled=True, fault="rotate-after-2"))  # doctest: +SKIP
>>> uvicorn.Config(app, **tls.uvicorn_options())                                       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from simulator.settings import TLSSettings

DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1")
WRONG_HOSTNAME = "wrong-host.tanium-sim.invalid"
STATE_ENV = "TANIUM_SIM_STATE"
_CA_DIR, _CA_CERT, _CA_KEY = "ca", "ca.pem", "ca.key"
_EXPIRED_NOT_BEFORE = datetime(2000, 1, 1)
_EXPIRED_NOT_AFTER = datetime(2001, 1, 1)
_FAULT = re.compile(r"(expired|wrong-hostname|rotate-after-(\d+))")


@dataclass(frozen=True)
class TLSFault:
    """A certificate fault: ``expired``, ``wrong-hostname`` or ``rotate-after-N`` (N TLS handshakes).

    >>> TLSFault.parse("rotate-after-3")
    TLSFault(type='rotate', after_handshakes=3)
    """

    type: Literal["expired", "wrong-hostname", "rotate"]
    after_handshakes: int = 0  # rotate only: handshakes served with the original certificate

    @classmethod
    def parse(cls, text: str) -> TLSFault:
        """Reads the ``--tls-fault`` / settings spelling; raises ValueError with one sentence."""
        match = _FAULT.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"unknown TLS fault {text!r}: use expired, wrong-hostname or rotate-after-N")
        if match.group(2) is not None:
            return cls("rotate", int(match.group(2)))
        return cls("expired" if match.group(1) == "expired" else "wrong-hostname")

    def __str__(self) -> str:
        return f"rotate-after-{self.after_handshakes}" if self.type == "rotate" else self.type


def state_dir(configured: str = "", environ: Mapping[str, str] | None = None) -> Path:
    """The TLS state folder: ``<configured or $TANIUM_SIM_STATE or the user's data folder>/tls``.

    >>> state_dir("/tmp/sim", environ={})
    PosixPath('/tmp/sim/tls')
    """
    from platformdirs import user_data_dir

    env = os.environ if environ is None else environ
    root = configured or env.get(STATE_ENV) or user_data_dir("tanium-sim", appauthor=False)
    return Path(root).expanduser() / "tls"


def check_state_dir(
    configured: str = "", *, create: bool = False, environ: Mapping[str, str] | None = None
) -> Path:
    """:func:`state_dir`, refusing (ValueError, one sentence) a named state folder that does not exist.

    The default folder is created as needed; one the user names (``--state-dir``, ``$TANIUM_SIM_STATE``)
    is only with ``create``, so a mistyped name is an error rather than a second, unknown CA.

    >>> check_state_dir("/nonexistent/sim", environ={})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: --state-dir /nonexistent/sim does not exist: pass the folder `serve --tls` used, or add ...
    """
    env = os.environ if environ is None else environ
    named = configured or env.get(STATE_ENV, "")
    folder = state_dir(configured, env)
    if named and not create and not Path(named).expanduser().is_dir():
        source = "--state-dir" if configured else f"${STATE_ENV}"
        raise ValueError(
            f"{source} {named} does not exist: pass the folder `serve --tls` used, "
            "or add --create to make a new CA there"
        )
    return folder


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as keytool and browsers print it (``AA:BB:...``).

    >>> fingerprint(b"")[:11]
    'E3:B0:C4:42'
    """
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def ca_notice(configured: str = "", environ: Mapping[str, str] | None = None) -> str:
    """The line ``serve --tls`` and ``tls export-ca`` print: where the CA is, and its fingerprint.

    >>> print(ca_notice("/tmp/sim"))  # doctest: +SKIP
    simulator CA: /tmp/sim/tls/ca/ca.pem (SHA-256 3F:9A:...)
    """
    return LocalCA.load_or_create(state_dir(configured, environ)).notice()


class LocalCA:
    """The simulator's certificate authority, persisted in a state folder.

    >>> ca = LocalCA.load_or_create(state_dir())   # doctest: +SKIP
    >>> ca.export(Path("tanium-sim-ca.pem"))       # doctest: +SKIP
    """

    def __init__(self, ca: trustme.CA, folder: Path | None = None) -> None:
        self.ca = ca
        self.folder = folder

    @classmethod
    def load_or_create(cls, folder: Path) -> LocalCA:
        """Loads ``folder/ca/`` or creates it; concurrent first runs agree on one CA."""
        final = folder / _CA_DIR
        if not (final / _CA_KEY).exists():
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            ca = trustme.CA(organization_name="tanium-sim", organization_unit_name=_ca_unit_name())
            tmp = Path(tempfile.mkdtemp(prefix=".ca-", dir=folder))  # mode 0700
            ca.cert_pem.write_to_path(str(tmp / _CA_CERT))
            fd = os.open(tmp / _CA_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(ca.private_key_pem.bytes())
            try:
                # rename() of a folder fails when the target exists: the first writer wins, atomically.
                tmp.rename(final)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
                if not (final / _CA_KEY).exists():
                    raise
            else:
                return cls(ca, folder)
        try:
            ca = trustme.CA.from_pem((final / _CA_CERT).read_bytes(), (final / _CA_KEY).read_bytes())
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"cannot read the simulator's CA in {final} ({exc}): delete that folder"
            ) from exc
        return cls(ca, folder)

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate, PEM: what clients must trust."""
        return self.ca.cert_pem.bytes()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the CA certificate (DER), as keytool and browsers print it (AA:BB:...)."""
        return fingerprint(x509.load_pem_x509_certificate(self.cert_pem).public_bytes(Encoding.DER))

    @property
    def cert_path(self) -> Path | None:
        """Where the CA certificate is kept (None for a CA held only in memory)."""
        return None if self.folder is None else self.folder / _CA_DIR / _CA_CERT

    def notice(self) -> str:
        """``simulator CA: PATH (SHA-256 AA:BB:...)``: compare it with what a refusing client names."""
        where = self.cert_path or "(in memory)"
        return f"simulator CA: {where} (SHA-256 {self.fingerprint})"

    def export(self, path: Path) -> None:
        """Writes the CA certificate (never its key) to ``path``."""
        path.write_bytes(self.cert_pem)

    def issue_server_cert(self, hostnames: tuple[str, ...], *, expired: bool = False) -> trustme.LeafCert:
        """A server certificate for ``hostnames`` (DNS names or IP addresses); ``expired`` for the fault."""
        dates: dict[str, Any] = {}
        if expired:
            dates = {"not_before": _EXPIRED_NOT_BEFORE, "not_after": _EXPIRED_NOT_AFTER}
        return self.ca.issue_cert(
            *hostnames, common_name=hostnames[0], organization_name="tanium-sim", **dates
        )


class ServerTLS:
    """What the server presents during the handshake, and the fault that changes it.

    >>> tls = ServerTLS.from_settings(TLSSettings(enabled=True, state_dir="/tmp/sim"))  # doctest: +SKIP
    >>> ctx = tls.ssl_context()                                                          # doctest: +SKIP
    """

    def __init__(
        self,
        configure: Callable[[ssl.SSLContext], None],
        *,
        ca: LocalCA | None = None,
        fault: TLSFault | None = None,
        rotated: trustme.LeafCert | None = None,
    ) -> None:
        self._configure = configure
        self.ca = ca
        self.fault = fault
        self._rotated = rotated
        self._lock = threading.Lock()
        self.handshakes = 0  # TLS handshakes started (ClientHello seen), for rotate-after-N

    @classmethod
    def from_settings(cls, settings: TLSSettings, *, environ: Mapping[str, str] | None = None) -> ServerTLS:
        """Builds the server's TLS material; raises ValueError with one sentence on a bad setting."""
        fault = TLSFault.parse(settings.fault) if settings.fault else None
        if settings.cert_file:
            if fault is not None:
                raise ValueError("TLS faults need the simulator's own CA: drop --tls-cert/--tls-key")
            cert, key = settings.cert_file, settings.key_file or None

            def load_own(ctx: ssl.SSLContext) -> None:
                try:
                    ctx.load_cert_chain(cert, key)
                except (OSError, ssl.SSLError) as exc:
                    raise ValueError(
                        f"cannot load the certificate {cert}{f' with the key {key}' if key else ''} "
                        f"({getattr(exc, 'strerror', None) or exc}): pass a PEM certificate and its key"
                    ) from exc

            load_own(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))  # fail now, not at the first handshake
            return cls(load_own)
        ca = LocalCA.load_or_create(state_dir(settings.state_dir, environ))
        names = tuple(dict.fromkeys((*DEFAULT_HOSTNAMES, *settings.hostnames)))
        if fault is not None and fault.type == "wrong-hostname":
            names = (WRONG_HOSTNAME,)
        leaf = ca.issue_server_cert(names, expired=fault is not None and fault.type == "expired")
        rotated = None
        if fault is not None and fault.type == "rotate":
            # A new CA that no client was told about: what a re-provisioned server looks like.
            other = trustme.CA(organization_name="tanium-sim", organization_unit_name=_ca_unit_name())
            rotated = other.issue_cert(*names, common_name=names[0], organization_name="tanium-sim")
            rotated = _with_ca(rotated, other)
        return cls(_with_ca(leaf, ca.ca).configure_cert, ca=ca, fault=fault, rotated=rotated)

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side context presenting the certificate (and rotating it when the fault says so)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._configure(ctx)
        if self._rotated is not None and self.fault is not None:
            later = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            later.minimum_version = ssl.TLSVersion.TLSv1_2
            self._rotated.configure_cert(later)
            limit = self.fault.after_handshakes

            # Called for every ClientHello (server_name is None without SNI), before the certificate is
            # chosen: swapping the connection's context here changes only that new connection.
            def rotate(
                conn: ssl.SSLSocket | ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
            ) -> None:
                with self._lock:
                    self.handshakes += 1
                    count = self.handshakes
                if count > limit:
                    conn.context = later

            ctx.sni_callback = rotate
        return ctx

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments for ``uvicorn.Config`` that make it serve HTTPS with this material."""
        return {"ssl_context_factory": lambda _config, _default: self.ssl_context()}


def uvicorn_tls_options(settings: TLSSettings) -> dict[str, Any]:
    """``{}`` when TLS is off, else the ``uvicorn.Config`` options for it (ValueError on bad settings).

    >>> uvicorn_tls_options(TLSSettings())
    {}
    """
    if not settings.enabled:
        return {}
    return ServerTLS.from_settings(settings).uvicorn_options()


def _with_ca(leaf: trustme.LeafCert, ca: trustme.CA) -> trustme.LeafCert:
    # The chain the server sends ends with the CA itself: clients never trust it for that (only their own
    # trust store counts), but one that refuses the certificate can name the CA's fingerprint.
    chain = [pem.bytes() for pem in leaf.cert_chain_pems] + [ca.cert_pem.bytes()]
    return trustme.LeafCert(leaf.private_key_pem.bytes(), chain[0], chain[1:])


def _ca_unit_name() -> str:
    # A distinct name per CA, so a truststore holding two simulator CAs still tells them apart.
    return f"tanium-sim local CA {secrets.token_hex(4)}"


__all__ = [
    "DEFAULT_HOSTNAMES",
    "WRONG_HOSTNAME",
    "LocalCA",
    "ServerTLS",
    "TLSFault",
    "ca_notice",
    "check_state_dir",
    "fingerprint",
    "state_dir",
    "uvicorn_tls_options",
]
