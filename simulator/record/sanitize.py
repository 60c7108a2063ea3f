"""What ``tanium-sim record`` takes out of an exchange before it is written: credentials, always; with
``pseudonymize=True``, the fleet's identities too.

Credentials become placeholders: the ``session`` header and every session the upstream issued (a login's
``data.session``, the plain-text body of ``POST /auth``) become ``<session-N>``, bearer tokens too; cookie
values ``<cookie-N>``; the login fields (``username``, ``password``, ``domain`` of
``/api/v2/session/login``, the ``username``/``password`` headers of ``/auth``) and HTTP Basic credentials
``<redacted>``. A token is replaced wherever it appears (headers, bodies, URLs), the same token by the same
placeholder. Values shorter than :data:`MIN_GLOBAL` characters are replaced in their own fields only
(a six-letter password would otherwise match ordinary words).

Identities: hostnames, IP addresses, clientIds and user names, learned structurally from the exchanges
(system_status rows, dec endpoints, connection objects and ids ``remote:<host>:<clientId>:<eid>``, task
metadata, evidence, the requests' query strings and JSON bodies, the upstream's own host), are replaced by
fakes of the same format: ``host-0001`` (``host-0001.domain-1.example`` for a dotted name), ``192.0.2.1``
(then 198.51.100.x, 203.0.113.x, 10.x), a clientId of as many digits starting with 9, ``user-0001``. JSON
is walked structurally; other text is rewritten token by token, so ``remote:web-01:123:2`` becomes
``remote:host-0001:901:2``. Binary bodies (evidence zips) are kept as they are.

>>> s = Sanitizer(pseudonymize=True)
>>> row = b'{"computer_id":"2914149683","host_name":"web-01","ipaddress_client":"10.1.2.3"}'
>>> e = s.clean(Exchange("GET", "http://10.9.8.7/api/v2/system_status", status=200,
...     request_headers=[("session", "token-0123abcd")],
...     response_headers=[("content-type", "application/json")], response_body=b'{"data":[' + row + b']}'))
>>> e.url, e.request_headers
('http://192.0.2.1/api/v2/system_status', [('session', '<session-1>')])
>>> e.response_body
b'{"data":[{"computer_id":"9000000001","host_name":"host-0001","ipaddress_client":"192.0.2.2"}]}'
>>> s.clean(Exchange("GET", "http://10.9.8.7/x/remote:web-01:2914149683:4", status=404)).url
'http://192.0.2.1/x/remote:host-0001:9000000001:4'
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from simulator.record.har import TEXT_TYPES, Exchange

REDACTED = "<redacted>"
MIN_GLOBAL = 8  # credentials at least this long are replaced everywhere, shorter ones in their fields
MIN_TOKEN = 3  # identities at least this long are replaced inside text, shorter ones in their fields

HOST_KEYS = frozenset({"hostname", "host_name", "computer_name", "computername", "fqdn"})
CLIENT_ID_KEYS = frozenset({"clientid", "client_id", "computer_id", "computerid"})
USER_KEYS = frozenset({"username", "user_name", "user", "created_by", "last_modified_by", "owner"})
LOGIN_FIELDS = frozenset({"username", "password", "domain"})
NOT_A_NAME = frozenset({"", "undefined", "none", "null", "localhost", REDACTED})

_TOKEN = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*"  # words, dotted names, IPv4 addresses, numbers
_CONNECTION_ID = re.compile(r"remote:([^:/\s\"]*):([^:/\s\"]*):")


def sanitizable(mime: str) -> bool:
    """A body the sanitizer reads (JSON, text, or untyped); binary bodies are kept as they are."""
    mime = mime.lower()
    return not mime or mime.startswith(TEXT_TYPES) or "json" in mime or "xml" in mime


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ip_key(key: str) -> bool:
    return key == "ip" or key.startswith("ip") or key.endswith("ip") or "address" in key


def _fake_ipv4() -> Iterator[str]:
    """Documentation ranges first (RFC 5737), then 10.255.x.y downwards."""
    for net in ("192.0.2", "198.51.100", "203.0.113"):
        for host in range(1, 255):
            yield f"{net}.{host}"
    for second in range(255, -1, -1):
        for third in range(256):
            for host in range(1, 255):
                yield f"10.{second}.{third}.{host}"


class Pseudonyms:
    """Consistent fakes for real identities: the same real value, the same fake, the format kept."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, str]] = {
            k: {} for k in ("hostnames", "domains", "ips", "client_ids", "users")
        }
        self.tokens: dict[str, str] = {}  # lower-case one-token real value -> fake (text rewriting)
        self.literals: dict[str, str] = {}  # values of several tokens (IPv6, DOMAIN\\user) -> fake
        self._reals: set[str] = set()
        self._issued: set[str] = set()
        self._counts: Counter[str] = Counter()
        self._ipv4 = _fake_ipv4()
        self._ips_seen: dict[str, str] = {}  # as written -> fake (parsing addresses is the slow part)

    def _index(self, real: str, fake: str) -> None:
        self._reals.add(real.lower())
        self._issued.add(fake)
        if re.fullmatch(_TOKEN, real):
            if len(real) >= MIN_TOKEN:
                self.tokens.setdefault(real.lower(), fake)
        else:
            self.literals.setdefault(real, fake)

    def _next(self, kind: str) -> int:
        self._counts[kind] += 1
        return self._counts[kind]

    def host(self, value: str) -> str | None:
        """The fake of a hostname (learning it): ``host-0001``, dotted names label by label."""
        real = value.strip()
        key = real.lower()
        if key in NOT_A_NAME:
            return None
        if key in self.tables["hostnames"]:
            return self.tables["hostnames"][key]
        if _is_ip(real):
            return self.ip(real)
        short, _, domain = key.partition(".")
        if domain and short:
            domains = self.tables["domains"]
            if domain not in domains:
                domains[domain] = f"domain-{self._next('domain')}.example"
                self._index(domain, domains[domain])
            fake = f"{self.host(short)}.{domains[domain]}"
        else:
            fake = f"host-{self._next('host'):04d}"
        self.tables["hostnames"][key] = fake
        self._index(real, fake)
        return fake

    def ip(self, value: str) -> str | None:
        """The fake of an IP address (learning it): IPv4 from documentation ranges, IPv6 in 2001:db8::."""
        real = value.strip()
        known = self._ips_seen.get(real)
        if known is not None:
            return known
        try:
            parsed = ipaddress.ip_address(real)
        except ValueError:
            return None
        key = str(parsed)
        table = self.tables["ips"]
        if key not in table:
            self._reals.add(key)
            if parsed.version == 4:
                fake = next(self._ipv4)
                while fake in self._reals:
                    fake = next(self._ipv4)
            else:
                fake = f"2001:db8::{self._next('ipv6'):x}"
            table[key] = fake
            self._index(key, fake)
        if real != key:
            self._index(real, table[key])
        self._ips_seen[real] = table[key]
        return table[key]

    def client_id(self, value: str) -> str | None:
        """The fake of a clientId (learning it): digits stay digits, as many, starting with 9."""
        real = value.strip()
        if real.lower() in NOT_A_NAME:
            return None
        table = self.tables["client_ids"]
        if real not in table:
            self._reals.add(real)
            fake = ""
            while not fake or fake in self._reals or fake in self._issued:
                n = self._next("client_id")
                if real.isdigit():
                    width = len(real) - 1
                    fake = f"9{n:0{width}d}" if width and n < 10**width else f"9{n}"
                else:
                    fake = f"client-{n:04d}"
            table[real] = fake
            self._index(real, fake)
        return table[real]

    def user(self, value: str) -> str | None:
        """The fake of a user name (learning it): ``user-0001``; ``CORP\\\\jdoe`` and ``jdoe`` share one."""
        real = value.strip()
        key = real.lower()
        if key in NOT_A_NAME:
            return None
        table = self.tables["users"]
        if key not in table:
            bare = re.split(r"[\\/]", real)[-1].split("@")[0]
            fake = self.user(bare) if bare and bare != real else None
            table[key] = fake or f"user-{self._next('user'):04d}"
            self._index(real, table[key])
        return table[key]

    def token(self, text: str) -> str:
        """One token of text with the identities it holds replaced (a dotted name label by label)."""
        hit = self.tokens.get(text.lower())
        if hit is not None or "." not in text:
            return text if hit is None else hit
        first, _, rest = text.partition(".")
        rest_hit = self.tokens.get(rest.lower())
        tail = (
            rest_hit
            if rest_hit is not None
            else ".".join(self.tokens.get(x.lower(), x) for x in rest.split("."))
        )
        return f"{self.tokens.get(first.lower(), first)}.{tail}"


