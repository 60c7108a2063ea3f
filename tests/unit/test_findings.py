"""summarize: records by type and every finding rule of docs/cst-format.md, from the material itself."""

from __future__ import annotations

import copy
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from client._findings import FINDING_KEYS, InventorySummary, summarize
from client._trace import open_trace
from tests.unit.test_reader_support import (
    SCAN_TIME,
    blob_record,
    cert_record,
    gz,
    header,
    key_record,
    make_cert,
    pgp_record,
    resign_sha1,
    trace_text,
)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def small_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _found(records: list[dict[str, Any]], **kw: Any) -> dict[str, int]:
    """The findings that are not zero."""
    summary = summarize(records, scan_time=kw.pop("scan_time", SCAN_TIME))
    assert set(summary.findings) == set(FINDING_KEYS)
    return {k: v for k, v in summary.findings.items() if v}


QV = {"quantum_vulnerable": 1}


def test_expiry_buckets_are_exclusive_and_bounded(rsa_key: rsa.RSAPrivateKey) -> None:
    def ending_in(delta: timedelta) -> dict[str, Any]:
        start = SCAN_TIME - timedelta(days=200)
        days = (SCAN_TIME + delta - start) / timedelta(days=1)
        return cert_record(make_cert(rsa_key, issuer_cn="CA", days=days, not_before=start))

    assert _found([ending_in(-timedelta(seconds=1))]) == {"expired": 1, **QV}
    assert _found([ending_in(timedelta(0))]) == {"expiring_7d": 1, **QV}  # not_after == scan time
    assert _found([ending_in(timedelta(days=7))]) == {"expiring_7d": 1, **QV}
    assert _found([ending_in(timedelta(days=7, seconds=1))]) == {"expiring_30d": 1, **QV}
    assert _found([ending_in(timedelta(days=30))]) == {"expiring_30d": 1, **QV}
    assert _found([ending_in(timedelta(days=30, seconds=1))]) == QV


def test_not_yet_valid(rsa_key: rsa.RSAPrivateKey) -> None:
    future = cert_record(make_cert(rsa_key, issuer_cn="CA", not_before=SCAN_TIME + timedelta(seconds=1)))
    now = cert_record(make_cert(rsa_key, issuer_cn="CA", not_before=SCAN_TIME))
    assert _found([future]) == {"not_yet_valid": 1, **QV}
    assert _found([now]) == QV


def test_weak_signature_from_the_der(rsa_key: rsa.RSAPrivateKey) -> None:
    sha1 = cert_record(resign_sha1(make_cert(rsa_key, issuer_cn="CA"), rsa_key))
    assert _found([sha1]) == {"weak_signature": 1, **QV}
    lying = copy.deepcopy(sha1)  # the descriptive field says SHA-256: the DER wins
    lying["details"]["signature_algorithm"]["algorithm"] = "sha256WithRSAEncryption"
    assert _found([lying]) == {"weak_signature": 1, **QV}


def test_self_signed_leaf_but_not_a_root_or_an_issued_leaf(rsa_key: rsa.RSAPrivateKey) -> None:
    assert _found([cert_record(make_cert(rsa_key))]) == {"self_signed_leaf": 1, **QV}  # no basicConstraints
    assert _found([cert_record(make_cert(rsa_key, ca=False))]) == {"self_signed_leaf": 1, **QV}
    assert _found([cert_record(make_cert(rsa_key, ca=True, days=3650))]) == QV
    assert _found([cert_record(make_cert(rsa_key, issuer_cn="CA", issuer_key=rsa_key))]) == QV


