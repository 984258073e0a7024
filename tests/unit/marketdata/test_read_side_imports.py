"""The read side of market data never imports its write side.

``queries`` and ``http_api`` (the markets API) share SQL with the ingest only through
``shared.marketdata.sql``. Checked on the source (every import statement, including those
inside functions, followed through the package), so a lazy import cannot slip through.
"""

import ast
import importlib.util
from pathlib import Path

PACKAGE = "shared.marketdata"
_SPEC = importlib.util.find_spec(PACKAGE)
assert _SPEC is not None and _SPEC.submodule_search_locations
PACKAGE_DIR = Path(next(iter(_SPEC.submodule_search_locations)))
READ_SIDE = ("queries", "http_api")
WRITE_SIDE = {"ingest", "poller", "poll_state", "snapshot_messages"}


def package_imports(module: str) -> set[str]:
    """The ``shared.marketdata`` modules ``module``'s source imports, by short name."""
    tree = ast.parse((PACKAGE_DIR / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.ImportFrom):  # relative: from . import x / from .x import y
            base = f"{PACKAGE}.{node.module}" if node.module else PACKAGE
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            if name.startswith(f"{PACKAGE}."):
                short = name.removeprefix(f"{PACKAGE}.").split(".")[0]
                if (PACKAGE_DIR / f"{short}.py").exists():
                    found.add(short)
    return found


def reachable(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        for imported in package_imports(todo.pop()):
            if imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


def test_the_checker_sees_what_the_write_side_imports():
    assert {"ingest", "poll_state", "snapshot_messages", "observation"} <= reachable("poller")
    assert "sql" in package_imports("ingest")


def test_read_side_never_imports_the_write_side():
    for module in READ_SIDE:
        assert reachable(module) & WRITE_SIDE == set(), module
    assert "sql" in package_imports("queries")
