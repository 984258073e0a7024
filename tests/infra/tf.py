"""Parsed Terraform of infra/ for the policy tests (python-hcl2, no providers needed).

``terraform init`` cannot download providers here, so ``validate``/``test`` are out of
reach; these helpers give the tests a structural view instead: every ``.tf`` file parsed
once, grouped by directory (one Terraform module per directory).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


@dataclass
class TfModule:
    """All blocks of one directory, keyed the way HCL names them."""

    path: Path
    resources: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    modules: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    variables: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    outputs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rel(self) -> str:
        return self.path.relative_to(INFRA).as_posix()

    def resources_of(self, rtype: str) -> list[tuple[str, dict[str, Any]]]:
        return [(name, body) for t, name, body in self.resources if t == rtype]

    def module_calls(self, source_suffix: str) -> list[tuple[str, dict[str, Any]]]:
        return [(n, b) for n, b in self.modules if str(b.get("source", "")).endswith(source_suffix)]


def tf_files() -> list[Path]:
    return sorted(p for p in INFRA.rglob("*.tf") if ".terraform" not in p.parts)


def parse_file(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle, serialization_options=_OPTIONS)
    return parsed


@functools.cache
def load_modules() -> dict[str, TfModule]:
    """Every directory of infra/ holding .tf files, by path relative to infra/."""
    modules: dict[str, TfModule] = {}
    for path in tf_files():
        module = modules.setdefault(
            path.parent.relative_to(INFRA).as_posix(), TfModule(path.parent)
        )
        doc = parse_file(path)
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    module.resources.append((rtype, name, body))
        for block in doc.get("module", []):
            module.modules.extend(block.items())
        for block in doc.get("variable", []):
            module.variables.extend(block.items())
        for block in doc.get("output", []):
            module.outputs.extend(block.items())
        for block in doc.get("locals", []):
            module.locals.update(block)
        module.terraform.extend(doc.get("terraform", []))
    return modules


def one(block: Any) -> dict[str, Any]:
    """A nested block (a list of one dict in hcl2's output) as the dict."""
    assert isinstance(block, list) and len(block) == 1, f"expected exactly one block: {block!r}"
    inner = block[0]
    assert isinstance(inner, dict)
    return inner


def walk_strings(value: Any) -> Iterator[str]:
    """Every string anywhere in a parsed structure (keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)
