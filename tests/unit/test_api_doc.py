"""docs/api.md's route table against the OpenAPI document built from the route table: every operation,
method, path, credential and status of ``GET /_sim/openapi.json`` is in the doc, and nothing else is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.openapi import build_openapi
from simulator.operations import OPERATIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HEADING = "## Every route the simulator answers"
ROW = re.compile(r"^\| `(\w+)` \| (\w+) \| `([^`]+)` \| ([^|]+) \| ([^|]+) \|$")


def _table(text: str) -> dict[str, tuple[str, str, str, str]]:
    """The route table's rows: operation -> (method, path, credential, statuses)."""
    section = text[text.index(HEADING) :]
    following = section.find("\n## ", len(HEADING))
    section = section if following < 0 else section[:following]
    rows: dict[str, tuple[str, str, str, str]] = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            found = ROW.match(line)
            assert found, (
                "docs/api.md: a route row that is not | `op` | METHOD | `path` | credential | statuses |: "
                + line
            )
            name, method, path, credential, statuses = found.groups()
            assert name not in rows, f"docs/api.md lists {name} twice"
            rows[name] = (method, path, credential.strip(), statuses.strip())
    return rows


def _document() -> dict[str, tuple[str, str, str, str]]:
    """The same rows from the OpenAPI document (security: session, admin token or none)."""
    out: dict[str, tuple[str, str, str, str]] = {}
    for path, methods in build_openapi(OPERATIONS)["paths"].items():
        for method, item in methods.items():
            security = item["security"]
            credential = "none" if not security else "session" if "session" in security[0] else "admin token"
            codes = sorted(item["responses"])
            success = ", ".join(c for c in codes if c.startswith("2"))
            errors = ", ".join(c for c in codes if not c.startswith("2"))
            out[item["operationId"]] = (
                method.upper(),
                path,
                credential,
                f"{success}; {errors}" if errors else success,
            )
    return out


def test_every_route_of_the_openapi_document_is_in_docs_api_md_and_nothing_else() -> None:
    documented, served = _table(DOC.read_text(encoding="utf-8")), _document()
    assert sorted(served.keys() - documented.keys()) == [], "routes missing from docs/api.md"
    assert sorted(documented.keys() - served.keys()) == [], "docs/api.md lists routes the simulator lacks"
    doc_paths = {(m, p) for m, p, _, _ in documented.values()}
    assert doc_paths == {(m, p) for m, p, _, _ in served.values()}


@pytest.mark.parametrize("name", [op.name for op in OPERATIONS])
def test_each_rows_method_path_credential_and_statuses(name: str) -> None:
    method, path, credential, statuses = _table(DOC.read_text(encoding="utf-8"))[name]
    want_method, want_path, want_credential, want_statuses = _document()[name]
    assert (method, path, statuses) == (want_method, want_path, want_statuses), name
    # The credential may say more ("none (HTTP Basic credentials)"), never something else.
    assert credential.split(" (")[0] == want_credential, (name, credential, want_credential)


def test_the_table_parser_reads_a_row_and_refuses_a_malformed_one() -> None:
    good = f"{HEADING}\n| `get_task` | GET | `/t/{{task_id}}` | session | 200; 401, 404 |\n"
    assert _table(good) == {"get_task": ("GET", "/t/{task_id}", "session", "200; 401, 404")}
    with pytest.raises(AssertionError, match="route row"):
        _table(f"{HEADING}\n| `get_task` | GET | /t | session |\n")
