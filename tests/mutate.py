"""Mutation testing of the core modules with mutmut, one module at a time (``make mutate``, docs/testing.md).

Each module is mutated in a work folder of its own, ``mutants/<module>/``: links to the checkout's
``simulator``, ``client``, ``tests`` and ``scenarios`` plus a ``pyproject.toml`` that is the checkout's
with ``only_mutate`` and the module's fast tests added to its ``[tool.mutmut]`` table. mutmut then runs
there as documented (its own ``mutants/`` folder inside), so ``cd mutants/<module> && mutmut results``
(or ``show``, ``browse``) works on a finished run. Each module gets only the unit and in-process tests
that exercise it (never the socket, browser, Java or Redis tiers), so a module takes minutes on 2 cores.

Results are kept between runs: a rerun tests again every mutant that was not killed (new tests may kill
it) and every mutant of a changed function, and skips the killed ones. ``--fresh`` starts over.

    python tests/mutate.py                      # every module, one after another
    python tests/mutate.py backend rules        # some modules
    python tests/mutate.py --sample             # the small fixed sample CI can afford
    python tests/mutate.py --list               # the modules, their files and their tests

The exit status is 1 when a module scores under ``--fail-under`` (default 0: report only).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "mutants"
LINKED = ("simulator", "client", "tests", "scenarios")

# The vendor API through the app on a manual clock (memory store; the Redis half is deselected).
STATE_TESTS = (
    "tests/unit/test_sensors.py",
    "tests/unit/test_render_cache.py",
    "tests/unit/test_diff_scans.py",
    "tests/inprocess/test_auth_contract.py",
    "tests/inprocess/test_bad_input.py",
    "tests/inprocess/test_connections_contract.py",
    "tests/inprocess/test_control_hardening.py",
    "tests/inprocess/test_discovery_admin_contract.py",
    "tests/inprocess/test_evidence_contract.py",
    "tests/inprocess/test_files_tasks_contract.py",
    "tests/inprocess/test_input_limits_contract.py",
    "tests/inprocess/test_listing_bytes_contract.py",
    "tests/inprocess/test_manual_clock.py",
    "tests/inprocess/test_session_expiry.py",
    "tests/inprocess/test_session_faults_contract.py",
    "tests/inprocess/test_store_races.py",
    "tests/inprocess/test_task_retention.py",
    "tests/inprocess/test_traces_dir.py",
    "tests/inprocess/test_workflow_simulator.py",
    "tests/inprocess/test_platform_contract.py",
    "tests/inprocess/test_platform_clients_contract.py",
    "tests/inprocess/test_scenario_control.py",
    "tests/inprocess/test_scenario_lifecycles.py",
)
# A survivor of the backend runs every test that reaches its function, and most reach every
# function: these files (each several seconds, end to end through the reference client, the
# scenario engine or real trace files) would make each survivor cost half a minute on one core.
BACKEND_SLOW_TESTS = (
    "tests/unit/test_render_cache.py",
    "tests/unit/test_diff_scans.py",
    "tests/inprocess/test_bad_input.py",
    "tests/inprocess/test_session_expiry.py",
    "tests/inprocess/test_traces_dir.py",
    "tests/inprocess/test_workflow_simulator.py",
    "tests/inprocess/test_scenario_lifecycles.py",
)
BACKEND_TESTS = tuple(t for t in STATE_TESTS if t not in BACKEND_SLOW_TESTS)
# mutmut stops a mutant's tests after (their time + 1 s) x 2 x timeout_multiplier (default 15) of CPU.
# A backend mutant that loops forever (the scan count's binary search) would hold the one core for
# ten minutes each under the default; 2 still leaves a real test run four times its measured time.
TIMEOUT_MULTIPLIER = {"backend": 2.0}
CLIENT_TESTS = (
    "tests/inprocess/test_client_calls.py",
    "tests/inprocess/test_retry.py",
    "tests/inprocess/test_retry_workflow.py",
    "tests/inprocess/test_workflow.py",
    "tests/inprocess/test_workflow_simulator.py",
    "tests/inprocess/test_workflow_cleanup.py",
    "tests/inprocess/test_concurrent_collectors.py",
)
TRACE_TESTS = (
    "tests/unit/test_reader.py",
    "tests/unit/test_reader_support.py",
    "tests/unit/test_reader_validate.py",
    "tests/unit/test_reader_memory.py",
    "tests/unit/test_traces_zip.py",
)


@dataclass(frozen=True)
class Module:
    name: str
    path: str
    tests: tuple[str, ...]

    def test_paths(self) -> list[str]:
        """The module's tests that exist, plus any ``tests/*/test_mutants_<name>.py``."""
        paths = [t for t in self.tests if (ROOT / t).is_file()]
        for extra in sorted(glob.glob(str(ROOT / "tests" / "*" / f"test_mutants_{self.name}.py"))):
            rel = str(Path(extra).relative_to(ROOT))
            if rel not in paths:
                paths.append(rel)
        return paths


