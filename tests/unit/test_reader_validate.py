"""validate_trace: the format rules of spec sections 2-3, each issue placed by object index and offset."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from client._errors import TraceFormatError
from client._validate import TraceIssue, validate_trace
from tests.unit.test_reader_support import (
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
def good(rsa_key: rsa.RSAPrivateKey) -> list[dict[str, Any]]:
    ec_key = ec.generate_private_key(ec.SECP384R1())
    return [
        header(),
        {},
        cert_record(make_cert(rsa_key, "root", ca=True, days=3650)),
        cert_record(make_cert(ec_key, "ec.example", issuer_cn="root", issuer_key=rsa_key, server_auth=True)),
        cert_record(resign_sha1(make_cert(rsa_key, "old.example"), rsa_key)),
        key_record("rsa", bits=1024),
        key_record("dsa"),
        key_record("ec", curve="brainpoolP256r1"),
        key_record("ed25519", public=True),
        pgp_record(),
        pgp_record("ec"),  # EC PGP keys may carry no value
        blob_record(),
    ]


def _issues(objects: list[dict[str, Any]], **kw: Any) -> list[TraceIssue]:
    return validate_trace(gz(trace_text(objects)), **kw)


def test_a_well_formed_trace_has_no_issues(good: list[dict[str, Any]]) -> None:
    assert _issues(good) == []
    assert validate_trace(trace_text(good, b"", indent=2)) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("path", 7, "path must be a non-empty string"),
        ("type", "", "type must be a non-empty string"),
        ("size_bytes", -1, "size_bytes must be an int >= 0"),
        ("size_bytes", True, "size_bytes must be an int >= 0"),
        ("encrypted", "no", "encrypted must be a boolean"),
        ("public", None, "public must be a boolean"),
        ("details", [], "details must be an object"),
        ("last_modified", 1.5, "last_modified must be an int"),
        ("last_modified", "yesterday", "last_modified is not an RFC 3339 time"),
        ("fingerprint", {"alg": "md5", "kind": "spki", "value": "0" * 64}, "fingerprint.alg"),
        ("key", {"type": "rsa", "value": {"n": "12ab", "e": "3"}}, "key.value.n must be a decimal"),
    ],
)
def test_record_field_rules_name_the_object(
    good: list[dict[str, Any]], field: str, value: object, message: str
) -> None:
    objects = copy.deepcopy(good)
    objects[5][field] = value
    issues = _issues(objects)
    assert [i.index for i in issues] == [5], issues
    assert message in issues[0].message
    assert issues[0].offset == len(trace_text(objects[:5]))
    assert str(issues[0]).startswith(f"object 5 at byte {issues[0].offset}: ")


def test_last_modified_accepts_seconds_milliseconds_and_rfc3339(good: list[dict[str, Any]]) -> None:
    objects = copy.deepcopy(good)
    objects[5]["last_modified"] = 1_790_000_000_000
    objects[6]["last_modified"] = "2026-10-01T12:00:00+02:00"
    assert _issues(objects) == []


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (lambda d: d["tbs_certificate"].update(serial="42"), "serial"),
        (
            lambda d: d["tbs_certificate"].update(serial="0x" + hex(int(d["tbs_certificate"]["serial"]))[2:]),
            None,
        ),
        (lambda d: d["tbs_certificate"]["issuer"][0].update(value="Someone Else"), "issuer"),
        (lambda d: d["tbs_certificate"]["subject"].pop(), "subject"),
        (lambda d: d["tbs_certificate"]["validity"].update(not_after="2030-01-01T00:00:00Z"), "not_after"),
        (lambda d: d["tbs_certificate"]["validity"].update(not_before="soon"), "not_before"),
        (
            lambda d: d["signature_algorithm"].update(algorithm="sha256WithRSAEncryption"),
            "signature_algorithm",
        ),
        (lambda d: d.update(encoded=d["encoded"][:40]), "not a parseable DER"),
        (lambda d: d.update(encoded=bytes.fromhex("3000").hex()), "not a parseable DER"),
    ],
)
def test_certificate_fields_must_agree_with_the_der(
    good: list[dict[str, Any]], change: Any, what: str | None
) -> None:
    objects = copy.deepcopy(good)
    change(objects[4]["details"])  # the SHA-1 certificate
    issues = _issues(objects)
    if what is None:  # 0x-hex serials are accepted
        assert issues == []
        return
    assert [i.index for i in issues] == [4], issues
    assert what in issues[0].message


def test_hex_encoded_der_is_accepted_and_the_fingerprint_is_checked(good: list[dict[str, Any]]) -> None:
    import base64

    objects = copy.deepcopy(good)
    details = objects[3]["details"]
    details["encoded"] = base64.b64decode(details["encoded"]).hex()
    assert _issues(objects) == []
    objects[3]["fingerprint"]["value"] = "f" * 64
    (issue,) = _issues(objects)
    assert issue.index == 3 and "SHA-256 of the certificate DER" in issue.message


def test_header_rules(good: list[dict[str, Any]]) -> None:
    broken = header(scan_time="tomorrow", scan_mode="partial")
    broken["version"] = 1
    del broken["api"]
    messages = [i.message for i in _issues([broken, *good[1:]])]
    assert all(m.startswith("header: ") for m in messages)
    assert len(messages) == 4
    issues = _issues(good[2:])  # no header at all
    assert issues[0].index == 0 and "must be the CST header" in issues[0].message


def test_diff_records_and_the_summary_trailer(good: list[dict[str, Any]]) -> None:
    removed = {
        "op": "removed",
        "path": "/etc/x.pem",
        "type": "X509 CERTIFICATE",
        "fingerprint": good[2]["fingerprint"],
    }
    added = good[5] | {"op": "added"}
    modified = good[6] | {"op": "modified", "previous": {"size_bytes": 1}}
    head = header(scan_mode="diff", baseline_scan_id="b", baseline_record_count=10)
    ok = [head, removed, added, modified, {"summary": {"added": 1, "removed": 1, "modified": 1}}]
    assert _issues(ok) == []
    wrong = [*ok[:-1], {"summary": {"added": 2, "removed": 1, "modified": 1}}]
    (issue,) = _issues(wrong)
    assert issue.index == 4 and "added says 2 but the trace holds 1" in issue.message
    after = [*ok, good[5]]
    assert "follows the summary trailer" in _issues(after)[0].message
    assert "needs a previous" in _issues([head, good[6] | {"op": "modified"}])[0].message


def test_max_errors_stops_early(good: list[dict[str, Any]]) -> None:
    bad = [header()] + [key_record("rsa") | {"size_bytes": -1}] * 50
    assert len(_issues(bad, max_errors=5)) == 5


def test_a_corrupt_stream_raises_with_its_position(good: list[dict[str, Any]]) -> None:
    text = trace_text(good)
    with pytest.raises(TraceFormatError) as err:
        validate_trace(text[:-30])
    assert err.value.index == len(good) - 1
