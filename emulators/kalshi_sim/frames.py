"""Every outgoing WebSocket frame, and the ``msg`` bodies the channels carry.

:func:`ws_frame` is the one place a frame is put together. Fan-out is cheap by
construction: a happening's ``msg`` body is serialized once (:func:`encode`) and each
subscriber only gets a short envelope (type, sid, seq) formatted around the same string.
Keys keep Kalshi's order on the wire, which differs by frame type: data frames and
``subscribed`` lead with ``type``; the other command replies (``ok``, ``error``,
``unsubscribed``) lead with ``id``/``sid``/``seq`` and an ``ok`` always carries ``id``, as
``null`` when the command had none.
"""

from __future__ import annotations

from typing import Any

import msgspec

from emulators.kalshi_sim import wire
from emulators.kalshi_sim.accounts import Account, Order, Position
from emulators.kalshi_sim.model import (
    SECOND_US,
    BookDelta,
    EventCreated,
    FillNotice,
    Market,
    TradePrint,
)
from emulators.kalshi_sim.wire import MICRO_PER_CENTI, PRICE_ONE

__all__ = [
    "ERROR_TEXT",
    "delta_msg",
    "encode",
    "error_frame",
    "event_lifecycle_msg",
    "fill_msg",
    "position_msg",
    "snapshot_msg",
    "ticker_msg",
    "trade_msg",
    "user_order_msg",
    "ws_frame",
]

ERROR_TEXT = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    6: "Already subscribed",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    9: "Authentication required",
    10: "Channel error",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market Ticker required",
    15: "Action required",
    16: "Market not found",
    17: "Internal error",
    18: "Command timeout",
    25: "Subscription buffer overflow",
    26: "Subscription market limit exceeded",
    27: "Too many requests",
}

_json = msgspec.json.Encoder()  # insertion order: WS frames are not key-sorted on the wire

# Command replies whose ``type`` comes after id/sid/seq; every other frame leads with it.
_TYPE_LAST = frozenset({"ok", "error", "unsubscribed"})


def encode(value: Any) -> str:
    """JSON text of a ``msg`` body, keys in insertion order."""
    return _json.encode(value).decode()


def ws_frame(
    frame_type: str,
    body: str | None = None,
    sid: int | None = None,
    seq: int | None = None,
    *,
    cmd_id: int | None = None,
) -> str:
    """One outgoing frame around ``body`` (JSON text from :func:`encode`, or no ``msg``).

    ``cmd_id`` is written when the command had one (always on ``ok``); ``sid`` and ``seq``
    when given. Data frames take the first branch, plain string formatting with positional
    arguments, because that is the one every subscriber of every happening goes through
    (the fan-out benchmark measures it).
    """
    if cmd_id is None and sid is not None and body is not None and frame_type not in _TYPE_LAST:
        if seq is None:
            return f'{{"type":"{frame_type}","sid":{sid},"msg":{body}}}'
        return f'{{"type":"{frame_type}","sid":{sid},"seq":{seq},"msg":{body}}}'
    type_first = frame_type not in _TYPE_LAST
    fields: list[str] = []
    if type_first:
        fields.append(f'"type":"{frame_type}"')
    if cmd_id is not None or frame_type == "ok":
        fields.append(f'"id":{"null" if cmd_id is None else cmd_id}')
    if sid is not None:
        fields.append(f'"sid":{sid}')
    if seq is not None:
        fields.append(f'"seq":{seq}')
    if not type_first:
        fields.append(f'"type":"{frame_type}"')
    if body is not None:
        fields.append(f'"msg":{body}')
    return "{" + ",".join(fields) + "}"


def error_frame(cmd_id: int | None, code: int, **extra: Any) -> str:
    msg: dict[str, Any] = {"code": code, "msg": ERROR_TEXT.get(code, "error")}
    sid = extra.pop("sid", None)
    msg.update(extra)
    return ws_frame("error", encode(msg), cmd_id=cmd_id or None, sid=sid)


def snapshot_msg(market: Market, use_yes_price: bool) -> dict[str, Any]:
    msg: dict[str, Any] = {"market_ticker": market.ticker, "market_id": market.market_id}
    if market.yes:
        msg["yes_dollars_fp"] = [
            [wire.price(p), wire.count(c)] for p, c in sorted(market.yes.items())
        ]
    if market.no:
        if use_yes_price:
            levels = sorted((PRICE_ONE - p, c) for p, c in market.no.items())
        else:
            levels = sorted(market.no.items())
        msg["no_dollars_fp"] = [[wire.price(p), wire.count(c)] for p, c in levels]
    return msg


def delta_msg(h: BookDelta, use_yes_price: bool) -> dict[str, Any]:
    price = PRICE_ONE - h.price if (use_yes_price and h.side == "no") else h.price
    return {
        "market_ticker": h.market.ticker,
        "market_id": h.market.market_id,
        "price_dollars": wire.price(price),
        "delta_fp": wire.count(h.delta),
        "side": h.side,
        "ts": wire.rfc3339_us(h.ts_us),
        "ts_ms": h.ts_us // 1000,
    }


