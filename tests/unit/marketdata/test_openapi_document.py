"""openapi/markets.json is a well-formed OpenAPI 3.1 document matching the real routes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared.marketdata.http_api import OPENAPI_PATH, MarketsApi, build_router

DOC = json.loads(Path(OPENAPI_PATH).read_text())


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_document_shape():
    assert DOC["openapi"].startswith("3.1.")
    assert DOC["info"]["title"] and DOC["info"]["version"]
    schemas = DOC["components"]["schemas"]
    for ref in refs(DOC):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    ids = [op["operationId"] for item in DOC["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for path, item in DOC["paths"].items():
        declared = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            assert method in {"get", "post", "put", "patch", "delete"}
            in_path = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert in_path == declared, (path, method)
            assert all(p["in"] != "path" or p["required"] for p in op.get("parameters", []))
            assert "200" in op["responses"]
            for code, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", code) and response["description"]
                if code.startswith("4") or code in ("502",):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}


def test_every_route_is_documented_and_every_documented_path_is_routed():
    router = build_router(MarketsApi(lambda: None, lambda: None))  # type: ignore[arg-type,return-value]
    routed = {(m.lower(), t) for m, t in router.templates}
    documented = {(m, p) for p, item in DOC["paths"].items() for m in item}
    assert routed == documented


def test_error_schema_is_the_api_contract():
    error = DOC["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message"]
