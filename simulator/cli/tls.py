"""``tanium-sim tls``: hand the simulator's CA to clients (a PEM file, or a Java truststore).

    tanium-sim tls export-ca tanium-sim-ca.pem            # for --ca-bundle, curl --cacert, keytool
    tanium-sim tls truststore --out tanium-sim.jks        # for java -Djavax.net.ssl.trustStore=...

The CA lives in the user's data folder (``~/.local/share/tanium-sim/tls`` on Linux; ``--state-dir`` or
``$TANIUM_SIM_STATE`` choose another, which must exist unless ``--create``), so every command finds the
same CA from any directory; both commands create it on first use and print its location and SHA-256
fingerprint, the one ``serve --tls`` prints and ``collect`` names when it refuses a certificate. The
truststore is built by the JDK's own ``keytool`` (found on PATH or in ``$JAVA_HOME/bin``); without a JDK
the command says so in one sentence.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.tls import LocalCA

DEFAULT_STOREPASS = "changeit"  # the JDK's own default for cacerts, so instructions stay familiar
DEFAULT_ALIAS = "tanium-sim"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tls",
        help="export the simulator's CA certificate, or build a Java truststore holding it",
        description="The simulator's CA for HTTPS clients: export it as PEM, or build a Java truststore "
        "with it (docs/tls.md).",
    )
    actions = p.add_subparsers(dest="tls_command", metavar="ACTION", required=True)

    export = actions.add_parser(
        "export-ca",
        help="write the CA certificate (PEM) to FILE",
        description="Write the simulator's CA certificate (never its key) as PEM, for `collect --ca-bundle`, "
        "curl --cacert or keytool; prints where the CA is kept and its SHA-256 fingerprint.",
    )
    export.add_argument("file", metavar="FILE", help="where to write the PEM ('-' for standard output)")
    _state_option(export)
    export.set_defaults(func=_export_ca)

    store = actions.add_parser(
        "truststore",
        help="build a Java truststore (JKS or PKCS12) holding only the CA, with the JDK's keytool",
        description="Build a Java truststore holding only the simulator's CA, for "
        "java -Djavax.net.ssl.trustStore=FILE; needs a JDK (keytool on PATH or in $JAVA_HOME/bin).",
    )
    store.add_argument(
        "--out", required=True, metavar="FILE", help="truststore to write: .jks gives JKS, .p12/.pfx PKCS12"
    )
    store.add_argument(
        "--storepass",
        default=DEFAULT_STOREPASS,
        help=f"truststore password, 6 characters or more (default {DEFAULT_STOREPASS})",
    )
    store.add_argument("--alias", default=DEFAULT_ALIAS, help=f"entry name (default {DEFAULT_ALIAS})")
    _state_option(store)
    store.set_defaults(func=_truststore)


def _state_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state-dir",
        default="",
        metavar="DIR",
        help="folder keeping the simulator's CA, as given to `serve --state-dir` "
        "(default: $TANIUM_SIM_STATE, else the user's data folder)",
    )
    p.add_argument(
        "--create",
        action="store_true",
        help="create --state-dir (and a new CA in it) when it does not exist, instead of refusing",
    )


def find_keytool(environ: dict[str, str] | None = None) -> str | None:
    """keytool from ``$JAVA_HOME/bin`` first (the JDK the user chose), else from PATH.

    >>> find_keytool({"PATH": ""}) is None
    True
    """
    env = dict(os.environ) if environ is None else environ
    if env.get("JAVA_HOME"):
        candidate = Path(env["JAVA_HOME"]) / "bin" / "keytool"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("keytool", path=env.get("PATH", ""))


def _load_ca(args: argparse.Namespace) -> LocalCA:
    from simulator.cli.types import UsageError
    from simulator.tls import LocalCA, check_state_dir

    try:
        folder = check_state_dir(args.state_dir, create=args.create)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        return LocalCA.load_or_create(folder)
    except OSError as exc:
        raise UsageError(
            f"cannot create the CA in {folder} ({exc.strerror}): choose another --state-dir"
        ) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _export_ca(args: argparse.Namespace) -> int:
    import sys

    from simulator.cli.types import UsageError

    ca = _load_ca(args)
    if args.file == "-":
        sys.stdout.write(ca.cert_pem.decode("ascii"))
        print(ca.notice(), file=sys.stderr)  # stdout carries only the PEM
        return 0
    path = Path(args.file)
    try:
        ca.export(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path} ({exc.strerror}): choose another FILE") from None
    print(f"wrote the simulator's CA certificate to {path}; {ca.notice()}")
    return 0


def _truststore(args: argparse.Namespace) -> int:
    from simulator.cli.types import UsageError

    if len(args.storepass) < 6:
        raise UsageError("--storepass must have at least 6 characters (keytool refuses shorter ones)")
    keytool = find_keytool()
    if keytool is None:
        raise UsageError(
            "keytool was not found (no JDK on PATH or in $JAVA_HOME): install a JDK, e.g. "
            "`apt-get install default-jdk-headless`, or write the CA with `tanium-sim tls export-ca FILE`"
        )
    ca = _load_ca(args)
    out = Path(args.out)
    storetype = "PKCS12" if out.suffix.lower() in (".p12", ".pfx") else "JKS"
    with tempfile.TemporaryDirectory(prefix="tanium-sim-tls-") as tmp:
        pem, store = Path(tmp) / "ca.pem", Path(tmp) / ("store" + out.suffix)
        ca.export(pem)
        # -storepass:env keeps the password out of the process list.
        command = [
            keytool,
            "-importcert",
            "-noprompt",
            "-trustcacerts",
            "-alias",
            args.alias,
            "-file",
            str(pem),
            "-keystore",
            str(store),
            "-storetype",
            storetype,
            "-storepass:env",
            "TANIUM_SIM_STOREPASS",
        ]
        env = {**os.environ, "TANIUM_SIM_STOREPASS": args.storepass}
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise UsageError(f"keytool failed: {detail[-1] if detail else result.returncode}")
        try:
            shutil.move(store, out)  # a fresh store each time: re-running never trips on an existing alias
        except OSError as exc:
            raise UsageError(f"cannot write {out} ({exc.strerror}): choose another --out") from None
    print(
        f"wrote {out} ({storetype}, alias {args.alias}, CA SHA-256 {ca.fingerprint}) from {ca.cert_path}; "
        "use it with "
        f"java -Djavax.net.ssl.trustStore={out} -Djavax.net.ssl.trustStorePassword=<storepass> ..."
    )
    return 0
