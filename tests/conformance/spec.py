"""Kalshi's published schemas (copied into tests/fixtures/kalshi_spec) and a validator.

Each OpenAPI page carries one ```` ```yaml ```` block: a small OpenAPI document with the
endpoint's path and its own ``components``. ``asyncapi.yaml`` holds every WebSocket message.
:func:`violations` walks a JSON value against a schema and lists every mismatch: a required
field missing, a wrong JSON type, a format (``date-time``, ``uuid``, ``int64``, ``double``),
an ``enum``/``const``, and Kalshi's fixed-point strings (``FixedPointCount`` has exactly two
decimals, ``FixedPointDollars`` up to six). References resolve within the same document.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "kalshi_spec"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_FIXED = {
    "FixedPointCount": re.compile(r"^-?\d+\.\d{2}$"),
    "FixedPointDollars": re.compile(r"^-?\d+\.\d{1,6}$"),
}


@dataclass(frozen=True)
class Document:
    """One parsed spec document: its root (for ``$ref``) and where it came from."""

    root: Mapping[str, Any]
    source: str

    def resolve(self, ref: str) -> tuple[str, Mapping[str, Any]]:
        if not ref.startswith("#/"):
            raise ValueError(f"{self.source}: external $ref {ref!r} not supported")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return ref.rsplit("/", 1)[-1], node


@functools.cache
def rest_operations() -> dict[tuple[str, str], tuple[Document, Mapping[str, Any]]]:
    """(METHOD, path template) -> (its page, the OpenAPI operation)."""
    operations: dict[tuple[str, str], tuple[Document, Mapping[str, Any]]] = {}
    for page in sorted((SPEC / "api-reference").rglob("*.md")):
        match = re.search(r"````yaml[^\n]*\n(.*?)````", page.read_text(), re.S)
        if match is None:
            raise ValueError(f"{page}: no OpenAPI block")
        root = yaml.safe_load(match.group(1))
        doc = Document(root, str(page.relative_to(SPEC)))
        for path, item in root["paths"].items():
            for method, operation in item.items():
                if method in ("get", "post", "put", "delete"):
                    operations[(method.upper(), path)] = (doc, operation)
    return operations


def response_schema(method: str, path: str, status: int) -> tuple[Document, Mapping[str, Any]]:
    """The JSON schema of ``status``'s answer to ``METHOD path`` (a spec path template)."""
    doc, operation = rest_operations()[(method, path)]
    response: Mapping[str, Any] = operation["responses"][str(status)]
    if "$ref" in response:
        _, response = doc.resolve(response["$ref"])
    return doc, response["content"]["application/json"]["schema"]


@functools.cache
def asyncapi() -> Document:
    root = yaml.safe_load((SPEC / "asyncapi.yaml").read_text())
    return Document(root, "asyncapi.yaml")


def message_schema(name: str) -> tuple[Document, Mapping[str, Any]]:
    """The payload schema of ``components.messages[name]``."""
    doc = asyncapi()
    message = doc.root["components"]["messages"][name]
    return doc, message["payload"]


def violations(doc: Document, schema: Mapping[str, Any], value: Any, where: str = "$") -> list[str]:
    return list(_check(doc, schema, value, where, None))


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise ValueError(f"unknown schema type {kind!r}")


def _check(
    doc: Document, schema: Mapping[str, Any], value: Any, where: str, named: str | None
) -> Iterator[str]:
    if "$ref" in schema:
        if value is None and schema.get("nullable"):
            return  # Kalshi marks a reference nullable beside it (OpenAPI 3.0 style)
        name, target = doc.resolve(schema["$ref"])
        yield from _check(doc, target, value, where, name)
        return
    if value is None and (schema.get("nullable") or "null" in _types(schema)):
        return
    for part in schema.get("allOf", ()):
        yield from _check(doc, part, value, where, named)
    for key in ("oneOf", "anyOf"):
        options = schema.get(key, ())
        if options and all(list(_check(doc, s, value, where, named)) for s in options):
            yield f"{where}: matches none of {key}"
    types = _types(schema)
    if types and not any(_type_ok(t, value) for t in types):
        yield f"{where}: expected {'|'.join(types)}, got {type(value).__name__} {value!r:.60}"
        return
    if "const" in schema and value != schema["const"]:
        yield f"{where}: expected the constant {schema['const']!r}, got {value!r}"
    if "enum" in schema and value not in schema["enum"]:
        yield f"{where}: {value!r} is not one of {schema['enum']}"
    yield from _format(schema.get("format"), value, where)
    if named in _FIXED and isinstance(value, str) and not _FIXED[named].match(value):
        yield f"{where}: {value!r} is not a {named} string"
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                yield f"{where}: required field {name!r} missing"
        for name, sub in properties.items():
            if name in value:
                yield from _check(doc, sub, value[name], f"{where}.{name}", None)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if name not in properties:
                    yield from _check(doc, extra, item, f"{where}.{name}", None)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from _check(doc, schema["items"], item, f"{where}[{i}]", None)


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if kind is None:
        return []
    return list(kind) if isinstance(kind, list) else [kind]


def _format(fmt: str | None, value: Any, where: str) -> Iterator[str]:
    if fmt is None or value is None:
        return
    if fmt == "date-time" and not (isinstance(value, str) and _RFC3339.match(value)):
        yield f"{where}: {value!r} is not an RFC 3339 date-time"
    elif fmt == "uuid" and not (isinstance(value, str) and _UUID.match(value)):
        yield f"{where}: {value!r} is not a UUID"
    elif fmt in ("int64", "int32") and not _type_ok("integer", value):
        yield f"{where}: {value!r} is not an integer ({fmt})"
    elif fmt in ("double", "float") and not _type_ok("number", value):
        yield f"{where}: {value!r} is not a number ({fmt})"
