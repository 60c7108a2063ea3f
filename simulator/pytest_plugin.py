"""The pytest plugin: a tanium-sim simulator as a fixture in any project's test suite.

Installing tanium-sim registers it (entry point ``pytest11``, name ``tanium_sim``); nothing to configure.
The in-process fixtures share one simulated world on a manual clock; ``tanium_sim_server`` serves its own
world on a real socket, in real time. A ``tanium_sim`` marker or the ``--tanium-sim-scenario`` and
``--tanium-sim-seed`` options choose the world; the marker beats the options, which beat the defaults
(scenario ``baseline``, seed 0, 10 endpoints), and a setting named in either beats the scenario file's.

>>> @pytest.mark.anyio                                                          # doctest: +SKIP
... @pytest.mark.tanium_sim(scenario="flaky-5xx", endpoints=3, seed=7)
... async def test_fleet(tanium_sim_http):
...     assert (await tanium_sim_http.get("/api/v2/system_status")).status_code in (200, 503)

Loading the plugin costs nothing: the simulator is imported by the fixtures that use it, and nothing
reads the environment. The fixtures are plain (sync) fixtures returning async objects, so they work with
any async test runner (anyio's pytest plugin, pytest-asyncio); ``tanium_sim_client`` needs asyncio.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

    from client import AsyncTaniumClient
    from simulator.clock import ManualClock, VirtualSleep
    from simulator.record.replay import Replay
    from simulator.scenarios import Scenario
    from simulator.server import BackgroundServer
    from simulator.settings import Settings

MARKER = "tanium_sim"
BASE_URL = "http://tanium-sim"
DEFAULT_SETTINGS: dict[str, Any] = {"seed": 0, "endpoints": 10, "host": "127.0.0.1", "port": 0}
_SCENARIO_OPTION = pytest.StashKey[str]()


@dataclasses.dataclass(frozen=True)
class WorldSpec:
    """What a test asked for: a scenario (name, path or :class:`Scenario`) and ``Settings`` fields."""

    scenario: Any  # None: the baseline
    settings: dict[str, Any]
    explicit: frozenset[str]  # settings the marker or an option named: they beat the scenario's values


# -- hooks ------------------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tanium-sim", "tanium-sim simulator fixtures")
    group.addoption(
        "--tanium-sim-scenario",
        metavar="NAME|PATH",
        default=None,
        help="scenario for the tanium_sim fixtures when no marker names one (default: baseline)",
    )
    group.addoption(
        "--tanium-sim-seed",
        metavar="N",
        type=int,
        default=None,
        help="seed for the tanium_sim fixtures when no marker names one (default: 0)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "tanium_sim(scenario=None, **settings): the simulated world for the tanium_sim_* fixtures "
        "(a scenario name or path, and Settings fields such as endpoints=, seed=, token=)",
    )
    name = config.getoption("tanium_sim_scenario", default=None)
    if name:
        from simulator.scenarios import Scenario, resolve

        try:
            path = resolve(name)
            Scenario.load(path)
        except ValueError as exc:
            raise pytest.UsageError(f"--tanium-sim-scenario: {exc}") from None
        config.stash[_SCENARIO_OPTION] = str(path.resolve())  # tests that chdir still find it


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: only the tests that will run are checked
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A marker that cannot build a world stops the run before any test, like an unknown marker."""
    for item in items:
        if item.get_closest_marker(MARKER) is not None:
            try:
                build_world(spec_for(item))
            except ValueError as exc:
                raise pytest.UsageError(f"{item.nodeid}: the tanium_sim marker: {exc}") from None


# -- resolving a test's world ---------------------------------------------------------------------------


def spec_for(node: pytest.Item) -> WorldSpec:
    """Defaults, then the command-line options, then the markers (module's, class's, then the test's)."""
    config = node.config
    scenario: Any = config.stash.get(_SCENARIO_OPTION, None)
    settings = dict(DEFAULT_SETTINGS)
    explicit: set[str] = set()
    seed = config.getoption("tanium_sim_seed", default=None)
    if seed is not None:
        settings["seed"] = seed
        explicit.add("seed")
    for marker in reversed(list(node.iter_markers(MARKER))):  # closest last, so it wins
        if len(marker.args) > 1:
            raise ValueError("it takes one positional argument at most (the scenario); pass settings by name")
        kwargs = dict(marker.kwargs)
        if marker.args:
            kwargs["scenario"] = marker.args[0]
        if "scenario" in kwargs:
            scenario = kwargs.pop("scenario")
        settings.update(kwargs)
        explicit.update(kwargs)
    return WorldSpec(scenario, settings, frozenset(explicit))


