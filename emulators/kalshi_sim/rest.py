"""The ``/trade-api/v2`` REST surface a dashboard and a poller use, Kalshi-shaped.

Every handler goes through :func:`endpoint`, which applies injected faults, checks the
KALSHI-ACCESS-* headers (optional on public endpoints, required on portfolio ones) and
turns parameter errors into Kalshi's bare ``{"msg": ...}`` 400s (and unknown tickers into its
404).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.kalshi_sim import errors, render, wire
from emulators.kalshi_sim.auth import AuthFailure, authenticate, has_any_auth_header
from emulators.kalshi_sim.budget import budget_of
from emulators.kalshi_sim.model import FILTER_WORDS, SECOND_US, STATUS_FILTER, Market

if TYPE_CHECKING:
    from emulators.kalshi_sim.accounts import Account
    from emulators.kalshi_sim.state import SimState


class Reply(Exception):
    """The request ends here with ``response``: raised from a helper deep in a handler, sent
    as is by :func:`endpoint`."""

    def __init__(self, response: Response, reason: str) -> None:
        super().__init__(reason)
        self.response = response


class ParamError(Reply):
    """A query parameter failed validation; rendered as Kalshi's bare ``msg`` body."""

    def __init__(self, response: Response) -> None:
        super().__init__(response, "parameter validation failed")


_T = TypeVar("_T")


def _known(items: Mapping[str, _T], key: str) -> _T:
    """``items[key]``; an unknown key ends the request with Kalshi's 404."""
    item = items.get(key)
    if item is None:
        raise Reply(errors.not_found(), "not found")
    return item


Handler = Callable[[Request, "SimState", "Account | None"], Awaitable[Response]]


