"""Collect many endpoints at once: the engine behind ``tanium-sim collect`` and ``tanium-sim run``.

>>> options = CollectOptions(
...     url, token=token, username=None, password=None, domain=None, client_ids=("101", "102"),
...     all=False, out=Path("out"), concurrency=8, deadline_s=600.0, request_timeout_s=60.0,
...     trace_path=None,
... )  # doctest: +SKIP
>>> started = time.monotonic()  # doctest: +SKIP
>>> outcomes, fatal = await collect_many(options)  # doctest: +SKIP
>>> write_summary(options, outcomes, started, fatal)  # doctest: +SKIP
PosixPath('out/summary.json')

:func:`collect_endpoint` collects one endpoint (the full trace, or with ``diff`` the diff trace against
the inventory kept in ``out``) and never raises for a failed endpoint: its :class:`EndpointOutcome`
says why. :func:`collect_many` lists the fleet (``all``), or checks the given client ids against it
(an id the fleet does not list fails at once, reason ``unknown_endpoint``, instead of waiting out the
deadline for a connection that never comes), and collects every endpoint with bounded concurrency on
one client (one session), reporting each finished endpoint to a :class:`CollectProgress` if given one.
A certificate the client refuses is described once (:func:`server_certificate_note`: the issuer and the
SHA-256 fingerprint of the CA the server sends, against those of ``--ca-bundle``) and that note ends
every ``tls`` failure's message. :func:`write_summary` writes ``out/summary.json`` (no credential in it).

Each outcome also tells what happened on the way (:meth:`EndpointOutcome.notes`): every request sent
again for the endpoint and why (``retries``, :mod:`client._retry_log`: a 429 or 5xx, a reset, a
timeout, a re-login, a download fetched again), and with ``diff`` why the full trace was pulled
instead of a diff (``diff.full_reason``, :data:`client._diff.FULL_REASONS`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import ssl
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from client._client import AsyncTaniumClient
from client._diff import collect_inventory
from client._errors import TaniumError
from client._findings import summarize
from client._policy import RequestPolicy, SingleAttempt
from client._retry import RetryPolicy, Sleep
from client._retry_log import RetryLog, describe_retries, record_retries, sum_retries
from client._trace import open_trace
from client._workflow import PollPolicy, collect_trace


@dataclass(frozen=True)
class CollectOptions:
    """What to collect, from where, and how (a validated ``tanium-sim collect`` command line)."""

    url: str
    token: str | None
    username: str | None
    password: str | None
    domain: str | None
    client_ids: tuple[str, ...]
    all: bool
    out: Path
    concurrency: int
    deadline_s: float
    request_timeout_s: float
    trace_path: str | None
    ca_bundle: Path | None = None  # --ca-bundle or $SSL_CERT_FILE
    insecure: bool = False  # --insecure: no certificate verification at all
    poll_interval_s: float = 2.0  # first wait between polls of connections and tasks (backs off from there)
    retries: int = 3  # --retries / --no-retry: retries per request (client._retry.RetryPolicy)
    diff: bool = False  # --diff: pull diff traces against the inventories kept in OUT (client._diff)

    def verify(self) -> bool | ssl.SSLContext:
        """What httpx needs: a context trusting only the bundle, False for --insecure, else True."""
        if self.insecure:
            return False
        if self.ca_bundle is not None:
            return ssl.create_default_context(cafile=str(self.ca_bundle))
        return True

    def policy(self, *, sleep: Sleep | None = None) -> RequestPolicy:
        """The retry policy for ``retries`` (short backoffs: a CLI user is waiting); ``sleep`` for tests.

        ``retry_unsafe``: the CLI's only POSTs are the workflow's, which finds and cleans the
        duplicates a repeated connect or file request may leave (client/_workflow.py).
        """
        if self.retries < 1:
            return SingleAttempt()
        return RetryPolicy(
            attempts=self.retries + 1,
            initial_s=0.2,
            max_backoff_s=10.0,
            retry_unsafe=True,
            sleep=sleep or asyncio.sleep,
        )


@dataclass
class EndpointOutcome:
    """One endpoint's line in summary.json."""

    client_id: str
    status: str = "failed"  # ok | failed
    reason: str | None = None
    message: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    trace_path: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    inventory: dict[str, Any] | None = None
    diff: dict[str, Any] | None = None  # --diff only: mode, bytes transferred, full-trace bytes, full_reason
    retries: dict[str, Any] = field(default_factory=lambda: RetryLog().to_dict())  # what was sent again

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v for k, v in self.__dict__.items() if k != "client_id" and not (k == "diff" and v is None)
        }

    def notes(self) -> list[str]:
        """What a report line adds about this endpoint: why a full trace (``--diff``), what was retried.

        >>> EndpointOutcome("101", "ok", diff={"mode": "full", "full_reason": "no_previous_inventory"},
        ...     retries={"count": 2, "reasons": {"503": 2}, "retry_after_honoured": 2}).notes()
        ... # doctest: +NORMALIZE_WHITESPACE
        ['full trace, not a diff: no_previous_inventory',
         "retried 2× (2×503; 2 after the server's Retry-After)"]
        """
        notes: list[str] = []
        if self.diff is not None and self.diff.get("mode") == "full" and self.diff.get("full_reason"):
            detail = self.diff.get("full_detail")
            notes.append(
                f"full trace, not a diff: {self.diff['full_reason']}" + (f" ({detail})" if detail else "")
            )
        retried = describe_retries(self.retries)
        if retried:
            notes.append(retried)
        return notes


