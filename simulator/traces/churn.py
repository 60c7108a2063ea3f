"""The churn model: how an endpoint's inventory changes between two scans, at rates a scenario sets.

Scan 1 is the generator's inventory (:func:`simulator.traces.render.base_inventory`); scan ``n`` is
scan ``n - 1`` passed through :func:`apply_churn`, so every scan is a pure function of (seed, endpoint,
scan, rates) and a diff trace between two scans has something real to say. What happens between scans,
each drawn from ``random.Random(f"churn:{seed}:{index}:{scan}")``:

- leaf certificates issued by the seed's intermediates are **renewed in place** (same path and subject,
  new key, serial and dates: a new fingerprint, so removed + added in a diff);
- **new artifacts** appear (web server certificates and keys, test fixtures, key files, keystores);
- **key records disappear** (a key file deleted, or one line of an ``authorized_keys`` removed);
- non-root **files move** to an ``old`` folder next to them (removed + added);
- **PGP keys gain a User ID or a revocation** (same fingerprint: modified);
- every file touched gets a new ``last_modified`` for all its records (modified);
- certificates **cross their expiry date** simply because the scan time moves on: nothing is rewritten,
  the findings are counted at each scan's time.

Trust stores never churn (they are 90 % of a trace and are copied as they are).

The rates are :class:`~simulator.traces.spec.ChurnRates` (a leaf module: settings name it), re-exported here.

>>> rates = ChurnRates(renew_in_place=0.5)
>>> rates.renew_in_place, ChurnRates.none().new_artifacts
(0.5, 0.0)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

import orjson

from simulator.traces.artifacts import HOUR, ArtifactBuilder
from simulator.traces.certs import build_certificate
from simulator.traces.findings import DAY, Facts, cert_facts, tls_validity_limit_days
from simulator.traces.records import cert_details, cert_fingerprint
from simulator.traces.roots import Issuer, RootPool
from simulator.traces.spec import ChurnRates, TraceSpec

# Artifacts that appear between scans (their paths carry a unique number, so they never collide).
NEW_LINUX = {"tls_site": 0.35, "fixture": 0.25, "public_key": 0.15, "enc_key": 0.1, "keystore": 0.15}
NEW_WINDOWS = {"pfx": 0.3, "tls_site": 0.2, "fixture": 0.2, "public_key": 0.15, "p7b": 0.15}
_KEY_TYPES = frozenset(
    {
        "PUBLIC KEY",
        "rsa_pkcs8",
        "ec_pkcs8",
        "ed25519_pkcs8",
        "encrypted_pkcs8",
        "rsa_private_key",
        "dsa_private_key",
        "ec_private_key",
        "ssh_public_key",
        "ssh_known_hosts",
    }
)
_SLOT_BASE = 1_000_000  # builder numbers of churned artifacts: far above any scan-1 slot


@dataclass(frozen=True, slots=True)
class Item:
    """One non-root record of the inventory: its file, type, finished JSON line and generation facts."""

    path: str
    type: str
    line: bytes
    facts: Facts


@dataclass(frozen=True, slots=True)
class StoreBlock:
    """One trust-store file: finished bytes and the root indices it holds (they never churn)."""

    path: str
    type: str
    data: bytes
    roots: tuple[int, ...]


@dataclass(frozen=True)
class Inventory:
    """What one scan finds: non-root records in generation order, trust stores, and layout bits."""

    scan: int
    items: tuple[Item, ...]
    stores: tuple[StoreBlock, ...]
    empty_object: bool  # a ``{}`` after the header (real traces sometimes have one)
    user: str


def _sep(path: str) -> str:
    return "\\" if "\\" in path else "/"


def _rewrite(line: bytes, **changes: Any) -> bytes:
    obj = orjson.loads(line)
    obj.update(changes)
    return orjson.dumps(obj) + b"\n"


def _moved_path(path: str, scan: int, taken: set[str]) -> str:
    sep = _sep(path)
    folder, _, name = path.rpartition(sep)
    candidate = f"{folder}{sep}old{sep}{name}"
    if candidate in taken:
        candidate = f"{folder}{sep}old{sep}{scan}-{name}"
    return candidate


def _issuer_of(pool: RootPool, facts: Facts) -> Issuer | None:
    cert = facts.cert
    if cert is None or cert.is_ca is True or cert.self_signed:
        return None
    for issuer in pool.issuers:
        if issuer.cert.subject == cert.issuer:
            return issuer
    return None


def _renewed(builder: ArtifactBuilder, item: Item, issuer: Issuer, when: int) -> Item:
    old = item.facts.cert
    assert old is not None  # callers pass certificate items only
    rng = builder.rng
    days = max(1, (old.not_after - old.not_before) // DAY)
    not_before = when - rng.randint(HOUR, DAY)
    if "serverAuth" in old.eku:
        days = min(days, tls_validity_limit_days(not_before) - 1)
    key = builder._leaf_key("ok")
    cn = next((v for t, v in old.subject if t == "CN"), "")
    cert = build_certificate(
        subject=old.subject, issuer=issuer.cert.subject, public_key=key.public_key(), signer=issuer.key,
        serial=rng.getrandbits(127) | 1, not_before=not_before, not_after=not_before + days * DAY,
        is_ca=old.is_ca, eku=old.eku, hash_name="sha256" if issuer.is_rsa else "sha384",
        san=(cn,) if "serverAuth" in old.eku and cn else (),
    )  # fmt: skip
    obj = orjson.loads(item.line)
    obj["details"] = cert_details(cert, obj["details"].get("container"))
    obj["fingerprint"] = cert_fingerprint(cert)
    return replace(item, line=orjson.dumps(obj) + b"\n", facts=cert_facts(cert))


def _pgp_changed(item: Item, rng: random.Random, rates: ChurnRates, scan: int) -> Item | None:
    obj = orjson.loads(item.line)
    info = obj["details"]["key"]["info"]
    changed = False
    if rng.random() < rates.pgp_new_uid:
        first = info["ids"][0] if info["ids"] else "Key <ops@example.com>"
        name, _, mail = first.partition(" <")
        info["ids"].append(f"{name} (scan {scan}) <{mail.rstrip('>') or 'ops@example.com'}>")
        changed = True
    if not info["revocation_reason"] and rng.random() < rates.pgp_revoked:
        info["revocation_reason"] = ["Key is superseded"]
        changed = True
    return replace(item, line=orjson.dumps(obj) + b"\n") if changed else None


def apply_churn(inv: Inventory, spec: TraceSpec, scan: int, when: int, pool: RootPool) -> Inventory:
    """Scan ``scan``'s inventory from scan ``scan - 1``'s (``inv``), at nominal time ``when``.

    >>> # inv2 = apply_churn(inv1, spec, 2, when=spec_time_of_scan_2, pool=root_pool(spec.seed))
    """
    rates = spec.churn
    rng = random.Random(f"churn:{spec.seed}:{spec.index}:{scan}")
    items = list(inv.items)
    touched: set[str] = set()
    paths = sorted({it.path for it in items})

    # Moves: whole files, so every record of a moved file changes path together.
    taken = set(paths)
    moves = {}
    for path in paths:
        if rng.random() < rates.move_file:
            moves[path] = _moved_path(path, scan, taken)
            taken.add(moves[path])
    if moves:
        for i, it in enumerate(items):
            if it.path in moves:
                new = moves[it.path]
                items[i] = replace(it, path=new, line=_rewrite(it.line, path=new))
        touched.update(moves.values())

    builder = ArtifactBuilder(rng, pool, when, spec.platform, inv.user, spec.hostname)
    # Renewals in place and PGP changes, record by record (one rng draw per candidate, in order).
    for i, it in enumerate(items):
        issuer = _issuer_of(pool, it.facts)
        if issuer is not None and rng.random() < rates.renew_in_place:
            builder.rng = random.Random(f"renew:{spec.seed}:{spec.index}:{scan}:{i}")
            items[i] = _renewed(builder, it, issuer, when)
            touched.add(it.path)
        elif it.type == "pgp":
            changed = _pgp_changed(it, rng, rates, scan)
            if changed is not None:
                items[i] = changed
                touched.add(it.path)

    # Key removals.
    kept = []
    for it in items:
        if it.type in _KEY_TYPES and it.facts.cert is None and rng.random() < rates.remove_key:
            touched.add(it.path)
            continue
        kept.append(it)
    items = kept

    # New artifacts: a stochastic rounding of rate x files.
    expected = rates.new_artifacts * len(paths)
    count = int(expected) + (rng.random() < expected - int(expected))
    weights = NEW_WINDOWS if spec.platform == "Windows" else NEW_LINUX
    kinds = tuple(weights)
    for n in range(count):
        kind = rng.choices(kinds, tuple(weights.values()))[0]
        builder.rng = random.Random(f"churn-artifact:{spec.seed}:{spec.index}:{scan}:{n}")
        builder.n = _SLOT_BASE * scan + 1000 * n
        for f in builder.build(kind):
            items.extend(Item(f.path, type_, line, facts) for type_, line, facts in f.records)
            touched.add(f.path)  # written since the last scan

    # Every record of a touched file shows the file's new modification time.
    if touched:
        stamp = {p: when - rng.randint(60, HOUR) for p in sorted(touched)}
        items = [
            replace(it, line=_rewrite(it.line, last_modified=stamp[it.path])) if it.path in stamp else it
            for it in items
        ]
    return replace(inv, scan=scan, items=tuple(items))


__all__ = ["ChurnRates", "Inventory", "Item", "StoreBlock", "apply_churn"]
