"""Every rule of the trace validator (client/_validate.py), one case each: a well-formed trace changed
to break exactly that rule must give exactly that one issue, on the object that breaks it.

The cases are listed by the message they expect, in the order the validator checks them;
``test_every_message_of_the_validator_has_a_case`` fails when the validator gains a rule without one.
"""

from __future__ import annotations

import ast
import base64
import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from client._validate import validate_trace
from tests.unit.test_reader_support import (
    blob_record,
    cert_record,
    header,
    key_record,
    make_cert,
    pgp_record,
    trace_text,
)

Objects = list[Any]
CERT, RSA, EC, PGP, BLOB = 1, 2, 3, 4, 5  # the records' indexes in the good trace


@pytest.fixture(scope="module")
def good() -> Objects:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return [
        header(),
        cert_record(make_cert(key, "leaf.example")),
        key_record("rsa"),
        key_record("ec"),
        pgp_record(),
        blob_record(),
    ]


def diff_trace(good: Objects) -> Objects:
    """A well-formed diff trace: one record of each op and the summary trailer."""
    removed = {"op": "removed", "path": "/etc/x.pem", "type": "X509 CERTIFICATE"}
    removed["fingerprint"] = good[CERT]["fingerprint"]
    return [
        header(scan_mode="diff", baseline_scan_id="scan-1", baseline_record_count=4),
        removed,
        good[RSA] | {"op": "added"},
        good[EC] | {"op": "modified", "previous": {"size_bytes": 1}},
        {"summary": {"added": 1, "removed": 1, "modified": 1, "records": 3}},
    ]


def setter(index: int, *keys: str, value: Any = None, delete: bool = False) -> Callable[[Objects], None]:
    """Set (or delete) ``objects[index][keys[0]][keys[1]]...``."""

    def change(objects: Objects) -> None:
        target = objects[index]
        for key in keys[:-1]:
            target = target[key]
        if delete:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value

    return change


def tbs(*keys: str, value: Any) -> Callable[[Objects], None]:
    return setter(CERT, "details", "tbs_certificate", *keys, value=value)


def unknown_op(objects: Objects) -> None:
    objects[2]["op"] = "created"
    del objects[4]["summary"]["added"]  # the trailer then counts nothing it could disagree with