def endpoint(
    *, auth_required: bool
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            state: SimState = request.app.state.sim
            fault = state.faults.rest_fault()
            if fault == 429:
                return errors.too_many_requests()
            if fault == 503:
                return errors.service_unavailable()
            account = None
            if auth_required or has_any_auth_header(request.headers):
                result = authenticate(
                    request.headers,
                    request.method,
                    request.url.path,
                    state.exchange.accounts,
                    state.wall_ms(),
                    state.config.skew_past_ms,
                    state.config.skew_future_ms,
                )
                if isinstance(result, AuthFailure):
                    return result.response()
                account = result
            try:
                return await handler(request, state, account)
            except Reply as exc:
                return exc.response

        return run

    return wrap


# ---------------------------------------------------------------- parameter helpers


def _limit(request: Request, op: str, default: int, maximum: int, minimum: int = 1) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(
            errors.bare_validation(op, f"Invalid format for parameter limit: {raw!r}")
        ) from None
    if value == 0 and minimum <= 1:
        return default
    if value > maximum:
        raise ParamError(errors.limit_violation(op, "lte"))
    if value < minimum:
        raise ParamError(errors.limit_violation(op, "gte"))
    return value


def _int_param(request: Request, op: str, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ParamError(
            errors.bare_validation(op, f"Invalid format for parameter {name}: {raw!r}")
        ) from None


def _bool_param(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("true", "1")


def _list_param(request: Request, name: str) -> list[str]:
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values.extend(v for v in raw.split(",") if v)
    return values


def encode_cursor(kind: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}\x00{position}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    """Opaque cursor -> position; anything unreadable restarts at page one, as Kalshi does."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, position = text.partition("\x00")
        if tag != kind:
            return None
        return int(position)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _join(key: str, parts: list[bytes], cursor: str, extra: bytes = b"") -> bytes:
    """One copy of the pre-rendered parts into the body (a 1,000-market page is ~1.6 MB)."""
    pieces = [b'{"cursor":' + wire.encode(cursor) + extra + b',"' + key.encode() + b'":[']
    for part in parts:
        pieces.append(part)
        pieces.append(b",")
    if parts:
        pieces.pop()
    pieces.append(b"]}")
    return b"".join(pieces)


# ---------------------------------------------------------------- exchange, series, events


@endpoint(auth_required=False)
async def exchange_status(request: Request, state: SimState, account: Account | None) -> Response:
    return errors.json_response(b'{"exchange_active":true,"trading_active":true}')


@endpoint(auth_required=False)
async def series_list(request: Request, state: SimState, account: Account | None) -> Response:
    category = request.query_params.get("category")
    tags = set(_list_param(request, "tags"))
    parts = [
        render.series_json(s, state.exchange.now_us)
        for s in state.exchange.series.values()
        if (not category or s.template.category == category)
        and (not tags or s.template.subject in tags)
    ]
    return errors.json_response(b'{"series":[' + b",".join(parts) + b"]}")


@endpoint(auth_required=False)
async def series_fee_changes(
    request: Request, state: SimState, account: Account | None
) -> Response:
    wanted = request.query_params.get("series_ticker") or None
    historical = _bool_param(request, "show_historical")
    now = state.exchange.now_us
    rows = []
    for series in state.exchange.series.values():
        if wanted is not None and series.ticker != wanted:
            continue
        for change_id, fee_type, multiplier, at_us in series.fee_changes:
            if at_us <= now and not historical:
                continue
            rows.append(
                {
                    "id": change_id,
                    "series_ticker": series.ticker,
                    "fee_type": fee_type,
                    "fee_multiplier": float(multiplier),
                    "scheduled_ts": wire.rfc3339_us(at_us),
                }
            )
    return errors.json_response(wire.encode({"series_fee_change_arr": rows}))


@endpoint(auth_required=False)
async def series_one(request: Request, state: SimState, account: Account | None) -> Response:
    series = _known(state.exchange.series, request.path_params["series_ticker"])
    return errors.json_response(
        b'{"series":' + render.series_json(series, state.exchange.now_us) + b"}"
    )


@endpoint(auth_required=False)
async def events_list(request: Request, state: SimState, account: Account | None) -> Response:
    op = "GetEvents"
    limit = _limit(request, op, 200, 200)
    status = request.query_params.get("status") or None
    if status is not None and status not in ("unopened", "open", "closed", "settled"):
        raise ParamError(errors.field_violation(op, "Status", "oneof"))
    series_ticker = request.query_params.get("series_ticker")
    wanted = set(_list_param(request, "tickers"))
    nested = _bool_param(request, "with_nested_markets")
    min_close = _int_param(request, op, "min_close_ts")
    start = decode_cursor("e", request.query_params.get("cursor"))
    events = state.exchange.event_list
    i = 0 if start is None else start + 1
    parts: list[bytes] = []
    last = -1
    while i < len(events) and len(parts) < limit:
        e = events[i]
        i += 1
        if e.series.template.kind == "combo":
            continue  # multivariate events live under /events/multivariate
        if series_ticker and e.series.ticker != series_ticker:
            continue
        if wanted and e.event_ticker not in wanted:
            continue
        if status and not any(STATUS_FILTER[m.status] == status for m in e.markets):
            continue
        if min_close is not None and not any(
            m.close_us // SECOND_US >= min_close for m in e.markets
        ):
            continue
        parts.append(wire.encode(render.event_dict(e, nested)))
        last = i - 1
    more = (
        any(events[j].series.template.kind != "combo" for j in range(i, len(events)))
        and len(parts) == limit
    )
    cursor = encode_cursor("e", last) if more else ""
    extra = b',"milestones":[]' if _bool_param(request, "with_milestones") else b""
    return errors.json_response(_join("events", parts, cursor, extra))


@endpoint(auth_required=False)
async def event_one(request: Request, state: SimState, account: Account | None) -> Response:
    event = _known(state.exchange.events, request.path_params["event_ticker"])
    nested = _bool_param(request, "with_nested_markets")
    markets = b",".join(render.market_json(m) for m in event.markets)
    body = (
        b'{"event":'
        + wire.encode(render.event_dict(event, nested))
        + b',"markets":['
        + markets
        + b"]}"
    )
    return errors.json_response(body)


# ---------------------------------------------------------------- markets


def _market_filter(request: Request, op: str) -> Callable[[Market], bool] | None:
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in FILTER_WORDS:
        raise ParamError(errors.field_violation(op, "Status", "oneof"))
    event_tickers = set(_list_param(request, "event_ticker"))
    series_ticker = q.get("series_ticker") or None
    tickers = set(_list_param(request, "tickers"))
    bounds = {
        name: _int_param(request, op, name)
        for name in (
            "min_created_ts",
            "max_created_ts",
            "min_close_ts",
            "max_close_ts",
            "min_settled_ts",
            "max_settled_ts",
            "min_updated_ts",
        )
    }
    mve = q.get("mve_filter") or None
    if mve not in (None, "only", "exclude"):
        raise ParamError(errors.field_violation(op, "MveFilter", "oneof"))
    active_bounds = {k: v for k, v in bounds.items() if v is not None}
    if not (status or event_tickers or series_ticker or tickers or active_bounds or mve):
        return None

    def keep(m: Market) -> bool:
        if status and STATUS_FILTER[m.status] != status:
            return False
        if event_tickers and m.event_ticker not in event_tickers:
            return False
        if series_ticker and m.event.series.ticker != series_ticker:
            return False
        if tickers and m.ticker not in tickers:
            return False
        if mve is not None and ("mve_collection_ticker" in m.static) != (mve == "only"):
            return False
        for name, bound in active_bounds.items():
            if name.endswith("created_ts"):
                value: int | None = m.created_us // SECOND_US
            elif name.endswith("close_ts"):
                value = m.close_us // SECOND_US
            elif name.endswith("settled_ts"):
                value = m.settlement_us // SECOND_US if m.settlement_us else None
            else:
                value = m.updated_us // SECOND_US
            if value is None:
                return False
            if name.startswith("min") and value < bound:
                return False
            if name.startswith("max") and value > bound:
                return False
        return True

    return keep


@endpoint(auth_required=False)
async def markets_list(request: Request, state: SimState, account: Account | None) -> Response:
    op = "GetMarkets"
    cached = state.cached_response(request.url.query)
    if cached is not None:
        return errors.json_response(cached)
    limit = _limit(request, op, 100, 1000)
    keep = _market_filter(request, op)
    start = decode_cursor("m", request.query_params.get("cursor"))
    markets = state.exchange.market_list
    i = 0 if start is None else start + 1
    parts: list[bytes] = []
    n = len(markets)
    if keep is None:
        page = markets[i : i + limit]
        parts = [m.json or render.market_json(m) for m in page]
        i += len(page)
    else:
        while i < n and len(parts) < limit:
            m = markets[i]
            i += 1
            if keep(m):
                parts.append(m.json or render.market_json(m))
    more = len(parts) == limit and (
        i < n if keep is None else any(keep(markets[j]) for j in range(i, n))
    )
    cursor = encode_cursor("m", i - 1) if more else ""
    body = _join("markets", parts, cursor)
    state.cache_response(request.url.query, body)
    return errors.json_response(body)


@endpoint(auth_required=False)
async def market_one(request: Request, state: SimState, account: Account | None) -> Response:
    market = _known(state.exchange.markets, request.path_params["ticker"])
    return errors.json_response(b'{"market":' + render.market_json(market) + b"}")


@endpoint(auth_required=False)
async def market_orderbook(request: Request, state: SimState, account: Account | None) -> Response:
    market = _known(state.exchange.markets, request.path_params["ticker"])
    depth = _int_param(request, "GetMarketOrderbook", "depth") or 0
    if depth > 100:
        raise ParamError(errors.field_violation("GetMarketOrderbook", "Depth", "lte"))
    return errors.json_response(wire.encode({"orderbook_fp": render.orderbook_fp(market, depth)}))


@endpoint(auth_required=False)
async def market_orderbooks(request: Request, state: SimState, account: Account | None) -> Response:
    tickers = _list_param(request, "tickers")
    if not tickers:
        raise ParamError(
            errors.field_violation("GetMultipleMarketOrderbooks", "Tickers", "required")
        )
    books = []
    for t in tickers:
        market = _known(state.exchange.markets, t)
        books.append({"ticker": t, "orderbook_fp": render.orderbook_fp(market)})
    return errors.json_response(wire.encode({"orderbooks": books}))


@endpoint(auth_required=False)
async def trades_list(request: Request, state: SimState, account: Account | None) -> Response:
    op = "GetTrades"
    limit = _limit(request, op, 100, 1000)
    ticker = request.query_params.get("ticker") or None
    min_ts = _int_param(request, op, "min_ts")
    max_ts = _int_param(request, op, "max_ts")
    exchange = state.exchange
    trades = exchange.trades_by_ticker.get(ticker, []) if ticker else exchange.trades
    before = decode_cursor("t", request.query_params.get("cursor"))
    # Newest first; the cursor is the seq of the last trade returned.
    end = len(trades) if before is None else bisect.bisect_left([t.seq for t in trades], before)
    parts: list[bytes] = []
    j = end - 1
    last_seq = 0
    while j >= 0 and len(parts) < limit:
        t = trades[j]
        j -= 1
        ts = t.created_us // SECOND_US
        if max_ts is not None and ts > max_ts:
            continue
        if min_ts is not None and ts < min_ts:
            break
        parts.append(wire.encode(render.trade_dict(t)))
        last_seq = t.seq
    more = len(parts) == limit and j >= 0
    cursor = encode_cursor("t", last_seq) if more else ""
    return errors.json_response(_join("trades", parts, cursor))


@endpoint(auth_required=False)
async def candlesticks(request: Request, state: SimState, account: Account | None) -> Response:
    op = "GetMarketCandlesticks"
    market = _known(state.exchange.markets, request.path_params["ticker"])
    if market.event.series.ticker != request.path_params["series_ticker"]:
        return errors.not_found()
    start, end, period = _candle_params(request, op)
    body = {
        "ticker": market.ticker,
        "candlesticks": render.candlesticks(market, period, start, end),
    }
    return errors.json_response(wire.encode(body))


@endpoint(auth_required=False)
async def batch_candlesticks(
    request: Request, state: SimState, account: Account | None
) -> Response:
    op = "BatchGetMarketCandlesticks"
    tickers = _list_param(request, "market_tickers")
    if not tickers or len(tickers) > 100:
        raise ParamError(errors.bare_validation(op, "market_tickers must list 1 to 100 tickers"))
    start, end, period = _candle_params(request, op)
    rows = []
    for t in tickers:
        market = _known(state.exchange.markets, t)
        rows.append(
            {"market_ticker": t, "candlesticks": render.candlesticks(market, period, start, end)}
        )
    return errors.json_response(wire.encode({"markets": rows}))


def _candle_params(request: Request, op: str) -> tuple[int, int, int]:
    start = _int_param(request, op, "start_ts")
    end = _int_param(request, op, "end_ts")
    period = _int_param(request, op, "period_interval")
    for name, value in (("StartTs", start), ("EndTs", end), ("PeriodInterval", period)):
        if value is None:
            raise ParamError(errors.field_violation(op, name, "required"))
    assert start is not None and end is not None and period is not None
    if period not in (1, 60, 1440):
        raise ParamError(errors.field_violation(op, "PeriodInterval", "oneof"))
    return start, end, period


# ---------------------------------------------------------------- portfolio and account


@endpoint(auth_required=True)
async def balance(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    return errors.json_response(wire.encode(render.balance_dict(account, state.exchange.markets)))


@endpoint(auth_required=True)
async def positions(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    op = "GetPositions"
    limit = _limit(request, op, 100, 1000)
    q = request.query_params
    if "resting_order_count" in q.get("count_filter", ""):
        raise ParamError(errors.field_violation(op, "CountFilter", "oneof"))
    ticker = q.get("ticker") or None
    event_ticker = q.get("event_ticker") or None
    rows = [
        p
        for _, p in sorted(account.positions.items())
        if (p.position or p.total_traded_micro)
        and (ticker is None or p.ticker == ticker)
        and (event_ticker is None or p.event_ticker == event_ticker)
    ]
    start = decode_cursor("p", q.get("cursor")) or 0
    page = rows[start : start + limit]
    cursor = encode_cursor("p", start + limit) if start + limit < len(rows) else ""
    body = {
        "cursor": cursor,
        "event_positions": render.event_positions(page),
        "market_positions": [render.position_dict(p) for p in page],
    }
    return errors.json_response(wire.encode(body))


def _account_page(
    request: Request,
    op: str,
    kind: str,
    rows: list[Any],
    render_row: Callable[[Any], dict[str, Any]],
    key: str,
    ts_of: Callable[[Any], int],
) -> Response:
    limit = _limit(request, op, 100, 1000)
    min_ts = _int_param(request, op, "min_ts")
    max_ts = _int_param(request, op, "max_ts")
    before = decode_cursor(kind, request.query_params.get("cursor"))
    parts: list[bytes] = []
    j = len(rows) - 1
    last_seq = 0
    while j >= 0 and len(parts) < limit:
        row = rows[j]
        j -= 1
        if before is not None and row.seq >= before:
            continue
        ts = ts_of(row)
        if (min_ts is not None and ts < min_ts) or (max_ts is not None and ts > max_ts):
            continue
        parts.append(wire.encode(render_row(row)))
        last_seq = row.seq
    more = len(parts) == limit and j >= 0
    return errors.json_response(_join(key, parts, encode_cursor(kind, last_seq) if more else ""))


@endpoint(auth_required=True)
async def fills(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    ticker = request.query_params.get("ticker") or None
    order_id = request.query_params.get("order_id") or None
    rows = [
        f
        for f in account.fills
        if (ticker is None or f.ticker == ticker) and (order_id is None or f.order_id == order_id)
    ]
    return _account_page(
        request,
        "GetFills",
        "f",
        rows,
        render.fill_dict,
        "fills",
        lambda f: f.created_us // SECOND_US,
    )


@endpoint(auth_required=True)
async def settlements(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    ticker = request.query_params.get("ticker") or None
    event_ticker = request.query_params.get("event_ticker") or None
    rows = [
        s
        for s in account.settlements
        if (ticker is None or s.ticker == ticker)
        and (event_ticker is None or s.event_ticker == event_ticker)
    ]
    return _account_page(
        request,
        "GetSettlements",
        "s",
        rows,
        render.settlement_dict,
        "settlements",
        lambda s: s.settled_us // SECOND_US,
    )


@endpoint(auth_required=True)
async def account_limits(request: Request, state: SimState, account: Account | None) -> Response:
    # The budget the simulator meters (Kalshi's Basic tier unless a test configured one).
    return errors.json_response(budget_of(state).limits_body())


_ENDPOINT_COSTS = wire.encode(
    {
        "default_cost": 10,
        "endpoint_costs": [
            {
                "cost": 2,
                "method": "DELETE",
                "path": "/trade-api/v2/portfolio/events/orders/:order_id",
            },
            {"cost": 20, "method": "POST", "path": "/trade-api/v2/portfolio/orders"},
            {"cost": 4, "method": "DELETE", "path": "/trade-api/v2/portfolio/orders/:order_id"},
            {"cost": 2, "method": "GET", "path": "/trade-api/v2/portfolio/orders/:order_id"},
        ],
    }
)


@endpoint(auth_required=False)
async def endpoint_costs(request: Request, state: SimState, account: Account | None) -> Response:
    return errors.json_response(_ENDPOINT_COSTS)


def routes() -> list[Route]:
    """Order matters: fixed paths before ``{ticker}`` captures."""
    return [
        Route("/exchange/status", exchange_status),
        Route("/series", series_list),
        Route("/series/fee_changes", series_fee_changes),
        Route("/series/{series_ticker}", series_one),
        Route("/series/{series_ticker}/markets/{ticker}/candlesticks", candlesticks),
        Route("/events", events_list),
        Route("/events/{event_ticker}", event_one),
        Route("/markets", markets_list),
        Route("/markets/trades", trades_list),
        Route("/markets/orderbooks", market_orderbooks),
        Route("/markets/candlesticks", batch_candlesticks),
        Route("/markets/{ticker}", market_one),
        Route("/markets/{ticker}/orderbook", market_orderbook),
        Route("/portfolio/balance", balance),
        Route("/portfolio/positions", positions),
        Route("/portfolio/fills", fills),
        Route("/portfolio/settlements", settlements),
        Route("/account/limits", account_limits),
        Route("/account/endpoint_costs", endpoint_costs),
    ]
