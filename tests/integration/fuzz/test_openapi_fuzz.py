"""Schemathesis against every OpenAPI document the functions serve, plus hypothesis bodies.

For each operation of ``/api/v1/openapi/markets.json`` and ``/api/v1/openapi/backtests.json``
(fetched from the running functions, so the fuzzer tests what clients read) schemathesis
generates requests that follow the schema (positive) and requests that break it (negative:
wrong types, out-of-range numbers, missing or extra fields, odd strings) and sends them to
the functions in process. Every answer must be below 500, and every error the JSON
``{"error", "message"}`` the contract promises. Hypothesis adds arbitrary JSON documents and
raw bytes as ``POST /api/v1/backtests`` bodies, nested deep, with non-finite numbers.

Budget: ``EXAMPLES`` per operation and mode keeps this module under ~60 s on two loaded
cores (measured in the decision record); raise it locally with ``FUZZ_EXAMPLES=...``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 25)
DOCUMENTS = {
    "markets": "/api/v1/openapi/markets.json",
    "backtests": "/api/v1/openapi/backtests.json",
}


def _operations() -> list[Any]:
    """(document, METHOD, path, mode, seeded run) for every operation, read from the repository's
    copies so collection needs no running function (a test checks the served copy is the
    same). Negative mode only where there is something to break: parameters or a body."""
    out = []
    for name in DOCUMENTS:
        doc = json.loads((ROOT / "openapi" / f"{name}.json").read_text())
        for path, item in sorted(doc["paths"].items()):
            for method in sorted(item):
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                op = item[method]
                inputs = item.get("parameters") or op.get("parameters") or op.get("requestBody")
                modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if inputs else [])
                for mode in modes:
                    label = f"{name}-{method.upper()} {path}-{mode.value}"
                    out.append(pytest.param(name, method.upper(), path, mode, False, id=label))
                    if "{id}" in path and method == "get":
                        # Also on the seeded run, so its own queries (variant, trades) run
                        # (not DELETE: the other tests read that run).
                        out.append(
                            pytest.param(
                                name, method.upper(), path, mode, True, id=label + "-seeded run"
                            )
                        )
    return out


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def check_answer(response: Any, what: str) -> None:
    status = response.status_code
    assert status < 500, (what, status, response.content[:300])
    if status >= 400:
        body = json.loads(response.content)
        assert isinstance(body, dict) and set(body) == {"error", "message"}, (what, body)
        assert body["error"] and body["message"], (what, body)


def _app(functions: Any, document: str) -> Any:
    return functions.markets if document == "markets" else functions.backtests


@pytest.fixture(scope="module")
def schemas(functions: Any) -> dict[str, Any]:
    """Each served document, checked equal to the repository's, loaded by schemathesis."""
    loaded = {}
    for name, path in DOCUMENTS.items():
        served = _app(functions, name).test_client().get(path)
        assert served.status_code == 200
        assert served.get_json() == json.loads((ROOT / "openapi" / f"{name}.json").read_text())
        loaded[name] = schemathesis.openapi.from_dict(served.get_json())
    return loaded


@pytest.mark.parametrize(("document", "method", "path", "mode", "seeded"), _operations())
def test_schemathesis_finds_no_5xx(functions, schemas, document, method, path, mode, seeded):
    app = _app(functions, document)
    operation = schemas[document][path][method]
    path_parameters = {"id": str(functions.run_id)} if seeded else None

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def fuzz(case: Any) -> None:
        response = case.call(app=app)
        check_answer(response, f"{case.method} {case.formatted_path} {case.query}")

    fuzz()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=30,
)
backtest_fields = st.fixed_dictionaries(
    {},
    optional={
        "strategy": st.sampled_from(["momentum", "mean_reversion", "", "x" * 100]) | json_values,
        "params": json_values,
        "grid": json_values,
        "markets": json_values,
        "start": st.sampled_from(["2026-06-01T00:00:00Z", "0001-01-01T00:00:00+05:00"])
        | json_values,
        "end": st.sampled_from(["2026-06-02T00:00:00Z", "9999-12-31T23:59:59-05:00"]) | json_values,
        "rank_by": json_values,
        "fees": json_values,
        "slippage": json_values,
        "capital": json_values,
    },
)


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


bodies = st.one_of(
    backtest_fields.map(lambda body: json.dumps(body, allow_nan=True).encode()),
    json_values.map(lambda body: json.dumps(body, allow_nan=True).encode()),
    st.binary(max_size=200),
    st.integers(1, 6000).map(_nested),
)


@FUZZ_SETTINGS
@example(body=_nested(5000), content_type="application/json")  # RecursionError: was 503
@example(body=b'{"strategy": "momentum", "capital": NaN}', content_type="application/json")
@example(body=b'{"strategy": "momentum", "capital": 1e999}', content_type="application/json")
@given(body=bodies, content_type=st.sampled_from(["application/json"] * 6 + ["text/plain", ""]))
def test_arbitrary_backtest_bodies_never_get_a_5xx(functions, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = functions.backtests.test_client().post(
        "/api/v1/backtests", data=body, headers=headers
    )
    assert response.status_code < 500, (body[:200], response.data[:300])
    answer = response.get_json(silent=True)
    if response.status_code >= 400:
        assert isinstance(answer, dict) and set(answer) == {"error", "message"}, response.data
