"""The malformed inputs that once answered 500/503, each answering a 400/413/415 JSON now.

Each case is one class a fuzzer found or a reviewer named: a 5,000-deep JSON body (the
parser's RecursionError escaped as an outage), ``NaN``/``Infinity`` where a number goes, a
variant number no database integer holds (``2^70``), a year-1 history bound, and ``%00`` in
a path. The functions run in process as functions-framework serves them, on real Postgres.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.integration

BACKTESTS = "/api/v1/backtests"


def assert_json_error(response: Any, status: int, code: str | None = None) -> dict[str, str]:
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.get_json()
    assert set(body) == {"error", "message"} and body["message"], body
    if code is not None:
        assert body["error"] == code, body
    return body


def post_json(client: Any, raw: bytes | str, content_type: str = "application/json") -> Any:
    return client.post(BACKTESTS, data=raw, headers={"Content-Type": content_type})


@pytest.fixture
def backtests(functions):
    return functions.backtests.test_client()


@pytest.fixture
def markets(functions):
    return functions.markets.test_client()


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_a_5000_deep_json_body_is_a_400(backtests, opener):
    closer = "]" if opener == "[" else "}"
    raw = opener * 5000 + "1" + closer * 5000
    assert_json_error(post_json(backtests, raw), 400, "invalid_json")


@pytest.mark.parametrize(
    "raw",
    [
        '{"strategy": "momentum", "capital": NaN}',
        '{"strategy": "momentum", "capital": Infinity}',
        '{"strategy": "momentum", "capital": -Infinity}',
        '{"strategy": "momentum", "capital": 1e999}',
        '{"strategy": "momentum", "capital": ' + "9" * 5000 + "}",
        b'{"strategy": "\xff\xfe"}',
    ],
)
def test_non_finite_huge_and_undecodable_json_values_are_a_400(backtests, raw):
    assert_json_error(post_json(backtests, raw), 400, "invalid_json")


def test_a_state_change_needs_a_json_body_of_bounded_size(backtests):
    assert_json_error(post_json(backtests, "strategy=momentum", "text/plain"), 415)
    assert_json_error(backtests.post(BACKTESTS, data=b"{}"), 415)  # no Content-Type at all
    big = json.dumps({"strategy": "momentum", "params": {"x": "a" * 70_000}})
    assert_json_error(post_json(backtests, big), 413, "too_large")
    # application/json with a charset, and +json types, are JSON.
    answer = post_json(backtests, "[]", "application/json; charset=utf-8")
    assert_json_error(answer, 400, "invalid_request")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e3", "0x10", " ", "1.5"])
def test_nan_and_infinity_query_parameters_are_a_400(functions, markets, backtests, value):
    run = f"{BACKTESTS}/{functions.run_id}"
    for client, path, name in [
        (markets, "/api/v1/markets", "limit"),
        (markets, "/api/v1/markets/KXA-26-T1/orderbook", "depth"),
        (backtests, BACKTESTS, "limit"),
        (backtests, run, "variant"),
        (backtests, run, "trades_limit"),
    ]:
        response = client.get(path, query_string={name: value})
        body = assert_json_error(response, 400, "invalid_request")
        assert body["message"].startswith(name), body
    if value == "1.5":
        return  # 1.5 is a fine time: Unix seconds, 1970-01-01T00:00:01.5Z
    for name in ("close_after", "close_before"):
        response = markets.get("/api/v1/markets", query_string={name: value})
        assert_json_error(response, 400, "invalid_request")


@pytest.mark.parametrize("variant", [str(2**70), str(-(2**70)), str(2**31), "-1", "9" * 200])
def test_a_variant_no_database_integer_holds_is_a_400(functions, backtests, variant):
    response = backtests.get(f"{BACKTESTS}/{functions.run_id}", query_string={"variant": variant})
    body = assert_json_error(response, 400, "invalid_request")
    assert body["message"].startswith("variant must be between 0 and ")
    ok = backtests.get(f"{BACKTESTS}/{functions.run_id}", query_string={"variant": "0"})
    assert ok.status_code == 200, ok.data[:300]


@pytest.mark.parametrize(
    "query",
    [
        {"end": "0001-01-01T00:00:00Z"},
        {"start": "0001-01-01T00:00:00+05:00"},
        {"start": "-62135596800"},
        {"end": "253402300799"},
    ],
)
def test_history_bounds_outside_1970_to_2100_are_a_400(markets, query):
    response = markets.get("/api/v1/markets/KXA-26-T1/history", query_string=query)
    body = assert_json_error(response, 400, "invalid_range")
    assert body["message"].startswith(next(iter(query))), body


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/markets/%00",
        "/api/v1/markets/KX%00A/history",
        "/api/v1/markets/KXA-26-T1%00/orderbook",
        f"{BACKTESTS}/%00",
        f"{BACKTESTS}/6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab%00",
    ],
)
def test_nul_in_a_path_is_a_4xx_json_error(markets, backtests, path):
    client = markets if path.startswith("/api/v1/markets") else backtests
    for method in ("GET", "DELETE"):
        response = client.open(path, method=method)
        assert 400 <= response.status_code < 500, (path, method, response.data[:300])
        assert set(response.get_json()) == {"error", "message"}
