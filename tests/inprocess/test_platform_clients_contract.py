"""What public platform clients call first (spec: "Also called by public platform clients"), and the hardening
around it: ids that cannot exist are 4xx, never 500; an empty target group is refused; system_status pages."""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from client import AsyncTaniumClient
from simulator.api.platform import SYSTEM_STATUS_MAX_ROWS, SYSTEM_STATUS_PAGE_ROWS
from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.platform.packages import STOP
from simulator.settings import Settings
from simulator.state.backend import ThreatResponseBackend

from .conftest import ADMIN, TOKEN, World

pytestmark = pytest.mark.anyio
BIG = "7" * 5000  # passes str.isdigit(); int() refuses more than 4,300 digits
SUPERSCRIPT_THREE = "%C2%B3"  # "³": str.isdigit() says yes, int() says no


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def anonymous(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


async def login_credentials(app: Starlette) -> tuple[str, str]:
    settings = app.state.backend.settings
    return settings.username, settings.password


# -- A. the routes clients call first ----------------------------------------------------------------


async def test_auth_with_basic_credentials_answers_the_session_as_plain_text(app: Starlette) -> None:
    username, password = await login_credentials(app)
    async with anonymous(app) as anon:
        r = await anon.post("/auth", auth=(username, password))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        session = r.text
        assert session and not session.startswith(("{", '"'))
        current = await anon.get("/api/v2/session/current", headers={"session": session})
        status = await anon.get("/api/v2/system_status", headers={"session": session})
    assert current.status_code == 200 and current.json()["data"]["name"] == username
    assert status.status_code == 200


async def test_auth_accepts_base64_username_and_password_headers(app: Starlette) -> None:
    username, password = await login_credentials(app)
    async with anonymous(app) as anon:
        r = await anon.post("/auth", headers={"username": b64(username), "password": b64(password)})
        assert r.status_code == 200, r.text
        ok = await anon.get("/api/v2/client_count", headers={"session": r.text})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + b64("nobody:wrong")},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Basic " + b64("no-colon")},
        {"username": b64("nobody"), "password": b64("wrong")},
        {"username": "%%%", "password": "%%%"},
    ],
    ids=["none", "wrong-password", "bad-base64", "no-colon", "wrong-headers", "headers-not-base64"],
)
async def test_auth_refuses_bad_credentials_with_401(app: Starlette, headers: dict[str, str]) -> None:
    async with anonymous(app) as anon:
        r = await anon.post("/auth", headers=headers)
    assert r.status_code == 401
    assert r.json()["text"].startswith("401 Unauthorized")
    assert app.state.backend.store.count("sessions") == 0


async def test_console_json_server_version_is_system_status_full_version(app: Starlette) -> None:
    async with anonymous(app) as anon:
        r = await anon.get("/config/console.json")
        status = await anon.get("/api/v2/system_status", headers={"session": TOKEN})
    assert r.status_code == 200
    assert r.json()["serverVersion"] == status.json()["data"][0]["full_version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", r.json()["serverVersion"])


async def test_client_count_is_the_fleet_size(client: httpx.AsyncClient, app: Starlette) -> None:
    r = await client.get("/api/v2/client_count")
    assert r.status_code == 200
    assert r.json() == {"data": app.state.backend.fleet.size}


async def test_group_by_name(client: httpx.AsyncClient) -> None:
    everyone = await client.get("/api/v2/groups/by-name/All Computers")
    assert everyone.status_code == 200
    assert everyone.json()["data"]["id"] == 1 and everyone.json()["data"]["name"] == "All Computers"
    made = await client.post("/api/v2/groups", json={"name": "web one", "text": "Computer Name equals x"})
    assert made.status_code == 200, made.text
    found = await client.get("/api/v2/groups/by-name/WEB ONE")
    assert found.status_code == 200 and found.json() == made.json()
    missing = await client.get("/api/v2/groups/by-name/no such group")
    assert missing.status_code == 404 and missing.json()["text"].startswith("404 Item Not Found")


async def test_merged_result_data_is_the_result_data_envelope(world: World) -> None:
    client = world.client
    qid = await client.post("/api/v2/questions", json={"query_text": "Get Computer Name from all machines"})
    question_id = qid.json()["data"]["id"]
    world.clock.advance(15)
    paging = {"tanium-options": json.dumps({"row_start": 1, "row_count": 4})}
    merged = await client.get(f"/api/v2/merged_result_data/question/{question_id}", headers=paging)
    plain = await client.get(f"/api/v2/result_data/question/{question_id}", headers=paging)
    assert merged.status_code == 200
    assert merged.json() == plain.json()
    (rs,) = merged.json()["data"]["result_sets"]
    assert len(rs["rows"]) == 4 and rs["row_count"] == 12
    assert (await client.get("/api/v2/merged_result_data/question/999")).status_code == 404


