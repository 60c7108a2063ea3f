"""One-way architecture: the client stands alone, the simulator uses only its public names, --help is light.

- ``client/`` imports the standard library, httpx and what reading traces needs, never ``simulator``;
- ``simulator/`` imports the client only as ``from client import NAME`` with NAME in ``client.__all__``;
- ``client.__all__`` is exactly the public API below (httpx's ``test_exported_members`` style);
- building the ``tanium-sim`` parser (``--help``) imports neither the client nor the simulator's machinery.

Each rule reads the source (``ast``), so a forbidden import fails here even when nothing runs it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import client

ROOT = Path(__file__).resolve().parents[2]

# Third-party packages the client may import (the top-level names), and why.
CLIENT_THIRD_PARTY = {
    "httpx": "the HTTP client",
    "anyio": "httpx's async layer: the workflow's shielded, bounded cleanup",
    "tenacity": "the retry loop (stamina's engine; stamina cannot take an injected clock)",
    "stamina": "retries",
    "stream_unzip": "streaming the ZipCrypto evidence zip",
    "orjson": "fast JSON for traces",
    "cryptography": "the DER certificates and keys inside traces",
    "rich": "rendering an inventory summary as tables",
}

EXPECTED_CLIENT_API = [
    "APIError",
    "AsyncTaniumClient",
    "BadRequest",
    "CollectOptions",
    "CollectProgress",
    "CollectResult",
    "ConnectError",
    "Connection",
    "ConnectionAmbiguous",
    "ConnectionTimedOut",
    "DiffRejected",
    "EndpointOutcome",
    "Evidence",
    "EvidenceMissing",
    "EvidencePage",
    "IntegrityError",
    "Inventory",
    "InventorySummary",
    "NotFound",
    "PollPolicy",
    "ProtocolError",
    "RateLimited",
    "RequestContext",
    "RequestPolicy",
    "RetryPolicy",
    "ServerError",
    "SessionExpired",
    "SingleAttempt",
    "TLSError",
    "TaniumError",
    "Task",
    "TaskFailed",
    "TimeoutError_",
    "TraceFormatError",
    "TraceIssue",
    "TraceReader",
    "TransportError",
    "Unauthorized",
    "WorkflowError",
    "apply_diff",
    "collect_endpoint",
    "collect_many",
    "collect_trace",
    "default_trace_path",
    "iter_records",
    "open_trace",
    "retry_totals",
    "summarize",
    "transfer_totals",
    "validate_trace",
    "write_summary",
]


@dataclass(frozen=True)
class Import:
    """One import in a source file: ``module`` and, for ``from module import name``, ``name``."""

    path: Path
    line: int
    module: str
    name: str | None = None

    def __str__(self) -> str:
        what = f"from {self.module} import {self.name}" if self.name else f"import {self.module}"
        return f"{where(self.path)}:{self.line}: {what}"


def where(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports_of(path: Path) -> Iterator[Import]:
    """Every absolute import in ``path``, ``importlib.import_module("...")`` and ``__import__`` included.

    Relative imports stay inside their own package, so they never cross from one package to the other.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                yield Import(path, node.lineno, node.module, alias.name)
        elif isinstance(node, ast.Call) and node.args:
            func, first = node.func, node.args[0]
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            literal = first.value if isinstance(first, ast.Constant) else None
            absolute = isinstance(literal, str) and not literal.startswith(".")
            if called in ("import_module", "__import__") and absolute:
                yield Import(path, node.lineno, str(literal))


def client_violations(path: Path) -> Iterator[str]:
    for imp in imports_of(path):
        top = imp.module.partition(".")[0]
        if top == "simulator":
            yield f"{imp}: the client must not import the simulator"
        elif top != "client" and top not in sys.stdlib_module_names and top not in CLIENT_THIRD_PARTY:
            yield f"{imp}: {top!r} is not a package the client may use (tests/unit/test_layering.py)"


def simulator_violations(path: Path) -> Iterator[str]:
    public = set(client.__all__)
    binds_client = False
    for imp in imports_of(path):
        if imp.module == "client" and imp.name is None:
            binds_client = True
        elif imp.module == "client" and imp.name not in public:
            yield f"{imp}: {imp.name!r} is not a public name of the client (client.__all__)"
        elif imp.module.startswith("client."):
            yield f"{imp}: use the client's public names (from client import ...), not its modules"
    if binds_client:  # `import client` then `client._private`
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "client"
                and node.attr not in public
            ):
                yield (
                    f"{where(path)}:{node.lineno}: client.{node.attr}: "
                    "not a public name of the client (client.__all__)"
                )


# --------------------------------------------------------------------------- the client stands alone


def test_the_client_imports_only_the_standard_library_and_its_own_dependencies() -> None:
    files = sources("client")
    assert len(files) >= 8, "the walk found no client sources"
    problems = [problem for path in files for problem in client_violations(path)]
    assert problems == [], "\n".join(problems)


def test_the_simulator_uses_only_the_public_names_of_the_client() -> None:
    files = sources("simulator")
    assert len(files) >= 30, "the walk found no simulator sources"
    problems = [problem for path in files for problem in simulator_violations(path)]
    assert problems == [], "\n".join(problems)


def test_the_rules_catch_what_they_forbid(tmp_path: Path) -> None:
    """The checks themselves: each forbidden form is reported, each allowed one is not."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, httpx\nfrom simulator.cli import UsageError\nimport yaml\n"
        "from client._trace import open_trace\nimport importlib\nimportlib.import_module('simulator.app')\n"
    )
    assert len(list(imports_of(probe))) == 7
    problems = list(client_violations(probe))
    assert len(problems) == 3, problems  # simulator.cli, yaml, simulator.app
    assert ["simulator.cli" in problems[0], "yaml" in problems[1], "simulator.app" in problems[2]] == [
        True
    ] * 3

    probe.write_text(
        "from client import AsyncTaniumClient\nfrom client import _errors\nfrom client._cli import x\n"
        "import client._trace\nimport client\nclient.collect_trace\nclient._diff\n"
    )
    problems = list(simulator_violations(probe))
    assert len(problems) == 4, problems  # _errors, client._cli, client._trace, client._diff


# --------------------------------------------------------------------------- the client's public API


def test_client_all_is_the_expected_public_api() -> None:
    assert len(client.__all__) == len(set(client.__all__))
    assert set(client.__all__) == set(EXPECTED_CLIENT_API)


def test_every_exported_name_exists_and_comes_from_the_client() -> None:
    for name in client.__all__:
        member = getattr(client, name)  # AttributeError: exported but not defined
        assert member.__module__.startswith("client"), f"client.{name} comes from {member.__module__}"


def test_every_public_name_of_the_client_is_exported() -> None:
    public = {name for name in vars(client) if not name.startswith("_")}
    assert public == set(client.__all__)


# --------------------------------------------------------------------------- the command line stays light


def test_building_the_parser_imports_neither_the_client_nor_the_simulator() -> None:
    code = (
        "import json, sys\nfrom simulator.cli import build_parser\nbuild_parser()\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(run.stdout))
    heavy = ["client", "httpx", "rich", "uvicorn", "starlette", "orjson", "yaml", "cryptography"]
    heavy += ["simulator.app", "simulator.qa", "simulator.state", "simulator.traces", "simulator.server"]
    assert sorted(m for m in loaded for h in heavy if m == h or m.startswith(f"{h}.")) == []


def test_the_qa_command_offers_every_client_variant() -> None:
    from simulator.cli.qa import CLIENT_VARIANTS
    from simulator.qa.variants import VARIANTS

    assert list(CLIENT_VARIANTS) == sorted(VARIANTS)