def build_world(spec: WorldSpec) -> tuple[Settings, Scenario]:
    """The settings and the scenario to run; a ``ValueError`` in one sentence for a user mistake."""
    import typing

    from simulator.scenarios import DEFAULT_SCENARIO, Scenario, ScenarioError
    from simulator.settings import Settings

    names = [f.name for f in dataclasses.fields(Settings)]
    unknown = sorted(set(spec.settings) - set(names))
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a setting (known: scenario, {', '.join(names)})")
    hints = typing.get_type_hints(Settings)
    for name, value in spec.settings.items():
        expected = hints[name]
        if expected in (int, float, str, bool) and not _fits(value, expected):
            raise ValueError(f"{name} must be {expected.__name__}, got {value!r}")
    settings = Settings(**spec.settings)  # __post_init__ says what is out of range
    if spec.scenario is None:
        try:
            scenario = Scenario.load(DEFAULT_SCENARIO)
        except ScenarioError:  # no scenarios/ folder installed: the built-in baseline, as serve does
            scenario = Scenario()
    elif isinstance(spec.scenario, Scenario):
        scenario = spec.scenario
    elif isinstance(spec.scenario, str) or hasattr(spec.scenario, "__fspath__"):
        scenario = Scenario.load(spec.scenario)  # ScenarioError (a ValueError) lists the known names
    else:
        raise ValueError(f"scenario must be a name, a path or a Scenario, got {spec.scenario!r}")
    return settings, scenario.without_settings(spec.explicit)  # what the test named wins


def _fits(value: object, expected: type) -> bool:
    if isinstance(value, bool):
        return expected is bool
    return isinstance(value, (int, float) if expected is float else expected)


def _world(request: pytest.FixtureRequest) -> tuple[Settings, Scenario]:
    try:
        return build_world(spec_for(request.node))
    except ValueError as exc:  # checked at collection; here only for markers added while running
        pytest.fail(f"the tanium_sim marker: {exc}", pytrace=False)


# -- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture
def tanium_sim_clock() -> ManualClock:
    """The simulator's manual clock: nothing happens until the test calls ``.advance(seconds)``.

    Connections turn ``connected`` and tasks finish when their delay has passed on this clock
    (``tanium_sim_app.state.settings.lifecycle``), so a test never waits for real time.
    """
    from simulator.clock import ManualClock

    return ManualClock()


@pytest.fixture
def tanium_sim_sleep(tanium_sim_clock: ManualClock) -> VirtualSleep:
    """An async ``sleep(seconds)`` that advances ``tanium_sim_clock`` instead of waiting.

    Give it to the code under test in place of ``asyncio.sleep`` so its poll loops move simulated time;
    ``.delays`` lists every wait asked for (assert back-off schedules with it).
    """
    from simulator.clock import VirtualSleep

    return VirtualSleep(tanium_sim_clock)


@pytest.fixture
def tanium_sim_app(request: pytest.FixtureRequest, tanium_sim_clock: ManualClock) -> Starlette:
    """The simulator's ASGI app on ``tanium_sim_clock``, built from the ``tanium_sim`` marker and options.

    ``@pytest.mark.tanium_sim(scenario="flaky-5xx", endpoints=10, seed=3, **settings)``; defaults:
    baseline, seed 0, 10 endpoints. Scenario delays advance the manual clock instead of waiting.
    ``.state.settings`` holds the token and admin token, ``.state.backend`` the world's ground truth.
    """
    from simulator.app import create_app
    from simulator.clock import VirtualSleep

    settings, scenario = _world(request)
    return create_app(
        settings, clock=tanium_sim_clock, scenario=scenario, sleep=VirtualSleep(tanium_sim_clock)
    )


