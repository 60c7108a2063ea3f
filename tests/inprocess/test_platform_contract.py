"""Platform API v2 contract: wrappers, columns/rows, markers, action status strings, documented errors."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from simulator.platform import PlatformBackend, PlatformTiming
from simulator.platform.packages import STOP, UNINSTALL_LINUX
from simulator.state.scanner import ScannerBook

from .conftest import World

pytestmark = pytest.mark.anyio
MONITOR = "3P Cryptosense - Monitor"
RUNNING_Q = f"Get Online from all machines with {MONITOR} equals Running"


def use_timing(app: Starlette, **knobs: Any) -> PlatformBackend:
    platform = PlatformBackend(app.state.backend, PlatformTiming(**knobs))
    app.state.platform = platform
    return platform


async def result_set(client: httpx.AsyncClient, kind: str, rid: int) -> dict[str, Any]:
    r = await client.get(f"/api/v2/{kind}/question/{rid}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"data"}
    key = "result_sets" if kind == "result_data" else "result_infos"
    (rs,) = body["data"][key]
    assert body["data"]["max_available_age"] == "" and body["data"]["now"].endswith("GMT-0000")
    return dict(rs)


async def test_sensor_by_name_shape_and_parameter_definition(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v2/sensors/by-name/File Exists")
    assert r.status_code == 200
    sensor = r.json()["data"]
    for key in ("id", "name", "hash", "category", "description", "max_age_seconds", "parameter_definition"):
        assert key in sensor
    assert json.loads(sensor["parameter_definition"])["parameters"][0]["key"] == "filePath"
    monitor = (await client.get(f"/api/v2/sensors/by-name/{MONITOR}")).json()["data"]
    assert monitor["max_age_seconds"] == 900 and monitor["parameter_definition"] == ""


async def test_unknown_sensor_package_and_ids_are_404(client: httpx.AsyncClient) -> None:
    for path in (
        "/api/v2/sensors/by-name/No Such Sensor",
        "/api/v2/packages/by-name/No Such Package",
        "/api/v2/questions/999",
        "/api/v2/questions/abc",
        "/api/v2/result_info/question/999",
        "/api/v2/result_data/question/999",
        "/api/v2/actions/999",
        "/api/v2/result_data/action/999",
        "/api/v2/groups/999",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.json()["text"].startswith("404 Item Not Found")
    r = await client.post("/api/v2/action_stops", json={"action": {"id": 999}})
    assert r.status_code == 404


async def test_routes_need_a_session(app: Starlette) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as anon:
        r = await anon.post("/api/v2/questions", json={"query_text": "Get Online from all machines"})
    assert r.status_code == 401 and r.json()["text"].startswith("401")


async def test_package_shape(client: httpx.AsyncClient) -> None:
    package = (await client.get(f"/api/v2/packages/by-name/{UNINSTALL_LINUX}")).json()["data"]
    assert package["name"] == UNINSTALL_LINUX and package["display_name"] == UNINSTALL_LINUX
    assert package["command_timeout"] == 180 and package["expire_seconds"] == 600
    assert package["files"] == [] and "command" in package and "parameter_definition" in package


async def test_parse_question_canonical_candidate(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v2/parse_question", json={"text": RUNNING_Q})
    cand, cache_info = r.json()["data"]
    assert set(cache_info) == {
        "cache_id",
        "cache_row_count",
        "filtered_row_count",
        "page_row_count",
        "expiration",
    }
    assert cache_info["cache_row_count"] == 1
    assert cand["from_canonical_text"] == 1 and cand["question_text"] == RUNNING_Q
    assert cand["expire_seconds"] == 600
    assert cand["selects"][0]["sensor"]["name"] == "Online"
    (filt,) = cand["group"]["filters"]
    assert (filt["sensor"]["name"], filt["operator"], filt["value"]) == (MONITOR, "Equal", "Running")
    assert cand["sensor_references"][0]["name"] == "Online"
    fe = (
        await client.post(
            "/api/v2/parse_question",
            json={"text": "Get File Exists[/opt/cryptosense/bin/cs-host-scanner] from all machines"},
        )
    ).json()["data"][0]
    assert fe["parameter_values"] == ["/opt/cryptosense/bin/cs-host-scanner"]
    sensor = fe["selects"][0]["sensor"]
    assert sensor["parameters"] == [{"key": "||filePath||", "value": "/opt/cryptosense/bin/cs-host-scanner"}]
    assert "source_hash" in sensor and "group" not in fe


@pytest.mark.parametrize(
    "text",
    [
        "Online from all machines",
        "Get Onlin from all machines",
        "Get Online",
        "Get Online from all machines with Online frobs True",
        "Get File Exists from all machines",
        "Get Online from all machines with Online equals a and Online equals b or Online equals c",
        "",
    ],
)
async def test_bad_question_text_is_400_and_changes_nothing(world: World, text: str) -> None:
    before = world.backend.store.count("platform_questions")
    for path, body in (
        ("/api/v2/parse_question", {"text": text}),
        ("/api/v2/questions", {"query_text": text}),
    ):
        r = await world.client.post(path, json=body)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["text"].startswith("400 Bad Request")
    assert world.backend.store.count("platform_questions") == before


async def test_bad_question_bodies(client: httpx.AsyncClient) -> None:
    bad = [
        ({}, 400),
        ({"selects": []}, 400),
        ({"selects": [{"sensor": {"name": "Nope"}}]}, 404),
        ({"selects": [{"sensor": {"name": "Online"}, "filter": {"operator": "Like", "value": "x"}}]}, 400),
        ({"selects": [{"sensor": {"name": "Online"}, "filter": {"max_age_seconds": -1}}]}, 400),
        ({"selects": [{"sensor": {"name": "Online"}}], "group": {"id": 4242}}, 404),
        ({"query_text": "Get Online from all machines", "expire_seconds": 0}, 400),
    ]
    for body, status in bad:
        r = await client.post("/api/v2/questions", json=body)
        assert r.status_code == status, (body, r.text)


async def test_three_question_forms_give_the_same_query_text(client: httpx.AsyncClient) -> None:
    cand = (await client.post("/api/v2/parse_question", json={"text": RUNNING_Q})).json()["data"][0]
    hand = {
        "selects": [{"sensor": {"name": "Online"}, "filter": {}}],
        "group": {
            "and_flag": True,
            "filters": [{"sensor": {"name": MONITOR}, "operator": "Equal", "value": "Running"}],
        },
        "expire_seconds": 600,
        "context_group": {"id": 0},
    }
    ids = []
    for body in ({"query_text": RUNNING_Q}, cand, hand):
        r = await client.post("/api/v2/questions", json=body)
        assert r.status_code == 200, r.text
        ids.append(r.json()["data"]["id"])
    for qid in ids:
        q = (await client.get(f"/api/v2/questions/{qid}")).json()["data"]
        assert q["query_text"] == RUNNING_Q and q["id"] == qid and q["expire_seconds"] == 600


async def test_result_counters_grow_and_rows_appear(world: World) -> None:
    client, clock = world.client, world.clock
    qid = (
        await client.post(
            "/api/v2/questions", json={"query_text": f"Get Computer Name and {MONITOR} from all machines"}
        )
    ).json()["data"]["id"]
    early = await result_set(client, "result_data", qid)
    assert early["mr_tested"] == 0 and "columns" not in early and "rows" not in early
    seen = []
    for _ in range(6):
        clock.advance(2)
        info = await result_set(client, "result_info", qid)
        assert "rows" not in info
        seen.append(info["mr_tested"])
    assert seen == sorted(seen) and seen[-1] == info["estimated_total"] == 12
    assert any(0 < tested < 12 for tested in seen)
    rs = await result_set(client, "result_data", qid)
    assert [c["name"] for c in rs["columns"]] == ["Computer Name", MONITOR, "Count"]
    assert rs["columns"][-1] == {"hash": 0, "name": "Count", "type": 3}
    for row in rs["rows"]:
        assert set(row) == {"id", "cid", "data"} and len(row["data"]) == 3
        assert all(isinstance(cell, list) and set(cell[0]) == {"text"} for cell in row["data"])
    assert sum(int(r["data"][2][0]["text"]) for r in rs["rows"]) == 12
    assert rs["row_count"] == len(rs["rows"]) == 12


async def test_pending_answers_show_unavailable_and_offline_never_answer(
    app: Starlette, world: World
) -> None:
    from simulator.state.fleet import Fleet

    sim = world.backend
    sim.fleet = Fleet(sim.settings.seed, sim.fleet.size, sim.settings.fleet, offline_fraction=0.4)
    use_timing(app)
    offline = [ep for ep in sim.fleet if not ep.online]
    assert offline
    qid = (
        await world.client.post(
            "/api/v2/questions", json={"query_text": "Get Computer Name from all machines"}
        )
    ).json()["data"]["id"]
    world.clock.advance(3600)
    rs = await result_set(world.client, "result_data", qid)
    assert rs["estimated_total"] == rs["mr_tested"] == 12 - len(offline)
    unavailable = [r for r in rs["rows"] if r["data"][0][0]["text"] == "[current results unavailable]"]
    assert len(unavailable) == 1 and unavailable[0]["data"][-1][0]["text"] == str(len(offline))


async def test_group_filter_drops_machines_and_select_filter_shows_no_results(world: World) -> None:
    client, clock, sim = world.client, world.clock, world.backend
    book = ScannerBook(sim.store, sim.settings.seed)
    running = sum(book.runs_by_default(ep) for ep in sim.fleet)
    assert 0 < running < 12
    qid = (await client.post("/api/v2/questions", json={"query_text": RUNNING_Q})).json()["data"]["id"]
    body = {
        "selects": [
            {"sensor": {"name": "Computer Name"}},
            {"sensor": {"name": MONITOR}, "filter": {"operator": "Equal", "value": "Running"}},
        ]
    }
    qid2 = (await client.post("/api/v2/questions", json=body)).json()["data"]["id"]
    clock.advance(15)
    rs = await result_set(client, "result_data", qid)
    assert rs["mr_passed"] == running and rs["rows"][0]["data"][0][0]["text"] == "True"
    assert rs["rows"][0]["data"][1][0]["text"] == str(running)
    rs2 = await result_set(client, "result_data", qid2)
    values = [r["data"][1][0]["text"] for r in rs2["rows"]]
    assert values.count("Running") == running and values.count("[no results]") == 12 - running
    assert rs2["no_results_count"] == 12 - running


async def test_tanium_options_page_the_rows(world: World) -> None:
    qid = (
        await world.client.post(
            "/api/v2/questions", json={"query_text": "Get Computer Name from all machines"}
        )
    ).json()["data"]["id"]
    world.clock.advance(15)
    r = await world.client.get(
        f"/api/v2/result_data/question/{qid}",
        headers={"tanium-options": json.dumps({"row_start": 2, "row_count": 3})},
    )
    (rs,) = r.json()["data"]["result_sets"]
    assert len(rs["rows"]) == 3 and rs["row_count"] == 12


async def deploy(
    client: httpx.AsyncClient, package: str, target: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/api/v2/actions",
        json={"name": "t", "package_spec": {"name": package}, "target_group": target, **extra},
    )
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"data"}
    return dict(r.json()["data"])


async def cells(client: httpx.AsyncClient, action_id: int) -> list[str]:
    (rs,) = (await client.get(f"/api/v2/result_data/action/{action_id}")).json()["data"]["result_sets"]
    assert [c["name"] for c in rs["columns"]] == ["Computer Name", "Action Statuses", "Count"]
    return [row["data"][1][0]["text"] for row in rs["rows"]]


async def test_action_status_over_time_and_expiry(world: World) -> None:
    client, clock = world.client, world.clock
    action = await deploy(client, STOP, {"and_flag": True, "filters": []})
    assert (
        action["status"] == "Pending" and action["expire_seconds"] == 780 and action["stopped_flag"] is False
    )
    aid = action["id"]
    assert all(c == f"{aid}:Waiting." for c in await cells(client, aid))
    seen: set[str] = set()
    for _ in range(10):
        clock.advance(2)
        now = await cells(client, aid)
        assert all(re.fullmatch(rf"{aid}:(Waiting|Downloading|Running|Completed)\.", c) for c in now)
        seen.update(c.split(":")[1] for c in now)
    assert {"Downloading.", "Running.", "Completed."} <= seen
    assert (await client.get(f"/api/v2/actions/{aid}")).json()["data"]["status"] == "Active"
    clock.advance(780)
    assert (await client.get(f"/api/v2/actions/{aid}")).json()["data"]["status"] == "Expired"
    assert all(c == f"{aid}:Completed." for c in await cells(client, aid))


async def test_short_expiry_expires_unfinished_endpoints(world: World) -> None:
    action = await deploy(world.client, STOP, {"filters": []}, expire_seconds=4)
    world.clock.advance(30)
    assert set(await cells(world.client, action["id"])) == {f"{action['id']}:Expired."}


async def test_action_stop_stops_in_progress_endpoints_and_cancels_the_effect(world: World) -> None:
    client, clock, sim = world.client, world.clock, world.backend
    action = await deploy(client, STOP, {"filters": []})
    clock.advance(1)
    r = await client.post("/api/v2/action_stops", json={"action": {"id": action["id"]}})
    assert r.status_code == 200 and r.json()["data"]["action"]["id"] == action["id"]
    clock.advance(60)
    got = (await client.get(f"/api/v2/actions/{action['id']}")).json()["data"]
    assert got["status"] == "Stopped" and got["stopped_flag"] is True
    assert set(await cells(client, action["id"])) == {f"{action['id']}:Stopped."}
    book = ScannerBook(sim.store, sim.settings.seed)
    assert all(book.running_at(ep, clock.now()) == book.runs_by_default(ep) for ep in sim.fleet)
    assert (await client.post("/api/v2/action_stops", json={"action": {}})).status_code == 400


async def test_offline_and_failing_endpoints(app: Starlette, world: World) -> None:
    from simulator.state.fleet import Fleet

    sim = world.backend
    sim.fleet = Fleet(sim.settings.seed, sim.fleet.size, sim.settings.fleet, offline_fraction=0.3)
    use_timing(app, action_failure_rate=1.0, offline_action_fail_s=30)
    offline = {ep.hostname for ep in sim.fleet if not ep.online}
    assert offline
    action = await deploy(world.client, STOP, {"filters": []})
    world.clock.advance(10)
    (rs,) = (await world.client.get(f"/api/v2/result_data/action/{action['id']}")).json()["data"][
        "result_sets"
    ]
    early = {r["data"][0][0]["text"]: r["data"][1][0]["text"] for r in rs["rows"]}
    assert all(early[h].endswith(":Waiting.") for h in offline)
    world.clock.advance(60)
    assert set(await cells(world.client, action["id"])) == {f"{action['id']}:Failed."}


async def test_linux_package_fails_on_windows(world: World) -> None:
    ep = next(e for e in world.backend.fleet if e.is_windows)
    action = await deploy(
        world.client,
        UNINSTALL_LINUX,
        {"filters": [{"sensor": {"name": "Computer ID"}, "operator": "Equal", "value": ep.client_id}]},
    )
    world.clock.advance(60)
    assert await cells(world.client, action["id"]) == [f"{action['id']}:Failed."]


async def test_groups_and_saved_actions(world: World) -> None:
    client = world.client
    ep = world.endpoint(3)
    r = await client.post(
        "/api/v2/groups", json={"name": "one", "text": f"Computer Name equals {ep.hostname}"}
    )
    assert r.status_code == 200
    group = r.json()["data"]
    assert (
        group["text"] == f"Computer Name equals {ep.hostname}" and group["filters"][0]["value"] == ep.hostname
    )
    assert (await client.get(f"/api/v2/groups/{group['id']}")).json()["data"]["id"] == group["id"]
    dup = await client.post("/api/v2/groups", json={"name": "one", "text": "Computer Name equals x"})
    assert dup.status_code == 400 and "NotUnique" in dup.json()["text"]
    assert (
        await client.post("/api/v2/groups", json={"text": "Computer Name sounds like x"})
    ).status_code == 400
    saved = await client.post(
        "/api/v2/saved_actions",
        json={"name": "s", "package_spec": {"name": STOP}, "target_group": {"name": "one"}},
    )
    assert saved.status_code == 200
    last = saved.json()["data"]["last_action"]["id"]
    action = (await client.get(f"/api/v2/actions/{last}")).json()["data"]
    assert action["saved_action"]["id"] == saved.json()["data"]["id"]
    world.clock.advance(60)
    assert await cells(client, last) == [f"{last}:Completed."]


async def test_bad_action_bodies_change_nothing(world: World) -> None:
    client = world.client
    cases = [
        ({"package_spec": {"name": "Nope"}, "target_group": {"filters": []}}, 404),
        ({"package_spec": {"source_id": 4242}, "target_group": {"filters": []}}, 404),
        ({"package_spec": {}, "target_group": {"filters": []}}, 400),
        ({"package_spec": {"name": STOP}}, 400),
        ({"package_spec": {"name": STOP}, "target_group": {"id": 4242}}, 404),
        ({"package_spec": {"name": STOP}, "target_group": {"name": "no such group"}}, 404),
        (
            {"package_spec": {"name": STOP}, "target_group": {"filters": [{"sensor": {"name": "Online"}}]}},
            400,
        ),
        ({"package_spec": {"name": STOP}, "target_group": {"filters": []}, "expire_seconds": "soon"}, 400),
    ]
    for body, status in cases:
        r = await client.post("/api/v2/actions", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["text"].startswith(str(status))
    assert world.backend.store.count("platform_actions") == 0
    assert world.backend.store.count("scanner") == 0
