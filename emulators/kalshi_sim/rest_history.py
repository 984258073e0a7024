"""The exchange's past over REST: ``/historical/*``, and the live endpoints' view of it.

Kalshi splits data into a live and a historical tier at the cutoffs of
``GET /historical/cutoff``; this module serves both tiers of the simulator's seeded past
(:mod:`emulators.kalshi_sim.history`):

- historical tier: ``/historical/cutoff``, ``/historical/markets``,
  ``/historical/markets/{ticker}``, ``/historical/markets/{ticker}/candlesticks`` (the
  historical candle shape: ``open``/``high``/``low``/``close`` and ``volume``/
  ``open_interest`` without the ``_dollars``/``_fp`` suffixes, as the spec says) and
  ``/historical/trades``;
- today's world in the historical tier: a market of the running world that settled before
  the cutoff (one the world started with already finalized, when the cutoff is the world's
  start) is a market "settled before ``market_settled_ts``", so ``/historical/markets``,
  ``/historical/markets/{ticker}`` and its candlesticks serve it too (from the world's own
  record, in the historical shape), as Kalshi would. The live endpoints keep answering for
  it as well, so today's world stays byte for byte what it was;
- live tier (past markets settled after the cutoff, only when ``live_days`` > 0): the live
  ``/markets/{ticker}``, ``/series/{s}/markets/{t}/candlesticks``, ``/markets/trades`` and
  ``/markets?status=settled`` include them after today's world.

The live wrappers hand every request that does not concern the past to the live handlers of
:mod:`emulators.kalshi_sim.rest` unchanged, so today's world answers byte for byte as before.

The heavy work (a path, thousands of candles, a listing of a thousand markets) runs in the
thread pool: the event loop stays free to take requests as they arrive, and the budget
meter (:mod:`emulators.kalshi_sim.budget`) bills each at its arrival, not after whatever
rendering happened to hold the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.kalshi_sim import errors, render, rest, wire
from emulators.kalshi_sim.catalog import _TEMPLATES
from emulators.kalshi_sim.history import History, PastMarket
from emulators.kalshi_sim.model import SECOND_US

if TYPE_CHECKING:
    from emulators.kalshi_sim.accounts import Account
    from emulators.kalshi_sim.model import Market
    from emulators.kalshi_sim.state import SimState

_M = TypeVar("_M")

__all__ = ["admin_history", "history_of", "routes", "set_live_days"]


def history_of(state: SimState) -> History:
    """The world's past, built on first use (it depends only on the seed and start time)."""
    history: History | None = getattr(state, "_history", None)
    if history is None or history.start_us != state.exchange.start_us:
        history = History(
            state.config.seed,
            state.exchange.start_us,
            list(_TEMPLATES),
            set(state.exchange.events),
        )
        state._history = history  # type: ignore[attr-defined]
    return history


def set_live_days(state: SimState, live_days: float) -> History:
    history = history_of(state)
    history.live_days = live_days
    return history


# ---------------------------------------------------------------- rendering


_PRICE_TEXT = [wire.price(i) for i in range(wire.PRICE_ONE + 1)]
"""Every price of the past ($0 to $1 in centi-cents) pre-rendered: a 1-minute candle
request renders ~30,000 prices."""


def _price(value: int | None) -> str | None:
    return None if value is None else _PRICE_TEXT[value]


def _candle_historical(c: dict[str, Any]) -> dict[str, Any]:
    text = _PRICE_TEXT
    bid, ask, p = c["yes_bid"], c["yes_ask"], c["price"]
    return {
        "end_period_ts": c["end_period_ts"],
        "yes_bid": {k: text[v] for k, v in bid.items()},
        "yes_ask": {k: text[v] for k, v in ask.items()},
        "price": {k: None if v is None else text[v] for k, v in p.items()},
        "volume": wire.count(c["volume"]),
        "open_interest": wire.count(c["open_interest"]),
    }