def ticker_msg(m: Market, ts_us: int) -> dict[str, Any]:
    yes_bid, yes_ask, bid_size, ask_size = m.quotes()
    return {
        "market_ticker": m.ticker,
        "market_id": m.market_id,
        "price_dollars": wire.price(m.last_price),
        "yes_bid_dollars": wire.price(yes_bid),
        "yes_ask_dollars": wire.price(yes_ask),
        "volume_fp": wire.count(m.volume),
        "open_interest_fp": wire.count(m.open_interest),
        "dollar_volume": m.dollar_volume_micro // 1_000_000,
        "dollar_open_interest": m.open_interest * m.last_price // 1_000_000,
        "yes_bid_size_fp": wire.count(bid_size),
        "yes_ask_size_fp": wire.count(ask_size),
        "last_trade_size_fp": wire.count(m.last_trade_size),
        "ts": ts_us // SECOND_US,
        "ts_ms": ts_us // 1000,
        "time": wire.rfc3339_us(ts_us),
    }


def trade_msg(h: TradePrint) -> dict[str, Any]:
    t = h.trade
    outcome = t.taker_outcome_side
    return {
        "trade_id": t.trade_id,
        "market_ticker": t.ticker,
        "yes_price_dollars": wire.price(t.yes_price),
        "no_price_dollars": wire.price(PRICE_ONE - t.yes_price),
        "count_fp": wire.count(t.count),
        "taker_side": outcome,
        "taker_outcome_side": outcome,
        "taker_book_side": "bid" if outcome == "yes" else "ask",
        "is_block_trade": False,
        "ts": t.created_us // SECOND_US,
        "ts_ms": t.created_us // 1000,
    }


def fill_msg(h: FillNotice) -> dict[str, Any]:
    f = h.fill
    return {
        "trade_id": f.fill_id,
        "order_id": f.order_id,
        "market_ticker": f.ticker,
        "exchange_index": 0,
        "is_taker": f.is_taker,
        "side": f.side,
        "yes_price_dollars": wire.price(f.yes_price),
        "count_fp": wire.count(f.count),
        "fee_cost": wire.micro(f.fee_centi * MICRO_PER_CENTI),
        "action": f.action,
        "outcome_side": f.outcome_side,
        "book_side": f.book_side,
        "ts": f.created_us // SECOND_US,
        "ts_ms": f.created_us // 1000,
        "post_position_fp": wire.count(f.post_position),
        "purchased_side": f.side,
        "client_order_id": f.client_order_id,
        "subaccount": 0,
    }


def position_msg(account: Account, p: Position) -> dict[str, Any]:
    return {
        "user_id": account.user_id,
        "market_ticker": p.ticker,
        "position_fp": wire.count(p.position),
        "position_cost_dollars": wire.micro(p.cost_micro),
        "realized_pnl_dollars": wire.micro(p.realized_pnl_micro),
        "fees_paid_dollars": wire.micro(p.fees_micro),
        "position_fee_cost_dollars": wire.micro(p.position_fee_micro),
        "volume_fp": wire.count(p.volume),
        "subaccount": 0,
    }


def user_order_msg(o: Order) -> dict[str, Any]:
    """``user_orders`` channel: the order after a change (asyncapi's User Order Update)."""
    msg: dict[str, Any] = {
        "order_id": o.order_id,
        "user_id": o.account.user_id,
        "ticker": o.ticker,
        "status": o.status,
        "side": "yes",
        "is_yes": o.book_side == "bid",
        "outcome_side": "yes" if o.book_side == "bid" else "no",
        "book_side": o.book_side,
        "yes_price_dollars": wire.price(o.price),
        "fill_count_fp": wire.count(o.fill_count),
        "remaining_count_fp": wire.count(o.remaining_count),
        "initial_count_fp": wire.count(o.initial_count),
        "taker_fill_cost_dollars": wire.micro_4dp(o.taker_fill_cost_micro),
        "maker_fill_cost_dollars": wire.micro_4dp(o.maker_fill_cost_micro),
        "taker_fees_dollars": wire.micro_4dp(o.taker_fees_micro),
        "maker_fees_dollars": wire.micro_4dp(o.maker_fees_micro),
        "client_order_id": o.client_order_id,
        "self_trade_prevention_type": o.self_trade_prevention_type,
        "created_time": wire.rfc3339_us(o.created_us),
        "created_ts_ms": o.created_us // 1000,
        "last_update_time": wire.rfc3339_us(o.updated_us),
        "last_updated_ts_ms": o.updated_us // 1000,
        "subaccount_number": 0,
    }
    if o.expiration_us is not None:
        msg["expiration_time"] = wire.rfc3339_us(o.expiration_us)
        msg["expiration_ts_ms"] = o.expiration_us // 1000
    return msg


def event_lifecycle_msg(h: EventCreated) -> dict[str, Any]:
    e = h.event
    msg: dict[str, Any] = {
        "event_ticker": e.event_ticker,
        "exchange_index": 0,
        "title": e.title,
        "subtitle": e.sub_title,
        "collateral_return_type": "MECNET" if e.mutually_exclusive else "",
        "series_ticker": e.series.ticker,
    }
    if e.strike_date_us is not None:
        msg["strike_date"] = e.strike_date_us // SECOND_US
    return msg