class Sanitizer:
    """Learns the secrets (and identities) of each exchange, then returns it with them replaced.

    One sanitizer serves a whole recording: a token or host learned from one exchange is replaced in every
    later one. Values are learned from an exchange before it is rewritten, so a session a login response
    issues is already a placeholder in that response.
    """

    def __init__(self, *, pseudonymize: bool = False) -> None:
        self.pseudonyms = Pseudonyms() if pseudonymize else None
        self._secrets: dict[str, str] = {}  # real credential -> placeholder
        self._counts: Counter[str] = Counter()
        self._pattern: re.Pattern[str] | None = None
        self._pattern_key: tuple[int, int] = (-1, -1)

    def mapping(self) -> dict[str, dict[str, str]]:
        """Real -> fake for every identity learned (never a credential); empty without pseudonymize."""
        if self.pseudonyms is None:
            return {}
        return {kind: dict(table) for kind, table in self.pseudonyms.tables.items()}

    def clean(self, exchange: Exchange) -> Exchange:
        """The exchange with every credential (and identity) replaced; learns from it first."""
        where = _Where.of(exchange)
        self._learn(exchange, where)
        return dataclasses.replace(
            exchange,
            url=self._url(exchange.url, where),
            request_headers=[self._header(n, v, where) for n, v in exchange.request_headers],
            request_body=self._body(exchange.request_body, "", where.login),
            response_headers=[self._header(n, v, where) for n, v in exchange.response_headers],
            response_body=self._response_body(exchange, where),
            comment=self._text(exchange.comment),
        )

    # ----------------------------------------------------------------------- learning

    def _secret(self, value: str, kind: str) -> str:
        if not value:
            return value
        hit = self._secrets.get(value)
        if hit is None:
            self._counts[kind] += 1
            hit = self._secrets[value] = f"<{kind}-{self._counts[kind]}>"
        return hit

    def _credential(self, value: str) -> None:
        if value:
            self._secrets.setdefault(value, REDACTED)

    def _learn(self, exchange: Exchange, where: _Where) -> None:
        p = self.pseudonyms
        parts = urlsplit(exchange.url)
        if p is not None and parts.hostname:
            p.host(parts.hostname)
        for name, value in exchange.request_headers:
            self._learn_header(name.lower(), value)
        for name, value in exchange.response_headers:
            if name.lower() == "set-cookie":
                cookie = value.split(";", 1)[0]
                self._secret(cookie.partition("=")[2], "cookie")
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if where.login and key.lower() == "password":
                self._credential(value)
            self._learn_value(key, value)
        for segment in parts.path.split("/"):
            self._learn_value("", unquote(segment))
        request = _json(exchange.request_body)
        if where.login and isinstance(request, dict) and isinstance(request.get("password"), str):
            self._credential(request["password"])
        self._learn_json(request, "")
        if request is _NOT_JSON and exchange.request_body:
            self._learn_value("", exchange.request_body.decode("utf-8", "replace"))
        body = exchange.response_body
        if not body or not sanitizable(exchange.mime_type):
            return
        if p is None and b'"session"' not in body and not where.issues_session(exchange.status):
            return  # without pseudonyms, only sessions are learned from bodies
        doc = _json(body)
        if doc is _NOT_JSON:
            text = body.decode("utf-8", "replace")
            if where.issues_session(exchange.status):
                self._secret(text.strip(), "session")
            self._learn_value("", text)
            return
        self._learn_json(doc, "")
        if p is not None and where.current and isinstance(doc, dict) and isinstance(doc.get("data"), dict):
            name = doc["data"].get("name")
            if isinstance(name, str):
                p.user(name)

    def _learn_header(self, name: str, value: str) -> None:
        if name == "session":
            self._secret(value, "session")
        elif name in ("authorization", "proxy-authorization"):
            scheme, _, credentials = value.partition(" ")
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    decoded = ""
                self._credential(decoded.partition(":")[2])
                self._credential(credentials)
            else:
                self._secret(credentials or value, "session")
        elif name == "cookie":
            for pair in value.split(";"):
                self._secret(pair.partition("=")[2].strip(), "cookie")

    def _learn_json(self, node: Any, key: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                self._learn_json(v, str(k))
        elif isinstance(node, list):
            for v in node:
                self._learn_json(v, key)
        elif isinstance(node, str):
            self._learn_value(key, node)
        elif _is_int(node) and self.pseudonyms is not None and key.lower() in CLIENT_ID_KEYS:
            self.pseudonyms.client_id(str(node))

    def _learn_value(self, key: str, value: str) -> None:
        k = key.lower()
        if k == "session":
            self._secret(value, "session")
        p = self.pseudonyms
        if p is None or not value:
            return
        if k in HOST_KEYS:
            p.host(value)
        elif k in CLIENT_ID_KEYS:
            p.client_id(value)
        elif k in USER_KEYS:
            p.user(value)
        elif _ip_key(k):
            p.ip(value)
        if "remote:" in value:
            for match in _CONNECTION_ID.finditer(value):
                p.host(match.group(1))
                p.client_id(match.group(2))

    # ----------------------------------------------------------------------- rewriting

    def _compiled(self) -> re.Pattern[str] | None:
        p = self.pseudonyms
        key = (len(self._secrets), len(p.literals) if p is not None else 0)
        if key != self._pattern_key:
            literals = [s for s in self._secrets if len(s) >= MIN_GLOBAL]
            literals += list(p.literals) if p is not None else []
            alternatives = []
            if literals:
                alternatives.append(
                    "(?P<lit>" + "|".join(re.escape(s) for s in sorted(literals, key=len, reverse=True)) + ")"
                )
            if p is not None:
                alternatives.append(_TOKEN)
            self._pattern = re.compile("|".join(alternatives)) if alternatives else None
            self._pattern_key = key
        return self._pattern

    def _swap(self, match: re.Match[str]) -> str:
        text = match.group(0)
        p = self.pseudonyms
        if match.lastgroup == "lit":
            hit = self._secrets.get(text)
            if hit is None and p is not None:
                hit = p.literals.get(text)
            return text if hit is None else hit
        return p.token(text) if p is not None else text

    def _text(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        return pattern.sub(self._swap, text)

    def _value(self, key: str, value: str, redact: frozenset[str] = frozenset()) -> str:
        """One string field: whole-value replacement by its key, else the text rewrite."""
        k = key.lower()
        if k in redact:
            return REDACTED
        if k == "session" and value in self._secrets:
            return self._secrets[value]
        p = self.pseudonyms
        if p is not None and value:
            fake = None
            if k in HOST_KEYS:
                fake = p.host(value)
            elif k in CLIENT_ID_KEYS:
                fake = p.client_id(value)
            elif k in USER_KEYS:
                fake = p.user(value)
            elif _ip_key(k):
                fake = p.ip(value)
            if fake is not None:
                return fake
        return self._text(value)

    def _rewrite_json(self, node: Any, key: str, redact: frozenset[str]) -> Any:
        if isinstance(node, dict):
            return {self._text(str(k)): self._rewrite_json(v, str(k), redact) for k, v in node.items()}
        if isinstance(node, list):
            return [self._rewrite_json(v, key, redact) for v in node]
        if isinstance(node, str):
            return self._value(key, node, redact)
        p = self.pseudonyms
        if p is not None and _is_int(node) and key.lower() in CLIENT_ID_KEYS:
            fake = p.client_id(str(node)) or str(node)
            return int(fake) if fake.isdigit() else fake
        return node

    def _body(self, body: bytes, mime: str, login: bool) -> bytes:
        if not body or not sanitizable(mime):
            return body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body
        if self.pseudonyms is None and not login and '"session"' not in text:
            pattern = self._compiled()  # credentials only: most bodies hold none, keep their bytes
            if pattern is None or pattern.search(text) is None:
                return body
        doc = _json(body)
        if doc is _NOT_JSON:
            new = self._text(text)
            return body if new == text else new.encode("utf-8")
        rewritten = self._rewrite_json(doc, "", LOGIN_FIELDS if login else frozenset())
        if rewritten == doc:
            return body
        compact = '": ' not in text and '", "' not in text
        separators = (",", ":") if compact else (", ", ": ")
        return json.dumps(rewritten, ensure_ascii=False, separators=separators).encode("utf-8")

    def _response_body(self, exchange: Exchange, where: _Where) -> bytes | None:
        body = exchange.response_body
        if body is None:
            return None
        if (
            where.issues_session(exchange.status)
            and sanitizable(exchange.mime_type)
            and _json(body) is _NOT_JSON
        ):
            session = body.decode("utf-8", "replace").strip()  # POST /auth: the body is the session
            if session:
                return body.replace(session.encode("utf-8"), self._secrets.get(session, REDACTED).encode())
        return self._body(body, exchange.mime_type, False)

    def _header(self, name: str, value: str, where: _Where) -> tuple[str, str]:
        n = name.lower()
        if n == "session":
            return name, self._secrets.get(value, REDACTED) if value else value
        if n in ("authorization", "proxy-authorization"):
            scheme, _, credentials = value.partition(" ")
            if scheme.lower() == "basic" or not credentials:
                return name, f"{scheme} {REDACTED}" if credentials else REDACTED
            return name, f"{scheme} {self._secrets.get(credentials, REDACTED)}"
        if n in ("username", "password") or (n == "domain" and where.auth):
            return name, REDACTED
        if n == "cookie":
            pairs = [pair.strip().partition("=") for pair in value.split(";") if pair.strip()]
            return name, "; ".join(f"{k}={self._secrets.get(v, REDACTED)}" for k, _, v in pairs)
        if n == "set-cookie":
            cookie, sep, attributes = value.partition(";")
            key, _, secret = cookie.partition("=")
            return name, f"{key}={self._secrets.get(secret, REDACTED)}{sep}{self._text(attributes)}"
        return name, self._text(value)

    def _url(self, url: str, where: _Where) -> str:
        parts = urlsplit(url)
        netloc = parts.netloc
        p = self.pseudonyms
        if p is not None and parts.hostname:
            fake = p.host(parts.hostname)
            if fake is not None:
                netloc = netloc.replace(parts.hostname, fake)
        segments = []
        for segment in parts.path.split("/"):
            plain = unquote(segment)
            new = self._text(plain)
            segments.append(segment if new == plain else quote(new, safe=":@"))
        query = parts.query
        if query:
            redact = LOGIN_FIELDS if where.login else frozenset()
            pairs = parse_qsl(query, keep_blank_values=True)
            rewritten = [(self._text(k), self._value(k, v, redact)) for k, v in pairs]
            if rewritten != pairs:
                query = urlencode(rewritten, quote_via=quote, safe=":@<>")
        return urlunsplit((parts.scheme, netloc, "/".join(segments), query, parts.fragment))


_NOT_JSON = object()


def _json(body: bytes) -> Any:
    """The JSON object, array or string of a body, or ``_NOT_JSON`` (numbers and the like are text)."""
    if not body:
        return _NOT_JSON
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON
    return doc if isinstance(doc, dict | list | str) else _NOT_JSON


@dataclasses.dataclass(frozen=True)
class _Where:
    """Which credential-bearing operation an exchange is (by its path)."""

    login: bool
    auth: bool
    current: bool

    @classmethod
    def of(cls, exchange: Exchange) -> _Where:
        path = exchange.path.rstrip("/")
        return cls(
            login=path.endswith("/api/v2/session/login"),
            auth=exchange.method == "POST" and (path == "/auth" or path.endswith("/auth")),
            current=path.endswith("/api/v2/session/current"),
        )

    def issues_session(self, status: int) -> bool:
        """``POST /auth`` answered 2xx: its plain-text body is a session."""
        return self.auth and 200 <= status < 300


__all__ = ["MIN_GLOBAL", "REDACTED", "Pseudonyms", "Sanitizer", "sanitizable"]