@pytest.mark.parametrize(
    ("not_before", "limit_days"),
    [
        (datetime(2025, 6, 1, tzinfo=UTC), 398),
        (datetime(2026, 3, 15, tzinfo=UTC), 200),
        (datetime(2027, 3, 15, tzinfo=UTC), 100),
        (datetime(2029, 3, 15, tzinfo=UTC), 47),
        (datetime(2029, 3, 14, 23, 59, 59, tzinfo=UTC), 100),
    ],
)
def test_overlong_validity_by_issuance_date(
    rsa_key: rsa.RSAPrivateKey, not_before: datetime, limit_days: int
) -> None:
    def tls(days: float, **kw: Any) -> dict[str, Any]:
        cert = make_cert(rsa_key, issuer_cn="CA", not_before=not_before, days=days, server_auth=True, **kw)
        return cert_record(cert)

    scan = not_before + timedelta(days=1)
    assert _found([tls(limit_days)], scan_time=scan) == QV
    assert _found([tls(limit_days + 1 / 86400)], scan_time=scan) == {"overlong_validity": 1, **QV}
    assert _found([tls(limit_days * 3, ca=True)], scan_time=scan) == QV  # CAs are not TLS leaves
    no_eku = cert_record(make_cert(rsa_key, issuer_cn="CA", not_before=not_before, days=limit_days * 3))
    assert _found([no_eku], scan_time=scan) == QV


def test_weak_keys_from_key_records_pgp_and_certificates(small_rsa_key: rsa.RSAPrivateKey) -> None:
    weak = {"weak_key": 1, **QV}
    assert _found([key_record("rsa", bits=1024, public=True)]) == weak
    assert _found([key_record("rsa", bits=2047, public=True)]) == weak
    assert _found([key_record("rsa", bits=2048, public=True)]) == QV
    assert _found([key_record("dsa", bits=1024, public=True)]) == weak
    assert _found([key_record("dsa", bits=3072, public=True)]) == QV
    assert _found([pgp_record("rsa", 1024)]) == weak
    assert _found([pgp_record("rsa", 4096)]) == QV
    assert _found([cert_record(make_cert(small_rsa_key, issuer_cn="CA"))]) == weak
    hexed = key_record("rsa", public=True)
    hexed["key"]["value"]["n"] = hex((1 << 1023) | 1)
    assert _found([hexed]) == weak
    huge = key_record("rsa", public=True)
    huge["key"]["value"]["n"] = "9" * 5000  # beyond int()'s default digit limit: still not weak
    assert _found([huge]) == QV


def test_the_modulus_wins_over_the_descriptive_bit_length() -> None:
    record = key_record("rsa", bits=1024, public=True)
    record["details"]["bit_length"] = 4096
    assert _found([record]) == {"weak_key": 1, **QV}


def test_weak_curves_from_records_and_certificates(rsa_key: rsa.RSAPrivateKey) -> None:
    weak = {"weak_curve": 1, **QV}
    for curve in ("secp192r1", "secp224r1", "secp256k1", "brainpoolP256r1", "brainpoolP512t1"):
        assert _found([key_record("ec", curve=curve, public=True)]) == weak, curve
    for curve in ("secp256r1", "secp384r1", "secp521r1"):
        assert _found([key_record("ec", curve=curve, public=True)]) == QV, curve
    k1 = ec.generate_private_key(ec.SECP256K1())
    assert _found([cert_record(make_cert(k1, issuer_cn="CA", issuer_key=rsa_key))]) == weak
    p384 = ec.generate_private_key(ec.SECP384R1())
    assert _found([cert_record(make_cert(p384, issuer_cn="CA", issuer_key=rsa_key))]) == QV


def test_quantum_vulnerable_covers_every_classical_family_but_not_blobs() -> None:
    records = [key_record(kind, public=True) for kind in ("rsa", "dsa", "ec", "ed25519")]
    records += [pgp_record("ec"), blob_record()]
    ed = ed25519.Ed25519PrivateKey.generate()
    records.append(cert_record(make_cert(ed, issuer_cn="CA")))
    assert _found(records) == {"quantum_vulnerable": 6}


def test_unencrypted_private_keys() -> None:
    assert _found([key_record("ec", public=False, encrypted=False)]) == {"unencrypted_private_key": 1, **QV}
    assert _found([key_record("ec", public=False, encrypted=True)]) == QV
    assert _found([key_record("ec", public=True, encrypted=False)]) == QV
    assert _found([blob_record()]) == {}


