"""``tanium-sim record``: a recording proxy in front of a Tanium (or a tanium-sim), writing a HAR.

    tanium-sim record --upstream https://tanium.example.com --out session.har --ca-bundle corp-ca.pem
    tanium-sim collect --url http://127.0.0.1:8081 --token token-... --all   # through the proxy

Prints one line with the proxy's URL; Ctrl-C (or SIGTERM) finishes the HAR and prints how many exchanges
it holds. Credentials are always replaced by placeholders; ``--pseudonymize`` replaces the fleet's
identities too (docs/recording.md). The proxy itself is :mod:`simulator.record.proxy`.
"""

from __future__ import annotations

import argparse
import re

from simulator.cli.types import UsageError

DEFAULT_LISTEN = "127.0.0.1:8081"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8081`` for IPv6; port 0: any free port).

    >>> listen_address("127.0.0.1:0")
    ('127.0.0.1', 0)
    >>> listen_address("[::1]:8081")
    ('::1', 8081)
    """
    host, _, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT with a port from 0 to 65535")
    return host, int(port)


def byte_size(text: str) -> int:
    """A number of bytes, with an optional K, M or G (binary units): ``500000``, ``64K``, ``10M``.

    >>> byte_size("10M")
    10485760
    """
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, flags=re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of bytes (like 500000, 64K or 10M)")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "record",
        help="record a client's exchanges with a Tanium (or a tanium-sim) into a HAR, through a proxy",
        description="A recording proxy: point a client at it and every exchange with the upstream is "
        "written to a HAR, credentials replaced by placeholders. Ctrl-C finishes the file. "
        "See docs/recording.md.",
    )
    p.add_argument("--upstream", required=True, metavar="URL", help="the server to forward to: https://HOST")
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="the HAR file to write (bodies over 1 MiB go beside it: session.har -> session.bodies/)",
    )
    p.add_argument(
        "--listen",
        type=listen_address,
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"where the proxy listens (default {DEFAULT_LISTEN}; port 0 = any free port)",
    )
    trust = p.add_mutually_exclusive_group()
    trust.add_argument(
        "--ca-bundle",
        metavar="FILE",
        help="PEM file of the CA(s) to trust for an https upstream (default: $SSL_CERT_FILE, else the "
        "system's)",
    )
    trust.add_argument(
        "--insecure",
        action="store_true",
        help="do NOT verify the upstream's certificate (testing only)",
    )
    p.add_argument(
        "--max-body",
        type=byte_size,
        metavar="BYTES",
        help="keep only the size and SHA-256 of bodies larger than this (e.g. 10M; default: keep all)",
    )
    p.add_argument(
        "--no-side-files",
        action="store_true",
        help="keep only the size and SHA-256 of bodies over 1 MiB instead of writing side files",
    )
    p.add_argument(
        "--pseudonymize",
        action="store_true",
        help="also replace hostnames, IP addresses, user names and clientIds by consistent fakes",
    )
    p.add_argument(
        "--mapping-out",
        metavar="FILE",
        help="with --pseudonymize: write the real -> fake mapping to FILE (mode 0600; keep it private)",
    )
    p.set_defaults(func=_record)


def _upstream(text: str) -> str:
    import httpx

    try:
        url = httpx.URL(text.strip())
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"--upstream {text!r} is not a server URL: use https://HOST or http://HOST:PORT")
    if url.userinfo:
        raise UsageError("--upstream must not hold credentials: the client sends its own, through the proxy")
    if url.query or url.fragment:
        raise UsageError(f"--upstream {text!r} has a query or fragment: give the server's base URL only")
    return str(url).rstrip("/")


def _check_writable(path: str, what: str) -> None:
    """Fail now, not after a recording, when ``path`` cannot be written (created empty, mode 0600)."""
    import os

    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path} ({exc.strerror}): choose another file") from None


def _write_private(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` at once, readable only by its owner."""
    import os

    partial = f"{path}.partial-{os.getpid()}"
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(partial, path)


def _record(args: argparse.Namespace) -> int:
    import json
    import os
    import signal
    import ssl
    import sys
    import threading
    from pathlib import Path
    from types import FrameType

    import uvicorn

    from simulator.cli.collect import ca_bundle_from_args
    from simulator.record.har import HarWriter
    from simulator.record.proxy import RecordingProxy, listen_socket, proxy_config
    from simulator.record.sanitize import Sanitizer

    upstream = _upstream(args.upstream)
    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder: give the HAR file's name, like {out / 'session.har'}")
    if args.mapping_out and not args.pseudonymize:
        raise UsageError("--mapping-out needs --pseudonymize: without it nothing is replaced by fakes")
    if args.mapping_out and Path(args.mapping_out).resolve() == out.resolve():
        raise UsageError("--mapping-out and --out name the same file: choose two files")
    ca_bundle = ca_bundle_from_args(args, dict(os.environ))
    verify: ssl.SSLContext | bool = not args.insecure
    if ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(ca_bundle))
    if args.mapping_out:
        _check_writable(args.mapping_out, "--mapping-out")
    host, port = args.listen
    try:
        sock = listen_socket(host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); try another --listen") from None
    try:
        har = HarWriter(out, side_files=not args.no_side_files)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot write --out {out} ({exc.strerror}): choose another file") from None
    if args.insecure:
        print(
            "WARNING: --insecure: the upstream's certificate is NOT verified; anyone on the network path "
            "can impersonate it and read the credentials; use --ca-bundle FILE instead",
            file=sys.stderr,
            flush=True,
        )
    sanitizer = Sanitizer(pseudonymize=args.pseudonymize)
    proxy = RecordingProxy(upstream, har, sanitizer=sanitizer, verify=verify, max_body=args.max_body)
    server = uvicorn.Server(proxy_config(proxy, host, port))

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # uvicorn re-raises the signal it shut down on: end like Ctrl-C

    if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
        signal.signal(signal.SIGTERM, stop)
    shown = f"[{host}]" if ":" in host else host
    print(f"tanium-sim recording http://{shown}:{sock.getsockname()[1]} -> {upstream} into {out}", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        har.close()
        sock.close()
        if args.mapping_out:
            _write_private(args.mapping_out, json.dumps(sanitizer.mapping(), indent=2, sort_keys=True))
    mapped = f"; mapping in {args.mapping_out}" if args.mapping_out else ""
    exchanges = "exchange" if har.count == 1 else "exchanges"
    print(f"recorded {har.count} {exchanges} into {out}{mapped}", flush=True)
    return 0
