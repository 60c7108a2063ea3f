"""``tanium-sim tls``: the CA goes out as PEM; a missing JDK or a bad argument is one sentence, exit 2.

The CA lives in the user's data folder (moved under tmp_path here), so every directory finds the same
one; ``collect`` names the CA a refused server certificate came from, and a plain-HTTP server as such.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from simulator.cli import main
from simulator.cli.tls import find_keytool
from simulator.server import BackgroundServer
from simulator.settings import Settings, TLSSettings
from simulator.tls import LocalCA, ca_notice, state_dir


def test_export_ca_to_stdout_is_the_persisted_ca_certificate_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tls", "export-ca", "-", "--state-dir", str(tmp_path)]) == 0
    pem = capsys.readouterr().out
    assert pem.encode() == LocalCA.load_or_create(state_dir(str(tmp_path))).cert_pem
    assert "PRIVATE KEY" not in pem
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_export_ca_defaults_to_tanium_sim_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANIUM_SIM_STATE", str(tmp_path / "state"))
    (tmp_path / "state").mkdir()
    assert main(["tls", "export-ca", str(tmp_path / "ca.pem")]) == 0
    assert (tmp_path / "state" / "tls" / "ca" / "ca.pem").read_bytes() == (tmp_path / "ca.pem").read_bytes()
    assert "SHA-256 " in capsys.readouterr().out


def test_export_ca_to_a_missing_folder_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "no" / "ca.pem"
    assert main(["tls", "export-ca", str(dest), "--state-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"tanium-sim: cannot write {dest} (No such file or directory): choose another FILE\n"
    )


def test_truststore_without_a_jdk_says_so_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no keytool here
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert find_keytool() is None
    assert main(["tls", "truststore", "--out", str(tmp_path / "t.jks"), "--state-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "tanium-sim: keytool was not found (no JDK on PATH or in $JAVA_HOME): install a JDK"
    )
    assert err.count("\n") == 1 and not (tmp_path / "t.jks").exists()


def test_truststore_refuses_a_short_storepass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tls", "truststore", "--out", str(tmp_path / "t.jks"), "--storepass", "abc"]) == 2
    assert "--storepass must have at least 6 characters" in capsys.readouterr().err


def test_java_home_keytool_comes_first(tmp_path: Path) -> None:
    keytool = tmp_path / "jdk" / "bin" / "keytool"
    keytool.parent.mkdir(parents=True)
    keytool.write_text("#!/bin/sh\n")
    keytool.chmod(0o755)
    assert find_keytool({"JAVA_HOME": str(tmp_path / "jdk"), "PATH": ""}) == str(keytool)


# --------------------------------------------------------------------------- the CA follows the user


@pytest.fixture
def user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """platformdirs' user data folder, moved under tmp_path (XDG_DATA_HOME on Linux): never the real home."""
    monkeypatch.delenv("TANIUM_SIM_STATE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "tanium-sim"


def test_export_ca_finds_the_same_ca_from_any_directory_and_says_where_it_is(
    user_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    printed = []
    for where in ("a", "b"):
        (tmp_path / where).mkdir()
        monkeypatch.chdir(tmp_path / where)
        assert main(["tls", "export-ca", "ca.pem"]) == 0
        printed.append(capsys.readouterr().out)
    kept = user_data / "tls" / "ca" / "ca.pem"
    assert (
        (tmp_path / "a" / "ca.pem").read_bytes()
        == (tmp_path / "b" / "ca.pem").read_bytes()
        == kept.read_bytes()
    )
    fingerprint = LocalCA.load_or_create(user_data / "tls").fingerprint
    assert (
        printed[0]
        == printed[1]
        == (f"wrote the simulator's CA certificate to ca.pem; simulator CA: {kept} (SHA-256 {fingerprint})\n")
    )
    assert main(["tls", "export-ca", "-"]) == 0
    assert capsys.readouterr().err == f"simulator CA: {kept} (SHA-256 {fingerprint})\n"


def test_a_state_dir_that_does_not_exist_needs_create(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo"
    assert main(["tls", "export-ca", str(tmp_path / "ca.pem"), "--state-dir", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"tanium-sim: --state-dir {missing} does not exist: pass the folder `serve --tls` used, "
        "or add --create to make a new CA there\n"
    )
    assert not missing.exists() and not (tmp_path / "ca.pem").exists()
    assert main(["tls", "export-ca", str(tmp_path / "ca.pem"), "--state-dir", str(missing), "--create"]) == 0
    assert (missing / "tls" / "ca" / "ca.pem").read_bytes() == (tmp_path / "ca.pem").read_bytes()


def test_ca_notice_is_the_line_serve_prints(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(state_dir(str(tmp_path)))
    assert ca_notice(str(tmp_path)) == f"simulator CA: {tmp_path}/tls/ca/ca.pem (SHA-256 {ca.fingerprint})"


# --------------------------------------------------------------------------- collect names what it refused


def https_server(state: Path) -> BackgroundServer:
    return BackgroundServer(
        Settings(port=0, endpoints=1, tls=TLSSettings(enabled=True, state_dir=str(state)))
    )


def test_collect_with_another_ca_names_both_fingerprints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "elsewhere").mkdir()
    assert (
        main(["tls", "export-ca", str(tmp_path / "old.pem"), "--state-dir", str(tmp_path / "elsewhere")]) == 0
    )
    theirs = LocalCA.load_or_create(state_dir(str(tmp_path / "elsewhere"))).fingerprint
    with https_server(tmp_path / "server") as server:
        argv = ["collect", "--url", server.url, "--token", server.settings.token, "--client-id", "1"]
        assert main([*argv, "--out", str(tmp_path / "out"), "--ca-bundle", str(tmp_path / "old.pem")]) == 1
    served = LocalCA.load_or_create(state_dir(str(tmp_path / "server"))).fingerprint
    err = capsys.readouterr().err
    assert "is not signed by a certificate authority this client trusts" in err
    assert f"(CA SHA-256 {served}); {tmp_path / 'old.pem'} holds SHA-256 {theirs})" in err
    assert "Traceback" not in err


def test_https_to_a_plain_http_server_says_it_speaks_plain_http(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with BackgroundServer(Settings(port=0, endpoints=1)) as server:
        url = server.url.replace("http://", "https://")
        argv = ["collect", "--url", url, "--token", server.settings.token, "--all", "--no-retry"]
        assert main([*argv, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err  # before the last line: the in-process server's "Invalid HTTP request"
    assert err.splitlines()[-1] == (
        f"tanium-sim: could not list the endpoints: the server at {url} speaks plain HTTP, not HTTPS: "
        f"use {server.url} (or serve HTTPS, simulator: `tanium-sim serve --tls`)"
    )
    assert "Traceback" not in err