async def test_result_set_expiration_is_an_integer(world: World) -> None:
    client = world.client
    qid = (await client.post("/api/v2/questions", json={"query_text": "Get Online from all machines"})).json()
    question_id = qid["data"]["id"]
    world.clock.advance(15)
    for kind in ("result_data", "merged_result_data"):
        (rs,) = (await client.get(f"/api/v2/{kind}/question/{question_id}")).json()["data"]["result_sets"]
        assert type(rs["expiration"]) is int, kind
    (info,) = (await client.get(f"/api/v2/result_info/question/{question_id}")).json()["data"]["result_infos"]
    assert type(info["expiration"]) is int
    assert info["expiration"] == int(world.clock.now() - 15 + 600)
    action = await client.post(
        "/api/v2/actions", json={"package_spec": {"name": STOP}, "target_group": {"filters": []}}
    )
    (rs,) = (await client.get(f"/api/v2/result_data/action/{action.json()['data']['id']}")).json()["data"][
        "result_sets"
    ]
    assert type(rs["expiration"]) is int


@pytest.mark.parametrize("target", [{}, {"id": 0}, {"and_flag": True}, {"name": ""}])
async def test_an_empty_target_group_is_400_and_deploys_nothing(world: World, target: dict[str, Any]) -> None:
    for route in ("/api/v2/actions", "/api/v2/saved_actions"):
        r = await world.client.post(route, json={"package_spec": {"name": STOP}, "target_group": target})
        assert r.status_code == 400, (route, r.text)
        assert r.json()["text"].startswith("400 Bad Request: target_group is empty")
    assert world.backend.store.count("platform_actions") == 0
    assert world.backend.store.count("scanner") == 0


