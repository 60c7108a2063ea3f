"""Trace generation: determinism, records that parse, DER that agrees with tbs_certificate,
fingerprints, and manifest counts equal to an independent recount from the parsed records."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
from collections import Counter
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from simulator.traces import FINDING_KEYS, TYPES, GeneratedTrace, TraceSpec, generate_trace
from simulator.traces.generator import render_trace

SCAN_TIME = 1_793_491_200  # 2026-11-01T00:00:00Z, the TraceSpec default
SHORT = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O", NameOID.COUNTRY_NAME: "C"}
DAY = 86_400


def spec(index: int = 0, platform: str = "Linux", profile: str = "small", **kw: Any) -> TraceSpec:
    return TraceSpec(
        seed=1, index=index, client_id=str(index), hostname=f"web-a-{index + 1:02d}",
        platform=platform, profile=profile, **kw,
    )  # fmt: skip


def parse(trace: GeneratedTrace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = gzip.decompress(trace.data).splitlines()
    objects = [orjson.loads(line) for line in lines]
    return objects[0], [o for o in objects[1:] if o]


@pytest.fixture(scope="module", params=["Linux", "Windows"])
def medium(request: pytest.FixtureRequest) -> GeneratedTrace:
    return generate_trace(spec(3, request.param, "medium"))


def test_same_spec_is_byte_identical() -> None:
    assert generate_trace(spec(2)).data == generate_trace(spec(2)).data
    assert generate_trace(spec(2)).manifest == generate_trace(spec(2)).manifest


def test_gzip_has_mtime_zero() -> None:
    data = generate_trace(spec(2)).data
    assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0"


def test_different_endpoints_and_scans_differ() -> None:
    a, b = generate_trace(spec(0)), generate_trace(spec(1))
    assert a.data != b.data
    fps_a = {r["fingerprint"]["value"] for r in parse(a)[1] if r["type"] != TYPES["cert"]}
    fps_b = {r["fingerprint"]["value"] for r in parse(b)[1] if r["type"] != TYPES["cert"]}
    assert fps_a != fps_b
    later = generate_trace(spec(0, scan=2, scan_time=SCAN_TIME + 7 * DAY))
    assert later.manifest["scan_id"] != a.manifest["scan_id"] and later.data != a.data


def test_header(medium: GeneratedTrace) -> None:
    header, _ = parse(medium)
    assert header["format"] == "CST" and header["version"] == "1.0" and header["api"] == "host-scanner"
    api = header["api_specific"]
    assert api["scan_time"] == "2026-11-01T00:00:00Z" and api["scan_mode"] == "full"
    assert api["os"] == medium.manifest["platform"].lower()
    assert api["scan_id"] == medium.manifest["scan_id"]


def _name(name: x509.Name) -> list[dict[str, str]]:
    return [{"type": SHORT[a.oid], "value": a.value} for a in name]


def _time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _public_key(key: dict[str, Any]) -> Any:
    v = key["value"]
    if key["type"] == "rsa":
        return rsa.RSAPublicNumbers(int(v["e"]), int(v["n"])).public_key()
    if key["type"] == "dsa":
        params = dsa.DSAParameterNumbers(int(v["p"]), int(v["q"]), int(v["g"]))
        return dsa.DSAPublicNumbers(int(v["y"]), params).public_key()
    if key["type"] == "ec":
        curve = ec._CURVE_TYPES[v["curve"]]  # type: ignore[attr-defined]
        return ec.EllipticCurvePublicNumbers(int(v["x"]), int(v["y"]), curve).public_key()
    return ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(v["public"]))


def _spki_sha256(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _limit_days(not_before: dt.datetime) -> int:
    for start, days in (
        (dt.datetime(2029, 3, 15), 47),
        (dt.datetime(2027, 3, 15), 100),
        (dt.datetime(2026, 3, 15), 200),
    ):
        if not_before >= start.replace(tzinfo=dt.UTC):
            return days
    return 398


def recount(records: list[dict[str, Any]], now: dt.datetime) -> dict[str, int]:
    """The finding rules of docs/cst-format.md applied to parsed records and their DER."""
    counts: Counter[str] = Counter()
    weak_curves = {"secp192r1", "secp224r1", "secp256k1"}
    for r in records:
        found: set[str] = set()
        alg = bits = curve = None
        details = r["details"]
        if "encoded" in details:
            cert = x509.load_der_x509_certificate(base64.b64decode(details["encoded"]))
            na, nb = cert.not_valid_after_utc, cert.not_valid_before_utc
            if na < now:
                found.add("expired")
            elif na <= now + dt.timedelta(days=7):
                found.add("expiring_7d")
            elif na <= now + dt.timedelta(days=30):
                found.add("expiring_30d")
            if nb > now:
                found.add("not_yet_valid")
            if isinstance(cert.signature_hash_algorithm, hashes.SHA1 | hashes.MD5):
                found.add("weak_signature")
            try:
                is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            try:
                eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
                server = ExtendedKeyUsageOID.SERVER_AUTH in eku
            except x509.ExtensionNotFound:
                server = False
            if cert.issuer == cert.subject and not is_ca:
                found.add("self_signed_leaf")
            if not is_ca and server and (na - nb) > dt.timedelta(days=_limit_days(nb)):
                found.add("overlong_validity")
            pk = cert.public_key()
        elif "key" in r:
            pk = _public_key(r["key"])
        elif "key" in details:
            pk = _public_key(details["key"]["key"])
        else:
            pk = None
        if isinstance(pk, rsa.RSAPublicKey | dsa.DSAPublicKey):
            alg, bits = "rsa", pk.key_size
        elif isinstance(pk, ec.EllipticCurvePublicKey):
            alg, curve = "ec", pk.curve.name
        elif isinstance(pk, ed25519.Ed25519PublicKey):
            alg = "ed25519"
        if alg == "rsa" and bits is not None and bits < 2048:
            found.add("weak_key")
        if alg == "ec" and (curve in weak_curves or (curve or "").startswith("brainpool")):
            found.add("weak_curve")
        if alg is not None:
            found.add("quantum_vulnerable")
        if r["public"] is False and r["encrypted"] is False:
            found.add("unencrypted_private_key")
        counts.update(found)
    return {k: counts[k] for k in FINDING_KEYS}


def test_manifest_counts_match_an_independent_recount(medium: GeneratedTrace) -> None:
    header, records = parse(medium)
    m = medium.manifest
    assert m["record_count"] == len(records)
    assert m["by_type"] == dict(Counter(r["type"] for r in records))
    assert m["size"] == len(medium.data) and m["sha256"] == hashlib.sha256(medium.data).hexdigest()
    assert m["findings"] == recount(records, _time(header["api_specific"]["scan_time"]))
    assert set(m["by_type"]) <= set(TYPES.values())


@pytest.mark.parametrize("scan_days", [0, 400, 1200])
def test_recount_holds_at_other_scan_times(scan_days: int) -> None:
    trace = generate_trace(spec(5, "Linux", "small", scan_time=SCAN_TIME + scan_days * DAY))
    header, records = parse(trace)
    assert trace.manifest["findings"] == recount(records, _time(header["api_specific"]["scan_time"]))


def test_planted_findings_show_up() -> None:
    total: Counter[str] = Counter()
    for i in range(4):
        total.update(generate_trace(spec(i, "Linux" if i % 2 else "Windows", "medium")).manifest["findings"])
    for key in FINDING_KEYS:
        if key != "self_signed_leaf":  # snakeoil/k8s artifacts are Linux-only and not always drawn
            assert total[key] > 0, key


def test_certificates_agree_with_their_der(medium: GeneratedTrace) -> None:
    _, records = parse(medium)
    certs = [r for r in records if "encoded" in r["details"]]
    assert len(certs) > 0.9 * len(records)
    for r in certs:
        d = r["details"]
        der = base64.b64decode(d["encoded"])
        cert = x509.load_der_x509_certificate(der)
        tbs = d["tbs_certificate"]
        assert int(tbs["serial"]) == cert.serial_number
        assert tbs["issuer"] == _name(cert.issuer) and tbs["subject"] == _name(cert.subject)
        assert _time(tbs["validity"]["not_before"]) == cert.not_valid_before_utc
        assert _time(tbs["validity"]["not_after"]) == cert.not_valid_after_utc
        assert d["signature_algorithm"]["algorithm"] == cert.signature_algorithm_oid._name
        assert bytes.fromhex(d["signature"]) == cert.signature
        assert r["fingerprint"] == {
            "alg": "sha256",
            "kind": "cert-der",
            "value": hashlib.sha256(der).hexdigest(),
        }
        if r["type"] != TYPES["cert"]:
            assert d["container"]["format"] in ("jks", "pkcs12", "sst", "pkcs7")


def test_weak_signatures_load_and_report_their_hash() -> None:
    found = set()
    for i in range(6):
        for r in parse(generate_trace(spec(i, "Linux", "medium")))[1]:
            alg = r["details"].get("signature_algorithm", {}).get("algorithm", "")
            if alg.startswith(("sha1", "md5")):
                cert = x509.load_der_x509_certificate(base64.b64decode(r["details"]["encoded"]))
                assert cert.signature_hash_algorithm is not None
                found.add(cert.signature_hash_algorithm.name)
    assert "sha1" in found


def test_key_records_carry_spki_fingerprints(medium: GeneratedTrace) -> None:
    _, records = parse(medium)
    keyed = [r for r in records if "key" in r]
    assert keyed
    for r in keyed:
        assert r["fingerprint"]["kind"] == "spki"
        assert r["fingerprint"]["value"] == _spki_sha256(_public_key(r["key"]))
    for r in records:
        if r["encrypted"]:
            assert "key" not in r and r["fingerprint"]["kind"] == "blob"


def test_pgp_records_have_v4_fingerprints() -> None:
    records = [
        r
        for i in range(6)
        for r in parse(generate_trace(spec(i, "Linux", "medium")))[1]
        if r["type"] == "pgp"
    ]
    assert records
    for r in records:
        fp = r["fingerprint"]
        assert fp["kind"] == "openpgp-v4" and len(fp["value"]) == 40
        info = r["details"]["key"]["info"]
        assert info["version"] == 4 and isinstance(info["creation_time"], int)


@pytest.mark.parametrize(("profile", "lo", "hi"), [("small", 150, 300), ("medium", 500, 1500)])
def test_profiles_land_in_their_ranges(profile: str, lo: int, hi: int) -> None:
    for i in range(3):
        m = generate_trace(spec(i, "Windows" if i == 1 else "Linux", profile)).manifest
        assert lo <= m["record_count"] <= hi
        roots = sum(n for t, n in m["by_type"].items() if t in ("X509 CERTIFICATE", "jks", "sst"))
        assert roots / m["record_count"] > 0.85


def test_large_profile_size() -> None:
    rendered = render_trace(spec(4, "Linux", "large"))
    assert 3_000 <= rendered.record_count <= 10_000


def test_stress_size_is_configurable() -> None:
    m = generate_trace(spec(0, "Linux", "stress", records=1_200)).manifest
    assert m["record_count"] == 1_200 and m["profile"] == "stress"


def test_unknown_profile_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        generate_trace(spec(0, "Linux", "huge"))
