"""The markets and backtests APIs answer the same mistake with the same code and words.

Side by side, through both real functions: a bad integer, an unknown parameter, an
out-of-range limit, a bad cursor and a bad or out-of-range time. The helpers in
``shared/api/errors.py`` word each once; these pairs prove both APIs use them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def answer(app: Any, path: str, **query: str) -> tuple[int, dict[str, str]]:
    response = app.test_client().get(path, query_string=query)
    return response.status_code, response.get_json()


def post(app: Any, body: dict[str, Any]) -> tuple[int, dict[str, str]]:
    response = app.test_client().post("/api/v1/backtests", json=body)
    return response.status_code, response.get_json()


@pytest.mark.parametrize(
    ("markets_query", "backtests_query", "code", "words"),
    [
        ({"limit": "many"}, {"limit": "many"}, "invalid_request", r"^limit must be an integer$"),
        (
            {"limit": "0"},
            {"limit": "0"},
            "invalid_request",
            r"^limit must be between 1 and \d+$",
        ),
        (
            {"limit": "99999999999999999999999"},
            {"limit": "99999999999999999999999"},
            "invalid_request",
            r"^limit must be between 1 and \d+$",
        ),
        (
            {"limt": "5"},
            {"limt": "5"},
            "unknown_parameter",
            r"^unknown query parameter 'limt'; this endpoint accepts [a-z_, ]+$",
        ),
        (
            {"cursor": "not-a-cursor"},
            {"cursor": "not-a-cursor"},
            "invalid_cursor",
            r"^cursor is not one this API issued$",
        ),
    ],
)
def test_query_mistakes_read_the_same_in_both_apis(
    functions, markets_query, backtests_query, code, words
):
    m_status, m_body = answer(functions.markets, "/api/v1/markets", **markets_query)
    b_status, b_body = answer(functions.backtests, "/api/v1/backtests", **backtests_query)
    assert m_status == b_status == 400, (m_body, b_body)
    assert m_body["error"] == b_body["error"] == code, (m_body, b_body)
    assert re.match(words, m_body["message"]), m_body
    assert re.match(words, b_body["message"]), b_body


def test_time_mistakes_read_the_same_in_both_apis(functions):
    """A history bound in the query and a backtest window in the body: the same code and
    the same sentence for a time outside 1970..2100 and the same shape for one that does
    not parse."""
    request = {
        "strategy": "momentum",
        "start": "2026-06-01T00:00:00Z",
        "end": "2026-06-02T00:00:00Z",
    }
    history = "/api/v1/markets/KXA-26-T1/history"

    m_status, m_body = answer(functions.markets, history, start="0001-01-01T00:00:00+05:00")
    b_status, b_body = post(functions.backtests, {**request, "start": "0001-01-01T00:00:00+05:00"})
    assert m_status == b_status == 400 and m_body["error"] == b_body["error"] == "invalid_range"
    assert m_body["message"] == b_body["message"]  # "start must be between 1970-01-01 and ..."
    assert m_body["message"].startswith("start must be between 1970-01-01 and 2100-01-01 UTC")

    m_status, m_body = answer(functions.markets, history, start="yesterday")
    b_status, b_body = post(functions.backtests, {**request, "start": "yesterday"})
    assert m_status == b_status == 400 and m_body["error"] == b_body["error"] == "invalid_request"
    shape = r"^start must be an (RFC 3339|ISO 8601) time \(e\.g\. [^)]+\).*, not 'yesterday'$"
    assert re.match(shape, m_body["message"]), m_body
    assert re.match(shape, b_body["message"]), b_body


@pytest.mark.parametrize(
    ("which", "path"),
    [("markets", "/api/v1/markets?limit=0"), ("markets", "/api/v1/health"),
     ("backtests", "/api/v1/backtests?limt=1"), ("backtests", "/api/v1/backtests/strategies")],
)  # fmt: skip
def test_functions_leave_server_and_date_to_the_server_in_front(functions, which, path):
    """The function adds neither header, so the one HTTP server in front (Cloud Run's, or
    the local gateway, which drops its upstream's) sends exactly one of each."""
    response = getattr(functions, which).test_client().get(path)
    assert "Server" not in response.headers and "Date" not in response.headers