def _candle_live(c: dict[str, Any]) -> dict[str, Any]:
    text = _PRICE_TEXT
    p = c["price"]
    return {
        "end_period_ts": c["end_period_ts"],
        "yes_bid": {f"{k}_dollars": text[v] for k, v in c["yes_bid"].items()},
        "yes_ask": {f"{k}_dollars": text[v] for k, v in c["yes_ask"].items()},
        "price": {
            "open_dollars": _price(p["open"]),
            "high_dollars": _price(p["high"]),
            "low_dollars": _price(p["low"]),
            "close_dollars": _price(p["close"]),
            "mean_dollars": _price(p["mean"]),
            "previous_dollars": _price(p["previous"]),
            "min_dollars": _price(p["low"]),
            "max_dollars": _price(p["high"]),
        },
        "volume_fp": wire.count(c["volume"]),
        "open_interest_fp": wire.count(c["open_interest"]),
    }


def _historical_shape(candle: dict[str, Any]) -> dict[str, Any]:
    """A live-shaped candle of today's world in the historical shape (no ``_dollars`` /
    ``_fp`` suffixes, no ``min``/``max`` aliases), as ``_candle_historical`` renders the past."""
    price = candle["price"]
    return {
        "end_period_ts": candle["end_period_ts"],
        "yes_bid": {k.removesuffix("_dollars"): v for k, v in candle["yes_bid"].items()},
        "yes_ask": {k.removesuffix("_dollars"): v for k, v in candle["yes_ask"].items()},
        "price": {
            k: price.get(f"{k}_dollars")
            for k in ("open", "high", "low", "close", "mean", "previous")
        },
        "volume": candle["volume_fp"],
        "open_interest": candle["open_interest_fp"],
    }


def _world_settled_before_cutoff(state: SimState) -> list[Market]:
    """Today's markets that settled before the cutoff, by settlement time (then ticker)."""
    cutoff_us = history_of(state).cutoff_us
    settled = [
        m
        for m in state.exchange.markets.values()
        if m.settlement_us is not None and m.settlement_us < cutoff_us
    ]
    return sorted(settled, key=lambda m: (m.settlement_us or 0, m.ticker))


def _world_historical(state: SimState, ticker: str) -> Market | None:
    market = state.exchange.markets.get(ticker)
    if market is None or market.settlement_us is None:
        return None
    return market if market.settlement_us < history_of(state).cutoff_us else None


def _market_bytes(history: History, market: PastMarket) -> bytes:
    """The market's JSON, rendered once: a settled market never changes, and rendering
    needs its whole price path (a listing of 1,000 would recompute 1,000 paths)."""
    cache = history.json_cache
    body = cache.get(market.ticker)
    if body is None:
        body = cache[market.ticker] = wire.encode(history.market_dict(market))
    return body


# ---------------------------------------------------------------- historical tier


@rest.endpoint(auth_required=False)
async def cutoff(request: Request, state: SimState, account: Account | None) -> Response:
    at = wire.rfc3339_us(history_of(state).cutoff_us)
    body = {
        "market_settled_ts": at,
        "trades_created_ts": at,
        "orders_updated_ts": at,
        "market_positions_last_updated_ts": at,
    }
    return errors.json_response(wire.encode(body))


def _past_keys(m: PastMarket) -> tuple[str, str, str]:
    return m.ticker, m.event_ticker, m.series_ticker


def _world_keys(m: Market) -> tuple[str, str, str]:
    return m.ticker, m.event.event_ticker, m.event.series.ticker


def _filter_markets(
    request: Request,
    op: str,
    markets: list[_M],
    keys: Callable[[_M], tuple[str, str, str]],
) -> list[_M]:
    """The markets the request's filters (``tickers``, ``event_ticker``, ``series_ticker``,
    mutually exclusive) keep; ``keys`` reads a market's (ticker, event, series)."""
    q = request.query_params
    tickers = set(rest._list_param(request, "tickers"))
    event_ticker = q.get("event_ticker") or None
    series_ticker = q.get("series_ticker") or None
    mve = q.get("mve_filter") or None
    if mve not in (None, "exclude"):
        raise rest.ParamError(errors.field_violation(op, "MveFilter", "oneof"))
    if sum(1 for f in (tickers, event_ticker, series_ticker) if f) > 1:
        raise rest.ParamError(errors.bare_validation(op, "filters are mutually exclusive"))
    kept = []
    for m in markets:
        ticker, event, series = keys(m)
        if (
            (not tickers or ticker in tickers)
            and (event_ticker is None or event == event_ticker)
            and (series_ticker is None or series == series_ticker)
        ):
            kept.append(m)
    return kept


