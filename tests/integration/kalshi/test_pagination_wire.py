"""Cursor pagination against a real HTTP server: to the end, never truncated, never looping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.kalshi.client import KalshiClient, RetryPolicy
from shared.kalshi.errors import PaginationError
from shared.kalshi.signing import KalshiSigner

from .conftest import cursor_offset, make_markets, offset_cursor
from .loopback import Answer, LoopbackKalshi, Seen

pytestmark = pytest.mark.integration


def serve_markets(
    kalshi: LoopbackKalshi, markets: list[dict[str, Any]], *, last_cursor: object = ""
) -> None:
    def route(seen: Seen) -> Answer:
        limit = int(seen.query.get("limit", "100"))
        cursor = seen.query.get("cursor")
        start = cursor_offset(cursor) if cursor else 0
        page = markets[start : start + limit]
        more = start + limit < len(markets)
        body: dict[str, Any] = {"markets": page}
        if more:
            body["cursor"] = offset_cursor(start + limit)
        elif last_cursor != "absent":
            body["cursor"] = last_cursor  # "" (what Kalshi sends) or null (what its docs say)
        return Answer(200, json.dumps(body).encode())

    kalshi.route("/markets", route)


def client_for(kalshi: LoopbackKalshi, signer: KalshiSigner, **kwargs: Any) -> KalshiClient:
    return KalshiClient(
        base_url=kalshi.base_url,
        signer=signer,
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05),
        timeout=5.0,
        **kwargs,
    )


@pytest.mark.parametrize("last_cursor", ["", None, "absent"])
def test_follows_cursors_to_the_last_page(
    kalshi: LoopbackKalshi,
    signer: KalshiSigner,
    market_template: dict[str, Any],
    last_cursor: object,
) -> None:
    markets = make_markets(market_template, 2345)
    serve_markets(kalshi, markets, last_cursor=last_cursor)
    with client_for(kalshi, signer) as client:
        got = client.get_all_markets(limit=500, status="open")

    assert [m.ticker for m in got] == [m["ticker"] for m in markets]  # all, once, in order
    assert got[-1].volume_fp == 2344
    requests = kalshi.requests_to("/markets")
    assert len(requests) == 5  # ceil(2345 / 500)
    assert [r.query.get("cursor") for r in requests] == [None] + [
        offset_cursor(500 * i) for i in range(1, 5)
    ]
    assert all(r.query["limit"] == "500" and r.query["status"] == "open" for r in requests)
    assert all(r.signature_ok for r in requests)


def test_single_page_with_empty_cursor(
    kalshi: LoopbackKalshi, signer: KalshiSigner, market_template: dict[str, Any]
) -> None:
    serve_markets(kalshi, make_markets(market_template, 3))
    with client_for(kalshi, signer) as client:
        pages = list(client.iter_market_pages())
    assert len(pages) == 1 and pages[0].cursor == ""
    assert kalshi.requests_to("/markets")[0].query["limit"] == "1000"  # the endpoint maximum


def test_repeating_cursor_raises_instead_of_looping(
    kalshi: LoopbackKalshi, signer: KalshiSigner, market_template: dict[str, Any]
) -> None:
    """Kalshi silently restarts from page 1 on a cursor it does not know: that must not loop."""
    markets = make_markets(market_template, 30)

    def restarting(seen: Seen) -> Answer:
        cursor = seen.query.get("cursor")
        if cursor is None:
            page, nxt = markets[:10], "c1"
        elif cursor == "c1":
            page, nxt = markets[10:20], "c2"
        else:  # "c2" is not understood: back to page one, whose cursor is c1 again
            page, nxt = markets[:10], "c1"
        return Answer(200, json.dumps({"markets": page, "cursor": nxt}).encode())

    kalshi.route("/markets", restarting)
    received: list[str] = []
    with client_for(kalshi, signer) as client, pytest.raises(PaginationError) as info:
        for market in client.iter_markets(limit=10):
            received.append(market.ticker)
    assert "repeated cursor 'c1'" in str(info.value)
    assert len(kalshi.requests_to("/markets")) == 3
    assert len(received) == 30  # what was fetched was delivered; the error says it is not all


def test_same_cursor_twice_in_a_row(
    kalshi: LoopbackKalshi, signer: KalshiSigner, market_template: dict[str, Any]
) -> None:
    markets = make_markets(market_template, 4)
    kalshi.route(
        "/markets",
        lambda seen: Answer(200, json.dumps({"markets": markets, "cursor": "stuck"}).encode()),
    )
    with client_for(kalshi, signer) as client, pytest.raises(PaginationError):
        client.get_all_markets()
    assert len(kalshi.requests_to("/markets")) == 2


def test_max_pages_raises_rather_than_truncating(
    kalshi: LoopbackKalshi, signer: KalshiSigner, market_template: dict[str, Any]
) -> None:
    serve_markets(kalshi, make_markets(market_template, 50))
    with client_for(kalshi, signer, max_pages=3) as client:
        with pytest.raises(PaginationError, match="more than 3 pages"):
            client.get_all_markets(limit=10)
        assert len(client.get_all_markets(limit=25)) == 50  # 2 pages: within the cap


def test_positions_pages_merge_market_and_event_positions(
    kalshi: LoopbackKalshi, signer: KalshiSigner
) -> None:
    def position(i: int) -> dict[str, Any]:
        return {
            "ticker": f"T-{i}",
            "position_fp": f"{i}.00",
            "market_exposure_dollars": "0.500000",
            "last_updated_ts": "2026-06-11T06:29:30.165032Z",
        }

    def event(i: int) -> dict[str, Any]:
        return {"event_ticker": f"E-{i}", "total_cost_dollars": "1.000000"}

    def route(seen: Seen) -> Answer:
        second = seen.query.get("cursor") == "p2"
        body = {
            "market_positions": [position(2 if second else 1)],
            "event_positions": [event(2 if second else 1)],
            "cursor": "" if second else "p2",
        }
        return Answer(200, json.dumps(body).encode())

    kalshi.route("/portfolio/positions", route)
    with client_for(kalshi, signer) as client:
        merged = client.get_all_positions()
        tickers = [p.ticker for p in client.iter_positions()]
    assert [p.ticker for p in merged.market_positions] == ["T-1", "T-2"] == tickers
    assert [p.event_ticker for p in merged.event_positions] == ["E-1", "E-2"]
