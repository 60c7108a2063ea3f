"""The platform backend: one method per ``/api/v2`` operation of the scanner runbook, raising vendor errors.

It shares the Threat Response backend's store, clock, fleet and endpoint files, so a stop or uninstall
action here changes what Threat Response and the trace pipeline see there. Timing knobs come in as a
:class:`PlatformTiming` (the scenario engine injects its own).

>>> from simulator.state.backend import ThreatResponseBackend
>>> from simulator.settings import Settings
>>> platform = PlatformBackend(ThreatResponseBackend.build(Settings(endpoints=4, seed=1)))
>>> platform.create_question({"query_text": "Get Online from all machines"})["id"]
1
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import simulator.platform.actions as action_model
from simulator.errors import BadRequest, NotFound
from simulator.ids import parse_id
from simulator.platform.actions import ActionRecord
from simulator.platform.packages import Package, PackageCatalog
from simulator.platform.parser import candidate, parse_filter_text, parse_question
from simulator.platform.query import Group, QuerySpec, decode_group, decode_selects
from simulator.platform.questions import TABLE as QUESTIONS
from simulator.platform.questions import QuestionEngine, QuestionRecord, tanium_now
from simulator.platform.sensors import SensorCatalog, SensorEvaluator
from simulator.platform.timing import PlatformTiming
from simulator.state.backend import ThreatResponseBackend
from simulator.state.fleet import Endpoint
from simulator.state.scanner import ScannerBook

GROUPS = "platform_groups"
ALL_COMPUTERS = {"id": 1, "name": "All Computers"}
MAX_EXPIRE_S = 7 * 86_400


def _record_id(raw: object, what: str) -> str:
    """The store key of a record id from a path or a body; 404 for one that cannot exist (``³``, 5,000
    digits)."""
    number = parse_id(raw.strip() if isinstance(raw, str) else raw)
    if number is None:
        shown = f"id {raw.strip()[:40]}" if isinstance(raw, str) else "that id"  # str() of a huge int raises
        raise NotFound(f"no {what} with {shown}")
    return str(number)


def _names_no_machines(raw: Any) -> bool:
    """A target group object that says nothing (``{}``, ``{"id": 0}``, ``{"and_flag": true}``): a client bug
    that must be refused, not read as "no filter, so every machine". ``{"filters": []}`` is explicit."""
    if not isinstance(raw, dict):
        return False
    if any(raw.get(key) is not None for key in ("filters", "sub_groups", "text")):
        return False
    return raw.get("id") in (None, 0, "0", "") and not raw.get("name")


def _seconds(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_EXPIRE_S:
        raise BadRequest(f"{name} must be an integer between 1 and {MAX_EXPIRE_S}")
    return value


class PlatformBackend:
    """Questions, sensors, packages, groups and actions over the simulated fleet."""

    def __init__(self, core: ThreatResponseBackend, timing: PlatformTiming | None = None) -> None:
        self.core = core
        self.timing = timing or PlatformTiming()
        self.store = core.store
        self.seed = core.settings.seed
        self.sensor_catalog = SensorCatalog()
        self.packages = PackageCatalog()
        self.scanner = ScannerBook(core.store, self.seed, self.timing.scanner_running_fraction)
        self.sensors = SensorEvaluator(self.seed, self.scanner, core.files, self.timing)
        self.questions = QuestionEngine(self.seed, core.fleet, self.sensors, self.timing)

    def now(self) -> float:
        return self.core.now()

    # -- sensors and packages ---------------------------------------------------------------------
    def get_sensor(self, name: str) -> dict[str, Any]:
        sensor = self.sensor_catalog.by_name(name)
        return sensor.to_api(self.timing.sensor_max_age(sensor.name))

    def get_package(self, name: str) -> dict[str, Any]:
        return self.packages.by_name(name).to_api()

    # -- questions --------------------------------------------------------------------------------
    def parse_question(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        text = body.get("text")
        return [candidate(parse_question(text, self.sensor_catalog), str(text))]

    def _spec(self, body: dict[str, Any]) -> QuerySpec:
        if body.get("selects") is None:
            text = body.get("query_text", body.get("question_text"))
            if text is None:
                raise BadRequest("a question needs query_text or selects")
            return parse_question(text, self.sensor_catalog)
        selects = decode_selects(body.get("selects"), self.sensor_catalog)
        group = self._group_ref(body["group"]) if body.get("group") else None
        return QuerySpec(selects, group)

    def create_question(self, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._spec(body)
        expire = _seconds(body.get("expire_seconds"), "expire_seconds", 600)
        context = body.get("context_group")
        if context is not None and not isinstance(context, dict):
            raise BadRequest("context_group must be an object like {'id': 0}")
        record = QuestionRecord(self.store.next_id("platform_question"), spec, self.now(), expire, context)
        self.store.put(QUESTIONS, str(record.id), record)
        return record.to_api()

    def _question(self, question_id: object) -> QuestionRecord:
        record: QuestionRecord | None = self.store.get(QUESTIONS, _record_id(question_id, "question"))
        if record is None:
            raise NotFound(f"no question with id {question_id}")
        return record

    def get_question(self, question_id: object) -> dict[str, Any]:
        return self._question(question_id).to_api()

    def result_info(self, question_id: object) -> dict[str, Any]:
        now = self.now()
        results = self.questions.results(self._question(question_id), now)
        return {"now": tanium_now(now), "max_available_age": "", "result_infos": [results.info()]}

    def result_data(
        self, question_id: object, row_start: int = 0, row_count: int | None = None
    ) -> dict[str, Any]:
        now = self.now()
        results = self.questions.results(self._question(question_id), now)
        return {
            "now": tanium_now(now),
            "max_available_age": "",
            "result_sets": [results.result_set(row_start, row_count)],
        }

    def merged_result_data(
        self, question_id: object, row_start: int = 0, row_count: int | None = None
    ) -> dict[str, Any]:
        """``merged_result_data``: the question's sub-questions merged; a simulated question has none, so
        the same envelope and rows as :meth:`result_data`."""
        return self.result_data(question_id, row_start, row_count)

    # -- groups -----------------------------------------------------------------------------------
    def create_group(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("text") is not None:
            group = parse_filter_text(body["text"], self.sensor_catalog)
        else:
            group = decode_group(body, self.sensor_catalog)
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 256):
            raise BadRequest("name must be a string")
        if name and any(g["name"].lower() == name.lower() for g in self.store.values(GROUPS)):
            raise BadRequest(f"NotUnique: a group named {name!r} already exists")
        group_id = self.store.next_id("platform_group", start=1001)
        stored = Group(group.filters, group.sub_groups, group.and_flag, group.not_flag, id=group_id)
        record = {"id": group_id, "name": name or "", "group": stored}
        self.store.put(GROUPS, str(group_id), record)
        return self._group_api(record)

    @staticmethod
    def _group_api(record: dict[str, Any]) -> dict[str, Any]:
        group: Group = record["group"]
        return {**group.to_api(), "id": record["id"], "name": record["name"], "text": group.text(), "type": 2}

    def get_group(self, group_id: object) -> dict[str, Any]:
        key = _record_id(group_id, "group")
        if key == "1":
            return {**Group(id=1).to_api(), **ALL_COMPUTERS, "text": "", "type": 0}
        record = self.store.get(GROUPS, key)
        if record is None:
            raise NotFound(f"no group with id {group_id}")
        return self._group_api(record)

    def get_group_by_name(self, name: str) -> dict[str, Any]:
        """A group by its name, any case (``All Computers`` is group 1); 404 for an unknown name."""
        if name.strip().lower() == "all computers":
            return self.get_group("1")
        for record in self.store.values(GROUPS):
            if record["name"] and record["name"].lower() == name.strip().lower():
                return self._group_api(record)
        raise NotFound(f"no group named {name[:80]!r}")

    def _group_ref(self, raw: Any) -> Group:
        """A group given by id, by name, as text, or inline with filters."""
        if not isinstance(raw, dict):
            raise BadRequest("a group must be an object: {id}, {name} or {and_flag, filters}")
        if raw.get("filters") is None and raw.get("sub_groups") is None:
            if raw.get("text") is not None:
                return parse_filter_text(raw["text"], self.sensor_catalog)
            if raw.get("id") is not None and str(raw["id"]) != "0":
                if _record_id(raw["id"], "group") == "1":
                    return Group()
                record = self.store.get(GROUPS, _record_id(raw["id"], "group"))
                if record is None:
                    raise NotFound(f"no group with id {raw['id']}")
                group: Group = record["group"]
                return group
            name = raw.get("name")
            if isinstance(name, str) and name:
                if name.lower() == "all computers":
                    return Group()
                for record in self.store.values(GROUPS):
                    if record["name"].lower() == name.lower():
                        return record["group"]  # type: ignore[no-any-return]
                raise NotFound(f"no group named {name[:80]!r}")
        return decode_group(raw, self.sensor_catalog)

    # -- actions ----------------------------------------------------------------------------------
    def _package(self, spec: Any) -> Package:
        if not isinstance(spec, dict):
            raise BadRequest("package_spec must be an object: {source_id} or {name}")
        for key in ("source_id", "id"):
            if spec.get(key) not in (None, 0, "0"):
                return self.packages.by_id(spec[key])
        if isinstance(spec.get("name"), str) and spec["name"]:
            return self.packages.by_name(spec["name"])
        raise BadRequest("package_spec needs a source_id, id or name")

    def _targets(self, group: Group) -> tuple[int, ...]:
        """Endpoints matching the group now (fresh values: targeting is evaluated by each endpoint)."""
        now = self.now()

        def matches(endpoint: Endpoint) -> bool:
            return group.evaluate(lambda f: f.matches(self.sensors.truth(f.ref, endpoint, now)))

        return tuple(ep.index for ep in self.core.fleet if matches(ep))

    def create_action(self, body: dict[str, Any], *, saved_action_id: int = 0) -> dict[str, Any]:
        package = self._package(body.get("package_spec"))
        target = body.get("target_group")
        if target is None:
            raise BadRequest("target_group is required (an inline group, {id} or {name})")
        if _names_no_machines(target):
            raise BadRequest(
                "target_group is empty: give {filters: [...]}, {id}, {name} or {text}; "
                "an empty group never means all computers"
            )
        group = self._group_ref(target)
        action_group = body.get("action_group") or {"id": 2, "name": "Default"}
        if not isinstance(action_group, dict):
            raise BadRequest("action_group must be an object: {id} or {name}")
        name = body.get("name") or f"Deploy {package.name}"
        if not isinstance(name, str) or len(name) > 512:
            raise BadRequest("name must be a string")
        expire = _seconds(body.get("expire_seconds"), "expire_seconds", package.action_expire_seconds)
        record = ActionRecord(
            id=self.store.next_id("platform_action"),
            name=name,
            package=package,
            created_at=self.now(),
            expire_seconds=expire,
            targets=self._targets(group),
            target_group={**group.to_api(), "text": group.text()},
            action_group=action_group,
            timing=self.timing,
            seed=self.seed,
            saved_action_id=saved_action_id,
        )
        self.store.put(action_model.TABLE, str(record.id), record)
        for endpoint in self._endpoints(record):
            run = record.run(endpoint)
            if run.takes_effect(record.expires_at):
                self.scanner.record(endpoint, package.effect, at=run.done_at, action_id=record.id)
        return record.to_api(self.now())

    def create_saved_action(self, body: dict[str, Any]) -> dict[str, Any]:
        saved_id = self.store.next_id("platform_saved_action")
        action = self.create_action(body, saved_action_id=saved_id)
        saved = {
            "id": saved_id,
            "name": action["name"],
            "status": 0,
            "approved_flag": True,
            "issue_seconds": 0,
            "expire_seconds": action["expire_seconds"],
            "package_spec": action["package_spec"],
            "target_group": action["target_group"],
            "action_group": action["action_group"],
            "last_action": {"id": action["id"], "start_time": action["start_time"]},
        }
        self.store.put(action_model.SAVED_TABLE, str(saved_id), saved)
        return saved

    def _action(self, action_id: object) -> ActionRecord:
        record: ActionRecord | None = self.store.get(action_model.TABLE, _record_id(action_id, "action"))
        if record is None:
            raise NotFound(f"no action with id {action_id}")
        return record

    def _endpoints(self, record: ActionRecord) -> list[Endpoint]:
        return [self.core.fleet.endpoint(i) for i in record.targets]

    def get_action(self, action_id: object) -> dict[str, Any]:
        return self._action(action_id).to_api(self.now())

    def stop_action(self, body: dict[str, Any]) -> dict[str, Any]:
        ref = body.get("action")
        if not isinstance(ref, dict) or ref.get("id") is None:
            raise BadRequest('body must be {"action": {"id": N}}')
        record = self._action(ref["id"])
        now = self.now()
        if record.stopped_at is None and now < record.expires_at:

            def stop(action: ActionRecord) -> ActionRecord:
                return replace(action, stopped_at=now) if action.stopped_at is None else action

            record = self.store.update(action_model.TABLE, str(record.id), stop) or record
            if record.stopped_at == now:
                for endpoint in self._endpoints(record):
                    self.scanner.cancel_after(endpoint, record.id, now)
        stop_id = self.store.next_id("platform_action_stop")
        self.store.put(action_model.STOPS_TABLE, str(stop_id), {"id": stop_id, "action_id": record.id})
        return {"id": stop_id, "action": {"id": record.id, "name": record.name}}

    def action_result_data(self, action_id: object) -> dict[str, Any]:
        now = self.now()
        record = self._action(action_id)
        return {
            "now": tanium_now(now),
            "max_available_age": "",
            "result_sets": [record.result_set(self._endpoints(record), now)],
        }


__all__ = ["PlatformBackend"]