def test_a_record_counts_once_per_finding_and_by_type(rsa_key: rsa.RSAPrivateKey) -> None:
    expired_self_signed = cert_record(make_cert(rsa_key, not_before=SCAN_TIME - timedelta(days=100), days=10))
    records = [expired_self_signed, expired_self_signed, key_record("rsa", bits=1024), blob_record()]
    summary = summarize(records, scan_time="2026-11-01T00:00:00Z")
    assert summary.record_count == 4
    assert summary.by_type == {"X509 CERTIFICATE": 2, "rsa_private_key": 1, "ENCRYPTED PRIVATE KEY": 1}
    assert summary.findings == dict.fromkeys(FINDING_KEYS, 0) | {
        "expired": 2,
        "self_signed_leaf": 2,
        "weak_key": 1,
        "quantum_vulnerable": 3,
        "unencrypted_private_key": 1,
    }
    assert summary.scan_time == "2026-11-01T00:00:00Z"
    assert list(summary.to_dict()["findings"]) == list(FINDING_KEYS)


def test_scan_time_comes_from_the_header(rsa_key: rsa.RSAPrivateKey) -> None:
    cert = cert_record(make_cert(rsa_key, issuer_cn="CA", not_before=SCAN_TIME - timedelta(days=10), days=20))
    text = gz(trace_text([header(), cert]))
    with open_trace(text) as trace:
        assert summarize(trace).findings["expiring_30d"] == 1
    later = header(scan_time="2026-11-25T00:00:00Z")
    with open_trace(trace_text([later, {}, cert])) as trace:
        assert summarize(trace).findings["expired"] == 1
    assert summarize([header(), {}, cert]).findings["expiring_30d"] == 1  # raw objects, header first
    with pytest.raises(ValueError, match="scan_time"):
        summarize([cert])


def test_diff_removals_and_trailers_are_not_inventory() -> None:
    removed = {"op": "removed", "path": "/x", "type": "t", "fingerprint": {}}
    summary = summarize([header(), removed, key_record("ec") | {"op": "added"}, {"summary": {"added": 1}}])
    assert summary.record_count == 1 and summary.by_type == {"ec_private_key": 1}


def test_merged_and_rendered(rsa_key: rsa.RSAPrivateKey) -> None:
    from rich.console import Console

    one = summarize([key_record("rsa", bits=1024)], scan_time=SCAN_TIME)
    two = summarize([key_record("ec"), blob_record()], scan_time=SCAN_TIME)
    fleet = InventorySummary.merged([one, two])
    assert fleet.record_count == 3
    assert fleet.findings["unencrypted_private_key"] == 2 and fleet.findings["weak_key"] == 1
    console = Console(record=True, width=100)
    console.print(fleet)
    text = console.export_text()
    assert "rsa_private_key" in text and "weak_key" in text and "total" in text


def test_repeated_certificates_are_parsed_once(
    rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    import client._findings as findings

    calls = 0
    real = findings._cert_facts

    def counting(encoded: str) -> Any:
        nonlocal calls
        calls += 1
        return real(encoded)

    monkeypatch.setattr(findings, "_cert_facts", counting)
    monkeypatch.setattr(findings, "_cert_cache", OrderedDict())
    root = cert_record(make_cert(rsa_key, "root", ca=True, days=3650))
    summary = summarize([root] * 500, scan_time=SCAN_TIME)
    assert summary.record_count == 500 and calls == 1
    # ...and once per process: the next trace (the next scan, the next endpoint) holding it parses nothing.
    again = summarize([root] * 3, scan_time=SCAN_TIME + timedelta(days=3650 * 2))
    assert calls == 1 and again.findings["expired"] == 3  # same facts, judged at the other trace's time


def test_the_certificate_cache_is_bounded_and_forgets_the_least_recently_used(
    rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    import client._findings as findings

    parsed: list[str] = []
    real = findings._cert_facts
    monkeypatch.setattr(findings, "_cert_facts", lambda encoded: parsed.append(encoded) or real(encoded))
    monkeypatch.setattr(findings, "_cert_cache", OrderedDict())
    monkeypatch.setattr(findings, "CERT_CACHE_SIZE", 2)
    a, b, c = (cert_record(make_cert(rsa_key, name, ca=True, days=30)) for name in "abc")
    for record in (a, b, a, c):  # c pushes out b, the least recently used; a was used again after b
        summarize([record], scan_time=SCAN_TIME)
    assert len(findings._cert_cache) == 2 and len(parsed) == 3
    summarize([a], scan_time=SCAN_TIME)
    assert len(parsed) == 3  # a was kept
    summarize([b], scan_time=SCAN_TIME)
    assert len(parsed) == 4  # b was forgotten
