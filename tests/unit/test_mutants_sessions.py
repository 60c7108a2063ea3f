"""Tests that kill mutmut's survivors in simulator/state/sessions.py (docs/testing.md).

The login record's fields, the store counter its number comes from, the 401 texts, and the bulk expiry.
"""

from __future__ import annotations

import hashlib

import pytest

from simulator.errors import Forbidden, Unauthorized
from simulator.state.sessions import TABLE, SessionRecord, SessionService, expire_session
from simulator.state.store import MemoryStore


def _service(store: MemoryStore) -> SessionService:
    return SessionService(
        store,
        seed=3,
        token="api-token",
        token_issued_at=0.0,
        token_lifetime_s=1000.0,
        session_lifetime_s=60.0,
        username="qa",
        password="secret",
    )


def test_a_login_is_user_1_named_as_it_logged_in_from_now_for_its_lifetime() -> None:
    store = MemoryStore()
    record = _service(store).login("qa", "secret", now=10.0)
    assert (record.user_id, record.username, record.created_at, record.expires_at) == (1, "qa", 10.0, 70.0)
    assert store.get(TABLE, record.session) == record
    principal = _service(store).authenticate(record.session, now=11.0)
    assert (principal.user_id, principal.username, principal.via) == (1, "qa", "session")


def test_session_numbers_continue_the_stores_session_counter() -> None:
    # Several processes on one shared store number their sessions from the same counter.
    store = MemoryStore()
    store.next_id("session")
    store.next_id("session")
    assert _service(store).login("qa", "secret", now=0.0).session.startswith("1-3-")
    assert store.next_id("session") == 4


def test_bad_credentials_and_unknown_logouts_are_401_in_one_sentence() -> None:
    service = _service(MemoryStore())
    with pytest.raises(Unauthorized) as bad:
        service.login("qa", "wrong", now=0.0)
    assert bad.value.text == "401 Unauthorized: invalid username or password"
    with pytest.raises(Unauthorized) as unknown:
        service.logout("1-9-feed")
    assert unknown.value.text == "401 Unauthorized: unknown session"


def test_expire_session_says_whether_there_was_a_session() -> None:
    store = MemoryStore()
    store.put(TABLE, "1-1-ab", SessionRecord("1-1-ab", 1, "qa", created_at=0.0, expires_at=60.0))
    assert expire_session(store, "1-1-ab", now=5.0) is True
    assert expire_session(store, "1-2-cd", now=5.0) is False


def test_expire_all_expires_every_login_session_now_and_counts_them() -> None:
    store = MemoryStore()
    service = _service(store)
    assert service.expire_all(now=1.0) == 0
    sessions = [service.login("qa", "secret", now=0.0).session for _ in range(2)]
    assert service.expire_all(now=5.0) == 2
    for session in sessions:
        record = store.get(TABLE, session)
        assert record is not None and record.expires_at == 5.0
        with pytest.raises(Forbidden):
            service.authenticate(session, now=5.0)
    assert service.authenticate("api-token", now=5.0).via == "token"  # the API token is no login session


def test_the_session_secret_is_derived_from_the_seed_and_number() -> None:
    # Reproducible: the same seed gives the same sessions in every run (and every process).
    secret = hashlib.sha256(b"3:session:1").hexdigest()
    assert _service(MemoryStore()).login("qa", "secret", now=0.0).session == f"1-1-{secret}"


def test_authenticate_names_the_principal_and_each_refusal() -> None:
    store = MemoryStore()
    service = _service(store)
    token = service.authenticate("api-token", now=999.0)
    assert (token.user_id, token.username, token.via) == (1, "qa", "token")
    session = service.login("qa", "secret", now=0.0).session
    store.put(TABLE, "2-7-ee", SessionRecord("2-7-ee", 2, "other", created_at=0.0, expires_at=60.0))
    other = service.authenticate("2-7-ee", now=1.0)
    assert (other.user_id, other.username, other.via) == (2, "other", "session")
    refusals = {
        None: "401 Unauthorized: missing session header",
        "": "401 Unauthorized: missing session header",
        "1-9-nope": "401 Unauthorized: invalid session",
    }
    for credential, text in refusals.items():
        with pytest.raises(Unauthorized) as refused:
            service.authenticate(credential, now=1.0)
        assert refused.value.text == text
    with pytest.raises(Forbidden) as expired_token:
        service.authenticate("api-token", now=1000.0)  # issued at 0 for 1000 s: expired at 1000 exactly
    assert expired_token.value.text == "403 Forbidden: API token expired"
    with pytest.raises(Forbidden) as expired_session:
        service.authenticate(session, now=60.0)
    assert expired_session.value.text == "403 Forbidden: session expired"