# (what the message starts with, the index of the object that breaks the rule, the change)
Case = tuple[str, int, Callable[[Objects], None]]
CASES: list[Case] = [
    # the stream
    ("a top-level value is not a JSON object", RSA, lambda o: o.__setitem__(RSA, [1, 2])),
    ("the first object must be the CST header, found a record", 0, lambda o: o.pop(0)),
    # the header
    ("header: format must be 'CST'", 0, setter(0, "format", value="CSV")),
    ("header: version must be a string", 0, setter(0, "version", value=1.0)),
    ("header: api must be a string", 0, setter(0, "api", delete=True)),
    ("header: tags must be a list", 0, setter(0, "tags", value="a,b")),
    ("header: anonymized must be a boolean", 0, setter(0, "anonymized", value="no")),
    ("header: api_specific must be an object", 0, setter(0, "api_specific", value=[])),
    (
        "header: api_specific.scan_time is not an RFC 3339 time",
        0,
        setter(0, "api_specific", "scan_time", value="yesterday"),
    ),
    (
        "header: api_specific.scan_time must be an RFC 3339 string",
        0,
        setter(0, "api_specific", "scan_time", value=1_790_000_000),
    ),
    (
        "header: api_specific.scan_mode must be 'full' or 'diff'",
        0,
        setter(0, "api_specific", "scan_mode", value="partial"),
    ),
    # the records
    ("path must be a non-empty string", RSA, setter(RSA, "path", value="")),
    ("type must be a non-empty string", RSA, setter(RSA, "type", value=7)),
    ("fingerprint must be an object with alg, kind and value", RSA, setter(RSA, "fingerprint", value="ab")),
    ("fingerprint.alg must be 'sha256' or 'openpgp-v4'", RSA, setter(RSA, "fingerprint", "alg", value="md5")),
    ("fingerprint.kind must be one of", RSA, setter(RSA, "fingerprint", "kind", value="thumbprint")),
    ("fingerprint.value must be 64 hex digits", RSA, setter(RSA, "fingerprint", "value", value="0" * 63)),
    ("fingerprint.value must be 64 hex digits", BLOB, setter(BLOB, "fingerprint", "value", value="g" * 64)),
    ("fingerprint.value must be 64 hex digits", BLOB, setter(BLOB, "fingerprint", "value", value=" 1" * 32)),
    ("fingerprint.value must be 40 hex digits", PGP, setter(PGP, "fingerprint", "value", value="z" * 40)),
    ("fingerprint.value must be 40 hex digits", PGP, setter(PGP, "fingerprint", "value", value="a" * 64)),
    ("size_bytes must be an int >= 0", RSA, setter(RSA, "size_bytes", value=-1)),
    ("size_bytes must be an int >= 0", RSA, setter(RSA, "size_bytes", value=False)),
    ("encrypted must be a boolean", RSA, setter(RSA, "encrypted", value=0)),
    ("public must be a boolean", RSA, setter(RSA, "public", delete=True)),
    ("last_modified must be an int (epoch seconds or ms) or", RSA, setter(RSA, "last_modified", value=1.5)),
    ("last_modified is not an RFC 3339 time", RSA, setter(RSA, "last_modified", value="2026-13-01")),
    ("key must be an object with a type", RSA, setter(RSA, "key", value={"value": {}})),
    ("key.value must be an object", RSA, setter(RSA, "key", "value", value="n=5")),
    (
        "key.value.n must be a decimal (or 0x-hex) integer string",
        RSA,
        setter(RSA, "key", "value", "n", value="zz"),
    ),
    ("key.value.curve must be a string", EC, setter(EC, "key", "value", "curve", delete=True)),
    (
        "details.key.key.value.e must be a decimal",
        PGP,
        setter(PGP, "details", "key", "key", "value", "e", value="x"),
    ),
    ("details must be an object", BLOB, setter(BLOB, "details", value=None)),
    # a certificate against its DER
    ("details.encoded must be a base64 string", CERT, setter(CERT, "details", "encoded", value=123)),
    (
        "details.encoded is not a parseable DER certificate",
        CERT,
        setter(CERT, "details", "encoded", value="MAA="),
    ),
    ("tbs_certificate.version does not agree", CERT, tbs("version", value="1")),
    ("tbs_certificate.serial does not agree", CERT, tbs("serial", value="42")),
    ("tbs_certificate.issuer does not agree", CERT, tbs("issuer", value=[{"type": "CN", "value": "x"}])),
    ("tbs_certificate.subject does not agree", CERT, tbs("subject", value=[])),
    ("tbs_certificate.validity.not_before does not agree", CERT, tbs("validity", "not_before", value="soon")),
    ("tbs_certificate.validity.not_after does not agree", CERT, tbs("validity", "not_after", value=None)),
    (
        "signature_algorithm does not agree",
        CERT,
        setter(CERT, "details", "signature_algorithm", "algorithm", value="md5WithRSAEncryption"),
    ),
    ("signature does not agree", CERT, setter(CERT, "details", "signature", value="00ff")),
    (
        "fingerprint.value is not the SHA-256 of the certificate DER",
        CERT,
        setter(CERT, "fingerprint", "value", value="f" * 64),
    ),
]

DIFF_CASES: list[Case] = [
    (
        "header: a diff trace needs api_specific.baseline_scan_id (string)",
        0,
        setter(0, "api_specific", "baseline_scan_id", delete=True),
    ),
    (
        "header: api_specific.baseline_record_count must be an int >= 0",
        0,
        setter(0, "api_specific", "baseline_record_count", value=-4),
    ),
    ("op must be 'added', 'removed' or 'modified'", 2, unknown_op),
    ("fingerprint must be an object with alg, kind and value", 1, setter(1, "fingerprint", delete=True)),
    ("a modified record needs a previous object", 3, setter(3, "previous", value=None)),
    ("summary trailer: summary must be an object", 4, setter(4, "summary", value=3)),
    ("summary trailer: added says 2 but the trace holds 1", 4, setter(4, "summary", "added", value=2)),
    ("summary trailer: records says 4 but the trace holds 3", 4, setter(4, "summary", "records", value=4)),
    ("an object follows the summary trailer, which must be last", 5, lambda o: o.append(copy.deepcopy(o[2]))),
]


