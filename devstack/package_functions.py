"""Assemble each Cloud Function's deployable source: main.py + shared/ + pinned requirements.

Cloud Functions builds a Python function from one directory that must hold ``main.py`` and
``requirements.txt`` side by side; it never runs ``setup.py``/``pyproject.toml``, so the
monorepo's ``shared`` package has to be copied in (the build sees only that directory).
For every ``functions/<name>/main.py`` this writes:

- ``build/functions/<name>/``: the function's own files, a copy of ``shared/`` and a
  ``requirements.txt`` pinning the whole runtime dependency closure to the versions in
  ``constraints.txt`` (the same versions the test suite ran with);
- ``build/functions/<name>.zip``: the same tree as a byte-for-byte reproducible zip (sorted
  entries, fixed timestamps and modes), so its SHA-256 changes exactly when the source
  does. Terraform names the uploaded object after that hash (infra/modules/function);
- ``build/functions/manifest.json``: ``{name: sha256}``.

Usage: ``python -m devstack.package_functions [--out build/functions] [NAME ...]``.
"""

from __future__ import annotations

import argparse
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
    _copy_tree(shared_dir, target / "shared")
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
