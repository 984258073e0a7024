"""Model tolerance and exactness on shapes the recordings do not cover (docs-derived bodies)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from shared.kalshi import models as m

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kalshi_recorded"


def single_market() -> dict[str, Any]:
    market: dict[str, Any] = json.loads((FIXTURES / "markets__single.json").read_bytes())["market"]
    return market


def test_numeric_prices_from_community_captures_parse_exactly() -> None:
    market = {
        **single_market(),
        "yes_bid_dollars": 0.47,
        "yes_ask_dollars": 0.52,
        "volume_fp": 2,
        "open_interest_fp": 1.5,
    }
    parsed = m.decode(json.dumps({"market": market}), m.GetMarketResponse).market
    assert parsed.yes_bid_dollars == Decimal("0.47")
    assert str(parsed.yes_ask_dollars) == "0.52"  # from the literal digits, not a float
    assert parsed.volume_fp == 2 and parsed.open_interest_fp == Decimal("1.5")


def test_legacy_integer_twins_are_ignored_and_not_required() -> None:
    market = {**single_market(), "yes_bid": 47, "volume": 2, "liquidity": 0, "tick_size": 1}
    parsed = m.decode(json.dumps({"market": market}), m.GetMarketResponse).market
    assert parsed.yes_bid_dollars == Decimal("0.4700")
    assert not hasattr(parsed, "yes_bid")


def test_a_market_without_its_price_fails_loudly() -> None:
    market = single_market()
    del market["yes_bid_dollars"]
    with pytest.raises(msgspec.ValidationError, match="yes_bid_dollars"):
        m.decode(json.dumps({"market": market}), m.GetMarketResponse)


def test_optional_market_fields_default_sensibly() -> None:
    minimal = {
        "ticker": "T",
        "event_ticker": "E",
        "market_type": "binary",
        "status": "initialized",
        "open_time": "2026-06-11T05:39:29Z",
        "close_time": "2026-06-25T16:00:00Z",
        "yes_bid_dollars": "0.0000",
        "yes_ask_dollars": "0.0000",
        "no_bid_dollars": "1.0000",
        "no_ask_dollars": "1.0000",
        "last_price_dollars": "0.0000",
        "volume_fp": "0.00",
        "open_interest_fp": "0.00",
        "settlement_value_dollars": None,
        "expected_expiration_time": None,
    }
    market = m.decode(json.dumps(minimal), m.Market)
    assert market.result == "" and market.title == ""
    assert market.settlement_value_dollars is None and market.settlement_ts is None
    assert market.price_ranges == [] and market.custom_strike is None
    assert market.mid_dollars is None  # no quote on an empty book
    assert market.status == m.MarketStatus.INITIALIZED and not market.is_active


def test_status_vocabularies() -> None:
    assert [s.value for s in m.MarketStatus] == [
        "initialized",
        "inactive",
        "active",
        "closed",
        "determined",
        "disputed",
        "amended",
        "finalized",
    ]
    assert m.MarketStatusFilter.OPEN == "open"
    unknown = {**single_market(), "status": "brand_new_status"}
    assert m.decode(json.dumps(unknown), m.Market).status == "brand_new_status"


def test_candlesticks_with_null_trade_prices_and_a_synthetic_lead_candle() -> None:
    body = {
        "ticker": "KX-1",
        "candlesticks": [
            {
                "end_period_ts": 1781154000,
                "yes_bid": {
                    "open_dollars": None,
                    "low_dollars": None,
                    "high_dollars": None,
                    "close_dollars": None,
                },
                "yes_ask": None,
                "price": {"open_dollars": None, "previous_dollars": "0.4500"},
                "volume_fp": "0.00",
                "open_interest_fp": "10.00",
            },
            {
                "end_period_ts": 1781157600,
                "yes_bid": {
                    "open_dollars": "0.4600",
                    "low_dollars": "0.4500",
                    "high_dollars": "0.4800",
                    "close_dollars": "0.4700",
                },
                "yes_ask": {
                    "open_dollars": "0.5000",
                    "low_dollars": "0.4900",
                    "high_dollars": "0.5300",
                    "close_dollars": "0.5200",
                },
                "price": {
                    "open_dollars": "0.4700",
                    "low_dollars": "0.4600",
                    "high_dollars": "0.5100",
                    "close_dollars": "0.5000",
                    "mean_dollars": "0.4875",
                    "previous_dollars": "0.4500",
                    "min_dollars": "0.4600",
                    "max_dollars": "0.5100",
                },
                "volume_fp": "12.50",
                "open_interest_fp": "22.50",
                "yes_bid_close": 47,
            },
        ],
    }
    candles = m.decode(json.dumps(body), m.CandlesticksResponse)
    lead, hour = candles.candlesticks
    assert lead.price is not None and lead.price.open_dollars is None
    assert lead.price.previous_dollars == Decimal("0.45")
    assert lead.yes_ask is None
    assert hour.price is not None and hour.price.mean_dollars == Decimal("0.4875")
    assert hour.yes_bid is not None and hour.yes_bid.close_dollars == Decimal("0.47")
    assert hour.volume_fp == Decimal("12.50")


def test_event_and_series_bodies() -> None:
    event_body = {
        "event": {
            "event_ticker": "KXHIGHNY-26JUN15",
            "series_ticker": "KXHIGHNY",
            "title": "Highest temperature in NYC on Jun 15, 2026?",
            "sub_title": "On Jun 15, 2026",
            "collateral_return_type": "MECNET",
            "mutually_exclusive": True,
            "category": "Climate and Weather",
            "strike_date": "2026-06-16T04:59:00Z",
            "strike_period": None,
            "available_on_brokers": False,
            "settlement_sources": [{"name": "NWS", "url": "https://www.weather.gov/"}],
            "fee_multiplier_override": 0.5,
            "markets": [single_market()],
        },
        "markets": [],
    }
    event = m.decode(json.dumps(event_body), m.GetEventResponse)
    assert event.event.series_ticker == "KXHIGHNY"
    assert event.event.strike_date == dt.datetime(2026, 6, 16, 4, 59, tzinfo=dt.UTC)
    assert event.event.fee_multiplier_override == Decimal("0.5")
    assert [mk.ticker for mk in event.all_markets] == [single_market()["ticker"]]

    series_body = {
        "series": {
            "ticker": "KXHIGHNY",
            "frequency": "daily",
            "title": "Highest temperature in NYC",
            "category": "Climate and Weather",
            "tags": None,
            "settlement_sources": None,
            "contract_url": "https://kalshi.com/x.pdf",
            "contract_terms_url": "https://kalshi.com/y.pdf",
            "fee_type": "quadratic",
            "fee_multiplier": 1,
            "additional_prohibitions": [],
            "volume_fp": "123456.00",
            "last_updated_ts": "2026-06-11T05:00:00Z",
        }
    }
    series = m.decode(json.dumps(series_body), m.GetSeriesResponse).series
    assert series.fee_multiplier == 1 and series.volume_fp == Decimal("123456.00")
    assert series.tags is None


@pytest.mark.parametrize(
    "body",
    [
        {"orderbook_fp": {}},
        {"orderbook_fp": {"yes_dollars": None, "no_dollars": None}},
        {"orderbook_fp": {"yes_dollars": [], "no_dollars": []}},
        {},
    ],
)
def test_empty_order_book_sides(body: dict[str, Any]) -> None:
    book = m.decode(json.dumps(body), m.OrderbookResponse).book
    assert book.yes_bids == [] and book.no_bids == []
    assert book.best_yes_bid is None and book.best_yes_ask is None
    assert book.spread_dollars is None


def test_transitional_orderbook_shape_and_unsorted_levels() -> None:
    body = {
        "orderbook": {
            "yes": [[40, 5], [47, 3]],
            "no": [[48, 3]],
            "yes_dollars": [["0.4700", 3], ["0.4000", 5], ["0.4500", "0.00"]],
            "no_dollars": [["0.4800", 3]],
        }
    }
    book = m.decode(json.dumps(body), m.OrderbookResponse).book
    assert book.best_yes_bid == (Decimal("0.47"), Decimal(3))  # max price, not last element
    assert book.best_no_ask == (Decimal("0.53"), Decimal(3))
    assert book.best_yes_ask == (Decimal("0.52"), Decimal(3))


def test_sub_cent_levels_stay_exact() -> None:
    body = {"orderbook_fp": {"yes_dollars": [["0.0015", "1.50"]], "no_dollars": [["0.9980", "2"]]}}
    book = m.decode(json.dumps(body), m.OrderbookResponse).book
    assert book.best_yes_ask == (Decimal("0.0020"), Decimal(2))
    assert book.spread_dollars == Decimal("0.0005")


def test_models_are_immutable() -> None:
    market = m.decode(json.dumps(single_market()), m.Market)
    with pytest.raises(AttributeError):
        market.ticker = "other"  # type: ignore[misc]