def _messages(objects: Objects) -> list[tuple[int, str]]:
    return [(i.index, i.message) for i in validate_trace(trace_text(objects))]


def test_the_good_traces_are_valid(good: Objects) -> None:
    assert _messages(good) == []
    assert _messages(diff_trace(good)) == []


def _check(objects: Objects, message: str, index: int, change: Callable[[Objects], None]) -> None:
    change(objects)
    issues = _messages(objects)
    assert len(issues) == 1, issues  # that rule and no other
    assert issues[0][0] == index and issues[0][1].startswith(message), issues


@pytest.mark.parametrize(("message", "index", "change"), CASES, ids=[c[0][:60] for c in CASES])
def test_each_record_and_header_rule(
    good: Objects, message: str, index: int, change: Callable[[Objects], None]
) -> None:
    _check(copy.deepcopy(good), message, index, change)


@pytest.mark.parametrize(("message", "index", "change"), DIFF_CASES, ids=[c[0][:60] for c in DIFF_CASES])
def test_each_diff_rule(good: Objects, message: str, index: int, change: Callable[[Objects], None]) -> None:
    _check(diff_trace(copy.deepcopy(good)), message, index, change)


def test_tbs_certificate_that_is_no_object_fails_every_field(good: Objects) -> None:
    objects = copy.deepcopy(good)
    objects[CERT]["details"]["tbs_certificate"] = "v3"
    messages = [m for _, m in _messages(objects)]
    assert messages[0] == "details.tbs_certificate must be an object"
    assert len(messages) == 7 and all("does not agree" in m for m in messages[1:])


def test_an_empty_trace_has_no_header() -> None:
    assert [i.message for i in validate_trace(b"")] == ["the trace is empty: it has no header"]


def test_hex_der_and_upper_case_fingerprints_are_accepted(good: Objects) -> None:
    objects = copy.deepcopy(good)
    details = objects[CERT]["details"]
    details["encoded"] = base64.b64decode(details["encoded"]).hex()
    objects[CERT]["fingerprint"]["value"] = objects[CERT]["fingerprint"]["value"].upper()
    objects[BLOB]["fingerprint"]["value"] = "ABCDEF0123456789" * 4
    assert _messages(objects) == []


def _message_patterns() -> list[str]:
    """Each problem message client/_validate.py can produce, as a regex (an f-string's fields: ``.+``)."""
    tree = ast.parse((Path(__file__).parents[2] / "client" / "_validate.py").read_text())

    def pattern(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return re.escape(node.value)
        if isinstance(node, ast.JoinedStr):
            return "".join(re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in node.values)
        return None

    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append":
            if isinstance(node.func.value, ast.Name) and node.func.value.id == "problems":
                found += node.args
        elif isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            for branch in (value.body, value.orelse) if isinstance(value, ast.IfExp) else (value,):
                if isinstance(branch, ast.List):
                    found += branch.elts
    return [p for node in found if (p := pattern(node)) is not None]


def test_every_message_of_the_validator_has_a_case(good: Objects) -> None:
    """Each message the validator can give is given by some case above: a new rule needs a case."""
    produced = [i.message for i in validate_trace(b"")]
    for cases, base in ((CASES, good), (DIFF_CASES, diff_trace(good))):
        for _, _, change in cases:
            objects = copy.deepcopy(base)
            change(objects)
            produced += [m for _, m in _messages(objects)]
    broken_tbs = copy.deepcopy(good)
    broken_tbs[CERT]["details"]["tbs_certificate"] = "v3"
    produced += [m for _, m in _messages(broken_tbs)]
    patterns = _message_patterns()
    assert len(patterns) >= 35  # the extraction found the validator's messages
    assert [p for p in patterns if not any(re.fullmatch(p, m) for m in produced)] == []
