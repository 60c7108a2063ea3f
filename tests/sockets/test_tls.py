"""HTTPS over real loopback sockets: the exported CA is what makes the client trust the simulator.

Each TLS fault (expired, wrong hostname, rotated mid-run) must reach the user as its own sentence, the
one docs/tls.md documents, through the `collect` command (exit 1, one stderr line, no traceback).
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from client._client import AsyncTaniumClient
from client._errors import TLSError
from simulator.cli import main
from simulator.server import BackgroundServer
from simulator.settings import Lifecycle, Settings, TLSSettings
from simulator.tls import LocalCA, ServerTLS, TLSFault, state_dir

pytestmark = pytest.mark.sockets
TR = "/plugin/products/threat-response/api/v1"

UNTRUSTED = (
    "the server certificate of {url} is not signed by a certificate authority this client trusts: "
    "export the server's CA (simulator: `tanium-sim tls export-ca tanium-sim-ca.pem`, again after a "
    "certificate rotation) and pass `--ca-bundle tanium-sim-ca.pem`"
)
EXPIRED = (
    "the server certificate of {url} has expired: the server needs a renewed certificate "
    "(or this computer's clock is wrong)"
)
WRONG_HOST = (
    "the server certificate of {url} is not issued for 127.0.0.1: use a URL with a host name the "
    "certificate names, or reissue it for 127.0.0.1 (simulator: `tanium-sim serve --tls "
    "--tls-hostname 127.0.0.1`)"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "TANIUM_SIM_STATE", "TANIUM_URL", "TANIUM_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    (tmp_path / "state").mkdir()  # as `serve --tls` leaves it: `tls export-ca` refuses a missing --state-dir
    return tmp_path / "state"


def https_settings(state: Path, **tls: object) -> Settings:
    return Settings(
        port=0,
        endpoints=2,
        seed=3,
        lifecycle=Lifecycle(connect_delay_s=0, task_duration_s=0),
        tls=TLSSettings(enabled=True, state_dir=str(state), **tls),  # type: ignore[arg-type]
    )


@pytest.fixture
def server(state: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(https_settings(state)) as srv:
        yield srv


def export_ca(state: Path, dest: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["tls", "export-ca", str(dest), "--state-dir", str(state)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote the simulator's CA certificate to {dest}")
    return dest


def collect(server: BackgroundServer, out: Path, *extra: str) -> int:
    argv = ["collect", "--url", server.url, "--token", server.settings.token, "--all", "--out", str(out)]
    return main([*argv, *extra])


def test_collect_over_https_with_the_exported_ca(
    server: BackgroundServer, state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert server.url.startswith("https://127.0.0.1:")
    ca = export_ca(state, tmp_path / "tanium-sim-ca.pem", capsys)
    assert collect(server, tmp_path / "out", "--ca-bundle", str(ca)) == 0
    assert "collected 2 of 2 endpoints" in capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["counts"] == {"total": 2, "ok": 2, "failed": 0}


def test_without_the_ca_collect_fails_with_the_documented_sentence(
    server: BackgroundServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert collect(server, tmp_path / "out") == 1
    out, err = capsys.readouterr()
    assert err.startswith(f"tanium-sim: could not list the endpoints: {UNTRUSTED.format(url=server.url)} (")
    assert err.count("\n") == 1 and "Traceback" not in out + err


def test_ssl_cert_file_is_honoured_and_insecure_warns_loudly(
    server: BackgroundServer,
    state: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca = export_ca(state, tmp_path / "ca.pem", capsys)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    assert collect(server, tmp_path / "a") == 0
    assert "WARNING" not in capsys.readouterr().err
    monkeypatch.delenv("SSL_CERT_FILE")
    assert collect(server, tmp_path / "b", "--insecure") == 0
    err = capsys.readouterr().err
    assert err.startswith("WARNING: --insecure: the server's certificate is NOT verified")


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        ("missing.pem", "--ca-bundle {p} cannot be read (No such file or directory): pass a PEM file"),
        (
            "empty.pem",
            "--ca-bundle {p} holds no PEM certificate: export one with `tanium-sim tls export-ca FILE`",
        ),
    ],
)
def test_a_bad_ca_bundle_is_a_usage_error(
    bundle: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty.pem").write_text("not a certificate\n")
    path = tmp_path / bundle
    argv = ["collect", "--url", "https://127.0.0.1:9", "--token", "t", "--all", "--out", str(tmp_path)]
    assert main([*argv, "--ca-bundle", str(path)]) == 2
    assert capsys.readouterr().err == f"tanium-sim: {message.format(p=path)}\n"


@pytest.mark.parametrize(
    ("fault", "sentence"),
    [("expired", EXPIRED), ("wrong-hostname", WRONG_HOST), ("rotate-after-1", UNTRUSTED)],
)
def test_each_tls_fault_gives_its_own_sentence(
    fault: str, sentence: str, state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = export_ca(state, tmp_path / "ca.pem", capsys)
    with BackgroundServer(https_settings(state, fault=fault)) as server:
        if fault.startswith("rotate"):  # the first handshake still gets the certificate the client trusts
            assert httpx.get(
                f"{server.url}/_sim/health", verify=ssl.create_default_context(cafile=ca)
            ).is_success
        assert collect(server, tmp_path / "out", "--ca-bundle", str(ca)) == 1
    out, err = capsys.readouterr()
    # An untrusted CA gets a note naming it (tests/sockets/test_tls_cli.py); a trusted one none.
    note = " (its certificate was issued by " if sentence is UNTRUSTED else "\n"
    assert err.startswith(
        f"tanium-sim: could not list the endpoints: {sentence.format(url=server.url)}{note}"
    )
    assert err.count("\n") == 1 and "Traceback" not in out + err


@pytest.mark.anyio
async def test_rotation_breaks_new_connections_only(state: Path, tmp_path: Path) -> None:
    LocalCA.load_or_create(state_dir(str(state))).export(tmp_path / "ca.pem")
    verify = ssl.create_default_context(cafile=tmp_path / "ca.pem")
    with BackgroundServer(https_settings(state, fault="rotate-after-1")) as server:
        token = server.settings.token
        async with AsyncTaniumClient(server.url, token=token, verify=verify) as before:
            assert len(await before.system_status()) == 2
            async with AsyncTaniumClient(server.url, token=token, verify=verify) as after:
                with pytest.raises(TLSError) as info:
                    await after.system_status()
            assert info.value.reason == "tls" and "not signed by a certificate authority" in str(info.value)
            assert len(await before.system_status()) == 2  # its kept-alive connection saw no rotation


def test_restarts_keep_the_ca_and_another_state_dir_has_another(state: Path, tmp_path: Path) -> None:
    first = LocalCA.load_or_create(state_dir(str(state)))
    first.export(tmp_path / "ca.pem")
    assert LocalCA.load_or_create(state_dir(str(state))).cert_pem == first.cert_pem
    assert LocalCA.load_or_create(state_dir(str(tmp_path / "other"))).cert_pem != first.cert_pem
    assert oct((state / "tls" / "ca" / "ca.key").stat().st_mode & 0o777) == "0o600"
    for _ in range(2):  # two server starts on one state folder: both trusted by the CA exported once
        with BackgroundServer(https_settings(state, hostnames=("sim.example.test",))) as server:
            verify = ssl.create_default_context(cafile=tmp_path / "ca.pem")
            assert httpx.get(f"{server.url}/_sim/health", verify=verify).is_success


def test_tanium_sim_state_names_the_default_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TANIUM_SIM_STATE", str(tmp_path))
    assert state_dir() == tmp_path / "tls"
    assert state_dir("elsewhere") == Path("elsewhere/tls")


def test_own_certificate_and_key(tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    tls = TLSSettings(enabled=True, cert_file=str(cert), key_file=str(key))
    with BackgroundServer(Settings(port=0, endpoints=1, tls=tls)) as server:
        verify = ssl.create_default_context(cafile=tmp_path / "ca.pem")
        assert httpx.get(f"{server.url}/_sim/health", verify=verify).is_success
    assert not (tmp_path / ".sim-state").exists()


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        (TLSSettings(enabled=True, fault="sometimes"), "unknown TLS fault 'sometimes'"),
        (TLSSettings(enabled=True, cert_file="nope.pem"), "cannot load the certificate nope.pem"),
        (
            TLSSettings(enabled=True, cert_file="c.pem", fault="expired"),
            "TLS faults need the simulator's own CA",
        ),
    ],
)
def test_bad_tls_settings_are_one_sentence(tls: TLSSettings, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ServerTLS.from_settings(tls)


def test_fault_spelling_round_trips() -> None:
    for text in ("expired", "wrong-hostname", "rotate-after-0", "rotate-after-12"):
        assert str(TLSFault.parse(text)) == text


def test_serve_tls_prints_the_https_url_and_serves_it(state: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "simulator", "serve", "--port", "0", "--endpoints", "2", "--tls"]
    argv += ["--state-dir", str(state), "--token", "token-abc123"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            match = re.search(r"serving (https://127\.0\.0\.1:\d+)", line)
            assert match, line
            assert f"trust its CA: tanium-sim tls export-ca tanium-sim-ca.pem --state-dir {state}" in line
            LocalCA.load_or_create(state_dir(str(state))).export(tmp_path / "ca.pem")
            verify = ssl.create_default_context(cafile=tmp_path / "ca.pem")
            r = httpx.get(f"{match.group(1)}{TR}/conns", headers={"session": "token-abc123"}, verify=verify)
            assert r.json() == []
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=15) == 0
            assert "Traceback" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_serve_rejects_a_bad_tls_fault_in_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--tls-fault", "sometimes"]) == 2
    assert capsys.readouterr().err == (
        "tanium-sim: unknown TLS fault 'sometimes': use expired, wrong-hostname or rotate-after-N\n"
    )
