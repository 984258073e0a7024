"""The simulator's modules import each other without a loop (``TYPE_CHECKING`` imports too).

``app`` wires ``rest`` and ``ws`` together; the state they share lives in ``state`` and the
exchange's parts in ``model``, so nothing needs to import back up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import emulators.kalshi_sim as package

PACKAGE = package.__name__


def _graph() -> dict[str, set[str]]:
    root = Path(package.__file__).parent
    modules = {f.stem for f in root.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in root.glob("*.py"):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == PACKAGE:
                    deps |= {a.name for a in node.names if a.name in modules}
                elif node.module.startswith(PACKAGE + "."):
                    deps.add(node.module.rsplit(".", 1)[1])
        graph[path.stem] = deps - {path.stem}
    return graph


def test_no_import_cycles() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, " -> ".join([*path, module])
        if module in done:
            return
        for dep in sorted(graph.get(module, ())):
            visit(dep, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert {"app", "rest", "ws", "state", "hub", "frames"} <= set(graph)