def _page(request: Request, op: str, kind: str, rows: list[Any]) -> tuple[list[Any], str]:
    """One page of ``rows`` after the request's cursor (a position in ``rows``)."""
    limit = rest._limit(request, op, 100, 1000)
    start = rest.decode_cursor(kind, request.query_params.get("cursor"))
    i = 0 if start is None else start + 1
    page = rows[i : i + limit]
    more = i + limit < len(rows)
    return page, rest.encode_cursor(kind, i + limit - 1) if more else ""


@rest.endpoint(auth_required=False)
async def historical_markets(
    request: Request, state: SimState, account: Account | None
) -> Response:
    op = "GetHistoricalMarkets"
    history = history_of(state)
    past = _filter_markets(request, op, history.historical_markets(), _past_keys)
    world = _filter_markets(request, op, _world_settled_before_cutoff(state), _world_keys)
    rows: list[PastMarket | Market] = [*past, *world]  # the seeded past is older
    page, cursor = _page(request, op, "hm", rows)

    def render_page() -> list[bytes]:
        return [
            _market_bytes(history, m) if isinstance(m, PastMarket) else render.market_json(m)
            for m in page
        ]

    parts = await run_in_threadpool(render_page)
    return errors.json_response(rest._join("markets", parts, cursor))


def _historical_market(state: SimState, ticker: str) -> PastMarket:
    history = history_of(state)
    market = history.by_ticker.get(ticker)
    if market is None or not history.is_historical(market):
        raise rest.Reply(errors.not_found(), "not found")
    return market


@rest.endpoint(auth_required=False)
async def historical_market(request: Request, state: SimState, account: Account | None) -> Response:
    world = _world_historical(state, request.path_params["ticker"])
    if world is not None:
        return errors.json_response(b'{"market":' + render.market_json(world) + b"}")
    market = _historical_market(state, request.path_params["ticker"])
    return errors.json_response(b'{"market":' + _market_bytes(history_of(state), market) + b"}")


@rest.endpoint(auth_required=False)
async def historical_candlesticks(
    request: Request, state: SimState, account: Account | None
) -> Response:
    op = "GetMarketCandlesticksHistorical"
    world = _world_historical(state, request.path_params["ticker"])
    if world is not None:
        start, end, period = rest._candle_params(request, op)
        candles = render.candlesticks(world, period, start, end)
        body = {"ticker": world.ticker, "candlesticks": [_historical_shape(c) for c in candles]}
        return errors.json_response(wire.encode(body))
    market = _historical_market(state, request.path_params["ticker"])
    start, end, period = rest._candle_params(request, op)
    history = history_of(state)

    def draw() -> bytes:
        candles = history.candles(market.ticker, period, start, end)
        body = {"ticker": market.ticker, "candlesticks": [_candle_historical(c) for c in candles]}
        return wire.encode(body)

    return errors.json_response(await run_in_threadpool(draw))


def _trade_window(request: Request, op: str) -> tuple[int | None, int | None, bool | None]:
    min_ts = rest._int_param(request, op, "min_ts")
    max_ts = rest._int_param(request, op, "max_ts")
    raw = request.query_params.get("is_block_trade")
    if raw in (None, ""):
        block = None
    elif raw.lower() in ("true", "false"):
        block = raw.lower() == "true"
    else:
        raise rest.ParamError(
            errors.bare_validation(op, f"Invalid format for parameter is_block_trade: {raw!r}")
        )
    return min_ts, max_ts, block


def _past_trades(
    history: History,
    ticker: str | None,
    lo_us: int,
    hi_us: int,
) -> list[tuple[PastMarket, int]]:
    """Past trades created in ``[lo_us, hi_us)``, newest first, as (market, index) pairs."""
    if ticker is not None:
        market = history.by_ticker.get(ticker)
        if market is None:
            return []
        p = history.path(ticker)
        a = int(np.searchsorted(p.trade_us, lo_us, side="left"))
        b = int(np.searchsorted(p.trade_us, hi_us, side="left"))
        return [(market, i) for i in range(b - 1, a - 1, -1)]
    times, markets, indexes = history.global_trades()
    a = int(np.searchsorted(times, lo_us, side="left"))
    b = int(np.searchsorted(times, hi_us, side="left"))
    return [(history.markets[int(markets[j])], int(indexes[j])) for j in range(b - 1, a - 1, -1)]


