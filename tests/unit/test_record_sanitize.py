"""The recording's sanitizer (simulator/record/sanitize.py): credentials always, identities on request.

Each test feeds exchanges shaped like the ones the proxy records (Tanium's own bodies and headers) and
reads back what would be written: no real credential or identity anywhere, the same real value always the
same placeholder or fake, and everything else left as it was.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re

import pytest

from simulator.record.har import Exchange
from simulator.record.sanitize import REDACTED, Sanitizer

TR = "http://tanium.corp.example:8443/plugin/products/threat-response/api/v1"
BASE = "http://tanium.corp.example:8443"
TOKEN = "token-0123456789abcdef"
SESSION = "1-224-3cb8fe975e0b505045d55584014d99f6510c110d19d0708524c1219dbf717535"
JSON = [("content-type", "application/json")]


def exchange(
    method: str,
    url: str,
    *,
    body: object = None,
    answer: object = None,
    headers: list[tuple[str, str]] | None = None,
    answer_headers: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> Exchange:
    def encode(value: object) -> bytes:
        if value is None:
            return b""
        return value if isinstance(value, bytes) else json.dumps(value).encode()

    return Exchange(
        method,
        url,
        status=status,
        request_headers=headers if headers is not None else [("session", TOKEN), *JSON],
        request_body=encode(body),
        response_headers=answer_headers if answer_headers is not None else JSON,
        response_body=encode(answer),
    )


def text_of(e: Exchange) -> str:
    """Everything of an exchange that is written to the HAR, as one text to search."""
    parts = [e.url, e.comment, json.dumps(e.request_headers), json.dumps(e.response_headers)]
    parts += [e.request_body.decode("utf-8", "replace"), (e.response_body or b"").decode("utf-8", "replace")]
    return "\n".join(parts)


# --------------------------------------------------------------------------- credentials (always)


def test_the_session_header_becomes_one_placeholder_per_token() -> None:
    s = Sanitizer()
    first = s.clean(exchange("GET", f"{TR}/conns", answer=[]))
    again = s.clean(exchange("GET", f"{TR}/tasks/1", answer={"data": {}}))
    other = s.clean(
        exchange("GET", f"{TR}/conns", headers=[("session", "token-ffffeeeeddddcccc")], answer=[])
    )
    assert first.header("session", response=False) == "<session-1>"
    assert again.header("session", response=False) == "<session-1>"
    assert other.header("session", response=False) == "<session-2>"


def test_a_login_leaves_no_credential_and_its_session_is_one_placeholder_everywhere() -> None:
    s = Sanitizer()
    body = {"username": "alice", "password": "correct-horse-battery", "domain": "CORP"}
    login = s.clean(
        exchange(
            "POST",
            f"{BASE}/api/v2/session/login",
            body=body,
            headers=JSON,
            answer={"data": {"session": SESSION}},
        )
    )
    assert json.loads(login.request_body) == dict.fromkeys(body, REDACTED)
    assert json.loads(login.response_body or b"") == {"data": {"session": "<session-1>"}}
    used = s.clean(
        exchange(
            "POST",
            f"{BASE}/api/v2/session/validate",
            headers=[("session", SESSION)],
            body={"session": SESSION},
        )
    )
    assert used.header("session", response=False) == "<session-1>"
    assert json.loads(used.request_body) == {"session": "<session-1>"}
    # Anywhere else the token shows up (an echo in an error text, a URL), it is the same placeholder.
    echo = s.clean(exchange("GET", f"{BASE}/x?s={SESSION}", answer={"text": f"401 Unauthorized: {SESSION}"}))
    assert SESSION not in text_of(echo)
    assert echo.url.endswith("?s=%3Csession-1%3E") or echo.url.endswith("?s=<session-1>")
    assert json.loads(echo.response_body or b"") == {"text": "401 Unauthorized: <session-1>"}
    assert "correct-horse-battery" not in text_of(login) + text_of(used) + text_of(echo)


def test_a_get_login_has_its_query_credentials_redacted() -> None:
    s = Sanitizer()
    e = s.clean(
        exchange(
            "GET",
            f"{BASE}/api/v2/session/login?username=alice&password=correct-horse-battery",
            headers=[],
            answer={"data": {"session": SESSION}},
        )
    )
    assert "alice" not in e.url and "correct-horse-battery" not in e.url
    assert e.query == [("username", REDACTED), ("password", REDACTED)]
    assert SESSION not in text_of(e)


def test_the_legacy_auth_login_and_basic_credentials_are_redacted() -> None:
    s = Sanitizer()
    basic = base64.b64encode(b"alice:correct-horse-battery").decode()
    e = s.clean(
        exchange(
            "POST",
            f"{BASE}/auth",
            headers=[
                ("authorization", f"Basic {basic}"),
                ("username", base64.b64encode(b"alice").decode()),
                ("password", base64.b64encode(b"correct-horse-battery").decode()),
                ("domain", "CORP"),
            ],
            answer_headers=[("content-type", "text/plain")],
            answer=SESSION.encode(),
        )
    )
    assert e.request_headers == [
        ("authorization", f"Basic {REDACTED}"),
        ("username", REDACTED),
        ("password", REDACTED),
        ("domain", REDACTED),
    ]
    assert e.response_body == b"<session-1>"
    later = s.clean(exchange("GET", f"{TR}/conns", headers=[("session", SESSION)], answer=[]))
    assert later.header("session", response=False) == "<session-1>"


def test_a_short_auth_session_is_still_replaced_in_its_body() -> None:
    e = Sanitizer().clean(
        exchange(
            "POST",
            f"{BASE}/auth",
            headers=[],
            answer_headers=[("content-type", "text/plain")],
            answer=b"s3\n",
        )
    )
    assert e.response_body == b"<session-1>\n"


def test_bearer_tokens_and_cookies_become_placeholders() -> None:
    s = Sanitizer()
    e = s.clean(
        exchange(
            "GET",
            f"{BASE}/_sim/state",
            headers=[
                ("authorization", "Bearer admin-s3cret-value"),
                ("cookie", "sid=c00kie-value-1; lang=en"),
            ],
            answer_headers=[*JSON, ("set-cookie", "sid=c00kie-value-2; Path=/; HttpOnly")],
            answer={"ok": True},
        )
    )
    assert e.header("authorization", response=False) == "Bearer <session-1>"
    assert e.header("cookie", response=False) == "sid=<cookie-1>; lang=<cookie-2>"
    assert e.header("set-cookie") == "sid=<cookie-3>; Path=/; HttpOnly"
    again = s.clean(exchange("GET", f"{BASE}/x", headers=[("cookie", "sid=c00kie-value-2")], answer={}))
    assert again.header("cookie", response=False) == "sid=<cookie-3>"


def test_a_short_password_is_replaced_in_its_field_only() -> None:
    """A six-letter password would match ordinary words: it is redacted where it is a password."""
    s = Sanitizer()
    s.clean(exchange("POST", f"{BASE}/api/v2/session/login", body={"username": "a", "password": "tanium"}))
    e = s.clean(exchange("GET", f"{TR}/status", answer={"module": "tanium threat response"}))
    assert json.loads(e.response_body or b"") == {"module": "tanium threat response"}


def test_without_pseudonymize_identities_and_bodies_stay_as_they_are() -> None:
    body = b'{\n  "data": [{"computer_id": "2914149683", "host_name": "web-01"}]\n}'
    e = Sanitizer().clean(exchange("GET", f"{BASE}/api/v2/system_status", answer=body))
    assert e.response_body == body  # untouched bytes, spacing included
    assert e.url == f"{BASE}/api/v2/system_status"
    assert Sanitizer().mapping() == {}


# --------------------------------------------------------------------------- identities (pseudonymize)

ROWS = {
    "data": [
        {
            "computer_id": "2914149683",
            "host_name": "web-01",
            "ipaddress_client": "10.16.0.1",
            "ipaddress_server": "10.0.0.1",
            "full_version": "7.6.2.1",
        },
        {"computer_id": "286250251", "host_name": "db-02.corp.acme.com", "ipaddress_client": "10.16.0.2"},
        {"cache_id": 1, "cache_row_count": 2},
    ]
}


def learned(s: Sanitizer) -> Sanitizer:
    s.clean(exchange("GET", f"{BASE}/api/v2/system_status", answer=ROWS))
    return s


def test_system_status_rows_get_fakes_of_the_same_format() -> None:
    s = Sanitizer(pseudonymize=True)
    e = s.clean(exchange("GET", f"{BASE}/api/v2/system_status", answer=ROWS))
    rows = json.loads(e.response_body or b"")["data"]
    assert re.fullmatch(r"host-\d{4}", rows[0]["host_name"])
    assert re.fullmatch(r"host-\d{4}\.domain-\d+\.example", rows[1]["host_name"])
    assert [len(r["computer_id"]) for r in rows[:2]] == [10, 9]
    assert all(r["computer_id"].isdigit() and r["computer_id"][0] == "9" for r in rows[:2])
    for ip in (rows[0]["ipaddress_client"], rows[0]["ipaddress_server"], rows[1]["ipaddress_client"]):
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("192.0.2.0/24")
    assert rows[0]["full_version"] == "7.6.2.1"  # looks like an IP, is not under an address key
    assert rows[2] == {"cache_id": 1, "cache_row_count": 2}
    for real in (
        "2914149683",
        "286250251",
        "web-01",
        "db-02",
        "acme",
        "10.16.0.1",
        "10.0.0.1",
        "tanium.corp",
    ):
        assert real not in text_of(e), real


def test_the_same_real_value_gets_the_same_fake_in_every_place() -> None:
    s = learned(Sanitizer(pseudonymize=True))
    m = s.mapping()
    host, cid, ip = m["hostnames"]["web-01"], m["client_ids"]["2914149683"], m["ips"]["10.16.0.1"]
    connect = s.clean(
        exchange(
            "POST",
            f"{TR}/conns/connect",
            body={"target": {"clientId": "2914149683", "hostname": "WEB-01", "ip": "10.16.0.1"}},
            answer="remote:undefined:2914149683:",
        )
    )
    assert json.loads(connect.request_body) == {"target": {"clientId": cid, "hostname": host, "ip": ip}}
    assert json.loads(connect.response_body or b"") == f"remote:undefined:{cid}:"
    cid_path = "remote:web-01:2914149683:7"
    listing = s.clean(
        exchange(
            "GET",
            f"{TR}/conns/{cid_path}/file/info/%2Fopt%2Fcryptosense%2Ftraces%2Ftrace.cst.gz",
            answer={"sessionId": "x", "cid": cid_path, "path": "/opt/cryptosense/traces/trace.cst.gz"},
        )
    )
    fake_cid = f"remote:{host}:{cid}:7"
    assert listing.path.startswith(f"/plugin/products/threat-response/api/v1/conns/{fake_cid}/file/info/")
    assert listing.url.endswith("%2Fopt%2Fcryptosense%2Ftraces%2Ftrace.cst.gz")  # untouched segment
    assert json.loads(listing.response_body or b"")["cid"] == fake_cid
    query = s.clean(
        exchange("GET", f"{BASE}/plugin/products/dec/v1/endpoints?hostname=web-01&clientId=2914149683")
    )
    assert query.query == [("hostname", host), ("clientId", cid)]


def test_identities_are_learned_from_requests_and_connection_ids_too() -> None:
    """A clientId seen first in a connect body, a host first in a connection id: replaced from then on."""
    s = Sanitizer(pseudonymize=True)
    connect = s.clean(exchange("POST", f"{TR}/conns/connect", body={"target": {"clientId": "4242424242"}}))
    assert "4242424242" not in text_of(connect)
    task = s.clean(
        exchange(
            "GET",
            f"{TR}/tasks/9",
            answer={"data": {"metadata": {"connection": "remote:fin-srv-07:4242424242:3"}}},
        )
    )
    assert "fin-srv-07" not in text_of(task) and "4242424242" not in text_of(task)
    evidence = s.clean(
        exchange("GET", f"{TR}/filedownload", answer={"fileEvidence": [{"hostname": "fin-srv-07"}]})
    )
    assert (
        json.loads(evidence.response_body or b"")["fileEvidence"][0]["hostname"]
        == s.mapping()["hostnames"]["fin-srv-07"]
    )


def test_text_bodies_are_rewritten_token_by_token() -> None:
    s = learned(Sanitizer(pseudonymize=True))
    m = s.mapping()
    text = b"web-01 at 10.16.0.1 (client 2914149683); web-010 and 10.16.0.10 are other machines"
    e = s.clean(exchange("GET", f"{BASE}/log", answer_headers=[("content-type", "text/plain")], answer=text))
    host, ip, cid = m["hostnames"]["web-01"], m["ips"]["10.16.0.1"], m["client_ids"]["2914149683"]
    assert e.response_body == (
        f"{host} at {ip} (client {cid}); web-010 and 10.16.0.10 are other machines".encode()
    )


def test_users_ipv6_and_numeric_client_ids_are_replaced() -> None:
    s = Sanitizer(pseudonymize=True)
    current = s.clean(
        exchange("GET", f"{BASE}/api/v2/session/current", answer={"data": {"id": 1, "name": "jdoe"}})
    )
    assert json.loads(current.response_body or b"")["data"] == {"id": 1, "name": "user-0001"}
    e = s.clean(
        exchange(
            "GET",
            f"{BASE}/x",
            answer={"created_by": "CORP\\jdoe", "ip": "fe80::1", "clientId": 2914149683, "n": 2914149683},
        )
    )
    body = json.loads(e.response_body or b"")
    assert body["created_by"] == "user-0001"  # DOMAIN\user and the bare user name share one fake
    assert ipaddress.ip_address(body["ip"]) in ipaddress.ip_network("2001:db8::/32")
    assert isinstance(body["clientId"], int) and str(body["clientId"]).startswith("9")
    assert body["n"] == 2914149683  # a number under another key is not an identity


def test_short_identities_are_replaced_in_their_own_fields_only() -> None:
    """A two-letter hostname is replaced where it is a hostname, not wherever the letters appear."""
    s = Sanitizer(pseudonymize=True)
    e = s.clean(exchange("GET", f"{BASE}/x", answer={"hostname": "db", "clientId": "42", "note": "db 42 up"}))
    body = json.loads(e.response_body or b"")
    assert re.fullmatch(r"host-\d{4}", body["hostname"]) and body["clientId"] != "42"
    assert body["note"] == "db 42 up"


def test_the_upstream_host_is_pseudonymized_and_binary_bodies_are_kept() -> None:
    s = Sanitizer(pseudonymize=True)
    zipped = b"PK\x03\x04web-01\x00\xff"
    e = s.clean(
        exchange(
            "GET",
            f"{TR}/filedownload/data/u1",
            headers=[("host", "tanium.corp.example:8443"), ("session", TOKEN)],
            answer_headers=[("content-type", "application/zip")],
            answer=zipped,
        )
    )
    assert e.response_body == zipped
    assert "tanium.corp.example" not in text_of(e)
    assert e.url.startswith(f"http://{s.mapping()['hostnames']['tanium.corp.example']}:8443/")


def test_the_mapping_holds_identities_and_never_a_credential() -> None:
    s = learned(Sanitizer(pseudonymize=True))
    s.clean(
        exchange(
            "POST", f"{BASE}/api/v2/session/login", body={"username": "alice", "password": "pw-12345678"}
        )
    )
    mapping = json.dumps(s.mapping())
    assert "web-01" in mapping and "2914149683" in mapping
    assert TOKEN not in mapping and "pw-12345678" not in mapping


@pytest.mark.parametrize("value", ["undefined", "", "None", "localhost"])
def test_placeholder_host_names_are_not_identities(value: str) -> None:
    s = Sanitizer(pseudonymize=True)
    e = s.clean(exchange("POST", f"{TR}/conns/connect", answer=f"remote:{value}:123456:"))
    assert json.loads(e.response_body or b"").startswith(f"remote:{value}:")
