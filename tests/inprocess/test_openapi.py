"""The OpenAPI document: every operation of the route table described, with its security and statuses."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import schemathesis
from starlette.applications import Starlette

from simulator.openapi import build_openapi, missing_shapes
from simulator.openapi_schemas import SHAPES
from simulator.operations import OPERATIONS
from tests.inprocess.conftest import ADMIN

DOC = build_openapi(OPERATIONS)
ITEMS = {item["operationId"]: item for methods in DOC["paths"].values() for item in methods.values()}
VENDOR = [op.name for op in OPERATIONS if not op.control]


def test_every_operation_has_a_shape() -> None:
    # A new operation needs one entry in simulator/openapi_schemas.py SHAPES: its body, query and errors.
    assert missing_shapes(OPERATIONS) == []
    assert not [name for name, item in ITEMS.items() if item.get("x-undocumented")]
    assert sorted(SHAPES) == sorted(op.name for op in OPERATIONS), "a shape for an operation that is gone"


def test_every_operation_is_listed_once() -> None:
    assert sorted(ITEMS) == sorted(op.name for op in OPERATIONS)


@pytest.mark.parametrize(
    ("name", "security"),
    [
        ("get_task", [{"session": []}]),
        ("current", [{"session": []}]),  # the handler checks the session itself
        ("login", []),
        ("validate", []),
        ("sim_health", []),
        ("sim_reset", [{"adminBearer": []}]),
        ("sim_openapi", [{"adminBearer": []}]),
    ],
)
def test_security_per_route(name: str, security: list[dict[str, list[str]]]) -> None:
    assert ITEMS[name]["security"] == security


def test_control_routes_without_the_admin_token_are_few() -> None:
    open_control = [n for n, item in ITEMS.items() if n.startswith("sim_") and not item["security"]]
    assert "sim_health" in open_control
    assert all(name == "sim_health" or name.startswith("sim_ui") for name in open_control), open_control


@pytest.mark.parametrize("name", VENDOR)
def test_vendor_routes_document_auth_and_injected_faults(name: str) -> None:
    responses = ITEMS[name]["responses"]
    assert {"401", "403", "429", "503"} <= set(responses)
    assert "Retry-After" in responses["503"]["headers"]
    assert responses["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_statuses_follow_from_the_path_and_body(name: str) -> None:
    item = ITEMS[name]
    success = [code for code in item["responses"] if code.startswith("2")]
    assert len(success) == 1 and item["responses"][success[0]]["content"]
    if any(p["in"] == "path" for p in item["parameters"]):
        assert "404" in item["responses"]
    if "requestBody" in item:
        assert {"400", "413"} <= set(item["responses"])


def test_reset_takes_no_body_and_an_area() -> None:
    reset = ITEMS["sim_reset"]
    assert "requestBody" not in reset
    assert [p["name"] for p in reset["parameters"]] == ["area"]
    assert ITEMS["delete_evidence"]["requestBody"]["required"] is True
    assert ITEMS["login"]["requestBody"]["required"] is False  # older clients send GET with a query


@pytest.mark.parametrize("name", ["system_status", "result_data_question"])
def test_tanium_options_header_where_it_is_read(name: str) -> None:
    assert {"name": "tanium-options", "in": "header"}.items() <= ITEMS[name]["parameters"][-1].items()
    assert not [p for p in ITEMS["get_task"]["parameters"] if p["in"] == "header"]


def test_response_shapes_of_the_odd_ones() -> None:
    def success(name: str) -> dict[str, Any]:
        content: dict[str, Any] = ITEMS[name]["responses"]["200"]["content"]
        return content

    assert success("connect")["application/json"]["schema"]["type"] == "string"  # a bare JSON string
    assert success("list_connections")["application/json"]["schema"]["type"] == "array"  # a bare array
    assert "application/zip" in success("download_evidence")
    assert "text/plain" in success("sim_metrics")
    assert "201" in ITEMS["sim_faults_add"]["responses"]


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_every_reference_resolves() -> None:
    schemas = DOC["components"]["schemas"]
    for target in _refs(DOC):
        assert target.startswith("#/components/schemas/") and target.rsplit("/", 1)[1] in schemas, target


def test_schemathesis_loads_every_operation() -> None:
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(DOC)))
    results = list(schema.get_all_operations())
    assert len(results) == len(OPERATIONS)
    assert all(result.ok() for result in results)


@pytest.mark.anyio
async def test_the_served_document_is_the_built_one(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        assert (await client.get("/_sim/openapi.json")).status_code == 401
        served = (await client.get("/_sim/openapi.json", headers={"Authorization": f"Bearer {ADMIN}"})).json()

    def without_summaries(paths: dict[str, Any]) -> dict[str, Any]:  # the served ones read handler docstrings
        return {
            path: {
                method: {k: v for k, v in item.items() if k != "summary"} for method, item in methods.items()
            }
            for path, methods in paths.items()
        }

    assert without_summaries(served["paths"]) == without_summaries(json.loads(json.dumps(DOC["paths"])))
    assert served["components"]["securitySchemes"]["session"] == {
        "type": "apiKey",
        "in": "header",
        "name": "session",
    }
