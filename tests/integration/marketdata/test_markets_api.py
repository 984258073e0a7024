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
        ({"end": "999999999999"}, "invalid_range"),  # past 2100
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
    # The seeded poll is months old by the wall clock: degraded, still 200.
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert body["last_poll"]["polled_at"] == "2026-06-11T15:00:00Z"
    assert body["poll_interval_seconds"] == 60 and body["last_poll_age_seconds"] > 180
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


# ---- hardening: times at the edge, order-book cache and limiter, health freshness


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"end": "0001-01-01T00:00:00Z"}, "end"),  # reached SQL: 5xx before
        ({"start": "0001-01-01T00:00:00+05:00"}, "start"),  # overflows converting to UTC
        ({"end": "9999-12-31T23:59:59-05:00"}, "end"),
        ({"end": "2100-01-01T00:00:01Z"}, "end"),
        ({"start": "-1"}, "start"),  # Unix seconds before 1970
        ({"end": "4102444801"}, "end"),  # Unix seconds after 2100
        ({"end": "1969-12-31T23:59:59Z"}, "end"),
    ],
)
def test_history_times_outside_1970_to_2100_are_a_400_naming_the_parameter(
    seeded_api, params, named
):
    status, body, _ = get(seeded_api, "/api/v1/markets/KXA-26-T1/history", **params)
    assert status == 400, body
    assert body["error"] == "invalid_range"
    assert body["message"].startswith(f"{named} must be between 1970-01-01 and 2100-01-01 UTC")


def _request(path, **query):
    from werkzeug.test import EnvironBuilder

    return EnvironBuilder(path=path, query_string=query).get_request()


def _book(levels):
    """An order book with ``levels`` bids a side, prices 0.01.. ascending (best last)."""
    import json

    yes = [[f"0.{i + 1:02d}00", f"{10 * (i + 1)}.00"] for i in range(levels)]
    no = [[f"0.{i + 40:02d}00", f"{5 * (i + 1)}.00"] for i in range(levels)]
    return json.dumps({"orderbook_fp": {"yes_dollars": yes, "no_dollars": no}}).encode()


@pytest.fixture
def loopback_kalshi():
    from tests.integration.kalshi.loopback import LoopbackKalshi

    with LoopbackKalshi() as server:
        yield server


@pytest.fixture
def book_market(engine):
    from sqlalchemy import text

    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO markets (ticker, event_ticker, series_ticker, title, status) "
                "VALUES ('KXOB-26-A', 'KXOB-26', 'KXOB', 'book', 'active'), "
                "('KXOB-26-B', 'KXOB-26', 'KXOB', 'book', 'active')"
            )
        )
    return engine


def _markets_api(engine, client, **options):
    from shared.marketdata.http_api import MarketsApi, build_router

    return build_router(MarketsApi(lambda: engine, lambda: client, **options))


def test_orderbook_depths_within_the_cache_window_make_one_upstream_call(
    book_market, loopback_kalshi
):
    from shared.api.routing import handle
    from shared.kalshi.client import KalshiClient
    from tests.integration.kalshi.loopback import Answer

    loopback_kalshi.route("/markets/KXOB-26-A/orderbook", lambda seen: Answer(200, _book(6)))
    client = KalshiClient(base_url=loopback_kalshi.base_url)
    router = _markets_api(book_market, client, orderbook_cache_seconds=300)
    path = "/api/v1/markets/KXOB-26-A/orderbook"
    for depth in (0, 1, 2, 3, 4, 5, 6, 7, 100):
        response = handle(router, _request(path, depth=str(depth)))
        assert response.status == 200, response.body
        import json

        book = json.loads(response.body)
        shown = min(depth, 6) if depth else 6
        assert len(book["orderbook_fp"]["yes_dollars"]) == shown
        assert len(book["orderbook_fp"]["no_dollars"]) == shown
        if depth:  # the best bids, still ascending: the best one last
            assert book["orderbook_fp"]["yes_dollars"][-1] == ["0.0600", "60.00"]
            assert book["orderbook_fp"]["yes_dollars"][0][0] == f"0.{7 - shown:02d}00"
        assert book["best_yes_bid_dollars"] == "0.0600"
        assert book["best_yes_ask_dollars"] == "0.5500"  # 1 - best NO bid 0.45
    upstream = loopback_kalshi.requests_to("/markets/KXOB-26-A/orderbook")
    assert len(upstream) == 1, [s.raw_target for s in upstream]
    assert "depth" not in upstream[0].query  # the full book is fetched and sliced here


def test_orderbook_answers_503_with_retry_after_when_the_rate_limit_queue_is_too_long(
    book_market, loopback_kalshi
):
    from shared.api.routing import handle
    from shared.kalshi.client import KalshiClient
    from shared.kalshi.ratelimit import KalshiRateLimiter
    from tests.integration.kalshi.loopback import Answer

    for ticker in ("KXOB-26-A", "KXOB-26-B"):
        loopback_kalshi.route(f"/markets/{ticker}/orderbook", lambda seen: Answer(200, _book(2)))
    # One request per 10 s, one in the burst, and no caller waits more than 1 s for its turn.
    limiter = KalshiRateLimiter.per_second(0.1, 0.1, read_burst=1, write_burst=1, max_wait=1.0)
    client = KalshiClient(base_url=loopback_kalshi.base_url, rate_limiter=limiter)
    router = _markets_api(book_market, client, orderbook_cache_seconds=300)
    first = handle(router, _request("/api/v1/markets/KXOB-26-A/orderbook"))
    assert first.status == 200, first.body
    refused = handle(router, _request("/api/v1/markets/KXOB-26-B/orderbook"))
    assert refused.status == 503, refused.body
    import json

    assert json.loads(refused.body)["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 9
    assert refused.headers["Cache-Control"] == "no-store"
    assert len(loopback_kalshi.requests_to("/markets/KXOB-26-B/orderbook")) == 0
    # The cached book still answers at once: the limiter only guards upstream calls.
    again = handle(router, _request("/api/v1/markets/KXOB-26-A/orderbook", depth="1"))
    assert again.status == 200


def _record_poll(engine, polled_at):
    from sqlalchemy import text

    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO market_polls (message_id, polled_at, market_count) VALUES (:m, :t, 3)"
            ),
            {"m": f"poll-{polled_at.isoformat()}", "t": polled_at},
        )


def test_health_is_ok_after_a_fresh_poll_and_degraded_after_an_old_one(engine):
    import json
    from datetime import UTC, datetime, timedelta

    from shared.api.routing import handle

    now = datetime(2026, 6, 11, 15, 0, tzinfo=UTC)
    router = _markets_api(engine, None, poll_interval_seconds=60, now=lambda: now)

    def health():
        response = handle(router, _request("/api/v1/health"))
        assert response.status == 200  # never out of the load balancer for a stale poll
        return json.loads(response.body)

    assert health()["status"] == "ok" and health()["last_poll"] is None  # never polled yet
    _record_poll(engine, now - timedelta(seconds=170))  # within three intervals
    body = health()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["last_poll_age_seconds"] == 170 and body["poll_interval_seconds"] == 60

    now += timedelta(seconds=20)  # 190 s: older than three 60 s intervals
    body = health()
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert body["last_poll_age_seconds"] == 190 and body["poll_interval_seconds"] == 60

    _record_poll(engine, now - timedelta(seconds=5))  # the poller came back
    assert health()["status"] == "ok"

    slow = _markets_api(engine, None, poll_interval_seconds=600, now=lambda: now)
    response = handle(slow, _request("/api/v1/health"))
    assert json.loads(response.body)["poll_interval_seconds"] == 600
