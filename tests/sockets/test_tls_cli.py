"""``tanium-sim tls``: the CA goes out as PEM; a missing JDK or a bad argument is one sentence, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from simulator.cli import main
from simulator.cli.tls import find_keytool
from simulator.tls import LocalCA, state_dir


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