@pytest.fixture
def tanium_sim_http(tanium_sim_app: Starlette) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on ``tanium_sim_app`` in-process (no sockets), ``session`` header set.

    Base URL ``http://tanium-sim``; paths as the vendor's (``/plugin/products/threat-response/api/v1/...``).
    Use it in an async test (``@pytest.mark.anyio`` with anyio's pytest plugin, or pytest-asyncio).
    """
    import httpx

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=tanium_sim_app),
        base_url=BASE_URL,
        headers={"session": tanium_sim_app.state.settings.token},
    )


@pytest.fixture
def tanium_sim_client(tanium_sim_app: Starlette) -> AsyncTaniumClient:
    """The reference client (``client.AsyncTaniumClient``) on ``tanium_sim_app`` in-process.

    It holds the API token and the simulator's username and password (it logs in again when a
    session expires). Pair it with ``client.collect_trace(..., clock=tanium_sim_clock.now,
    sleep=tanium_sim_sleep)``. Needs an asyncio event loop.
    """
    import httpx

    from client import AsyncTaniumClient

    settings = tanium_sim_app.state.settings
    return AsyncTaniumClient(
        BASE_URL,
        token=settings.token,
        username=settings.username,
        password=settings.password,
        transport=httpx.ASGITransport(app=tanium_sim_app),
    )


@pytest.fixture
def tanium_sim_server(request: pytest.FixtureRequest) -> Iterator[BackgroundServer]:
    """The simulator on a real socket (uvicorn on 127.0.0.1, a free port), for the test's duration.

    For clients that need a socket (requests, Java, another process). It runs in real time on its own
    world (the system clock, not ``tanium_sim_clock``), built from the same marker and options.
    ``.url``, ``.settings.token``, ``.settings.admin_token``; ``.app`` is its ASGI app.
    """
    from simulator.app import create_app
    from simulator.server import BackgroundServer

    settings, scenario = _world(request)
    app = create_app(settings, scenario=scenario)
    with BackgroundServer(app.state.settings, app=app) as server:
        yield server


class ReplayFactory:
    """What ``tanium_sim_replay`` gives a test: call it with a recording to get an app answering from it.

    ``tanium_sim_replay("session.har", mode="strict", speed=1.0)`` is the simulator's ASGI app on
    ``tanium_sim_clock`` answering from the HAR file (a relative path is found next to the test file);
    recorded latency advances the manual clock instead of waiting. ``tanium_sim_replay.server(...)`` serves
    the same on a real socket, in real time, stopped after the test (``.url``). ``mode="hybrid"`` lets the
    world of the ``tanium_sim`` marker answer what the recording lacks; ``speed=0`` replays no latency.
    """

    def __init__(self, request: pytest.FixtureRequest, clock: ManualClock) -> None:
        self._request = request
        self._clock = clock
        self._servers: list[BackgroundServer] = []

    def __call__(self, recording: str | Path, *, mode: str = "strict", speed: float = 1.0) -> Starlette:
        from simulator.app import create_app
        from simulator.clock import VirtualSleep

        settings, scenario = _world(self._request)
        replay = self._replay(recording, mode, speed)
        clock = self._clock
        return create_app(settings, clock=clock, scenario=scenario, sleep=VirtualSleep(clock), replay=replay)

    def server(self, recording: str | Path, *, mode: str = "strict", speed: float = 1.0) -> BackgroundServer:
        """The replay on a real socket (uvicorn on 127.0.0.1, a free port) until the test ends."""
        from simulator.app import create_app
        from simulator.server import BackgroundServer

        settings, scenario = _world(self._request)
        app = create_app(settings, scenario=scenario, replay=self._replay(recording, mode, speed))
        server = BackgroundServer(app.state.settings, app=app).start()
        self._servers.append(server)
        return server

    def _replay(self, recording: str | Path, mode: str, speed: float) -> Replay:
        from simulator.record.replay import Replay, ReplayError

        path = Path(recording)
        if not path.is_absolute():
            path = self._request.path.parent / path
        try:
            return Replay.load(path, mode=mode, speed=speed)
        except ReplayError as exc:
            problem = str(exc)
        pytest.fail(f"tanium_sim_replay: {problem}", pytrace=False)  # outside the except: one line

    def close(self) -> None:
        while self._servers:
            self._servers.pop().stop()


@pytest.fixture
def tanium_sim_replay(
    request: pytest.FixtureRequest, tanium_sim_clock: ManualClock
) -> Iterator[ReplayFactory]:
    """Answer from a recording: ``tanium_sim_replay("session.har", mode="strict", speed=1.0)`` is an app.

    The simulator's ASGI app on ``tanium_sim_clock`` answering vendor requests from a HAR file (as
    ``tanium-sim record`` writes it; a relative path is found next to the test file): the recorded answers
    in recorded order, then the last again; a request not in the recording answers 404 naming the nearest
    recorded one (``mode="hybrid"``: the marker's world answers it). ``.server(...)`` serves it on a real
    socket (``.url``) until the test ends. Scenario faults from the ``tanium_sim`` marker apply on top.
    """
    factory = ReplayFactory(request, tanium_sim_clock)
    try:
        yield factory
    finally:
        factory.close()
