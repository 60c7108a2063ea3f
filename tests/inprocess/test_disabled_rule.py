"""A rule with ``enabled: false`` through the app: from a scenario file or ``POST /_sim/faults``, it is
listed with ``enabled: false`` and never fires; the vendor API answers as if it were absent."""

from __future__ import annotations

import httpx
import pytest

from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.scenarios import Scenario
from simulator.settings import Settings

from .conftest import ADMIN, TOKEN, TR

pytestmark = pytest.mark.anyio
PARKED = """\
faults:
  - {name: parked, enabled: false, match: {operation: module_status}, fault: {type: status, status: 503}}
"""


async def test_a_disabled_rule_is_listed_and_never_fires() -> None:
    settings = Settings(endpoints=2, token=TOKEN, admin_token=ADMIN)
    app = create_app(settings, clock=ManualClock(), scenario=Scenario.from_text(PARKED, source="parked.yaml"))
    admin = {"authorization": f"Bearer {ADMIN}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers={"session": TOKEN}) as c:
        added = {"name": "also-parked", "enabled": False, "fault": {"type": "status", "status": 500}}
        r = await c.post("/_sim/faults", json=added, headers=admin)
        assert r.status_code == 201 and r.json()["enabled"] is False
        for _ in range(3):
            assert (await c.get(f"{TR}/status")).status_code == 200
        rules = (await c.get("/_sim/faults", headers=admin)).json()["faults"]
        assert [(r["name"], r["enabled"], r["matched"], r["fired"]) for r in rules] == [
            ("parked", False, 0, 0),
            ("also-parked", False, 0, 0),
        ]
        bad = await c.post("/_sim/faults", json={**added, "name": "x", "enabled": "yes"}, headers=admin)
        assert bad.status_code == 400 and "enabled: expected true or false" in bad.json()["text"]
