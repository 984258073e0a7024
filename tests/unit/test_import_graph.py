"""The import graph of the deployable code: layering and no loops, checked statically.

Every ``.py`` file under ``shared/``, ``functions/``, ``emulators/`` and ``devstack/`` is
parsed (never imported, so nothing runs and no optional dependency is needed) and every
``import x``, ``from x import y`` and relative import becomes an edge, wherever it sits: at
module level, inside a function (the lazy imports that keep cold starts short) and under
``if TYPE_CHECKING:``. Type-only imports count because a loop through them is still a loop
in the design, and one edit away from a runtime one (decision 0130). Imports whose target is
computed at run time (``importlib.import_module(name)``) cannot be seen and are not edges.

Two rules hold:

- ``shared/`` is the library every deployable ships; the local stack (``devstack/``) and the
  emulators (``emulators/``) are built on it, never the reverse, so nothing under ``shared/``
  imports either.
- No module of the repository imports itself back through a chain of imports. A failure
  names one chain per loop, each hop as ``module:line`` of the import that leads on
  (``a:12 -> b:30 -> a``), and every module caught in that loop.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "functions", "emulators", "devstack")
FORBIDDEN_FROM_SHARED = ("emulators", "devstack")


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def repository_modules() -> Mapping[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                modules[module_name(path)] = path
    return modules


def _longest_known_prefix(name: str, modules: Mapping[str, Path]) -> str | None:
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    base = importer.split(".")
    if not is_package:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool) -> Iterator[str]:
    """Fully qualified names a statement may load: for ``from p import n`` both ``p.n`` (when
    ``n`` is a submodule) and ``p`` (when ``n`` is a name defined in ``p``)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = (
        _resolve_relative(importer, is_package, node.level, node.module)
        if node.level
        else node.module or ""
    )
    for alias in node.names:
        if alias.name != "*":
            yield f"{base}.{alias.name}"
    yield base


def _edges_of(name: str, path: Path, modules: Mapping[str, Path]) -> Iterator[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.ImportFrom) and node.module is None and node.level == 0:
            continue  # pragma: no cover - not valid Python
        targets = list(_targets(node, name, is_package))
        if isinstance(node, ast.ImportFrom):
            # ``from p import n``: the submodule ``p.n`` if it exists, else the module ``p``.
            base = targets.pop()
            submodules = [t for t in targets if t in modules]
            resolved = submodules if submodules else [_longest_known_prefix(base, modules)]
        else:
            resolved = [_longest_known_prefix(t, modules) for t in targets]
        for target in resolved:
            if target is not None and target != name:
                yield Edge(name, target, node.lineno)


def external_imports(path: Path, importer: str) -> Iterator[tuple[str, int]]:
    """Every absolute top-level name the file imports (for the layering rule, which is about
    packages, whether or not a module of that name exists today)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in _targets(node, importer, is_package):
                if target:
                    yield target, node.lineno


@cache
def import_graph() -> Mapping[str, tuple[Edge, ...]]:
    modules = repository_modules()
    return {name: tuple(_edges_of(name, path, modules)) for name, path in modules.items()}


def layering_violations() -> set[tuple[str, str]]:
    """``(importer, imported)`` for every import of ``emulators``/``devstack`` from ``shared``."""
    found: set[tuple[str, str]] = set()
    for name, path in repository_modules().items():
        if name.split(".")[0] != "shared":
            continue
        for target, _line in external_imports(path, name):
            if target.split(".")[0] in FORBIDDEN_FROM_SHARED:
                found.add((name, target))
    return found


def strongly_connected(graph: Mapping[str, tuple[Edge, ...]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively (the graph is deep enough to matter for recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[Edge]]] = [(start, iter(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            advanced = False
            for edge in edges:
                nxt = edge.imported
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph.get(nxt, ()))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def cycle_path(graph: Mapping[str, tuple[Edge, ...]], component: list[str]) -> str:
    """One concrete loop inside a strongly connected component, with the importing lines."""
    members = set(component)
    start = component[0]
    # Breadth-first from start's successors back to start, staying inside the component.
    previous: dict[str, Edge] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for edge in graph[node]:
                if edge.imported not in members or edge.imported in previous:
                    continue
                previous[edge.imported] = edge
                if edge.imported == start:
                    following = []
                    break
                following.append(edge.imported)
            if start in previous:
                break
        frontier = following
    hops: list[Edge] = []
    node = start
    while True:
        edge = previous[node]
        hops.append(edge)
        node = edge.importer
        if node == start:
            break
    hops.reverse()
    chain = " -> ".join(f"{edge.importer}:{edge.line}" for edge in hops) + f" -> {start}"
    return f"{chain} (loop among: {', '.join(component)})"


def import_cycles() -> list[str]:
    graph = import_graph()
    return sorted(cycle_path(graph, component) for component in strongly_connected(graph))


# ---- the graph walker itself -------------------------------------------------------------


def test_the_walk_sees_every_package_and_lazy_imports() -> None:
    modules = repository_modules()
    for package in ("shared", "emulators", "devstack"):
        assert package in modules, package
    assert any(name.startswith("functions.") for name in modules)
    graph = import_graph()
    targets = {edge.imported for edge in graph["shared.kalshi.ws"]}
    assert "shared.kalshi.ws.client" in targets
    # ``from shared.kalshi.ws.messages import X`` is an edge to the module, not the package.
    assert "shared.kalshi.ws.messages" in {edge.imported for edge in graph["shared.kalshi.ws.book"]}


def test_cycle_detection_names_the_loop() -> None:
    graph = {
        "a": (Edge("a", "b", 1),),
        "b": (Edge("b", "c", 2), Edge("b", "d", 3)),
        "c": (Edge("c", "a", 4),),
        "d": (),
    }
    components = strongly_connected(graph)
    assert components == [["a", "b", "c"]]
    assert cycle_path(graph, components[0]) == "a:1 -> b:2 -> c:4 -> a (loop among: a, b, c)"


def test_relative_imports_resolve_against_the_package() -> None:
    assert _resolve_relative("p.q.mod", False, 1, "x") == "p.q.x"
    assert _resolve_relative("p.q.mod", False, 2, "x") == "p.x"
    assert _resolve_relative("p.q", True, 1, "x") == "p.q.x"
    assert _resolve_relative("p.q", True, 1, None) == "p.q"


# ---- the rules ---------------------------------------------------------------------------


def test_shared_imports_neither_emulators_nor_devstack() -> None:
    found = layering_violations()
    assert not found, "shared/ must not import these: " + ", ".join(
        f"{importer} imports {imported}" for importer, imported in sorted(found)
    )


def test_no_import_cycles() -> None:
    loops = import_cycles()
    assert not loops, "import loops:\n" + "\n".join(loops)
