"""devstack/package_functions.py: each function's deployable source is main.py + shared/ +
a requirements.txt pinned from constraints.txt, zipped reproducibly."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from devstack.package_functions import (
    PackagingError,
    discover_functions,
    package_all,
    package_function,
    pinned_requirements,
    project_dependencies,
    read_constraints,
)
from tests.infra.tf import REPO_ROOT


@pytest.fixture(scope="module")
def requirements() -> list[str]:
    constraints = read_constraints(REPO_ROOT / "constraints.txt")
    return pinned_requirements(project_dependencies(REPO_ROOT / "pyproject.toml"), constraints)


def _function_tree(root: Path) -> Path:
    fn = root / "functions" / "hello"
    (fn / "__pycache__").mkdir(parents=True)
    # A bundle ships the part of shared/ its function imports (import_closure).
    (fn / "main.py").write_text(
        "import shared.kalshi.money\n\ndef hello(request):\n    return 'hi'\n"
    )
    (fn / "helpers.py").write_text("X = 1\n")
    (fn / "test_main.py").write_text("def test(): pass\n")
    (fn / "requirements.txt").write_text("flask\n")
    (fn / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    return root / "functions"


def test_requirements_pin_the_whole_runtime_closure(requirements: list[str]) -> None:
    constraints = read_constraints(REPO_ROOT / "constraints.txt")
    assert all("==" in line for line in requirements)
    assert set(requirements) <= set(constraints.values())
    names = {line.split("==")[0].lower() for line in requirements}
    # Direct dependencies and transitive ones the runtime imports.
    assert {"functions-framework", "sqlalchemy", "pg8000", "cloud-sql-python-connector"} <= names
    assert {"flask", "protobuf", "grpcio"} <= names
    assert not {"pytest", "ruff", "mypy", "hypothesis"} & names, "dev tools are not deployed"


def test_an_unpinned_runtime_dependency_is_an_error() -> None:
    constraints = read_constraints(REPO_ROOT / "constraints.txt")
    del constraints["pg8000"]
    with pytest.raises(PackagingError, match="pg8000"):
        pinned_requirements(["pg8000>=1.31"], constraints)


def test_package_layout_and_reproducible_zip(tmp_path: Path, requirements: list[str]) -> None:
    functions_dir = _function_tree(tmp_path / "repo")
    out = tmp_path / "out"
    first = package_function(
        "hello",
        functions_dir=functions_dir,
        shared_dir=REPO_ROOT / "shared",
        requirements=requirements,
        out_dir=out,
    )
    with zipfile.ZipFile(first.zip_path) as zf:
        names = set(zf.namelist())
        shipped_requirements = zf.read("requirements.txt").decode()
    assert {"main.py", "helpers.py", "requirements.txt", "shared/__init__.py"} <= names
    assert "shared/kalshi/money.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert "test_main.py" not in names
    assert "flask\n" not in shipped_requirements.splitlines(keepends=True)
    assert "functions-framework==" in shipped_requirements
    assert first.sha256 == hashlib.sha256(first.zip_path.read_bytes()).hexdigest()

    again = package_function(
        "hello",
        functions_dir=functions_dir,
        shared_dir=REPO_ROOT / "shared",
        requirements=requirements,
        out_dir=tmp_path / "out2",
    )
    assert again.sha256 == first.sha256, "same source must give the same bytes"

    (functions_dir / "hello" / "main.py").write_text("def hello(request):\n    return 'bye'\n")
    changed = package_function(
        "hello",
        functions_dir=functions_dir,
        shared_dir=REPO_ROOT / "shared",
        requirements=requirements,
        out_dir=out,
    )
    assert changed.sha256 != first.sha256


def test_a_function_without_main_py_is_refused(tmp_path: Path, requirements: list[str]) -> None:
    (tmp_path / "functions" / "empty").mkdir(parents=True)
    with pytest.raises(PackagingError, match=r"main\.py"):
        package_function(
            "empty",
            functions_dir=tmp_path / "functions",
            shared_dir=REPO_ROOT / "shared",
            requirements=requirements,
            out_dir=tmp_path / "out",
        )


def test_every_repository_function_packages(tmp_path: Path) -> None:
    names = discover_functions(REPO_ROOT / "functions")
    if not names:
        pytest.skip("no functions/<name>/main.py in this checkout yet")
    packaged = package_all(out_dir=tmp_path)
    assert [p.name for p in packaged] == names
    manifest = (tmp_path / "manifest.json").read_text()
    for item in packaged:
        assert item.sha256 in manifest
        with zipfile.ZipFile(item.zip_path) as zf:
            assert "main.py" in zf.namelist() and "shared/__init__.py" in zf.namelist()
            # The API functions serve their OpenAPI documents from the bundle.
            assert {"openapi/markets.json", "openapi/backtests.json"} <= set(zf.namelist())
