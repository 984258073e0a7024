"""Assemble each Cloud Function's deployable source: main.py + its part of shared/ + pins.

Cloud Functions builds a Python function from one directory that must hold ``main.py`` and
``requirements.txt`` side by side; it never runs ``setup.py``/``pyproject.toml``, so the
monorepo's ``shared`` package has to be copied in (the build sees only that directory).
Only the modules the function can import are copied (:func:`import_closure`): a change to
a module one function never loads leaves the other functions' zips, hashes and deploys
untouched, and no function ships code it does not run.
For every ``functions/<name>/main.py`` this writes:

- ``build/functions/<name>/``: the function's own files, the modules of ``shared/`` its
  import closure reaches (with those packages' data files, and the migrations when it can
  migrate), ``openapi/`` and a ``requirements.txt`` pinning the whole runtime dependency
  closure to the versions in ``constraints.txt`` (the same versions the test suite ran
  with);
- ``build/functions/<name>.zip``: the same tree as a byte-for-byte reproducible zip (sorted
  entries, fixed timestamps and modes), so its SHA-256 changes exactly when the source
  does. Terraform names the uploaded object after that hash (infra/modules/function);
- ``build/functions/manifest.json``: ``{name: sha256}``.

Usage: ``python -m devstack.package_functions [--out build/functions] [NAME ...]``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import shutil
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

__all__ = [
    "PackagedFunction",
    "PackagingError",
    "discover_functions",
    "import_closure",
    "main",
    "normalize",
    "package_all",
    "package_function",
    "pinned_requirements",
    "project_dependencies",
    "read_constraints",
    "write_reproducible_zip",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Never shipped: caches, tests, and local requirement sketches replaced by the pinned file.
_SKIP_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", "tests"})
_SKIP_FILES = frozenset({"requirements.txt", "requirements-test.txt", ".gcloudignore"})
_SKIP_SUFFIXES = (".pyc", ".pyo")


# Modules that load others by a name computed at run time, which no import statement shows:
# (module, files it may load, as globs relative to the package's parent directory).
# ``shared.db.migrate`` imports every ``models*`` module (pkgutil) and runs the Alembic
# scripts from its migrations directory; strategies are imported by the name in
# ``KALSHI_STRATEGY_MODULES``, so wherever strategies run, all of them ship.
_RUNTIME_LOADS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("shared.db.migrate", ("shared/db/models*.py", "shared/db/migrations/**/*")),
    ("shared.backtest.strategies", ("shared/backtest/strategies/*.py",)),
)


class PackagingError(RuntimeError):
    """A function cannot be packaged (missing main.py, unpinned dependency ...)."""


@dataclass(frozen=True)
class PackagedFunction:
    name: str
    directory: Path
    zip_path: Path
    sha256: str
    requirements: tuple[str, ...]


def normalize(name: str) -> str:
    """PEP 503 name normalisation (``PyJWT`` and ``pyjwt``, ``a_b`` and ``a-b`` match)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_constraints(path: Path) -> dict[str, str]:
    """``constraints.txt`` as {normalised name: exact line ``Name==version``}."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version.strip():
            raise PackagingError(f"{path}: {raw!r} is not an exact 'name==version' pin")
        pins[normalize(name.strip())] = f"{name.strip()}=={version.strip()}"
    return pins


def project_dependencies(pyproject: Path) -> list[str]:
    """The runtime dependencies of the project (``[project].dependencies``)."""
    data = tomllib.loads(pyproject.read_text())
    return list(data["project"]["dependencies"])


def _requirements_of(dist_name: str, extras: Iterable[str]) -> list[Requirement]:
    try:
        requires = metadata.requires(dist_name) or []
    except metadata.PackageNotFoundError as error:
        raise PackagingError(
            f"{dist_name} is not installed in this environment; install the project "
            "('pip install -c constraints.txt -e .') before packaging"
        ) from error
    environment = {key: str(value) for key, value in default_environment().items()}
    wanted = ["", *sorted(extras)]
    found: list[Requirement] = []
    for text in requires:
        req = Requirement(text)
        if req.marker is None or any(
            req.marker.evaluate({**environment, "extra": extra}) for extra in wanted
        ):
            found.append(req)
    return found


def pinned_requirements(roots: Sequence[str], constraints: Mapping[str, str]) -> list[str]:
    """The dependency closure of ``roots``, each pinned to its ``constraints`` line.

    The closure is read from the installed distributions' metadata (the environment that
    ran the tests), with environment markers evaluated for this interpreter, which matches
    the python311 runtime on Linux. A dependency missing from constraints.txt is an error:
    deploys must be exactly what was tested.
    """
    pending = [Requirement(r) for r in roots]
    extras: dict[str, set[str]] = {}
    seen: dict[str, str] = {}
    while pending:
        req = pending.pop()
        key = normalize(req.name)
        new_extras = set(req.extras) - extras.get(key, set())
        if key in seen and not new_extras:
            continue
        extras.setdefault(key, set()).update(req.extras)
        if key not in constraints:
            raise PackagingError(
                f"{req.name} is needed at run time but not pinned in constraints.txt; "
                f"add its exact 'name==version' line"
            )
        seen[key] = constraints[key]
        pending.extend(_requirements_of(req.name, extras[key]))
    return [seen[key] for key in sorted(seen)]


def discover_functions(functions_dir: Path) -> list[str]:
    """Every ``functions/<name>`` that holds a ``main.py``, sorted."""
    if not functions_dir.is_dir():
        return []
    return sorted(p.parent.name for p in functions_dir.glob("*/main.py"))


def _shipped(name: str) -> bool:
    return not (
        name in _SKIP_DIRS
        or name in _SKIP_FILES
        or name.endswith(_SKIP_SUFFIXES)
        or name.endswith("_test.py")
        or name.startswith("test_")
    )


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Absolute module names a source file may import (function-level imports included)."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{node.module}" if node.module else anchor
            else:
                base = node.module or ""
            names.add(base)
            # ``from pkg import name``: name may be a submodule.
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def import_closure(entries: Iterable[Path], package_dir: Path) -> set[Path]:
    """The files of ``package_dir`` (``shared/``) that importing ``entries`` can load.

    Follows every ``import``/``from ... import`` in the entries and, transitively, in the
    package modules they reach (imports inside functions too, since lazy imports still run),
    plus literal ``importlib.import_module("...")`` names and :data:`_RUNTIME_LOADS`. A
    package's ``__init__.py`` comes with any of its modules, and its data files (such as
    ``alembic.ini``) with it.
    """
    root = package_dir.parent
    top = package_dir.name

    def module_file(name: str) -> Path | None:
        base = root.joinpath(*name.split("."))
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                return candidate
        return None

    def module_name(path: Path) -> tuple[str, bool]:
        relative = path.relative_to(root).with_suffix("")
        if relative.name == "__init__":
            return ".".join(relative.parent.parts), True
        return ".".join(relative.parts), False

    found: set[Path] = set()
    pending: list[Path] = []

    def add(path: Path) -> None:
        if path not in found and _shipped(path.name):
            found.add(path)
            if path.suffix == ".py":
                pending.append(path)

    def add_module(name: str) -> None:
        parts = name.split(".")
        if parts[0] != top:
            return
        for depth in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:depth]))
            if path is None:
                if root.joinpath(*parts[:depth]).is_dir():
                    continue  # a namespace package (no __init__.py): nothing to copy
                return
            if path not in found and path.name == "__init__.py":
                for data in sorted(path.parent.iterdir()):
                    if data.is_file() and data.suffix != ".py":
                        add(data)
            add(path)

    for entry in entries:
        tree = ast.parse(entry.read_text(), str(entry))
        for name in sorted(_imported_names(tree, "__entry__", False)):
            add_module(name)
    loaded: set[str] = set()
    while pending:
        path = pending.pop()
        module, is_package = module_name(path)
        if path.is_relative_to(package_dir) and "migrations" not in path.parts:
            loaded.add(module)
        tree = ast.parse(path.read_text(), str(path))
        for name in sorted(_imported_names(tree, module, is_package)):
            add_module(name)
        for trigger, patterns in _RUNTIME_LOADS:
            if trigger in loaded:
                for pattern in patterns:
                    for extra in sorted(root.glob(pattern)):
                        if extra.is_file() and "__pycache__" not in extra.parts:
                            if extra.suffix == ".py" and "migrations" not in extra.parts:
                                add_module(module_name(extra)[0])
                            else:
                                add(extra)
    return found


def _copy_tree(src: Path, dst: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        return {
            n
            for n in names
            if n in _SKIP_DIRS
            or n in _SKIP_FILES
            or n.endswith(_SKIP_SUFFIXES)
            or (n.endswith("_test.py") or n.startswith("test_"))
        }

    shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)


def write_reproducible_zip(source_dir: Path, zip_path: Path) -> str:
    """Zip ``source_dir`` so identical trees give identical bytes; returns the SHA-256."""
    files = sorted(p for p in source_dir.rglob("*") if p.is_file())
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_name(zip_path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source_dir).as_posix(), date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100644 & 0xFFFF) << 16
            info.create_system = 3  # Unix, so the mode above is honoured
            zf.writestr(info, path.read_bytes())
    tmp.replace(zip_path)
    return hashlib.sha256(zip_path.read_bytes()).hexdigest()


def package_function(
    name: str,
    *,
    functions_dir: Path,
    shared_dir: Path,
    requirements: Sequence[str],
    out_dir: Path,
    openapi_dir: Path | None = None,
) -> PackagedFunction:
    """Assemble ``out_dir/<name>/`` and ``out_dir/<name>.zip`` for one function."""
    source = functions_dir / name
    if not (source / "main.py").is_file():
        raise PackagingError(f"{source} has no main.py")
    if not (shared_dir / "__init__.py").is_file():
        raise PackagingError(f"{shared_dir} is not the shared package (no __init__.py)")
    target = out_dir / name
    if target.exists():
        shutil.rmtree(target)
    _copy_tree(source, target)
    entries = sorted(p for p in target.rglob("*.py"))
    for path in sorted(import_closure(entries, shared_dir)):
        destination = target / "shared" / path.relative_to(shared_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    if openapi_dir is not None and openapi_dir.is_dir():
        # The API functions serve their OpenAPI documents from the bundle, as in the checkout.
        _copy_tree(openapi_dir, target / "openapi")
    (target / "requirements.txt").write_text(
        "# Generated by devstack/package_functions.py from constraints.txt; do not edit.\n"
        + "".join(f"{line}\n" for line in requirements)
    )
    digest = write_reproducible_zip(target, out_dir / f"{name}.zip")
    return PackagedFunction(name, target, out_dir / f"{name}.zip", digest, tuple(requirements))


def package_all(
    names: Sequence[str] | None = None,
    *,
    repo_root: Path = REPO_ROOT,
    out_dir: Path | None = None,
) -> list[PackagedFunction]:
    """Package ``names`` (default: every function with a main.py) and write the manifest."""
    functions_dir = repo_root / "functions"
    chosen = list(names) if names else discover_functions(functions_dir)
    if not chosen:
        raise PackagingError(f"no functions/<name>/main.py under {repo_root}")
    out = out_dir or repo_root / "build" / "functions"
    out.mkdir(parents=True, exist_ok=True)
    constraints = read_constraints(repo_root / "constraints.txt")
    requirements = pinned_requirements(
        project_dependencies(repo_root / "pyproject.toml"), constraints
    )
    packaged = [
        package_function(
            name,
            functions_dir=functions_dir,
            shared_dir=repo_root / "shared",
            requirements=requirements,
            out_dir=out,
            openapi_dir=repo_root / "openapi",
        )
        for name in chosen
    ]
    manifest = out / "manifest.json"
    manifest.write_text(json.dumps({p.name: p.sha256 for p in packaged}, indent=2) + "\n")
    return packaged


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.package_functions",
        description="Build deployable source zips of the Cloud Functions (main.py + shared/ + "
        "requirements pinned from constraints.txt).",
    )
    parser.add_argument("names", nargs="*", help="functions to package (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="output directory")
    args = parser.parse_args(argv)
    try:
        packaged = package_all(args.names or None, out_dir=args.out)
    except PackagingError as error:
        print(f"package_functions: {error}", file=sys.stderr)
        return 1
    for item in packaged:
        print(f"{item.name:16} {item.sha256}  {item.zip_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
