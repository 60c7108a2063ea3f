"""The Java trust path, as the AQtive Guard integration lives it: Java's HttpClient against `serve --tls`.

A small Java program (FetchConns.java) fetches ``GET /conns`` with the JVM's trust settings. It must fail
before the simulator's CA is imported into (a copy of) the JDK's ``cacerts``, using the very ``keytool``
command docs/tls.md shows, and succeed after. Skipped when no JDK is installed; CI installs one.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.server import BackgroundServer
from simulator.settings import Settings, TLSSettings

HERE = Path(__file__).parent
DOC = HERE.parent.parent / "docs" / "tls.md"
JDK_TOOLS = ("javac", "java", "keytool")
MISSING = [tool for tool in JDK_TOOLS if shutil.which(tool) is None]

pytestmark = [
    pytest.mark.sockets,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"no JDK ({', '.join(MISSING)} not on PATH): install default-jdk-headless (CI does)",
    ),
]


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("java-classes")
    subprocess.run(["javac", "-d", str(out), str(HERE / "FetchConns.java")], check=True, timeout=120)
    return out


@pytest.fixture
def server(tmp_path: Path) -> Iterator[BackgroundServer]:
    tls = TLSSettings(enabled=True, state_dir=str(tmp_path / "state"))
    with BackgroundServer(Settings(port=0, endpoints=2, tls=tls)) as srv:
        yield srv


def fetch_conns(
    classes: Path, server: BackgroundServer, truststore: Path, storepass: str = "changeit"
) -> subprocess.CompletedProcess[str]:
    command = [
        "java",
        f"-Djavax.net.ssl.trustStore={truststore}",
        f"-Djavax.net.ssl.trustStorePassword={storepass}",
        "-cp",
        str(classes),
        "FetchConns",
        server.url,
    ]
    env = {**os.environ, "TANIUM_TOKEN": server.settings.token}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def jdk_cacerts() -> Path:
    """The JDK's own cacerts: $JAVA_HOME if set, else the java.home of the `java` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if not home:
        props = subprocess.run(
            ["java", "-XshowSettings:properties", "-version"], capture_output=True, text=True, timeout=60
        ).stderr
        match = re.search(r"^\s*java\.home = (.+)$", props, re.MULTILINE)
        assert match, props
        home = match.group(1).strip()
    for candidate in ("lib/security/cacerts", "jre/lib/security/cacerts"):  # Java 9+, Java 8
        if (Path(home) / candidate).exists():
            return Path(home) / candidate
    pytest.skip(f"the JDK at {home} has no cacerts")


def documented_keytool_command() -> list[str]:
    """The `keytool -import` line docs/tls.md gives for a JRE's cacerts, split like a shell would."""
    lines = [line for line in DOC.read_text().splitlines() if line.startswith("keytool -import")]
    command = shlex.split(lines[0])
    assert command[command.index("-keystore") + 1] == "$JAVA_HOME/lib/security/cacerts"
    assert command[command.index("-file") + 1] == "tanium-sim-ca.pem"
    return command


def test_java_fails_before_the_documented_keytool_import_and_succeeds_after(
    classes: Path, server: BackgroundServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the documented command names tanium-sim-ca.pem in the current folder
    copy = tmp_path / "cacerts"
    shutil.copyfile(jdk_cacerts(), copy)  # never the JDK's own file
    state = str(tmp_path / "state")
    assert main(["tls", "export-ca", "tanium-sim-ca.pem", "--state-dir", state]) == 0

    before = fetch_conns(classes, server, copy)
    assert before.returncode == 2, before
    assert before.stderr.startswith("TLS: ") and "PKIX path building failed" in before.stderr

    command = documented_keytool_command()
    command[command.index("-keystore") + 1] = str(copy)
    imported = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert imported.returncode == 0, imported

    after = fetch_conns(classes, server, copy)
    assert after.returncode == 0, after
    assert after.stdout.splitlines() == ["200", "[]"]


def test_tls_truststore_builds_a_store_java_accepts(
    classes: Path, server: BackgroundServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "tanium-sim.jks"
    argv = ["tls", "truststore", "--out", str(store), "--storepass", "s3cret!", "--state-dir"]
    assert main([*argv, str(tmp_path / "state")]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {store} (JKS, alias tanium-sim, CA SHA-256 ")
    assert main([*argv, str(tmp_path / "state")]) == 0  # re-running replaces the store, no alias clash
    result = fetch_conns(classes, server, store, storepass="s3cret!")
    assert result.returncode == 0, result
    assert result.stdout.splitlines()[0] == "200"
