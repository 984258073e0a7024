"""Exchange objects -> Kalshi's JSON, field for field as the June-2026 demo wire shows them.

Market JSON is cached on the market and dropped when the market changes (``touch``), so a
``GET /markets?limit=1000`` mostly joins pre-rendered bytes.
"""

from __future__ import annotations

from typing import Any

from emulators.kalshi_sim import wire
from emulators.kalshi_sim.accounts import DIRECTION, Account, Fill, Order, Position, Settlement
from emulators.kalshi_sim.model import SECOND_US, Event, Market, Series, Trade
from emulators.kalshi_sim.wire import MICRO_PER_CENTI, PRICE_ONE


def market_dict(m: Market) -> dict[str, Any]:
    yes_bid, yes_ask, bid_size, ask_size = m.quotes()
    if m.status == "initialized":
        no_bid, no_ask = PRICE_ONE, PRICE_ONE
    else:
        no_bid, no_ask = PRICE_ONE - yes_ask, PRICE_ONE - yes_bid
    d = dict(m.static)
    d.update(
        ticker=m.ticker,
        event_ticker=m.event_ticker,
        status=m.status,
        updated_time=wire.rfc3339_us(m.updated_us),
        yes_bid_dollars=wire.price(yes_bid),
        yes_ask_dollars=wire.price(yes_ask),
        no_bid_dollars=wire.price(no_bid),
        no_ask_dollars=wire.price(no_ask),
        yes_bid_size_fp=wire.count(bid_size),
        yes_ask_size_fp=wire.count(ask_size),
        last_price_dollars=wire.price(m.last_price),
        previous_yes_bid_dollars=wire.price(m.prev_yes_bid),
        previous_yes_ask_dollars=wire.price(m.prev_yes_ask),
        previous_price_dollars=wire.price(m.prev_price),
        volume_fp=wire.count(m.volume),
        volume_24h_fp=wire.count(m.volume_24h),
        open_interest_fp=wire.count(m.open_interest),
        result=m.result,
    )
    if m.settlement_value is not None:
        d["settlement_value_dollars"] = wire.price(m.settlement_value)
    if m.settlement_us is not None:
        d["settlement_ts"] = wire.rfc3339_us(m.settlement_us)
    return d


def market_json(m: Market) -> bytes:
    if m.json is None:
        m.json = wire.encode(market_dict(m))
    return m.json


def series_json(s: Series, now_us: int) -> bytes:
    if s.json is None:
        t = s.template
        s.json = wire.encode(
            {
                "ticker": t.ticker,
                "frequency": t.frequency,
                "title": t.title,
                "category": t.category,
                "tags": [t.subject],
                "settlement_sources": [
                    {"name": "Simulated source", "url": "https://example.invalid/source"}
                ],
                "contract_url": f"https://example.invalid/contracts/{t.ticker}.pdf",
                "contract_terms_url": f"https://example.invalid/terms/{t.ticker}.pdf",
                "additional_prohibitions": [],
                "last_updated_ts": wire.rfc3339_us(s.created_us),
                "exchange_index": 0,
            }
        )
    volume = wire.encode(wire.count(s.volume))
    fee_type, multiplier = s.fee_type, s.fee_multiplier
    for _cid, change_type, change_multiplier, at_us in s.fee_changes:
        if at_us <= now_us:
            fee_type, multiplier = change_type, change_multiplier
    fees = b',"fee_type":' + wire.encode(fee_type) + b',"fee_multiplier":'
    fees += wire.encode(float(multiplier) if "." in multiplier else int(multiplier))
    return s.json[:-1] + fees + b',"volume_fp":' + volume + b"}"


def event_dict(e: Event, nested_markets: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "event_ticker": e.event_ticker,
        "series_ticker": e.series.ticker,
        "sub_title": e.sub_title,
        "title": e.title,
        "collateral_return_type": "MECNET" if e.mutually_exclusive else "",
        "mutually_exclusive": e.mutually_exclusive,
        "category": e.series.template.category,
        "available_on_brokers": False,
        "settlement_sources": [
            {"name": "Simulated source", "url": "https://example.invalid/source"}
        ],
        "last_updated_ts": wire.rfc3339_us(e.updated_us),
        "exchange_index": 0,
    }
    if e.strike_date_us is not None:
        d["strike_date"] = wire.rfc3339_us(e.strike_date_us)
    if nested_markets:
        d["markets"] = [market_dict(m) for m in e.markets]
    return d


