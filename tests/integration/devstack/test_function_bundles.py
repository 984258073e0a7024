"""Each function bundle carries exactly what its function imports, and that is enough.

A bundle is unpacked into an empty directory and its entry point imported in a clean
interpreter (``-I -S``: no user site, no ``.pth`` files, so the project's editable install
cannot lend it a ``shared`` from the checkout) whose path holds only the bundle and the
venv's site-packages. Then every module the bundle ships is imported too, so a module
reached only through a function-level (lazy) import still finds all it needs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from devstack.package_functions import discover_functions, import_closure, package_all
from tests.infra.tf import REPO_ROOT

pytestmark = pytest.mark.integration

_PROBE = """
import importlib, json, sys
bundle, site_packages = sys.argv[1], sys.argv[2]
sys.path[:] = [bundle, site_packages, *[p for p in sys.path if p and "-packages" not in p]]
import main
import shared
shipped = json.loads(sys.argv[3])
for name in shipped:
    importlib.import_module(name)
loaded = {
    name: getattr(module, "__file__", None) or ""
    for name, module in sys.modules.items()
    if name == "shared" or name.startswith("shared.")
}
print(json.dumps({"entry": main.__file__, "shared": shared.__file__, "loaded": loaded}))
"""


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bundles")
    return {p.name: p.zip_path for p in package_all(out_dir=out)}


def _shipped_modules(names: list[str]) -> list[str]:
    modules = []
    for name in names:
        if name.startswith("shared/") and name.endswith(".py") and "/migrations/" not in name:
            module = name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            modules.append(module)
    return sorted(modules)


@pytest.mark.parametrize("function", discover_functions(REPO_ROOT / "functions"))
def test_a_bundle_imports_with_nothing_but_itself(
    function: str, bundles: dict[str, Path], tmp_path: Path
) -> None:
    with zipfile.ZipFile(bundles[function]) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path)
    shipped = _shipped_modules(names)
    env = {"PATH": "/usr/bin:/bin", "APP_ENVIRONMENT": "local", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            _PROBE,
            str(tmp_path),
            sysconfig.get_paths()["purelib"],
            json.dumps(shipped),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["entry"] == str(tmp_path / "main.py")
    assert report["shared"] == str(tmp_path / "shared" / "__init__.py")
    outside = {n: f for n, f in report["loaded"].items() if f and not f.startswith(str(tmp_path))}
    assert not outside, f"modules loaded from outside the bundle: {outside}"


def test_bundles_carry_only_their_import_closure(bundles: dict[str, Path]) -> None:
    every_module = {
        p.relative_to(REPO_ROOT).as_posix()
        for p in (REPO_ROOT / "shared").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    for function, zip_path in bundles.items():
        with zipfile.ZipFile(zip_path) as zf:
            shipped = {n for n in zf.namelist() if n.startswith("shared/") and n.endswith(".py")}
        entries = sorted((REPO_ROOT / "functions" / function).rglob("*.py"))
        closure = {
            p.relative_to(REPO_ROOT).as_posix()
            for p in import_closure(entries, REPO_ROOT / "shared")
            if p.suffix == ".py"
        }
        assert shipped == closure
        assert shipped < every_module, f"{function} ships all of shared/"


def test_a_function_that_can_migrate_carries_the_migrations(tmp_path: Path) -> None:
    """No function migrates today; the rule is checked on an entry point that would."""
    entry = tmp_path / "main.py"
    entry.write_text("def handler(request):\n    from shared.db.migrate import upgrade\n")
    shared = REPO_ROOT / "shared"
    closure = {p.relative_to(shared).as_posix() for p in import_closure([entry], shared)}
    assert {"db/migrate.py", "db/migrations/env.py", "db/alembic.ini"} <= closure
    versions = {
        p.relative_to(shared).as_posix()
        for p in (shared / "db" / "migrations" / "versions").glob("*.py")
    }
    assert versions and versions <= closure
    # load_models() imports these by a computed name.
    assert {"db/models.py", "db/models_marketdata.py", "db/models_backtest.py"} <= closure
    assert "backtest/engine.py" not in closure


def test_without_migrate_no_migrations_ship(bundles: dict[str, Path]) -> None:
    for zip_path in bundles.values():
        with zipfile.ZipFile(zip_path) as zf:
            names = set(zf.namelist())
        if "shared/db/migrate.py" not in names:
            assert not any("/migrations/" in n for n in names)
