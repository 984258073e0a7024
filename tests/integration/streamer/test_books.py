"""The ``orderbook`` event end to end: a page that opened markets (``?markets=``) gets their
live books from the simulator's ``orderbook_delta`` channel, equal to the REST book; a
skipped ``seq`` is caught and repaired with ``get_snapshot``; no other stream (the same
user's without markets, another user's) gets a single book."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from shared.kalshi.client import KalshiClient
from tests.integration.streamer.harness import SseClient
from tests.integration.streamer.stack import ALICE, BOB, Stack, eventually

pytestmark = pytest.mark.integration

Levels = dict[str, list[tuple[Decimal, Decimal]]]


def _shown_books(client: SseClient) -> dict[str, Levels]:
    books: dict[str, Levels] = {}
    for event in client.of("orderbook"):
        body = event.json()
        books[body["ticker"]] = {
            side: [(Decimal(p), Decimal(s)) for p, s in body["orderbook_fp"].get(side, [])]
            for side in ("yes_dollars", "no_dollars")
        }
    return books


def _rest_books(stack: Stack, tickers: list[str]) -> dict[str, Levels]:
    signer = stack.accounts[ALICE].signer
    with KalshiClient(base_url=stack.simulator.base_url, signer=signer) as client:
        out = {}
        for ticker in tickers:
            book = client.get_orderbook(ticker)
            out[ticker] = {
                "yes_dollars": [tuple(level) for level in book.yes_dollars or []],
                "no_dollars": [tuple(level) for level in book.no_dollars or []],
            }
    return out  # type: ignore[return-value]


def test_a_market_page_gets_its_live_books_through_a_skipped_seq(
    stack: Stack, simulator: Any
) -> None:
    server = stack.start()
    signer = stack.accounts[ALICE].signer
    with KalshiClient(base_url=simulator.base_url, signer=signer) as client:
        tickers = [m.ticker for m in client.get_markets(status="open", limit=6).markets]
    page, other = tickers[:3], tickers[3:]
    alice_page = SseClient(server.origin, stack.session(ALICE), markets=",".join(page)).start()
    alice_plain = SseClient(server.origin, stack.session(ALICE)).start()
    bob_page = SseClient(server.origin, stack.session(BOB), markets=other[0]).start()
    eventually(lambda: set(_shown_books(alice_page)) == set(page))
    for _ in range(5):
        simulator.advance(5)
        time.sleep(0.05)
    eventually(lambda: _shown_books(alice_page) == _rest_books(stack, page))
    books = server.call(lambda: server.service.books)
    gaps_before = books.gaps
    try:
        for _ in range(10):
            simulator.set_faults(ws_skip_seq=1)
            simulator.advance(5)
            if books.gaps > gaps_before:
                break
            time.sleep(0.1)
    finally:
        simulator.set_faults()
    eventually(lambda: books.gaps > gaps_before and books.resyncs > 0)
    simulator.advance(5)
    eventually(lambda: _shown_books(alice_page) == _rest_books(stack, page))
    assert not alice_plain.of("orderbook")
    assert set(_shown_books(bob_page)) <= {other[0]}
    assert not set(_shown_books(alice_page)) & set(other)
    assert books.wanted(ALICE) == frozenset(page)