def _state(name: str, *tests: str) -> Module:
    return Module(name, f"simulator/state/{name}.py", tests)


MODULES = {
    m.name: m
    for m in (
        # The hub: every route goes through it, so it gets the vendor contract, less its slowest files
        # (BACKEND_SLOW_TESTS), plus test_mutants_backend.py, which drives it directly.
        Module("backend", "simulator/state/backend.py", BACKEND_TESTS),
        # The others get the contract tests of what they hold: a mutant in a function every request
        # calls (authentication, the store) is otherwise run against hundreds of tests.
        _state(
            "connections",
            "tests/unit/test_render_cache.py",
            "tests/inprocess/test_connections_contract.py",
            "tests/inprocess/test_store_races.py",
            "tests/inprocess/test_input_limits_contract.py",
        ),
        _state(
            "evidence",
            "tests/inprocess/test_evidence_contract.py",
            "tests/inprocess/test_listing_bytes_contract.py",
        ),
        _state(
            "sessions",
            "tests/inprocess/test_auth_contract.py",
            "tests/inprocess/test_session_expiry.py",
            "tests/inprocess/test_session_faults_contract.py",
        ),
        _state(
            "tasks",
            "tests/inprocess/test_files_tasks_contract.py",
            "tests/inprocess/test_task_retention.py",
            "tests/inprocess/test_store_races.py",
        ),
        _state(
            "fleet",
            "tests/unit/test_sensors.py",
            "tests/inprocess/test_discovery_admin_contract.py",
            "tests/inprocess/test_platform_contract.py",
            "tests/inprocess/test_traces_dir.py",
        ),
        _state(
            "store",
            "tests/inprocess/test_store_races.py",
            "tests/inprocess/test_task_retention.py",
            "tests/inprocess/test_connections_contract.py",
            "tests/inprocess/test_files_tasks_contract.py",
        ),
        _state("filesystem", "tests/unit/test_sensors.py", "tests/inprocess/test_input_limits_contract.py"),
        _state(
            "scanner",
            "tests/unit/test_sensors.py",
            "tests/unit/test_diff_scans.py",
            "tests/inprocess/test_platform_contract.py",
            "tests/inprocess/test_platform_runbook.py",
        ),
        Module(
            "rules",
            "simulator/faults/rules.py",
            (
                "tests/unit/test_faults.py",
                "tests/unit/test_fault_rule_enabled.py",
                "tests/unit/test_scenarios.py",
                "tests/unit/test_scenario_limits.py",
                "tests/inprocess/test_user_middleware.py",
                "tests/inprocess/test_scenario_control.py",
                "tests/inprocess/test_session_faults_contract.py",
                "tests/inprocess/test_disabled_rule.py",
                "tests/inprocess/test_control_hardening.py",
            ),
        ),
        Module("workflow", "client/_workflow.py", CLIENT_TESTS),
        Module("retry", "client/_retry.py", CLIENT_TESTS),
        Module("trace", "client/_trace.py", TRACE_TESTS),
        Module(
            "zipcrypto",
            "simulator/traces/zipcrypto.py",
            (
                "tests/unit/test_traces_zip.py",
                "tests/unit/test_reader.py",
                "tests/unit/test_traces_generation.py",
            ),
        ),
        Module(
            "replay",
            "simulator/record/replay.py",
            ("tests/inprocess/test_replay.py", "tests/inprocess/test_record_proxy.py"),
        ),
    )
}
# `make mutate-sample`: small modules whose tests are quick, a few minutes in all on 2 cores.
SAMPLE = ("zipcrypto", "evidence", "sessions")

KILLED = {1, 3}  # mutmut's exit codes for a mutant some test killed (3: pytest's internal error)
TIMEOUT = {36, -24, 24, 152, 255}
NO_TESTS = {5, 33}


def _toml_list(values: list[str]) -> str:
    return json.dumps(values)  # a JSON list of strings is a TOML array


