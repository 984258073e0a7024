"""Structural rules a refactor must not undo, checked on the syntax tree (not by grep, so a
comment or a docstring naming ``os.environ`` neither hides nor fakes a violation).

- Only :mod:`shared.config` reads the environment: every other module under ``shared/``
  and every ``functions/*/main.py`` asks its typed parsers, so each variable follows one
  set of rules (unset or blank is the default, a malformed value is a ``ConfigError``).
- Every ``functions/*/main.py`` has the same three parts, in this order: logging configured
  at import (``configure_logging()``), one lazily built service behind a lock (``service()``
  over ``_service``/``_lock``), and exactly one functions-framework handler, named after
  the function (the deployed entry point).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT_READER = ROOT / "shared" / "config.py"
_ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/main.py"))


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def environment_reads(tree: ast.AST) -> list[int]:
    """Line numbers where ``tree`` touches the process environment through ``os``."""
    os_names: set[str] = set()
    lines: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names.update(a.asname or a.name for a in node.names if a.name == "os")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            lines.extend(node.lineno for a in node.names if a.name in _ENV_NAMES)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in _ENV_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_detector_sees_every_spelling() -> None:
    source = (
        "import os\nimport os as o\nfrom os import getenv\n"
        "a = os.environ['X']\nb = o.getenv('Y')\n# os.environ in a comment\n'os.environ'\n"
    )
    assert environment_reads(ast.parse(source)) == [3, 4, 5]


def _python_files() -> list[Path]:
    return sorted([*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").glob("*/main.py")])


def test_only_shared_config_reads_the_environment() -> None:
    offenders = {
        _relative(path): reads
        for path in _python_files()
        if path != ENVIRONMENT_READER
        and (reads := environment_reads(ast.parse(path.read_text(), str(path))))
    }
    assert not offenders, f"read the environment through shared.config instead: {offenders}"
    assert environment_reads(ast.parse(ENVIRONMENT_READER.read_text()))


def _framework_handlers(tree: ast.Module) -> list[ast.FunctionDef]:
    def is_framework(decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "functions_framework"
        )

    return [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any(map(is_framework, node.decorator_list))
    ]


def _assigned(tree: ast.Module, name: str) -> list[ast.stmt]:
    """Module-level statements that bind ``name`` (``x = ...`` or ``x: T = ...``)."""
    found: list[ast.stmt] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            found.append(node)
    return found


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_the_three_parts_in_order(function: str) -> None:
    path = ROOT / "functions" / function / "main.py"
    tree = ast.parse(path.read_text(), str(path))

    # 1. Logging configured at import, by a module-level call.
    logging_calls = [
        node.lineno
        for node in tree.body
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "configure_logging"
    ]
    assert len(logging_calls) == 1, f"{function}: configure_logging() once, at import"

    # 2. One lazily built service: ``_service = None`` and a lock at module level, and one
    # ``service()`` that builds it under the lock.
    (state,) = _assigned(tree, "_service")
    assert isinstance(state, ast.AnnAssign | ast.Assign)
    assert isinstance(state.value, ast.Constant) and state.value.value is None, function
    (lock,) = _assigned(tree, "_lock")
    assert isinstance(lock, ast.Assign) and "Lock" in ast.unparse(lock.value), function
    builders = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "service"]
    assert len(builders) == 1, f"{function}: one service() function"
    (builder,) = builders
    assert any(isinstance(n, ast.Global) and "_service" in n.names for n in ast.walk(builder)), (
        function
    )
    assert any(
        isinstance(n, ast.With) and "_lock" in ast.unparse(n.items[0].context_expr)
        for n in ast.walk(builder)
    ), f"{function}: service() builds under _lock"
    lazies = [
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef)
        and any(isinstance(g, ast.Global) for g in ast.walk(n))
        and n.name != "service"
    ]
    assert not lazies, f"{function}: one lazily built global, not also {lazies}"

    # 3. Exactly one framework handler, named after the function (the entry point).
    handlers = _framework_handlers(tree)
    assert [h.name for h in handlers] == [function], function

    assert logging_calls[0] < builder.lineno < handlers[0].lineno, (
        f"{function}: logging at import, then service(), then the handler"
    )
