"""Kalshi market objects (recorded demo wire) become ingest rows and compact raw JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import msgspec

from shared.kalshi import models as km
from shared.marketdata.observation import (
    SNAPSHOT_RAW_EXCLUDED_FIELDS,
    EventInfo,
    observation_from_market,
    snapshot_raw,
)

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "kalshi_recorded"


def recorded(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.json").read_text())


def market(doc: dict) -> km.Market:
    return msgspec.convert(doc, km.Market, strict=False)


def test_active_market_becomes_an_exact_observation():
    doc = recorded("markets__single")["market"]
    event = EventInfo("KXWTACHALLENGERMATCH", "Jimenez Kasintseva vs Lepchenko", "Sports")
    o = observation_from_market(km.decode(json.dumps(doc).encode(), km.Market), event)
    assert o.ticker == "KXWTACHALLENGERMATCH-26JUN11JIMLEP-LEP"
    assert (o.yes_bid_dollars, o.yes_ask_dollars) == (D("0.4700"), D("0.5200"))
    assert (o.no_bid_dollars, o.no_ask_dollars) == (D("0.4800"), D("0.5300"))
    assert o.last_price_dollars == D("0.9900")
    assert (o.volume_fp, o.open_interest_fp, o.volume_24h_fp) == (D("2.00"), D("2.00"), D("1.00"))
    assert o.close_time == datetime(2026, 6, 25, 16, tzinfo=UTC)
    assert o.result is None and o.settlement_value_dollars is None
    assert (o.series_ticker, o.category) == ("KXWTACHALLENGERMATCH", "Sports")
    assert not o.is_determined


def test_settled_and_determined_markets_carry_their_result():
    settled = observation_from_market(
        market(recorded("markets__status_settled")["markets"][0]), None
    )
    assert settled.status == "finalized" and settled.result == "no"
    assert settled.settlement_value_dollars == D("0.0000")
    assert settled.settlement_ts == datetime(2026, 6, 11, 5, 38, 35, 804719, tzinfo=UTC)
    determined = observation_from_market(
        market(recorded("markets__status_closed")["markets"][0]), None
    )
    assert determined.status == "determined" and determined.result == "no"
    assert determined.is_determined


def test_settlement_value_follows_the_result_when_kalshi_omits_it():
    doc = dict(recorded("markets__status_closed")["markets"][0])
    doc.pop("settlement_value_dollars", None)
    doc["result"] = "yes"
    assert observation_from_market(market(doc), None).settlement_value_dollars == D("1.0000")


def test_raw_keeps_what_no_column_holds_and_drops_static_text():
    doc = recorded("markets__single")["market"]
    raw = json.loads(snapshot_raw(doc))
    assert raw["status"] == "active"
    assert raw["yes_bid_size_fp"] == "3.00"
    assert raw["updated_time"] == "2026-06-11T05:39:31.28563Z"
    assert not set(raw) & SNAPSHOT_RAW_EXCLUDED_FIELDS
    assert "rules_primary" not in raw and "yes_bid_dollars" not in raw
    assert len(snapshot_raw(doc)) < len(json.dumps(doc)) / 4
    # a decoded model gives the same fields (decimals as exact strings)
    model = km.decode(json.dumps(doc).encode(), km.Market)
    from_model = json.loads(snapshot_raw(model))
    assert from_model["previous_price_dollars"] == "0.0000"
    assert from_model["status"] == "active"


def test_clean_observations_removes_what_postgres_refuses_and_skips_bad_tickers():
    from shared.marketdata.observation import (
        MarketObservation,
        clean_observations,
        clean_text,
    )

    assert clean_text("a\x00b\ud800c") == "ab\ufffdc"
    ok = MarketObservation("KX-1", "KX", "active", title="fine", raw=b'{"a":"\\u001f"}')
    dirty = MarketObservation(
        "KX-2",
        "KX\x00",
        "active",
        title="x\x00y",
        category="\udc80",
        raw=b'{"note":"q\\u0000r","s":"\\ud800","pair":"\\ud83d\\ude00"}',
    )
    bad = MarketObservation("KX\x00-3", "KX", "active")
    result = clean_observations([ok, dirty, bad])
    assert result.observations[0] is ok  # the fast path leaves clean markets untouched
    fixed = result.observations[1]
    assert (fixed.event_ticker, fixed.title, fixed.category) == ("KX", "xy", "\ufffd")
    assert fixed.raw is not None
    assert json.loads(fixed.raw) == {"note": "qr", "s": "\ufffd", "pair": "\U0001f600"}
    assert result.cleaned == ["KX-2"] and result.skipped == ["KX\x00-3"]
    broken = MarketObservation("KX-4", "KX", "active", raw=b'{"a":"\\u0000')  # not JSON
    assert clean_observations([broken]).observations[0].raw is None
