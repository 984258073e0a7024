"""Hundreds of malformed requests, generated from the OpenAPI document, never get a 5xx.

For every operation in ``openapi/markets.json`` hypothesis builds requests whose path and
query parameters are sometimes valid (drawn from the declared schema) and often not
(wrong types, out-of-range numbers, control characters, unicode, huge strings, unknown
parameters, repeated parameters). Every answer must be below 500, and every error must be
the JSON ``{"error", "message"}`` the API contract promises.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration

DOC = json.loads((Path(__file__).resolve().parents[3] / "openapi" / "markets.json").read_text())
OPERATIONS = [
    (path, op) for path, item in sorted(DOC["paths"].items()) for _, op in sorted(item.items())
]
KNOWN_TICKERS = ["KXA-26-T1", "KXC-26-Y", "KXF-26-M001"]

junk_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
    st.sampled_from(
        [
            "",
            " ",
            "-1",
            "0",
            "1e309",
            "NaN",
            "null",
            "[]",
            "{}",
            "%00",
            "'; DROP TABLE markets;--",
            "2026-13-45T99:99:99Z",
            "9" * 40,
            "-" * 5,
            "..",
            "\x00",
            "\n",
            "é",
            "🙂" * 20,
        ]
    ),
)


def valid_value(schema: dict) -> st.SearchStrategy[str]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("type") == "integer":
        return st.integers(schema.get("minimum", -(10**6)), schema.get("maximum", 10**6)).map(str)
    if "time" in schema.get("description", "").lower():
        return st.sampled_from(["2026-06-11T10:00:00Z", "1781172000", "2026-06-11T12:30:00+02:00"])
    return st.sampled_from(["KXA", "KXA-26", "alpha", "active", "open,settled"])


def param_value(schema: dict) -> st.SearchStrategy[str]:
    return st.one_of(valid_value(schema), junk_text)


@st.composite
def requests(draw):
    path, op = draw(st.sampled_from(OPERATIONS))
    query: list[tuple[str, str]] = []
    for param in op.get("parameters", []):
        if param["in"] == "path":
            ticker = draw(
                st.one_of(st.sampled_from(KNOWN_TICKERS), junk_text.filter(lambda s: s != ""))
            )
            path = path.replace("{" + param["name"] + "}", quote(ticker, safe=""))
        elif param["in"] == "query" and draw(st.booleans()):
            for _ in range(draw(st.integers(1, 2))):  # sometimes repeated
                query.append((param["name"], draw(param_value(param["schema"]))))
    if draw(st.integers(0, 9)) == 0:
        query.append((draw(st.text(min_size=1, max_size=10)), draw(junk_text)))
    method = draw(st.sampled_from(["GET"] * 8 + ["HEAD", "POST", "DELETE"]))
    return method, path, query


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(request=requests())
def test_generated_requests_never_get_a_5xx(seeded_api, request):
    method, path, query = request
    response = seeded_api.open(path, method=method, query_string=query)
    assert response.status_code < 500, (method, path, query, response.data[:300])
    if response.status_code >= 400 and method != "HEAD":
        body = response.get_json(silent=True)
        assert isinstance(body, dict) and set(body) == {"error", "message"}, response.data[:300]
        assert body["error"] and body["message"]