async def test_the_missing_parameter_hint_names_a_form_the_parser_reads(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v2/questions", json={"query_text": "Get File Exists from all machines"})
    assert r.status_code == 400
    text = r.json()["text"]
    hinted = re.search(r"in question text '([^']+)'", text)
    assert hinted, text
    question = f"Get {hinted.group(1)} from all machines"
    parsed = await client.post("/api/v2/parse_question", json={"text": question})
    assert parsed.status_code == 200, parsed.text
    (candidate, _cache) = parsed.json()["data"]
    assert candidate["from_canonical_text"] == 1
    assert candidate["parameter_values"] == ["/opt/cryptosense/bin/cs-host-scanner"]
    select = json.loads(re.search(r'"parameters": (\[.*\])', text).group(1))  # type: ignore[union-attr]
    select[0]["value"] = "/tmp/x"
    made = await client.post(
        "/api/v2/questions", json={"selects": [{"sensor": {"name": "File Exists", "parameters": select}}]}
    )
    assert made.status_code == 200, made.text


# -- B. ids that pass str.isdigit() but not int() ------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v2/questions/{SUPERSCRIPT_THREE}",
        f"/api/v2/questions/{BIG}",
        f"/api/v2/actions/{SUPERSCRIPT_THREE}",
        f"/api/v2/actions/{BIG}",
        f"/api/v2/groups/{SUPERSCRIPT_THREE}",
        f"/api/v2/groups/{BIG}",
        f"/api/v2/result_info/question/{SUPERSCRIPT_THREE}",
        f"/api/v2/result_info/question/{BIG}",
        f"/api/v2/result_data/question/{SUPERSCRIPT_THREE}",
        f"/api/v2/result_data/question/{BIG}",
        f"/api/v2/merged_result_data/question/{SUPERSCRIPT_THREE}",
        f"/api/v2/merged_result_data/question/{BIG}",
        f"/api/v2/result_data/action/{SUPERSCRIPT_THREE}",
        f"/api/v2/result_data/action/{BIG}",
    ],
    ids=lambda p: p.rsplit("/", 2)[-2] + ("-superscript" if "%" in p else "-5000-digits"),
)
async def test_ids_that_cannot_exist_are_404_not_500(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 404, r.text
    assert r.json()["text"].startswith("404 Item Not Found")


@pytest.mark.parametrize("body_id", ["³", BIG, True, -1, 1.5])
async def test_action_stop_with_an_id_that_cannot_exist_is_404(
    client: httpx.AsyncClient, body_id: Any
) -> None:
    r = await client.post("/api/v2/action_stops", json={"action": {"id": body_id}})
    assert r.status_code == 404, r.text
    assert r.json()["text"].startswith("404 Item Not Found")


@pytest.mark.parametrize("scan", [SUPERSCRIPT_THREE, BIG, "0", "-1"])
async def test_manifest_scan_that_cannot_exist_is_400(app: Starlette, scan: str) -> None:
    client_id = app.state.backend.fleet.endpoint(0).client_id
    async with anonymous(app) as admin:
        r = await admin.get(
            f"/_sim/endpoints/{client_id}/manifest?scan={scan}", headers={"Authorization": f"Bearer {ADMIN}"}
        )
    assert r.status_code == 400, r.text
    assert r.json()["text"] == "400 Bad Request: scan must be a positive integer"


async def test_a_hostname_with_thousands_of_digits_matches_nothing(client: httpx.AsyncClient) -> None:
    r = await client.get("/plugin/products/dec/v1/endpoints", params={"hostname": f"web-abc-{BIG}"})
    assert r.status_code == 200 and r.json() == {"data": []}  # a search with no match, as for any name


# -- C. system_status pages a large fleet --------------------------------------------------------------


@pytest.fixture
def big_app() -> Starlette:
    """A 1,000,000-endpoint fleet: endpoints are computed when read, so building it is cheap."""
    return create_app(
        Settings(seed=3, endpoints=1_000_000, token=TOKEN, admin_token=ADMIN), clock=ManualClock()
    )


async def system_status(app: Starlette, options: dict[str, int] | None) -> tuple[list[Any], dict[str, Any]]:
    headers = {"session": TOKEN, **({"tanium-options": json.dumps(options)} if options is not None else {})}
    async with anonymous(app) as c:
        r = await c.get("/api/v2/system_status", headers=headers)
    assert r.status_code == 200, r.text
    *rows, cache = r.json()["data"]
    return rows, cache


async def test_unpaged_system_status_answers_the_first_page_not_the_fleet(big_app: Starlette) -> None:
    rows, cache = await system_status(big_app, None)
    assert len(rows) == SYSTEM_STATUS_PAGE_ROWS == cache["page_row_count"]
    assert cache["filtered_row_count"] == cache["cache_row_count"] == 1_000_000
    fleet = big_app.state.backend.fleet
    assert [r["computer_id"] for r in rows[:2]] == [fleet.endpoint(0).client_id, fleet.endpoint(1).client_id]


async def test_a_page_larger_than_the_largest_is_cut_to_it(big_app: Starlette) -> None:
    rows, cache = await system_status(
        big_app, {"row_start": 999_999 - SYSTEM_STATUS_MAX_ROWS, "row_count": 10**6}
    )
    assert len(rows) == SYSTEM_STATUS_MAX_ROWS == cache["page_row_count"]
    rows, cache = await system_status(big_app, {"row_start": 999_998, "row_count": 10})
    assert (
        len(rows) == 2 and rows[-1]["computer_id"] == big_app.state.backend.fleet.endpoint(999_999).client_id
    )


async def test_large_pages_are_built_off_the_event_loop(
    big_app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    built_in: list[tuple[int | None, bool]] = []
    original = ThreatResponseBackend.system_status

    def spy(self: ThreatResponseBackend, start: int = 0, count: int | None = None) -> list[dict[str, Any]]:
        built_in.append((count, threading.get_ident() == loop_thread))
        return original(self, start, count)

    monkeypatch.setattr(ThreatResponseBackend, "system_status", spy)
    await system_status(big_app, {"row_count": 10})
    await system_status(big_app, None)
    await system_status(big_app, {"row_count": 10**6})
    assert built_in == [(10, True), (SYSTEM_STATUS_PAGE_ROWS, False), (SYSTEM_STATUS_MAX_ROWS, False)]


async def test_the_reference_client_still_lists_every_endpoint_over_pages() -> None:
    """A client asking for more than the largest page gets it cut and reads on from the next ``row_start``."""
    size = SYSTEM_STATUS_MAX_ROWS + 1_000
    app = create_app(Settings(seed=4, endpoints=size, token=TOKEN, admin_token=ADMIN), clock=ManualClock())
    async with AsyncTaniumClient("http://sim", token=TOKEN, transport=httpx.ASGITransport(app=app)) as tanium:
        fleet = await tanium.system_status(page_size=SYSTEM_STATUS_MAX_ROWS * 2)
    assert len(fleet) == len({e.computer_id for e in fleet}) == size