class CollectProgress(Protocol):
    """Told how :func:`collect_many` is getting on (``tanium-sim collect`` draws a progress bar)."""

    def start(self, total: int) -> None:
        """The fleet is known: ``total`` endpoints are about to be collected."""

    def update(self, outcome: EndpointOutcome) -> None:
        """One endpoint is done, ``ok`` or ``failed``."""

    def stop(self) -> None:
        """Every endpoint is done (or the collection was interrupted)."""


def _fingerprint(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def _common_name(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else name.rfc4514_string()


def _peer_chain(url: str, timeout_s: float) -> list[bytes]:
    """The certificates the server at ``url`` sends (DER, its own first), NOT verified: diagnosis only."""
    target = httpx.URL(url)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    host = target.host
    with (
        socket.create_connection((host, target.port or 443), timeout=timeout_s) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        public = getattr(tls, "get_unverified_chain", None)  # Python 3.13+
        inner = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)  # 3.10-3.12
        if public is not None:
            return [bytes(der) for der in public() or []]
        if inner is not None:
            import _ssl

            return [cert.public_bytes(_ssl.ENCODING_DER) for cert in inner() or []]
        leaf = tls.getpeercert(binary_form=True)
        return [leaf] if leaf else []


def server_certificate_note(url: str, ca_bundle: Path | None = None, *, timeout_s: float = 10.0) -> str:
    """Who signed the certificate of the https server at ``url``, to compare with the CA one trusts.

    ``""`` when it cannot be told (plain HTTP, no answer) or when ``ca_bundle`` holds the very CA that
    signed it (then trust is not the problem). The CA's fingerprint is the SHA-256 that
    ``tanium-sim tls export-ca`` and ``keytool -list`` print; the simulator sends its CA after its
    certificate, a server that does not gets the issuer's name and key id instead.

    >>> server_certificate_note("https://127.0.0.1:8443", Path("ca.pem"))  # doctest: +SKIP
    "its certificate was issued by 'tanium-sim local CA 1f2e3d4c' (CA SHA-256 3F:9A:...); ca.pem holds ..."
    """
    if httpx.URL(url).scheme != "https":
        return ""
    try:
        chain = [x509.load_der_x509_certificate(der) for der in _peer_chain(url, timeout_s)]
    except (OSError, ValueError):  # ssl.SSLError is an OSError: not TLS at all, or no answer
        return ""
    if not chain:
        return ""
    trusted: list[x509.Certificate] = []
    if ca_bundle is not None:
        try:
            trusted = x509.load_pem_x509_certificates(ca_bundle.read_bytes())
        except (OSError, ValueError):
            trusted = []
    held = [_fingerprint(c.public_bytes(Encoding.DER)) for c in trusted]
    leaf = chain[0]
    issuer = _common_name(leaf.issuer)
    signer = next((c for c in chain[1:] if c.subject == leaf.issuer), None)
    if signer is not None:
        signer_sha = _fingerprint(signer.public_bytes(Encoding.DER))
        if signer_sha in held:
            return ""  # the right CA is trusted: the sentence already names the problem (date, name)
        note = f"its certificate was issued by {issuer!r} (CA SHA-256 {signer_sha})"
    else:
        try:
            key_id = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        except x509.ExtensionNotFound:
            key_id = None
        known = f" (CA key id {key_id.hex(':').upper()})" if key_id else ""
        note = f"its certificate was issued by {issuer!r}{known}, a CA the server did not send"
    if ca_bundle is not None:
        more = f" and {len(held) - 3} more" if len(held) > 3 else ""
        note += f"; {ca_bundle} holds SHA-256 {', '.join(held[:3]) or 'no certificate'}{more}"
    return note


def _read_inventory(path: Path) -> dict[str, Any]:
    with open_trace(path) as reader:
        return dict(summarize(reader).to_dict())


async def collect_endpoint(
    client: AsyncTaniumClient, client_id: str, options: CollectOptions, *, sleep: Sleep | None = None
) -> EndpointOutcome:
    """Collects one endpoint as ``options`` say; a failure is the outcome's ``reason``, never raised.

    What was retried on the way is the outcome's ``retries`` (every request this call makes is noted
    there, :mod:`client._retry_log`). ``sleep`` replaces ``asyncio.sleep`` between polls (tests).

    >>> outcome = await collect_endpoint(tanium, "101", options)  # doctest: +SKIP
    >>> outcome.status, outcome.reason, outcome.inventory["record_count"]  # doctest: +SKIP
    ('ok', None, 212)
    """
    with record_retries() as retries:
        outcome = await _collect_endpoint(client, client_id, options, sleep)
    outcome.retries = retries.to_dict()
    return outcome


async def _collect_endpoint(
    client: AsyncTaniumClient, client_id: str, options: CollectOptions, sleep: Sleep | None
) -> EndpointOutcome:
    outcome = EndpointOutcome(client_id)
    started = time.monotonic()
    poll = PollPolicy(interval_s=options.poll_interval_s)
    try:
        if options.diff:
            pulled = await collect_inventory(
                client,
                client_id,
                dest=options.out,
                path=options.trace_path,
                deadline_s=options.deadline_s,
                poll=poll,
                sleep=sleep or asyncio.sleep,
            )
            result = pulled.last
            outcome.diff = pulled.to_dict()
            outcome.bytes = pulled.trace_path.stat().st_size
            outcome.sha256 = pulled.trace_sha256
            result = replace(result, trace_path=pulled.trace_path, warnings=pulled.warnings)
        else:
            result = await collect_trace(
                client,
                client_id,
                dest=options.out,
                path=options.trace_path,
                deadline_s=options.deadline_s,
                poll=poll,
                sleep=sleep or asyncio.sleep,
            )
            outcome.bytes, outcome.sha256 = result.bytes, result.sha256
        outcome.trace_path = str(result.trace_path)
        outcome.timings = dict(result.timings)
        outcome.warnings = list(result.warnings)
        outcome.status = "ok"
        try:
            outcome.inventory = await asyncio.to_thread(_read_inventory, result.trace_path)
        except ValueError as exc:  # e.g. no scan_time: the trace is kept, not counted
            outcome.warnings.append(f"no inventory for this trace: {exc}")
    except TaniumError as exc:  # TraceFormatError too: a trace that does not parse
        outcome.status = "failed"
        outcome.reason, outcome.message = exc.reason, str(exc)
    except OSError as exc:
        outcome.status = "failed"
        outcome.reason, outcome.message = "local_io", f"could not write the trace: {exc}"
    except Exception as exc:  # a bug for one endpoint must not lose the others' results
        outcome.status = "failed"
        outcome.reason, outcome.message = "internal", f"{type(exc).__name__}: {exc}"
    outcome.timings.setdefault("total_s", time.monotonic() - started)
    return outcome


async def collect_many(
    options: CollectOptions,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: CollectProgress | None = None,
    sleep: Sleep | None = None,
) -> tuple[list[EndpointOutcome], str | None]:
    """Collects every endpoint with bounded concurrency; returns the outcomes and a fatal error, if any.

    The outcomes follow ``options.client_ids`` (or the fleet's order with ``all``). ``transport`` (an
    httpx transport) and ``sleep`` (every wait: retry backoffs, Retry-After, polls) are for tests:
    ``httpx.ASGITransport(app)`` runs in-process.
    """
    timeout = httpx.Timeout(options.request_timeout_s, connect=min(10.0, options.request_timeout_s))
    options.out.mkdir(parents=True, exist_ok=True)
    async with AsyncTaniumClient(
        options.url,
        token=options.token,
        username=options.username,
        password=options.password,
        domain=options.domain,
        timeout=timeout,
        verify=options.verify(),
        policy=options.policy(sleep=sleep),
        transport=transport,
    ) as client:
        client_ids = list(options.client_ids)
        listed: set[str] | None = None
        try:
            fleet = [e.computer_id for e in await client.system_status()]
        except TaniumError as exc:
            if options.all:
                note = await _tls_note(options, exc.reason)
                return [], f"could not list the endpoints: {exc}{note}"
            # For explicit ids the listing is only a courtesy (the token may lack that permission).
        else:
            listed = set(fleet)
            if options.all:
                client_ids = list(dict.fromkeys(fleet))
        outcomes = [EndpointOutcome(cid) for cid in client_ids]
        semaphore = asyncio.Semaphore(options.concurrency)
        note_lock = asyncio.Lock()
        notes: dict[str, str] = {}

        async def one(index: int) -> None:
            cid = client_ids[index]
            async with semaphore:
                if listed is not None and cid not in listed:
                    outcomes[index] = EndpointOutcome(
                        cid,
                        reason="unknown_endpoint",
                        message=f"endpoint {cid} is unknown or offline: the server's system status does not "
                        "list it; check the client id",
                    )
                else:
                    outcomes[index] = await collect_endpoint(client, cid, options, sleep=sleep)
                if outcomes[index].reason == "tls":
                    async with note_lock:  # one probe of the server, however many endpoints fail
                        if "tls" not in notes:
                            notes["tls"] = await _tls_note(options, "tls")
                    outcomes[index].message = f"{outcomes[index].message}{notes['tls']}"
                if progress is not None:
                    progress.update(outcomes[index])

        if progress is not None:
            progress.start(len(outcomes))
        try:
            async with asyncio.TaskGroup() as group:
                for index in range(len(outcomes)):
                    group.create_task(one(index))
        finally:
            if progress is not None:
                progress.stop()
    return outcomes, None


async def _tls_note(options: CollectOptions, reason: str | None) -> str:
    if reason != "tls" or options.insecure:
        return ""
    timeout = min(10.0, options.request_timeout_s)
    note = await asyncio.to_thread(server_certificate_note, options.url, options.ca_bundle, timeout_s=timeout)
    return f" ({note})" if note else ""


def transfer_totals(outcomes: list[EndpointOutcome]) -> dict[str, Any]:
    """``--diff``: bytes downloaded vs what full traces would have taken, and pulls by mode."""
    done = [o.diff for o in outcomes if o.diff is not None]
    moved = sum(int(d["bytes_transferred"]) for d in done)
    full = sum(int(d["full_trace_bytes"]) for d in done)
    modes: dict[str, int] = {}
    full_reasons: dict[str, int] = {}
    for d in done:
        modes[d["mode"]] = modes.get(d["mode"], 0) + 1
        if d.get("full_reason"):
            full_reasons[d["full_reason"]] = full_reasons.get(d["full_reason"], 0) + 1
    return {
        "bytes_transferred": moved,
        "full_trace_bytes": full,
        "ratio": round(moved / full, 4) if full else None,
        "modes": dict(sorted(modes.items())),
        "full_reasons": dict(sorted(full_reasons.items())),
    }


def retry_totals(outcomes: list[EndpointOutcome]) -> dict[str, Any]:
    """``summary.json``'s top-level ``retries``: every endpoint's retries added up.

    ``count``, ``reasons`` (reason -> retries), ``retry_after_honoured``, ``waited_s`` and
    ``endpoints_retried`` (endpoints with at least one retry).
    """
    return sum_retries(o.retries for o in outcomes)


def write_summary(
    options: CollectOptions, outcomes: list[EndpointOutcome], started: float, fatal: str | None
) -> Path:
    """Writes OUT/summary.json atomically (no credential in it); ``started`` is a ``time.monotonic()``."""
    ok = sum(o.status == "ok" for o in outcomes)
    summary = {
        "url": options.url,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_s": round(time.monotonic() - started, 3),
        "error": fatal,
        "counts": {"total": len(outcomes), "ok": ok, "failed": len(outcomes) - ok},
        **({"transfer": transfer_totals(outcomes)} if options.diff else {}),
        "retries": retry_totals(outcomes),
        "endpoints": {o.client_id: o.to_dict() for o in outcomes},
    }
    options.out.mkdir(parents=True, exist_ok=True)
    path = options.out / "summary.json"
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


__all__ = [
    "CollectOptions",
    "CollectProgress",
    "EndpointOutcome",
    "collect_endpoint",
    "collect_many",
    "retry_totals",
    "transfer_totals",
    "write_summary",
]