def orderbook_fp(m: Market, depth: int = 0) -> dict[str, list[list[str]]]:
    """REST orderbook: bids only, ascending, best last, NO side in NO-leg pricing."""
    yes = sorted(m.yes.items())
    no = sorted(m.no.items())
    if depth > 0:
        yes, no = yes[-depth:], no[-depth:]
    return {
        "yes_dollars": [[wire.price(p), wire.count(c)] for p, c in yes],
        "no_dollars": [[wire.price(p), wire.count(c)] for p, c in no],
    }


def trade_dict(t: Trade) -> dict[str, Any]:
    outcome = t.taker_outcome_side
    return {
        "trade_id": t.trade_id,
        "ticker": t.ticker,
        "count_fp": wire.count(t.count),
        "yes_price_dollars": wire.price(t.yes_price),
        "no_price_dollars": wire.price(PRICE_ONE - t.yes_price),
        "taker_side": outcome,
        "taker_outcome_side": outcome,
        "taker_book_side": "bid" if outcome == "yes" else "ask",
        "created_time": wire.rfc3339_us(t.created_us),
        "is_block_trade": False,
    }


def balance_dict(account: Account, markets: dict[str, Market]) -> dict[str, Any]:
    value_cents = 0
    for pos in account.positions.values():
        market = markets.get(pos.ticker)
        if market is None or pos.position == 0:
            continue
        yes_bid, yes_ask, _, _ = market.quotes()
        mark = yes_bid if pos.position > 0 else PRICE_ONE - yes_ask
        value_cents += abs(pos.position) * mark // 10_000
    balance_4dp = wire.micro_4dp(account.balance_micro)
    return {
        "balance": account.balance_micro // 10_000,
        "balance_breakdown": [{"balance": balance_4dp, "exchange_index": 0}],
        "balance_dollars": balance_4dp,
        "portfolio_value": value_cents,
        "updated_ts": account.updated_us // SECOND_US,
    }


def position_dict(p: Position) -> dict[str, Any]:
    return {
        "ticker": p.ticker,
        "exchange_index": 0,
        "total_traded_dollars": wire.micro(p.total_traded_micro),
        "position_fp": wire.count(p.position),
        "market_exposure_dollars": wire.micro(p.cost_micro),
        "realized_pnl_dollars": wire.micro(p.realized_pnl_micro),
        "fees_paid_dollars": wire.micro(p.fees_micro),
        "last_updated_ts": wire.rfc3339_us(p.last_updated_us),
    }


def event_positions(positions: list[Position]) -> list[dict[str, Any]]:
    by_event: dict[str, list[Position]] = {}
    for p in positions:
        by_event.setdefault(p.event_ticker, []).append(p)
    rows = []
    for event_ticker, group in by_event.items():
        rows.append(
            {
                "event_ticker": event_ticker,
                "total_cost_dollars": wire.micro(sum(p.cost_micro for p in group)),
                "total_cost_shares_fp": wire.count(sum(abs(p.position) for p in group)),
                "event_exposure_dollars": wire.micro(sum(p.cost_micro for p in group)),
                "realized_pnl_dollars": wire.micro(sum(p.realized_pnl_micro for p in group)),
                "fees_paid_dollars": wire.micro(sum(p.fees_micro for p in group)),
            }
        )
    return rows


def fill_dict(f: Fill) -> dict[str, Any]:
    return {
        "fill_id": f.fill_id,
        "trade_id": f.fill_id,
        "order_id": f.order_id,
        "ticker": f.ticker,
        "market_ticker": f.ticker,
        "exchange_index": 0,
        "side": f.side,
        "action": f.action,
        "outcome_side": f.outcome_side,
        "book_side": f.book_side,
        "count_fp": wire.count(f.count),
        "yes_price_dollars": wire.price(f.yes_price),
        "no_price_dollars": wire.price(PRICE_ONE - f.yes_price),
        "is_taker": f.is_taker,
        "created_time": wire.rfc3339_us(f.created_us),
        "fee_cost": wire.micro(f.fee_centi * MICRO_PER_CENTI),
        "subaccount_number": 0,
        "ts": f.created_us // SECOND_US,
    }


def settlement_dict(s: Settlement) -> dict[str, Any]:
    return {
        "ticker": s.ticker,
        "exchange_index": 0,
        "event_ticker": s.event_ticker,
        "market_result": s.market_result,
        "yes_count_fp": wire.count(s.yes_count),
        "yes_total_cost_dollars": wire.micro(s.yes_cost_micro),
        "no_count_fp": wire.count(s.no_count),
        "no_total_cost_dollars": wire.micro(s.no_cost_micro),
        "revenue": s.revenue_cents,
        "settled_time": wire.rfc3339_us(s.settled_us),
        "fee_cost": wire.micro(s.fee_micro),
        "value": s.value_cents,
    }


