"""Platform sessions: the configured API token and username/password login sessions.

A credential arrives in the ``session`` header. Unknown or missing -> 401; known but past its
lifetime -> 403 (clients read 403 as "session expired", log in again and retry once).

:func:`expire_session` and :func:`invalidate_session` end one login session in the store, as the
server does when it declares a session expired or forgets it; the scenario faults
``session_expired``/``session_invalid`` use them, so the session they answered for stays ended:

>>> from simulator.state.store import MemoryStore
>>> store = MemoryStore()
>>> store.put(TABLE, "1-1-ab", SessionRecord("1-1-ab", 1, "qa", created_at=0.0, expires_at=60.0))
True
>>> expire_session(store, "1-1-ab", now=5.0), store.get(TABLE, "1-1-ab").expires_at
(True, 5.0)
>>> invalidate_session(store, "1-1-ab"), invalidate_session(store, "1-1-ab")
(True, False)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from simulator.errors import Forbidden, Unauthorized
from simulator.state.store import Store

TABLE = "sessions"


@dataclass(frozen=True)
class SessionRecord:
    """One login session (``1-<n>-<64 hex>``, user id before the first dash)."""

    session: str
    user_id: int
    username: str
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class Principal:
    """Who a request is: the user behind a token or a login session."""

    user_id: int
    username: str
    via: str  # "token" | "session"


def expire_session(store: Store, session: str, now: float) -> bool:
    """Expire one login session at ``now`` (then 403); False when the store holds no such session.

    One atomic :meth:`Store.update`, so it works on every store and never revives a logged-out session.
    """
    expired = store.update(TABLE, session, lambda r: replace(r, expires_at=min(r.expires_at, now)))
    return expired is not None


def invalidate_session(store: Store, session: str) -> bool:
    """Forget one login session (then 401, as after a logout); False when there was no such session."""
    return store.delete(TABLE, session)


class SessionService:
    """Logins, validation and the check every vendor route makes."""

    def __init__(
        self,
        store: Store,
        *,
        seed: int,
        token: str,
        token_issued_at: float,
        token_lifetime_s: float,
        session_lifetime_s: float,
        username: str,
        password: str,
    ) -> None:
        self._store = store
        self._seed = seed
        self._token = token
        self._token_expires_at = token_issued_at + token_lifetime_s
        self.session_lifetime_s = session_lifetime_s
        self._username = username
        self._password = password

    def login(self, username: str, password: str, now: float) -> SessionRecord:
        if username != self._username or password != self._password:
            raise Unauthorized("invalid username or password")
        n = self._store.next_id("session")
        secret = hashlib.sha256(f"{self._seed}:session:{n}".encode()).hexdigest()
        record = SessionRecord(
            session=f"1-{n}-{secret}",
            user_id=1,
            username=username,
            created_at=now,
            expires_at=now + self.session_lifetime_s,
        )
        self._store.put(TABLE, record.session, record)
        return record

    def logout(self, session: str) -> None:
        if not self._store.delete(TABLE, session):
            raise Unauthorized("unknown session")

    def authenticate(self, credential: str | None, now: float) -> Principal:
        """The principal behind a ``session`` header value, or 401/403."""
        if not credential:
            raise Unauthorized("missing session header")
        if credential == self._token:
            if now >= self._token_expires_at:
                raise Forbidden("API token expired")
            return Principal(user_id=1, username=self._username, via="token")
        record: SessionRecord | None = self._store.get(TABLE, credential)
        if record is None:
            raise Unauthorized("invalid session")
        if now >= record.expires_at:
            raise Forbidden("session expired")
        return Principal(user_id=record.user_id, username=record.username, via="session")

    def expire_all(self, now: float) -> int:
        """Expire every login session now (used by the control namespace and scenarios)."""
        # A logout meanwhile stays a logout: expire_session never recreates a session.
        return sum(expire_session(self._store, record.session, now) for record in self._store.values(TABLE))
