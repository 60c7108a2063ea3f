"""No import cycle anywhere in simulator/ and client/, counting every import statement.

Module-level, ``if TYPE_CHECKING:`` and function-level (lazy) imports all count: a lazy import that only
exists to dodge a cycle is still a cycle in the design. ``import a.b`` is an edge to ``a.b``;
``from pkg import name`` is an edge to ``pkg.name`` when that is a module (and to ``pkg`` as well, since
Python runs ``pkg/__init__`` first), else to ``pkg``. The implicit run of a package's ``__init__`` when a
submodule is imported is not an edge (a package may re-export its submodules).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("simulator", "client")


def _modules(root: Path) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of simulator/ and client/ it imports, anywhere in its source."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        base = name if path.name == "__init__.py" else name.rpartition(".")[0]
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = alias.name
                    while target and target not in modules:
                        target = target.rpartition(".")[0]
                    if target:
                        out.add(target)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = base.split(".")[: len(base.split(".")) - (node.level - 1)]
                    package = ".".join([*anchor, *([node.module] if node.module else [])])
                else:
                    package = node.module or ""
                for alias in node.names:
                    if f"{package}.{alias.name}" in modules:
                        out.add(f"{package}.{alias.name}")
                    if package in modules:
                        out.add(package)
        out.discard(name)
        graph[name] = out
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_in_simulator_or_client() -> None:
    graph = import_graph()
    assert len(graph) > 80  # the walk found the packages
    found = cycles(graph)
    assert not found, "import cycles (each line a group of modules importing each other):\n" + "\n".join(
        " <-> ".join(group) for group in found
    )


def test_the_checker_sees_a_lazy_import_cycle(tmp_path: Path) -> None:
    """The check itself: a cycle made only of a function-level import is reported."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "simulator" / "a.py").write_text("from simulator.b import thing\n")
    (tmp_path / "simulator" / "b.py").write_text("def thing():\n    from simulator import a\n")
    (tmp_path / "client" / "c.py").write_text("from typing import TYPE_CHECKING\n")
    assert cycles(import_graph(tmp_path)) == [["simulator.a", "simulator.b"]]


def test_the_layers_that_broke_cycles_stay_leaves() -> None:
    """The table of operations, the trace spec types and the settings import nothing heavy."""
    graph = import_graph()
    assert graph["simulator.operations"] == set()
    assert graph["simulator.traces.spec"] == set()
    assert graph["simulator.state.updates"] == set()
    assert not any(m.startswith(("simulator.api", "simulator.state")) for m in graph["simulator.scenarios"])
