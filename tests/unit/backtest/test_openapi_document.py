"""openapi/backtests.json describes exactly the routes the backtests function serves."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from shared.api.openapi import load_document

ROOT = Path(__file__).resolve().parents[3]


def _backtests_router():
    spec = importlib.util.spec_from_file_location(
        "backtests_function_main", ROOT / "functions" / "backtests" / "main.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.router


def _shape(template: str) -> str:
    """Path parameters named differently in code and document are the same route."""
    return re.sub(r"\{\w+\}", "{}", template)


def test_every_route_is_documented_and_every_documented_path_is_routed(monkeypatch):
    # Cloud mode (the default) refuses to import without the worker's audience and invoker.
    monkeypatch.setenv("APP_ENVIRONMENT", "local")
    doc = load_document("backtests")
    routed = {
        (method.lower(), _shape(template))
        for method, template in _backtests_router().templates
        if not template.startswith("/api/v1/openapi/")
    }
    documented = {
        (m, _shape(p)) for p, item in doc["paths"].items() for m in item if m != "parameters"
    }
    assert routed == documented


def test_document_is_openapi_with_the_error_contract():
    doc = load_document("backtests")
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    error = doc["components"]["responses"]["Error"]["content"]["application/json"]["schema"]
    assert set(error["required"]) == {"error", "message"}
    for item in doc["paths"].values():
        for method, op in item.items():
            if method == "parameters":
                continue
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert response == {"$ref": "#/components/responses/Error"}, (method, code)
