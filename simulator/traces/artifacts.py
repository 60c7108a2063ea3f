"""Per-endpoint artifacts that are not trust-store roots: leaves, keys, SSH, PGP, keystores.

Each builder returns :class:`File` objects holding finished record lines and the generation-time
:class:`~simulator.traces.findings.Facts` of each record. This is where planted findings come from:
leaf defects follow :data:`~simulator.traces.profiles.LEAF_DEFECTS`, keys are unencrypted at
:data:`~simulator.traces.profiles.UNENCRYPTED_KEY_RATE`.

>>> import random
>>> from simulator.traces.roots import root_pool
>>> b = ArtifactBuilder(random.Random(1), root_pool(1), 1_793_491_200, "Linux", "alice", "web-01")
>>> [f.path for f in b.build("ssh_host")][0]
'/etc/ssh/ssh_host_rsa_key'
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import simulator.traces.keys as keys
from simulator.traces.certs import CertFacts, Name, build_certificate
from simulator.traces.findings import DAY, Facts, cert_facts, tls_validity_limit_days
from simulator.traces.keys import PrivateKey, PublicKey, key_facts, key_object, spki_sha256
from simulator.traces.pgp import pgp_details, v4_fingerprint
from simulator.traces.profiles import FIXTURE_DEFECTS, LEAF_DEFECTS, UNENCRYPTED_KEY_RATE
from simulator.traces.records import (
    blob_fingerprint,
    cert_details,
    cert_fingerprint,
    fingerprint,
    pem_size,
    record,
)
from simulator.traces.roots import Issuer, RootPool
from simulator.traces.types import CONTAINER_FORMATS, TYPES

HOUR = 3600
_WEAK_CURVE_CHOICES = ("secp192r1", "secp224r1", "secp256k1", "brainpoolP256r1", "brainpoolP384r1")
_SSH_NAMES = {"rsa": "ssh-rsa", "dsa": "ssh-dss", "ed25519": "ssh-ed25519"}
_HOSTS = ("github.com", "gitlab.com", "bitbucket.org", "bastion", "db-primary", "10.16.0.5", "build-01")
_SUBDOMAINS = ("www", "api", "portal", "intranet", "vpn", "mail", "grafana", "jenkins", "auth", "shop")


@dataclass
class File:
    """One file on the endpoint and the records the scanner finds in it."""

    path: str
    records: list[tuple[str, bytes, Facts]] = field(default_factory=list)  # (type, line, facts)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(tuple(weights), tuple(weights.values()))[0]


class ArtifactBuilder:
    """Builds one endpoint's non-root artifacts from a seeded ``rng`` (see the module docstring)."""

    def __init__(
        self, rng: random.Random, pool: RootPool, scan_time: int, platform: str, user: str, hostname: str
    ) -> None:
        self.rng = rng
        self.pool = pool
        self.scan_time = scan_time
        self.windows = platform == "Windows"
        self.user = user
        self.hostname = hostname
        self.domain = f"{hostname.split('-')[1] if '-' in hostname else hostname}.example.com"
        self.n = 0  # makes every generated path unique

    # -- helpers -----------------------------------------------------------------------------------
    def _lm(self) -> int:
        return self.scan_time - self.rng.randint(HOUR, 3 * 365 * DAY)

    def _home(self) -> str:
        return f"C:\\Users\\{self.user}" if self.windows else f"/home/{self.user}"

    def _join(self, *parts: str) -> str:
        return ("\\" if self.windows else "/").join(parts)

    def _leaf_key(self, defect: str) -> PrivateKey:
        rng = self.rng
        if defect == "weak_rsa":
            return keys.rsa_key(rng, 1024)
        if defect == "weak_curve":
            return keys.ec_key(rng, rng.choice(_WEAK_CURVE_CHOICES))
        kind = rng.choices(("p256", "rsa2048", "rsa3072", "p384", "ed25519"), (45, 35, 8, 8, 4))[0]
        if kind.startswith("rsa"):
            return keys.rsa_key(rng, int(kind[3:]))
        if kind == "ed25519":
            return keys.ed25519_key(rng)
        return keys.ec_key(rng, "secp256r1" if kind == "p256" else "secp384r1")

    def _dates(self, defect: str, server: bool) -> tuple[int, int]:
        rng, now = self.rng, self.scan_time
        days = rng.choice((90, 90, 90, 47, 180, 365, 397)) if server else rng.choice((365, 730, 1095))
        if defect == "overlong":
            days = rng.choice((730, 825, 1095, 3650))
        if defect == "expired":
            not_after = now - rng.randint(HOUR, 900 * DAY)
        elif defect == "expiring_7d":
            not_after = now + rng.randint(HOUR, 7 * DAY - HOUR)
        elif defect == "expiring_30d":
            not_after = now + rng.randint(7 * DAY + HOUR, 30 * DAY - HOUR)
        elif defect == "not_yet_valid":
            not_before = now + rng.randint(HOUR, 60 * DAY)
            if server:
                days = min(days, tls_validity_limit_days(not_before) - 1)
            return not_before, not_before + days * DAY
        else:
            not_after = now + rng.randint(31 * DAY, max(31 * DAY, days * DAY - DAY))
        if server and defect != "overlong":
            for _ in range(3):  # the limit depends on not_before, which depends on the validity
                days = min(days, tls_validity_limit_days(not_after - days * DAY) - 1)
        return min(not_after - days * DAY, now - HOUR), not_after

    def _issuer(self, rsa_only: bool) -> Issuer:
        choices = [i for i in self.pool.issuers if i.is_rsa] if rsa_only else self.pool.issuers
        return self.rng.choice(choices)

    def leaf(
        self, cn: str, *, defects: dict[str, float] = LEAF_DEFECTS, eku: tuple[str, ...] = ("serverAuth",)
    ) -> tuple[CertFacts, PrivateKey, Issuer]:
        """A leaf certificate with a planted defect, issued by a pool intermediate."""
        rng = self.rng
        defect = _pick(rng, defects)
        key = self._leaf_key(defect)
        issuer = self._issuer(rsa_only=defect in ("sha1", "md5"))
        hash_name = defect if defect in ("sha1", "md5") else ("sha256" if issuer.is_rsa else "sha384")
        not_before, not_after = self._dates(defect, "serverAuth" in eku)
        subject: Name = (("O", self.domain.split(".")[0].title()), ("CN", cn))
        cert = build_certificate(
            subject=subject, issuer=issuer.cert.subject, public_key=key.public_key(), signer=issuer.key,
            serial=rng.getrandbits(127) | 1, not_before=not_before, not_after=not_after, is_ca=False,
            eku=eku, hash_name=hash_name, san=(cn,) if "serverAuth" in eku else (),
        )  # fmt: skip
        return cert, key, issuer

    def self_signed(self, cn: str, *, days: int, eku: tuple[str, ...]) -> tuple[CertFacts, PrivateKey]:
        key = self._leaf_key("ok")
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
            raise TypeError("unexpected key type")
        not_before = self.scan_time - self.rng.randint(DAY, days * DAY - DAY)
        name: Name = (("CN", cn),)
        cert = build_certificate(
            subject=name, issuer=name, public_key=key.public_key(), signer=key,
            serial=self.rng.getrandbits(63) | 1, not_before=not_before, not_after=not_before + days * DAY,
            is_ca=None if self.rng.random() < 0.5 else False, eku=eku,
        )  # fmt: skip
        return cert, key

    def cert_records(self, file: File, certs: list[CertFacts], kind: str = "cert", alias: str = "") -> None:
        """Add certificate records (a PEM chain, or entries of a keystore ``kind``)."""
        lm, size = self._lm(), sum(pem_size(len(c.der)) for c in certs)
        for i, c in enumerate(certs):
            container = None
            if kind in CONTAINER_FORMATS:
                container = {"format": CONTAINER_FORMATS[kind], "alias": f"{alias or 'cert'}{i or ''}"}
            line = record(
                file.path, lm, size, TYPES[kind], encrypted=False, public=True,
                details=cert_details(c, container), fingerprint=cert_fingerprint(c),
            )  # fmt: skip
            file.records.append((TYPES[kind], line, cert_facts(c)))

    def key_record(
        self,
        file: File,
        key: PrivateKey | PublicKey,
        kind: str,
        *,
        encrypted: bool,
        container: dict[str, str] | None = None,
        **extra: str,
    ) -> None:
        """Add one key record; encrypted private keys hide their algorithm (blob fingerprint)."""
        public = not hasattr(key, "private_bytes")
        pub: PublicKey = key if public else key.public_key()  # type: ignore[union-attr,assignment]
        alg, bits, curve = key_facts(pub)
        size = {"rsa": bits * 2 // 3, "dsa": bits // 2}.get(alg, 240) + self.rng.randint(40, 90)
        if encrypted and not public:
            details: dict[str, object] = {"encryption": "PBES2" if kind != "rsa_pkcs1" else "AES-256-CBC"}
            if container:
                details["container"] = container
            details.update(extra)
            line = record(
                file.path, self._lm(), size, TYPES[kind], encrypted=True, public=False, details=details,
                fingerprint=blob_fingerprint(self.rng.randbytes(size)),
            )  # fmt: skip
            file.records.append((TYPES[kind], line, Facts(public=False, encrypted=True)))
            return
        details = {"bit_length": bits}
        if container:
            details["container"] = container
        if curve:
            details["curve"] = curve
        details.update(extra)
        line = record(
            file.path, self._lm(), size, TYPES[kind], encrypted=False, public=public, details=details,
            key=key_object(pub), fingerprint=fingerprint("spki", spki_sha256(pub)),
        )  # fmt: skip
        file.records.append((TYPES[kind], line, Facts(public, False, alg, bits, curve)))

    def _private_kind(self, key: PrivateKey, pkcs8: bool) -> str:
        alg = key_facts(key.public_key())[0]
        if alg == "ed25519":
            return "ed25519_pkcs8"
        if alg == "dsa":
            return "dsa_private_key"
        if pkcs8:
            return f"{alg}_pkcs8"
        return "rsa_pkcs1" if alg == "rsa" else "ec_private_key"

    def _unencrypted(self, origin: str) -> bool:
        return self.rng.random() < UNENCRYPTED_KEY_RATE[origin]

    def _new(self, *parts: str) -> File:
        self.n += 1
        return File(self._join(*parts))

    # -- artifacts ---------------------------------------------------------------------------------
    def build(self, kind: str) -> list[File]:
        """Files of one artifact ``kind`` (a key of LINUX_ARTIFACTS / WINDOWS_ARTIFACTS)."""
        result: list[File] = getattr(self, f"_a_{kind}")()
        return result

    def _site(self) -> str:
        return f"{self.rng.choice(_SUBDOMAINS)}{self.n}.{self.domain}"

    def _a_tls_site(self) -> list[File]:
        host = self._site()
        cert, key, issuer = self.leaf(host)
        base = (
            "C:\\nginx\\conf\\ssl" if self.windows else self.rng.choice(("/etc/nginx/ssl", "/etc/httpd/ssl"))
        )
        chain = self._new(base, f"{host}.fullchain.pem")
        self.cert_records(chain, [cert, issuer.cert])
        keyfile = self._new(base, f"{host}.key")
        pkcs8 = self.rng.random() < 0.6
        if self._unencrypted("server"):
            self.key_record(keyfile, key, self._private_kind(key, pkcs8), encrypted=False)
        else:
            rsa_pem = not pkcs8 and isinstance(key, rsa.RSAPrivateKey)
            self.key_record(keyfile, key, "rsa_pkcs1" if rsa_pem else "encrypted_pkcs8", encrypted=True)
        return [chain, keyfile]

    def _a_fixture(self) -> list[File]:
        pkg = self.rng.choice(("urllib3", "requests", "twisted", "tornado", "aiohttp", "grpc", "botocore"))
        if self.windows:
            app = self.rng.choice(("Acme Agent", "Contoso Sync", "Fabrikam Tools"))
            base = self._join("C:\\Program Files", app, "resources", "tests", pkg)
        else:
            base = f"/opt/app/venv/lib/python3.11/site-packages/{pkg}/tests/certs"
        files = []
        for _ in range(self.rng.randint(1, 3)):
            cert, key, _ = self.leaf(f"test{self.n}.local", defects=FIXTURE_DEFECTS)
            f = self._new(base, f"cert{self.n}.pem")
            self.cert_records(f, [cert])
            k = self._new(base, f"key{self.n}.pem")
            self.key_record(k, key, self._private_kind(key, self.rng.random() < 0.5), encrypted=False)
            files += [f, k]
        if self.rng.random() < 0.3:
            dsa_key = keys.pool_key(self.rng, "dsa", self.rng.choice((1024, 2048)))
            k = self._new(base, f"dsa{self.n}.pem")
            self.key_record(k, dsa_key, "dsa_private_key", encrypted=not self._unencrypted("fixture"))
            files.append(k)
        return files

    def _ssh_key(self, algo: str) -> PrivateKey:
        if algo == "rsa":
            return keys.rsa_key(self.rng, self.rng.choice((2048, 3072, 3072, 4096, 1024)))
        if algo == "ecdsa":
            return keys.ec_key(self.rng, self.rng.choice(("secp256r1", "secp384r1", "secp521r1")))
        if algo == "dsa":
            return keys.pool_key(self.rng, "dsa", 1024)
        return keys.ed25519_key(self.rng)

    def _ssh_type(self, key: PublicKey) -> str:
        alg, _bits, curve = key_facts(key)
        if alg == "ec":
            return {"secp256r1": "ecdsa-sha2-nistp256", "secp384r1": "ecdsa-sha2-nistp384"}.get(
                curve or "", "ecdsa-sha2-nistp521"
            )
        return _SSH_NAMES[alg]

    def _a_ssh_host(self) -> list[File]:
        base = "C:\\ProgramData\\ssh" if self.windows else "/etc/ssh"
        algos = ["rsa", "ecdsa", "ed25519"] + (["dsa"] if self.rng.random() < 0.15 else [])
        files = []
        for algo in algos:
            key = self._ssh_key(algo)
            priv = self._new(base, f"ssh_host_{algo}_key")
            self.key_record(
                priv, key, self._private_kind(key, False), encrypted=not self._unencrypted("ssh_host")
            )
            pub = self._new(base, f"ssh_host_{algo}_key.pub")
            ssh_type = self._ssh_type(key.public_key())
            comment = f"root@{self.hostname}"
            self.key_record(
                pub,
                key.public_key(),
                "ssh_public_key",
                encrypted=False,
                ssh_key_type=ssh_type,
                comment=comment,
            )
            files += [priv, pub]
        return files

    def _a_ssh_user(self) -> list[File]:
        ssh = self._join(self._home(), ".ssh")
        algo = self.rng.choice(("rsa", "ed25519", "ed25519", "ecdsa"))
        key = self._ssh_key(algo)
        priv = self._new(ssh, f"id_{algo}")
        self.key_record(
            priv, key, self._private_kind(key, algo == "ed25519"), encrypted=not self._unencrypted("ssh_user")
        )
        pub = self._new(ssh, f"id_{algo}.pub")
        comment = f"{self.user}@{self.hostname}"
        self.key_record(pub, key.public_key(), "ssh_public_key", encrypted=False,
                        ssh_key_type=self._ssh_type(key.public_key()), comment=comment)  # fmt: skip
        auth = self._new(ssh, "authorized_keys")
        for i in range(self.rng.randint(1, 5)):
            k = self._ssh_key(self.rng.choice(("rsa", "ed25519", "ecdsa"))).public_key()
            self.key_record(auth, k, "ssh_public_key", encrypted=False, ssh_key_type=self._ssh_type(k),
                            comment=f"deploy{i}@ci")  # fmt: skip
        known = self._new(ssh, "known_hosts")
        for _ in range(self.rng.randint(2, 12)):
            k = self._ssh_key(self.rng.choice(("rsa", "ed25519", "ecdsa", "ecdsa"))).public_key()
            self.key_record(known, k, "ssh_known_hosts", encrypted=False, ssh_key_type=self._ssh_type(k),
                            hosts=self.rng.choice(_HOSTS))  # fmt: skip
        return [priv, pub, auth, known]

    def _a_pgp(self) -> list[File]:
        if self.windows:
            f = self._new(self._home(), "AppData\\Roaming\\gnupg\\pubring.kbx")
        elif self.rng.random() < 0.5:
            f = self._new("/etc/apt/trusted.gpg.d", f"vendor-archive-{self.n}.gpg")
        else:
            f = self._new(self._home(), ".gnupg/pubring.kbx")
        lm = self._lm()
        for i in range(self.rng.randint(1, 6)):
            algo = self.rng.choices(
                ("rsa4096", "rsa2048", "rsa1024", "dsa1024", "ed25519"), (35, 25, 10, 10, 20)
            )[0]
            key: PrivateKey
            if algo == "ed25519":
                key = keys.ed25519_key(self.rng)
            else:
                key = keys.pool_key(self.rng, algo[:3], int(algo[3:]))
            pub = key.public_key()
            created = self.scan_time - self.rng.randint(30 * DAY, 15 * 365 * DAY)
            uid = [f"Key {self.n}-{i} <ops{i}@{self.domain}>"]
            details = pgp_details(pub, created, uid, has_private_key=self.rng.random() < 0.2)
            line = record(
                f.path, lm, 1200 + 900 * i, TYPES["pgp"], encrypted=False, public=True, details=details,
                fingerprint=fingerprint("openpgp-v4", v4_fingerprint(pub, created)),
            )  # fmt: skip
            alg, bits, curve = key_facts(pub)
            f.records.append((TYPES["pgp"], line, Facts(True, False, alg, bits, curve)))
        return [f]

    def _a_keystore(self) -> list[File]:
        conf = "C:\\Program Files\\Acme\\conf" if self.windows else "/opt/app/conf"
        kind = "jks" if self.rng.random() < 0.6 else "pkcs12"
        f = self._new(conf, f"keystore{self.n}.{'jks' if kind == 'jks' else 'p12'}")
        cert, key, issuer = self.leaf(self._site())
        self.key_record(f, key, kind, encrypted=True, container={"format": kind, "alias": "server"})
        self.cert_records(f, [cert, issuer.cert], kind, alias="server")
        return [f]

    def _a_pfx(self) -> list[File]:
        where = self.rng.choice((self._join(self._home(), "Documents", "certs"), "C:\\inetpub\\ssl"))
        f = self._new(where, f"{self._site()}.pfx")
        cert, key, _ = self.leaf(self._site(), eku=self.rng.choice((("serverAuth",), ("clientAuth",))))
        self.cert_records(f, [cert], "pkcs12", alias="1")
        # A PKCS#12 exported without a password leaves its key readable.
        container = {"format": "pkcs12", "alias": "1"}
        self.key_record(f, key, "pkcs12", encrypted=self.rng.random() < 0.85, container=container)
        return [f]

    def _a_p7b(self) -> list[File]:
        f = self._new(self._join(self._home(), "Downloads"), f"chain{self.n}.p7b")
        cert, _, issuer = self.leaf(self._site())
        self.cert_records(f, [cert, issuer.cert], "pkcs7", alias="cert")
        return [f]

    def _a_snakeoil(self) -> list[File]:
        cert, key = self.self_signed(self.hostname, days=3650, eku=())
        f = self._new("/etc/ssl/certs", "ssl-cert-snakeoil.pem")
        self.cert_records(f, [cert])
        k = self._new("/etc/ssl/private", "ssl-cert-snakeoil.key")
        self.key_record(k, key, self._private_kind(key, True), encrypted=False)
        return [f, k]

    def _a_k8s_pki(self) -> list[File]:
        # A cluster CA and a server certificate it signed: self-signed CA (not a leaf) + 1-year leaf.
        ca_key = keys.rsa_key(self.rng, 2048)
        now = self.scan_time
        name: Name = (("CN", f"kubernetes-{self.n}"),)
        ca = build_certificate(
            subject=name, issuer=name, public_key=ca_key.public_key(), signer=ca_key,
            serial=self.rng.getrandbits(63) | 1, not_before=now - 200 * DAY, not_after=now + 3450 * DAY,
            is_ca=True,
        )  # fmt: skip
        srv_key = keys.ec_key(self.rng, "secp256r1")
        srv = build_certificate(
            subject=(("CN", "kube-apiserver"),), issuer=name, public_key=srv_key.public_key(), signer=ca_key,
            serial=self.rng.getrandbits(63) | 1, not_before=now - 200 * DAY, not_after=now + 165 * DAY,
            is_ca=False, eku=("serverAuth",),
        )  # fmt: skip
        files = [
            self._new("/etc/kubernetes/pki", f"ca{self.n}.crt"),
            self._new("/etc/kubernetes/pki", "apiserver.crt"),
        ]
        self.cert_records(files[0], [ca])
        self.cert_records(files[1], [srv])
        k = self._new("/etc/kubernetes/pki", "apiserver.key")
        self.key_record(k, srv_key, "ec_private_key", encrypted=False)
        return [*files, k]

    def _a_enc_key(self) -> list[File]:
        f = self._new(self._home(), f"signing{self.n}.key")
        self.key_record(f, keys.rsa_key(self.rng, 3072), "encrypted_pkcs8", encrypted=True)
        return [f]

    def _a_public_key(self) -> list[File]:
        f = self._new(self._home(), f"jwt{self.n}_public.pem")
        key = keys.rsa_key(self.rng, 2048) if self.rng.random() < 0.6 else keys.ec_key(self.rng, "secp256r1")
        self.key_record(f, key.public_key(), "public_key", encrypted=False)
        return [f]