def order_dict(o: Order) -> dict[str, Any]:
    """An order as ``GET /portfolio/orders`` shows it (V2 orders quote the YES book)."""
    action, side = o.legacy or (("buy", "yes") if o.book_side == "bid" else ("sell", "yes"))
    outcome_side, book_side = DIRECTION[(action, side)]
    d: dict[str, Any] = {
        "order_id": o.order_id,
        "user_id": o.account.user_id,
        "client_order_id": o.client_order_id,
        "ticker": o.ticker,
        "side": side,
        "action": action,
        "outcome_side": outcome_side,
        "book_side": book_side,
        "type": "limit",
        "status": o.status,
        "yes_price_dollars": wire.price(o.price),
        "no_price_dollars": wire.price(PRICE_ONE - o.price),
        "fill_count_fp": wire.count(o.fill_count),
        "remaining_count_fp": wire.count(o.remaining_count),
        "initial_count_fp": wire.count(o.initial_count),
        "taker_fill_cost_dollars": wire.micro(o.taker_fill_cost_micro),
        "maker_fill_cost_dollars": wire.micro(o.maker_fill_cost_micro),
        "taker_fees_dollars": wire.micro(o.taker_fees_micro),
        "maker_fees_dollars": wire.micro(o.maker_fees_micro),
        "created_time": wire.rfc3339_us(o.created_us),
        "last_update_time": wire.rfc3339_us(o.updated_us),
        "self_trade_prevention_type": o.self_trade_prevention_type,
        "subaccount_number": 0,
    }
    if o.cancel_on_pause:  # omitted when false, as the recorded orders show
        d["cancel_order_on_pause"] = True
    if o.expiration_us is not None:
        d["expiration_time"] = wire.rfc3339_us(o.expiration_us)
    return d


def candlesticks(m: Market, period: int, start_s: int, end_s: int) -> list[dict[str, Any]]:
    """Candles from the market's own history; quiet periods carry the last close forward."""
    buckets = list(m.candles.get(period, ()))
    out: list[dict[str, Any]] = []
    previous_price: int | None = None
    last: list[Any] | None = None
    period_s = period * 60
    expected = None
    for c in buckets:
        # Fill gaps between recorded periods with flat candles.
        while expected is not None and last is not None and expected < c[0]:
            if start_s <= expected <= end_s:
                out.append(_flat_candle(expected, last, previous_price))
            expected += period_s
        if start_s <= c[0] <= end_s:
            out.append(_candle(c, previous_price))
        if c[12] is not None:
            previous_price = c[12]
        last = c
        expected = c[0] + period_s
    return out


def _dist(o: int, h: int, lo: int, c: int) -> dict[str, str]:
    return {
        "open_dollars": wire.price(o),
        "high_dollars": wire.price(h),
        "low_dollars": wire.price(lo),
        "close_dollars": wire.price(c),
    }


def _candle(c: list[Any], previous: int | None) -> dict[str, Any]:
    traded = c[9] is not None
    mean = c[13] // c[14] if traded and c[14] else None
    return {
        "end_period_ts": c[0],
        "yes_bid": _dist(c[1], c[2], c[3], c[4]),
        "yes_ask": _dist(c[5], c[6], c[7], c[8]),
        "price": {
            "open_dollars": wire.price(c[9]) if traded else None,
            "high_dollars": wire.price(c[10]) if traded else None,
            "low_dollars": wire.price(c[11]) if traded else None,
            "close_dollars": wire.price(c[12]) if traded else None,
            "mean_dollars": wire.price(mean) if mean is not None else None,
            "previous_dollars": wire.price(previous) if previous is not None else None,
            "min_dollars": wire.price(c[11]) if traded else None,
            "max_dollars": wire.price(c[10]) if traded else None,
        },
        "volume_fp": wire.count(c[15]),
        "open_interest_fp": wire.count(c[16]),
    }


def _flat_candle(end: int, last: list[Any], previous: int | None) -> dict[str, Any]:
    flat = [
        end,
        last[4],
        last[4],
        last[4],
        last[4],
        last[8],
        last[8],
        last[8],
        last[8],
        None,
        None,
        None,
        None,
        0,
        0,
        0,
        last[16],
    ]
    return _candle(flat, previous)