def _work_pyproject(module: Module) -> str:
    """The checkout's pyproject.toml with this module's only_mutate and tests in ``[tool.mutmut]``."""
    text = (ROOT / "pyproject.toml").read_text()
    lines = (
        f"only_mutate = {_toml_list([module.path])}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(module.test_paths())}\n"
    )
    if module.name in TIMEOUT_MULTIPLIER:
        lines += f"timeout_multiplier = {TIMEOUT_MULTIPLIER[module.name]}\n"
    header = re.search(r"^\[tool\.mutmut\]\n", text, re.M)
    if header is None:
        raise SystemExit("mutate: pyproject.toml has no [tool.mutmut] table")
    return text[: header.end()] + lines + text[header.end() :]


def prepare(module: Module, *, fresh: bool) -> Path:
    work = WORK / module.name
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = work / name
        if not link.is_symlink():
            link.symlink_to(Path("..") / ".." / name)
    pyproject = work / "pyproject.toml"
    text = _work_pyproject(module)
    if not pyproject.exists() or pyproject.read_text() != text:
        pyproject.write_text(text)
    # Retest what was not killed: a new test may kill it now.
    meta = work / "mutants" / (module.path + ".meta")
    if meta.exists():
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        data["exit_code_by_key"] = {k: (v if v in KILLED else None) for k, v in codes.items()}
        meta.write_text(json.dumps(data, indent=4))
    return work


@dataclass
class Score:
    module: str
    path: str
    total: int
    killed: int
    timeout: int
    survived: list[str]
    no_tests: list[str]
    other: list[str]
    seconds: int = 0
    mutmut_exit: int = 0

    @property
    def caught(self) -> int:
        """Killed mutants; one that hangs its tests is caught too (they time out)."""
        return self.killed + self.timeout

    @property
    def percent(self) -> float:
        return round(100 * self.caught / self.total, 1) if self.total else 0.0


def score(module: Module) -> Score:
    meta = WORK / module.name / "mutants" / (module.path + ".meta")
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}

    def having(wanted: set[int]) -> list[str]:
        return sorted(k for k, v in codes.items() if v in wanted)

    killed, timeout, no_tests, survived = having(KILLED), having(TIMEOUT), having(NO_TESTS), having({0})
    known = {*killed, *timeout, *no_tests, *survived}
    other = sorted(k for k in codes if k not in known)
    return Score(module.name, module.path, len(codes), len(killed), len(timeout), survived, no_tests, other)


def run_module(module: Module, *, fresh: bool, children: int) -> Score:
    work = prepare(module, fresh=fresh)
    started = time.monotonic()
    # A fresh interpreter per module: mutmut keeps its state in globals. The script's own folder is
    # not put on sys.path (-P), so `tests` is imported from the work folder's copy, as mutmut intends.
    cmd = [sys.executable, "-P", "-m", "mutmut", "run", "--max-children", str(children)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    print(
        f"mutate: {module.name} ({module.path}): mutmut output in {work.relative_to(ROOT)}/mutmut.log",
        flush=True,
    )
    with (work / "mutmut.log").open("w") as log:
        rc = subprocess.run(
            cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        ).returncode
    if rc != 0:
        tail = (work / "mutmut.log").read_text(errors="replace").splitlines()[-15:]
        print(f"mutate: {module.name}: mutmut failed (exit {rc}); the log ends:\n  " + "\n  ".join(tail))
    result = score(module)
    result.seconds = round(time.monotonic() - started)
    result.mutmut_exit = rc
    (work / "score.json").write_text(
        json.dumps({**asdict(result), "percent": result.percent}, indent=2) + "\n"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests/mutate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"module names (default: all): {', '.join(MODULES)}")
    parser.add_argument("--sample", action="store_true", help=f"the CI sample: {', '.join(SAMPLE)}")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results and start over")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests, run nothing")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2, help="mutants run at once")
    parser.add_argument("--fail-under", type=float, default=0.0, help="exit 1 when a module scores lower")
    args = parser.parse_args(argv)
    names = list(SAMPLE) if args.sample else (args.modules or list(MODULES))
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        print(f"mutate: unknown module {', '.join(unknown)}; one of: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    if args.list:
        for name in names:
            module = MODULES[name]
            print(f"{name}: {module.path}\n    " + "\n    ".join(module.test_paths()))
        return 0
    results = [run_module(MODULES[n], fresh=args.fresh, children=args.children) for n in names]
    print("\nmodule        caught/total   score  survived  no tests  time")
    failed = False
    for r in results:
        print(
            f"{r.module:<13} {r.caught:>5}/{r.total:<6} {r.percent:>6}%  {len(r.survived):>8}"
            f"  {len(r.no_tests):>8}  {r.seconds}s"
        )
        failed = failed or r.percent < args.fail_under or r.mutmut_exit != 0
    print(f"\nSurvivors: cd mutants/<module> && {Path(sys.executable).parent}/mutmut show <name>")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