def _bounds(min_ts: int | None, max_ts: int | None, lo_us: int, hi_us: int) -> tuple[int, int]:
    if min_ts is not None:
        lo_us = max(lo_us, min_ts * SECOND_US)
    if max_ts is not None:
        hi_us = min(hi_us, (max_ts + 1) * SECOND_US)
    return lo_us, hi_us


@rest.endpoint(auth_required=False)
async def historical_trades(request: Request, state: SimState, account: Account | None) -> Response:
    op = "GetTradesHistorical"
    history = history_of(state)
    ticker = request.query_params.get("ticker") or None
    min_ts, max_ts, block = _trade_window(request, op)
    lo_us, hi_us = _bounds(min_ts, max_ts, 0, history.cutoff_us)
    rows = [] if block else await run_in_threadpool(_past_trades, history, ticker, lo_us, hi_us)
    page, cursor = _page(request, op, "ht", rows)
    parts = await run_in_threadpool(
        lambda: [wire.encode(history.trade_dict(m, i)) for m, i in page]
    )
    return errors.json_response(rest._join("trades", parts, cursor))


# ---------------------------------------------------------------- live tier


def _live_past(state: SimState, ticker: str) -> PastMarket | None:
    history = history_of(state)
    market = history.by_ticker.get(ticker)
    if market is None or history.is_historical(market):
        return None
    return market


@rest.endpoint(auth_required=False)
async def _past_market_one(request: Request, state: SimState, account: Account | None) -> Response:
    market = _live_past(state, request.path_params["ticker"])
    assert market is not None
    return errors.json_response(b'{"market":' + _market_bytes(history_of(state), market) + b"}")


async def market_one(request: Request) -> Response:
    """``/markets/{ticker}``: today's world first, then the live tier of the past."""
    state: SimState = request.app.state.sim
    ticker = request.path_params["ticker"]
    if ticker in state.exchange.markets or _live_past(state, ticker) is None:
        return await rest.market_one(request)
    return await _past_market_one(request)


@rest.endpoint(auth_required=False)
async def _past_candlesticks(
    request: Request, state: SimState, account: Account | None
) -> Response:
    market = _live_past(state, request.path_params["ticker"])
    assert market is not None
    if market.series_ticker != request.path_params["series_ticker"]:
        return errors.not_found()
    start, end, period = rest._candle_params(request, "GetMarketCandlesticks")
    history = history_of(state)

    def render() -> bytes:
        candles = history.candles(market.ticker, period, start, end)
        body = {"ticker": market.ticker, "candlesticks": [_candle_live(c) for c in candles]}
        return wire.encode(body)

    return errors.json_response(await run_in_threadpool(render))


async def candlesticks(request: Request) -> Response:
    state: SimState = request.app.state.sim
    ticker = request.path_params["ticker"]
    if ticker in state.exchange.markets or _live_past(state, ticker) is None:
        return await rest.candlesticks(request)
    return await _past_candlesticks(request)


def _continue(
    response: Response, key: str, rows: list[bytes], request: Request, kind: str
) -> Response:
    """Fill the rest of a live page (whose own cursor ran out) from ``rows``."""
    limit = rest._limit(request, "GetTrades", 100, 1000)
    body = msgspec.json.decode(bytes(response.body))
    if body.get("cursor"):
        return response
    start = rest.decode_cursor(kind, request.query_params.get("cursor"))
    room = limit - len(body[key])
    i = 0 if start is None else start + 1
    if start is not None:
        room = limit  # the live part was used up on an earlier page
        body[key] = []
    page = rows[i : i + room]
    cursor = rest.encode_cursor(kind, i + room - 1) if i + room < len(rows) else ""
    parts = [wire.encode(item) for item in body[key]] + page
    return errors.json_response(rest._join(key, parts, cursor))


