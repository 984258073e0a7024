"""Market rules are fetched once a minute per market, series fees once in ten, per instance."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.kalshi import models as m
from shared.kalshi.errors import NotFoundError
from shared.trading.markets import MarketRulesCache, UnknownMarket


class FakeKalshi:
    """Counts the three reads the cache makes."""

    def __init__(self, override: str | None = None) -> None:
        self.calls: list[str] = []
        self.override = override

    def get_market(self, ticker: str) -> Any:
        self.calls.append(f"market {ticker}")
        if ticker == "KXNONE":
            raise NotFoundError(404, "not_found", "not found")
        return m.decode(
            b'{"ticker": "%s", "event_ticker": "EV", "market_type": "binary", "status": "active",'
            b' "open_time": "2026-01-01T00:00:00Z", "close_time": "2027-01-01T00:00:00Z",'
            b' "yes_bid_dollars": "0.40", "yes_ask_dollars": "0.42", "no_bid_dollars": "0.58",'
            b' "no_ask_dollars": "0.60", "last_price_dollars": "0.41", "volume_fp": "0",'
            b' "open_interest_fp": "0", "price_ranges": [{"start": "0.0000", "end": "1.0000",'
            b' "step": "0.0100"}]}' % ticker.encode(),
            m.Market,
        )

    def get_event(self, event_ticker: str) -> Any:
        self.calls.append(f"event {event_ticker}")
        event = m.Event(
            event_ticker=event_ticker,
            series_ticker="SER",
            fee_multiplier_override=Decimal("0.5") if self.override else None,
            fee_type_override=self.override,
        )
        return m.GetEventResponse(event=event)

    def get_series(self, series_ticker: str) -> Any:
        self.calls.append(f"series {series_ticker}")
        return m.Series(ticker=series_ticker, fee_type="quadratic_with_maker_fees")


def test_rules_are_cached_per_market_and_series() -> None:
    now = [0.0]
    cache = MarketRulesCache(clock=lambda: now[0])
    client = FakeKalshi()
    first = cache.rules(client, "KXA")  # type: ignore[arg-type]
    assert first.fee_type == "quadratic_with_maker_fees" and first.fee_multiplier == 1
    assert first.on_grid(Decimal("0.41"))
    cache.rules(client, "KXA")  # type: ignore[arg-type]
    assert client.calls == ["market KXA", "event EV", "series SER"]
    now[0] = 61.0
    cache.rules(client, "KXA")  # type: ignore[arg-type]
    assert client.calls[3:] == ["market KXA"]  # the series' fees are still fresh


def test_an_event_override_wins_and_unknown_markets_are_not_cached() -> None:
    cache = MarketRulesCache()
    client = FakeKalshi(override="quadratic")
    rules = cache.rules(client, "KXB")  # type: ignore[arg-type]
    assert (rules.fee_type, rules.fee_multiplier) == ("quadratic", Decimal("0.5"))
    for _ in range(2):
        with pytest.raises(UnknownMarket):
            cache.rules(client, "KXNONE")  # type: ignore[arg-type]
    assert client.calls.count("market KXNONE") == 2
