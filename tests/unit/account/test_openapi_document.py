"""openapi/account.json describes exactly the routes the account function serves."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from shared.api.openapi import load_document

ROOT = Path(__file__).resolve().parents[3]


def _account_router():
    spec = importlib.util.spec_from_file_location(
        "account_function_main", ROOT / "functions" / "account" / "main.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.router


def _shape(template: str) -> str:
    return re.sub(r"\{\w+\}", "{}", template)


def test_every_route_is_documented_and_every_documented_path_is_routed(monkeypatch):
    monkeypatch.setenv("APP_ENVIRONMENT", "local")
    monkeypatch.setenv("KALSHI_BASE_URL", "http://127.0.0.1:9/trade-api/v2")
    doc = load_document("account")
    routed = {
        (method.lower(), _shape(template))
        for method, template in _account_router().templates
        # The OpenAPI document itself, and the scheduler's job (not behind the load balancer).
        if not template.startswith(("/api/v1/openapi/", "/_jobs/"))
    }
    documented = {
        (m, _shape(p)) for p, item in doc["paths"].items() for m in item if m != "parameters"
    }
    assert routed == documented


def test_document_is_openapi_with_the_error_contract():
    doc = load_document("account")
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    error = doc["components"]["responses"]["Error"]["content"]["application/json"]["schema"]
    assert set(error["required"]) == {"error", "message"}
    for item in doc["paths"].values():
        for method, op in item.items():
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert response == {"$ref": "#/components/responses/Error"}, (method, code)
                    codes = error["properties"]["error"]["description"]
            # Every authenticated route can answer 401; sign-in is the one public route.
            if op.get("security") != []:
                assert "401" in op["responses"], (method, op["summary"])
    assert "kalshi_key_revoked" in codes and "rate_limited" in codes


def test_every_schema_reference_resolves():
    doc = load_document("account")
    text = str(doc)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in doc["components"]["schemas"], name