async def trades_list(request: Request) -> Response:
    """``/markets/trades``: today's trades, then the live tier's past trades (newest first)."""
    state: SimState = request.app.state.sim
    history = history_of(state)
    if history.live_days <= 0:
        return await rest.trades_list(request)
    try:
        min_ts, max_ts, block = _trade_window(request, "GetTrades")
    except rest.ParamError as exc:
        return exc.response
    in_past = rest.decode_cursor("tp", request.query_params.get("cursor")) is not None
    live = await rest.trades_list(request) if not in_past else None
    if live is not None and live.status_code != 200:
        return live
    lo_us, hi_us = _bounds(min_ts, max_ts, history.cutoff_us, history.start_us)
    ticker = request.query_params.get("ticker") or None
    past = [] if block else _past_trades(history, ticker, lo_us, hi_us)
    rows = [wire.encode(history.trade_dict(m, i)) for m, i in past]
    if live is None:
        live = errors.json_response(b'{"cursor":"","trades":[]}')
    return _continue(live, "trades", rows, request, "tp")


async def markets_list(request: Request) -> Response:
    """``/markets``: with ``status=settled``, the live tier's past markets follow today's."""
    state: SimState = request.app.state.sim
    history = history_of(state)
    if history.live_days <= 0 or request.query_params.get("status") != "settled":
        return await rest.markets_list(request)
    in_past = rest.decode_cursor("mp", request.query_params.get("cursor")) is not None
    live = await rest.markets_list(request) if not in_past else None
    if live is not None and live.status_code != 200:
        return live
    q = request.query_params
    series_ticker = q.get("series_ticker") or None
    tickers = set(rest._list_param(request, "tickers"))
    events = set(rest._list_param(request, "event_ticker"))
    rows = [
        _market_bytes(history, m)
        for m in history.live_markets()
        if (series_ticker is None or m.series_ticker == series_ticker)
        and (not tickers or m.ticker in tickers)
        and (not events or m.event_ticker in events)
    ]
    if live is None:
        live = errors.json_response(b'{"cursor":"","markets":[]}')
    return _continue(live, "markets", rows, request, "mp")


async def admin_history(request: Request) -> Response:
    """``GET /_sim/history``: the past's size and cutoff. ``POST {"live_days": n}``: move
    the cutoff ``n`` days before the world's start (0: the whole past is historical)."""
    state: SimState = request.app.state.sim
    if request.method == "POST":
        try:
            raw = await request.body()
            body = msgspec.json.decode(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            live_days = float(body.get("live_days", 0))
            if not 0 <= live_days <= 365:
                raise ValueError("live_days must be between 0 and 365")
        except (ValueError, TypeError, msgspec.DecodeError) as exc:
            return errors.json_response(
                wire.encode({"error": "bad_request", "message": str(exc)}), 400
            )
        set_live_days(state, live_days)
    history = history_of(state)
    body = {
        "days": history.days,
        "live_days": history.live_days,
        "cutoff": wire.rfc3339_us(history.cutoff_us),
        "markets": len(history.markets),
        "historical_markets": len(history.historical_markets()),
        "start": wire.rfc3339_us(history.start_us),
    }
    return errors.json_response(wire.encode(body))


def routes() -> list[Route]:
    """Mounted before :func:`emulators.kalshi_sim.rest.routes`, whose live handlers these
    wrap: the fixed ``/markets/...`` paths come first so ``{ticker}`` never captures them."""
    return [
        Route("/historical/cutoff", cutoff),
        Route("/historical/markets", historical_markets),
        Route("/historical/markets/{ticker}", historical_market),
        Route("/historical/markets/{ticker}/candlesticks", historical_candlesticks),
        Route("/historical/trades", historical_trades),
        Route("/series/{series_ticker}/markets/{ticker}/candlesticks", candlesticks),
        Route("/markets", markets_list),
        Route("/markets/trades", trades_list),
        Route("/markets/orderbooks", rest.market_orderbooks),
        Route("/markets/candlesticks", rest.batch_candlesticks),
        Route("/markets/{ticker}", market_one),
    ]
