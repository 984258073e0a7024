"""Every recorded Kalshi frame, and every spec example, parses into its typed message."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.kalshi.ws.messages import (
    ErrorReply,
    EventFeeUpdateMessage,
    EventLifecycleMessage,
    FillMessage,
    MarketLifecycleMessage,
    MarketPositionMessage,
    OkReply,
    OrderbookDelta,
    OrderbookSnapshot,
    SubscribedReply,
    SubscriptionInfo,
    TickerMessage,
    TradeMessage,
    UnknownMessage,
    UnsubscribedReply,
    WsErrorCode,
    parse_frame,
)

RECORDED = Path(__file__).resolve().parents[3] / "fixtures" / "kalshi_recorded"
WS_FRAMES = sorted(RECORDED.glob("ws__*.jsonl"))


def recorded_frames() -> list[tuple[str, int, str]]:
    frames = []
    for path in WS_FRAMES:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                frames.append((path.name, number, line))
    return frames


def test_there_are_recorded_ws_frames() -> None:
    assert WS_FRAMES, "no ws__*.jsonl recordings found"
    assert len(recorded_frames()) >= 7


@pytest.mark.parametrize(("name", "line_no", "line"), recorded_frames())
def test_every_recorded_frame_parses_into_a_typed_message(
    name: str, line_no: int, line: str
) -> None:
    message = parse_frame(line)
    assert not isinstance(message, UnknownMessage), (name, line_no, message)
    raw = json.loads(line)
    assert type(message).__struct_config__.tag == raw["type"]
    if "sid" in raw:
        assert message.sid == raw["sid"]  # type: ignore[union-attr]
    if "seq" in raw:
        assert message.seq == raw["seq"]  # type: ignore[union-attr]
    if isinstance(message, OrderbookDelta):
        assert message.msg.price_dollars == Decimal(raw["msg"]["price_dollars"])
        assert message.msg.delta_fp == Decimal(raw["msg"]["delta_fp"])
        assert message.msg.side == raw["msg"]["side"]
        assert message.msg.ts_ms == raw["msg"]["ts_ms"]


def test_recorded_snapshot_and_delta_values_are_exact() -> None:
    lines = [line for name, _, line in recorded_frames() if "orderbook_trade_noleg" in name]
    snapshot = parse_frame(lines[2])
    assert isinstance(snapshot, OrderbookSnapshot)
    assert snapshot.sid == 1 and snapshot.seq == 1
    assert snapshot.market_ticker == "KXWTACHALLENGERMATCH-26JUN11JIMLEP-LEP"
    assert snapshot.msg.yes_dollars_fp == ((Decimal("0.4700"), Decimal("3.00")),)
    assert snapshot.msg.no_dollars_fp == ((Decimal("0.4800"), Decimal("2.00")),)
    assert str(snapshot.msg.yes_dollars_fp[0][0]) == "0.4700"  # wire precision kept
    delta = parse_frame(lines[3])
    assert isinstance(delta, OrderbookDelta)
    assert (delta.seq, delta.msg.side, delta.msg.delta_fp) == (2, "yes", Decimal("-3.00"))
    assert delta.msg.ts == "2026-06-11T06:31:29.957081Z"
    subscribed = parse_frame(lines[1])
    assert isinstance(subscribed, SubscribedReply)
    assert subscribed.id == 1
    assert subscribed.msg is not None and (subscribed.msg.channel, subscribed.msg.sid) == (
        "trade",
        2,
    )


# Spec examples (Kalshi's AsyncAPI document), with the required fields they omit added.

TICKER = (
    '{"type":"ticker","sid":11,"msg":{"market_ticker":"FED-23DEC-T3.00","market_id":'
    '"9b0f6b43-5b68-4f9f-9f02-a2a0d9a5d4c1","price_dollars":"0.480","yes_bid_dollars":"0.450",'
    '"yes_ask_dollars":"0.530","volume_fp":"33896.00","open_interest_fp":"20422.00",'
    '"dollar_volume":16948,"dollar_open_interest":10211,"yes_bid_size_fp":"300.00",'
    '"yes_ask_size_fp":"150.00","last_trade_size_fp":"25.00","ts":1669149841,'
    '"ts_ms":1669149841000,"time":"2022-11-22T20:44:01Z"}}'
)
TRADE = (
    '{"type":"trade","sid":11,"msg":{"trade_id":"d91bc706-ee49-470d-82d8-11418bda6fed",'
    '"market_ticker":"HIGHNY-22DEC23-B53.5","yes_price_dollars":"0.360","no_price_dollars":"0.640",'
    '"count_fp":"136.00","taker_side":"no","taker_outcome_side":"no","taker_book_side":"ask",'
    '"is_block_trade":false,"ts":1669149841,"ts_ms":1669149841000}}'
)
FILL = (
    '{"type":"fill","sid":13,"msg":{"trade_id":"d91bc706-ee49-470d-82d8-11418bda6fed",'
    '"order_id":"ee587a1c-8b87-4dcf-b721-9f6f790619fa","market_ticker":"HIGHNY-22DEC23-B53.5",'
    '"exchange_index":2,"is_taker":true,"side":"yes","yes_price_dollars":"0.750",'
    '"count_fp":"278.00","action":"buy","ts":1671899397,"ts_ms":1671899397000,'
    '"post_position_fp":"500.00","purchased_side":"yes","subaccount":3,"fee_cost":"0.017500",'
    '"outcome_side":"yes","book_side":"bid","client_order_id":"my-order-1"}}'
)
POSITION = (
    '{"type":"market_position","sid":14,"msg":{"user_id":"user123","market_ticker":'
    '"FED-23DEC-T3.00","position_fp":"100.00","position_cost_dollars":"50.0000",'
    '"realized_pnl_dollars":"10.0000","fees_paid_dollars":"1.0000",'
    '"position_fee_cost_dollars":"0.5000","volume_fp":"15.00","subaccount":3}}'
)
LIFECYCLE_CREATED = (
    '{"type":"market_lifecycle_v2","sid":13,"msg":{"market_ticker":"INXD-23SEP14-B4487",'
    '"event_type":"created","exchange_index":0,"open_ts":1694635200,"close_ts":1694721600,'
    '"price_level_structure":"linear_cent","price_ranges":[{"start":"0.01","end":"0.99",'
    '"step":"0.01"}],"additional_metadata":{"name":"S&P","title":"S&P 500",'
    '"can_close_early":true,"floor_strike":4487.5}}}'
)
LIFECYCLE_DETERMINED = (
    '{"type":"market_lifecycle_v2","sid":13,"msg":{"market_ticker":"INXD-23SEP14-B4487",'
    '"event_type":"determined","result":"yes","determination_ts":1694721700,'
    '"settlement_value":"1.0000"}}'
)
LIFECYCLE_METADATA = (
    '{"type":"market_lifecycle_v2","sid":13,"msg":{"market_ticker":"INXD-23SEP14-B4487",'
    '"event_type":"metadata_updated","strike_type":"between","floor_strike":4487.5,'
    '"cap_strike":4512.49,"yes_sub_title":"4,487.5 to 4,512.49"}}'
)
EVENT_LIFECYCLE = (
    '{"type":"event_lifecycle","sid":13,"msg":{"event_ticker":"INXD-23SEP14","exchange_index":0,'
    '"title":"S&P 500 close","subtitle":"On Sep 14","collateral_return_type":"MECNET",'
    '"series_ticker":"INXD","strike_date":1694721600}}'
)
EVENT_FEE = (
    '{"type":"event_fee_update","sid":13,"msg":{"event_ticker":"INXD-23SEP14",'
    '"fee_type_override":"flat","fee_multiplier_override":0.5}}'
)


def test_ticker() -> None:
    message = parse_frame(TICKER)
    assert isinstance(message, TickerMessage)
    assert message.sid == 11
    assert message.market_ticker == "FED-23DEC-T3.00"
    assert message.msg.yes_bid_dollars == Decimal("0.450")
    assert message.msg.yes_ask_dollars == Decimal("0.530")
    assert message.msg.volume_fp == Decimal("33896.00")
    assert message.msg.dollar_volume == 16948
    assert message.msg.ts_ms == 1669149841000


def test_trade() -> None:
    message = parse_frame(TRADE)
    assert isinstance(message, TradeMessage)
    assert message.msg.yes_price_dollars == Decimal("0.360")
    assert message.msg.no_price_dollars == Decimal("0.640")
    assert message.msg.count_fp == Decimal("136.00")
    assert (message.msg.taker_outcome_side, message.msg.taker_book_side) == ("no", "ask")
    assert message.msg.is_block_trade is False
    assert message.seq is None


def test_fill() -> None:
    message = parse_frame(FILL)
    assert isinstance(message, FillMessage)
    fill = message.msg
    assert fill.order_id == "ee587a1c-8b87-4dcf-b721-9f6f790619fa"
    assert (fill.yes_price_dollars, fill.count_fp) == (Decimal("0.750"), Decimal("278.00"))
    assert fill.fee_cost == Decimal("0.017500")
    assert fill.post_position_fp == Decimal("500.00")
    assert (fill.outcome_side, fill.book_side, fill.is_taker) == ("yes", "bid", True)
    assert fill.client_order_id == "my-order-1"
    assert fill.subaccount == 3


def test_market_position_singular_type() -> None:
    message = parse_frame(POSITION)
    assert isinstance(message, MarketPositionMessage)
    position = message.msg
    assert position.position_fp == Decimal("100.00")
    assert position.position_cost_dollars == Decimal("50.0000")
    assert position.realized_pnl_dollars == Decimal("10.0000")
    assert position.fees_paid_dollars == Decimal("1.0000")
    assert position.position_fee_cost_dollars == Decimal("0.5000")
    assert position.volume_fp == Decimal("15.00")
    # the channel name is plural, the type is singular: the plural type is not ours
    plural = parse_frame(POSITION.replace('"market_position"', '"market_positions"'))
    assert isinstance(plural, UnknownMessage) and plural.error is None


def test_market_lifecycle_variants() -> None:
    created = parse_frame(LIFECYCLE_CREATED)
    assert isinstance(created, MarketLifecycleMessage)
    assert created.msg.event_type == "created"
    assert created.msg.open_ts == 1694635200
    assert created.msg.price_ranges is not None
    assert created.msg.price_ranges[0].step == Decimal("0.01")
    assert created.msg.additional_metadata is not None
    assert created.msg.additional_metadata["title"] == "S&P 500"
    determined = parse_frame(LIFECYCLE_DETERMINED)
    assert isinstance(determined, MarketLifecycleMessage)
    assert (determined.msg.result, determined.msg.settlement_value) == ("yes", Decimal("1.0000"))
    metadata = parse_frame(LIFECYCLE_METADATA)
    assert isinstance(metadata, MarketLifecycleMessage)
    assert metadata.msg.cap_strike == Decimal("4512.49")  # a JSON number, kept exact


def test_event_lifecycle_and_fee_update() -> None:
    event = parse_frame(EVENT_LIFECYCLE)
    assert isinstance(event, EventLifecycleMessage)
    assert (event.msg.event_ticker, event.msg.collateral_return_type) == ("INXD-23SEP14", "MECNET")
    fee = parse_frame(EVENT_FEE)
    assert isinstance(fee, EventFeeUpdateMessage)
    assert fee.msg.fee_multiplier_override == Decimal("0.5")
    cleared = parse_frame(EVENT_FEE.replace('"flat"', "null").replace("0.5", "null"))
    assert isinstance(cleared, EventFeeUpdateMessage)
    assert cleared.msg.fee_type_override is None and cleared.msg.fee_multiplier_override is None


def test_json_numbers_parse_exactly_not_through_float() -> None:
    frame = (
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"M","market_id":"x",'
        '"price_dollars":0.47,"delta_fp":0.1,"side":"no"}}'
    )
    message = parse_frame(frame)
    assert isinstance(message, OrderbookDelta)
    assert message.msg.price_dollars == Decimal("0.47")
    assert message.msg.delta_fp == Decimal("0.1")  # float(0.1) would be 0.1000000000000000055...


def test_command_replies() -> None:
    unsubscribed = parse_frame('{"id":102,"sid":2,"seq":7,"type":"unsubscribed"}')
    assert isinstance(unsubscribed, UnsubscribedReply)
    assert (unsubscribed.id, unsubscribed.sid, unsubscribed.seq) == (102, 2, 7)

    update_ok = parse_frame(
        '{"id":123,"sid":456,"seq":222,"type":"ok","msg":{"market_tickers":["M1","M2","M3"]}}'
    )
    assert isinstance(update_ok, OkReply)
    assert update_ok.tickers == ["M1", "M2", "M3"]
    assert update_ok.subscription_list is None

    legacy_ok = parse_frame('{"id":5,"sid":4,"type":"ok","market_tickers":["A"]}')
    assert isinstance(legacy_ok, OkReply) and legacy_ok.tickers == ["A"]

    listing = parse_frame(
        '{"id":3,"type":"ok","msg":[{"channel":"orderbook_delta","sid":1},'
        '{"channel":"ticker","sid":2}]}'
    )
    assert isinstance(listing, OkReply)
    assert listing.subscription_list == [
        SubscriptionInfo("orderbook_delta", 1),
        SubscriptionInfo("ticker", 2),
    ]
    legacy_listing = parse_frame('{"type":"ok","subscriptions":[{"channel":"fill","sid":9}]}')
    assert isinstance(legacy_listing, OkReply)
    assert legacy_listing.subscription_list == [SubscriptionInfo("fill", 9)]

    error = parse_frame(
        '{"id":127,"type":"error","msg":{"code":16,"msg":"Market not found",'
        '"market_ticker":"INVALID-MARKET"}}'
    )
    assert isinstance(error, ErrorReply)
    assert (error.code, error.msg.msg, error.msg.market_ticker) == (
        WsErrorCode.MARKET_NOT_FOUND,
        "Market not found",
        "INVALID-MARKET",
    )
    assert not error.terminal
    overflow = parse_frame('{"type":"error","sid":4,"msg":{"code":25,"msg":"buffer overflow"}}')
    assert isinstance(overflow, ErrorReply) and overflow.terminal

    old_subscribed = parse_frame('{"id":1,"type":"subscribed"}')  # very old servers omit msg
    assert isinstance(old_subscribed, SubscribedReply) and old_subscribed.msg is None


def test_unknown_type_is_not_an_error() -> None:
    message = parse_frame('{"type":"user_order","sid":7,"msg":{"order_id":"o1"}}')
    assert isinstance(message, UnknownMessage)
    assert (message.type, message.sid, message.seq, message.error) == ("user_order", 7, None, None)
    assert message.raw["msg"] == {"order_id": "o1"}


def test_known_type_with_wrong_shape_is_reported_not_raised() -> None:
    message = parse_frame(
        '{"type":"orderbook_delta","sid":3,"seq":9,"msg":{"market_ticker":"M",'
        '"price_dollars":"zero","delta_fp":"1.00","side":"yes"}}'
    )
    assert isinstance(message, UnknownMessage)
    assert (message.type, message.sid, message.seq) == ("orderbook_delta", 3, 9)
    assert message.error is not None and "price_dollars" in message.error


@pytest.mark.parametrize("frame", ["not json", "[1,2]", '"text"', "", b"\xff\xfe", "{}"])
def test_garbage_never_raises(frame: str | bytes) -> None:
    message = parse_frame(frame)
    assert isinstance(message, UnknownMessage)
    assert message.type == ""
    assert message.error is not None


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"ticker","sid":1,"msg":{"market_ticker":"T","price_dollars":"NaN"}}',
        '{"type":"trade","sid":1,"msg":{"trade_id":"x","market_ticker":"T",'
        '"yes_price_dollars":"Infinity","count_fp":"1.00"}}',
        '{"type":"fill","sid":1,"msg":{"trade_id":"x","order_id":"o","market_ticker":"T",'
        '"yes_price_dollars":"0.5000","count_fp":"NaN"}}',
        '{"type":"market_position","sid":1,"msg":{"market_ticker":"T","position_fp":"1.00",'
        '"realized_pnl_dollars":"-Infinity"}}',
    ],
)
def test_non_finite_money_is_an_unreadable_frame_not_a_message(frame: str) -> None:
    parsed = parse_frame(frame)
    assert isinstance(parsed, UnknownMessage)
    assert parsed.error and "finite" in parsed.error
