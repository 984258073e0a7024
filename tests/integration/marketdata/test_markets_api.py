"""The markets HTTP API on seeded snapshots: answers checked against hand-computed values.

The function runs as functions-framework serves it (in process, Flask test client) on a
real Postgres seeded through the real ingest (tests/integration/marketdata/handmade.py).
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.integration.marketdata.handmade import universe

pytestmark = pytest.mark.integration

NAMED = ["KXA-26-T1", "KXA-26-T2", "KXB-26-X", "KXC-26-Y", "KXC-26-Z"]


def get(client, path, **params):
    response = client.get(path, query_string=params)
    return response.status_code, response.get_json(silent=True), response


def tickers(body):
    return [m["ticker"] for m in body["markets"]]


def walk(client, **params):
    """Every page of a list query; returns all tickers in order and the page count."""
    seen, pages, cursor = [], 0, None
    while True:
        query = dict(params, cursor=cursor) if cursor else dict(params)
        status, body, _ = get(client, "/api/v1/markets", **query)
        assert status == 200, body
        seen.extend(tickers(body))
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages


def test_list_is_sorted_by_volume_with_ticker_tiebreak(seeded_api):
    status, body, response = get(seeded_api, "/api/v1/markets", series="KXA,", limit=10)
    assert status == 400  # a series is one ticker, not a list
    status, body, response = get(
        seeded_api, "/api/v1/markets", status="active,closed,settled", limit=500
    )
    assert status == 200
    named = [t for t in tickers(body) if not t.startswith("KXF")]
    # volumes 1000, 500, 300, 300, 0; the tie at 300 falls back to ticker, descending
    assert named == ["KXC-26-Y", "KXA-26-T1", "KXB-26-X", "KXA-26-T2", "KXC-26-Z"]
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert response.headers["ETag"]
    first = body["markets"][tickers(body).index("KXA-26-T1")]
    assert first["last_price_dollars"] == "0.4000"
    assert first["previous_price_dollars"] == "0.3000"
    assert first["change_24h_dollars"] == "0.1000"
    assert first["volume_fp"] == "500.00"
    assert first["series_ticker"] == "KXA"
    assert first["event_title"] == "Event KXA-26"
    assert first["as_of"] == "2026-06-11T15:00:00Z"


def test_filters(seeded_api):
    def named(**params):
        status, body, _ = get(seeded_api, "/api/v1/markets", limit=500, **params)
        assert status == 200, body
        return sorted(t for t in tickers(body))

    assert named(series="kxa") == ["KXA-26-T1", "KXA-26-T2"]
    assert named(event="KXC-26") == ["KXC-26-Y", "KXC-26-Z"]
    assert named(status="settled") == ["KXC-26-Y"]
    assert named(status="finalized,closed") == ["KXC-26-Y", "KXC-26-Z"]
    assert named(q="alpha") == ["KXA-26-T1", "KXA-26-T2"]
    assert named(q="b-26") == ["KXB-26-X"]
    assert named(q="event kxc") == ["KXC-26-Y", "KXC-26-Z"]  # event title matches
    assert named(q="100%") == []  # LIKE wildcards are literal
    assert named(close_after="2026-06-15T00:00:00Z", close_before="2026-07-01T12:00:00Z") == [
        "KXA-26-T1",
        "KXB-26-X",
    ]
    assert len(named(status="open")) == 3 + 250  # every active market; limit 500 shows all


def test_sorting_by_close_time_and_change(seeded_api):
    status, body, _ = get(seeded_api, "/api/v1/markets", sort="close_time", series="KXC", limit=5)
    assert status == 200
    assert tickers(body) == ["KXC-26-Y", "KXC-26-Z"]  # no close time sorts last
    status, body, _ = get(
        seeded_api, "/api/v1/markets", sort="close_time", order="desc", series="KXC"
    )
    assert tickers(body) == ["KXC-26-Y", "KXC-26-Z"]  # ... in both directions
    named = [o for o in universe()[:5]]
    status, body, _ = get(seeded_api, "/api/v1/markets", sort="change_24h", q="-26-", limit=500)
    changes = [
        (m["ticker"], m["change_24h_dollars"]) for m in body["markets"] if m["ticker"] in NAMED
    ]
    # +0.10, +0.09, -0.05, -0.10, then the market that never traded (no change) last
    assert changes == [
        ("KXA-26-T1", "0.1000"),
        ("KXC-26-Y", "0.0900"),
        ("KXA-26-T2", "-0.0500"),
        ("KXC-26-Z", "-0.1000"),
        ("KXB-26-X", None),
    ]
    assert len(named) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 100},
        {"limit": 7, "sort": "close_time"},
        {"limit": 33, "sort": "change_24h", "order": "asc"},
        {"limit": 50, "series": "KXF", "sort": "volume", "order": "asc"},
    ],
)
def test_pagination_visits_every_market_once_in_order(seeded_api, params):
    everything, pages = walk(seeded_api, **params)
    _, single, _ = get(seeded_api, "/api/v1/markets", **dict(params, limit=500))
    assert everything == tickers(single)
    assert len(everything) == len(set(everything))
    expected = 250 if "series" in params else 255
    assert len(everything) == expected
    assert pages == -(-expected // params["limit"])


def test_cursor_from_another_query_is_refused(seeded_api):
    _, body, _ = get(seeded_api, "/api/v1/markets", limit=10)
    status, error, _ = get(
        seeded_api, "/api/v1/markets", limit=10, sort="close_time", cursor=body["next_cursor"]
    )
    assert status == 400 and error["error"] == "invalid_cursor"
    status, error, _ = get(seeded_api, "/api/v1/markets", cursor=body["next_cursor"][:-3] + "AAA")
    assert status == 400 and error["error"] == "invalid_cursor"


def test_detail_and_etag(seeded_api):
    status, body, response = get(seeded_api, "/api/v1/markets/kxc-26-y")
    assert status == 200
    market = body["market"]
    assert market["ticker"] == "KXC-26-Y"
    assert market["status"] == "finalized"
    assert market["result"] == "yes"
    assert market["settlement_value_dollars"] == "1.0000"
    assert market["yes_ask_dollars"] == "0.4400"
    again = seeded_api.get(
        "/api/v1/markets/KXC-26-Y", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""
    status, body, _ = get(seeded_api, "/api/v1/markets/KXNOPE-1")
    assert status == 404 and body == {"error": "market_not_found", "message": "no market KXNOPE-1"}
    status, body, _ = get(seeded_api, "/api/v1/markets/bad%20ticker!")
    assert status == 400 and body["error"] == "invalid_ticker"


def candles(client, **params):
    status, body, _ = get(client, "/api/v1/markets/KXA-26-T1/history", **params)
    assert status == 200, body
    rows = [
        (
            c["t"][11:16],
            c["open_dollars"],
            c["high_dollars"],
            c["low_dollars"],
            c["close_dollars"],
            c["volume_fp"],
        )
        for c in body["candles"]
    ]
    return body, rows


def test_hourly_candles_from_rollups(seeded_api):
    body, rows = candles(
        seeded_api, start="2026-06-11T10:00:00Z", end="2026-06-11T14:00:00Z", interval="1h"
    )
    assert body["interval"] == "1h" and body["interval_seconds"] == 3600
    # mid = (bid + ask) / 2; 11:55 has no two-sided quote; no poll at 12:00-13:00
    assert rows == [
        ("10:00", "0.42000", "0.47000", "0.32000", "0.32000", "60.00"),  # 150 - 90 the day before
        ("11:00", "0.50000", "0.50000", "0.50000", "0.50000", "25.00"),  # 175 - 150
        ("13:00", "0.62000", "0.62000", "0.62000", "0.62000", "25.00"),  # 200 - 175
    ]
    _, rows = candles(
        seeded_api,
        start="2026-06-11T11:00:00Z",
        end="2026-06-11T14:00:00Z",
        interval="1h",
        price="last",
    )
    assert rows == [
        ("11:00", "0.5000", "0.5200", "0.5000", "0.5200", "25.00"),
        ("13:00", "0.6100", "0.6100", "0.6100", "0.6100", "25.00"),
    ]


def test_four_hour_candles_aggregate_hours(seeded_api):
    _, rows = candles(
        seeded_api, start="2026-06-11T10:00:00Z", end="2026-06-11T16:00:00Z", interval="4h"
    )
    # 4h buckets start at 08:00 and 12:00 UTC; 15:00 is the final universe poll (vol 500)
    assert rows == [
        ("08:00", "0.42000", "0.50000", "0.32000", "0.50000", "85.00"),  # 175 - 90
        ("12:00", "0.62000", "0.62000", "0.42000", "0.42000", "325.00"),  # 500 - 175
    ]


def test_five_minute_candles_from_snapshots(seeded_api):
    _, rows = candles(
        seeded_api, start="2026-06-11T10:00:00Z", end="2026-06-11T14:00:00Z", interval="5m"
    )
    assert rows == [
        ("10:00", "0.42000", "0.42000", "0.42000", "0.42000", "10.00"),  # 100 - 90
        ("10:20", "0.47000", "0.47000", "0.47000", "0.47000", "10.00"),
        ("10:40", "0.32000", "0.32000", "0.32000", "0.32000", "40.00"),
        ("11:05", "0.50000", "0.50000", "0.50000", "0.50000", "10.00"),
        ("11:55", None, None, None, None, "15.00"),
        ("13:10", "0.62000", "0.62000", "0.62000", "0.62000", "25.00"),
    ]
    _, rows = candles(  # the baseline is the last snapshot before the range
        seeded_api, start="2026-06-11T10:30:00Z", end="2026-06-11T11:00:00Z", interval="5m"
    )
    assert rows == [("10:40", "0.32000", "0.32000", "0.32000", "0.32000", "40.00")]


def test_interval_is_coarsened_to_at_most_2000_candles(seeded_api):
    body, _ = candles(
        seeded_api, start="2026-06-01T00:00:00Z", end="2026-06-12T00:00:00Z", interval="1m"
    )
    assert body["interval"] == "1h"  # 11 days: 15,840 minutes, 3,168 5-minute buckets
    body, rows = candles(seeded_api)  # default: from the first poll to now
    assert body["interval"] in ("1h", "4h", "1d")
    assert len(rows) <= 2000 and rows


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"start": "2026-06-12T00:00:00Z", "end": "2026-06-11T00:00:00Z"}, "invalid_range"),
        ({"start": "yesterday"}, "invalid_request"),
        ({"start": "2026-06-11T00:00:00"}, "invalid_request"),  # no zone
        ({"interval": "2m"}, "invalid_request"),
        ({"price": "bid"}, "invalid_request"),
        ({"start": "1"}, "invalid_range"),  # 1970 to now: over 10 years
        ({"end": "999999999999"}, "invalid_request"),  # past year 9999
        ({"limit": "5"}, "unknown_parameter"),
    ],
)
def test_history_validation(seeded_api, params, code):
    status, body, _ = get(seeded_api, "/api/v1/markets/KXA-26-T1/history", **params)
    assert status == 400
    assert body["error"] == code and body["message"]


def test_health_and_openapi(seeded_api):
    status, body, response = get(seeded_api, "/api/v1/health")
    assert status == 200
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["last_poll"]["polled_at"] == "2026-06-11T15:00:00Z"
    assert response.headers["Cache-Control"] == "no-store"
    status, doc, _ = get(seeded_api, "/api/v1/openapi/markets.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    status, body, _ = get(seeded_api, "/api/v1/nothing")
    assert status == 404 and body["error"] == "not_found"
    response = seeded_api.post("/api/v1/markets")
    assert response.status_code == 405 and response.headers["Allow"] == "GET"
    assert response.get_json()["error"] == "method_not_allowed"


def test_exact_decimals_survive(seeded_api):
    _, body, _ = get(seeded_api, "/api/v1/markets/KXA-26-T2")
    assert D(body["market"]["no_ask_dollars"]) == D("0.6000")
