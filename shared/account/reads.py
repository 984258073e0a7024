"""The read side of a trader's account: portfolio, positions, fills, settlements, performance.

:class:`AccountReader` asks the user's Kalshi (through a :class:`KalshiClient` signed with
the user's own key), values what it gets with the definitions of
:mod:`shared.domain.pnl`, and answers JSON-ready dicts: money as exact decimal strings
(``"12.3400"``; six places when a sixth is there, never a float), prices with four places,
contracts with two, percentages with two, times in RFC 3339. Every answer carries
``last_updated`` (when Kalshi was read) and ``stale`` (true when Kalshi failed and the last
good copy is served; see :mod:`shared.account.cache`).

Market metadata (title, close time, series, category) and live quotes for the held
tickers come from a :class:`MarketLookup`; the default, :class:`KalshiMarketLookup`, asks
Kalshi for all held markets in one ``GET /markets?tickers=...`` per 100 tickers and for
their events' series and category once per event (cached: an event never changes series).

Kalshi's own cursors are passed through, wrapped in this API's MAC'd cursor
(:mod:`shared.api.cursor`) bound to the view and the page size: a cursor we did not issue
is a 400, never a silent restart at page one (Kalshi's answer to a garbage cursor).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

from shared.account.cache import AccountCache, Cached
from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import bad_request, invalid_cursor
from shared.domain import pnl
from shared.kalshi import models as m

if TYPE_CHECKING:
    from shared.kalshi.client import KalshiClient

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "TRADING_TZ",
    "AccountReader",
    "KalshiMarketLookup",
    "MarketInfo",
    "MarketLookup",
    "count_text",
    "fill_record",
    "holding",
    "money",
    "price_text",
    "settlement_record",
    "transfers",
]

TRADING_TZ = ZoneInfo("America/New_York")
"""Kalshi's trading day runs midnight to midnight in New York."""
DEFAULT_PAGE = 50
MAX_PAGE = 200
MARKETS_PER_CALL = 100
EVENTS_PER_CALL = 100
_FOUR = Decimal("0.0001")
_SIX = Decimal("0.000001")
_TWO = Decimal("0.01")

_T = TypeVar("_T")


# --------------------------------------------------------------------------- rendering


def money(value: Decimal) -> str:
    """Exact dollars: four places (``"12.3400"``), six when the amount has a fifth or sixth
    (``"0.017472"``), which is Kalshi's portfolio precision and the finest a count (2 dp)
    times a price (4 dp) can be."""
    if value == value.quantize(_FOUR):
        return str(value.quantize(_FOUR))
    return str(value.quantize(_SIX, rounding=ROUND_HALF_EVEN))


def price_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(_FOUR, rounding=ROUND_HALF_EVEN))


def count_text(value: Decimal) -> str:
    return str(value.quantize(_TWO, rounding=ROUND_HALF_EVEN))


def _pct(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- Kalshi -> pnl


def holding(position: m.MarketPosition) -> pnl.Holding:
    zero = Decimal(0)
    return pnl.Holding(
        ticker=position.ticker,
        position=position.position_fp,
        exposure=position.market_exposure_dollars or zero,
        realized_pnl=position.realized_pnl_dollars or zero,
        fees_paid=position.fees_paid_dollars or zero,
        total_traded=position.total_traded_dollars or zero,
        last_updated=position.last_updated_ts,
    )


def _fill_time(fill: m.Fill) -> datetime:
    return fill.created_time or datetime.fromtimestamp(fill.ts or 0, UTC)


_BOOK_SIDE = {("buy", "yes"): "bid", ("sell", "no"): "bid", ("buy", "no"): "ask"}


def fill_record(fill: m.Fill) -> pnl.FillRecord:
    """A fill in YES terms; ``book_side`` when sent, else derived from action and side."""
    side = fill.book_side
    if side not in ("bid", "ask"):
        side = _BOOK_SIDE.get((fill.action or "", fill.side or ""), "ask")
    when = _fill_time(fill)
    return pnl.FillRecord(
        ticker=fill.ticker,
        time=when,
        book_side="bid" if side == "bid" else "ask",
        count=fill.count_fp,
        yes_price=fill.yes_price_dollars,
        fee=fill.fee_cost,
        fill_id=fill.fill_id,
    )


def settlement_record(settlement: m.Settlement) -> pnl.SettlementRecord:
    zero = Decimal(0)
    return pnl.SettlementRecord(
        ticker=settlement.ticker,
        time=settlement.settled_time,
        revenue=Decimal(settlement.revenue).scaleb(-2),  # integer cents on the wire
        yes_count=settlement.yes_count_fp or zero,
        no_count=settlement.no_count_fp or zero,
        yes_cost=settlement.yes_total_cost_dollars or zero,
        no_cost=settlement.no_total_cost_dollars or zero,
        fee=settlement.fee_cost or zero,
    )


def transfers(
    deposits: Iterable[m.Deposit], withdrawals: Iterable[m.Withdrawal]
) -> list[pnl.Transfer]:
    """Kalshi's deposit and withdrawal rows (integer cents) as P&L transfers (dollars)."""
    out: list[pnl.Transfer] = []
    for kind, rows in (("deposit", deposits), ("withdrawal", withdrawals)):
        for row in rows:
            out.append(
                pnl.Transfer(
                    kind="deposit" if kind == "deposit" else "withdrawal",
                    status=row.status,
                    amount=Decimal(row.amount_cents).scaleb(-2),
                    fee=Decimal(row.fee_cents).scaleb(-2),
                    created=datetime.fromtimestamp(row.created_ts, UTC),
                    id=row.id,
                )
            )
    return out


# --------------------------------------------------------------------------- markets


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """What the account views need about one market: names, times, grouping and quote."""

    ticker: str
    title: str
    event_ticker: str
    series_ticker: str
    category: str
    status: str
    close_time: datetime | None
    quote: pnl.Quote


class MarketLookup(Protocol):
    """``tickers -> {ticker: MarketInfo}``; unknown tickers are simply absent."""

    def __call__(self, tickers: Sequence[str]) -> Mapping[str, MarketInfo]: ...


_DETERMINED = frozenset({"determined", "disputed", "amended", "finalized", "settled"})


def market_quote(market: m.Market) -> pnl.Quote:
    settled = market.status in _DETERMINED and market.result in ("yes", "no", "scalar")
    value = market.settlement_value_dollars
    if settled and value is None and market.result in ("yes", "no"):
        value = Decimal(1) if market.result == "yes" else Decimal(0)
    return pnl.Quote(
        yes_bid=market.yes_bid_dollars,
        yes_ask=market.yes_ask_dollars,
        last_price=market.last_price_dollars,
        settlement_value=value if settled else None,
    )


class _EventSeries:
    """Process-wide bounded memory of ``ticker -> (series, category)``."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._items: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, event_ticker: str) -> tuple[str, str] | None:
        with self._lock:
            return self._items.get(event_ticker)

    def put(self, event_ticker: str, value: tuple[str, str]) -> None:
        with self._lock:
            self._items[event_ticker] = value
            while len(self._items) > self._max:
                self._items.popitem(last=False)


_SHARED_EVENT_SERIES = _EventSeries()
# Market ticker -> (series, category) for performance's grouping: a market never changes
# either, so a user's history is looked up once per process, not on every refresh.
_MARKET_GROUPS = _EventSeries(max_entries=100_000)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class KalshiMarketLookup:
    """Markets from Kalshi: ``GET /markets?tickers=`` (100 per call) for names and quotes,
    ``GET /events?tickers=`` for the series and category of events not seen before."""

    def __init__(self, client: KalshiClient, events: _EventSeries | None = None) -> None:
        self._client = client
        self._events = events if events is not None else _SHARED_EVENT_SERIES

    def __call__(self, tickers: Sequence[str]) -> Mapping[str, MarketInfo]:
        wanted = sorted(set(tickers))
        markets: list[m.Market] = []
        for chunk in _chunks(wanted, MARKETS_PER_CALL):
            page = self._client.get_markets(tickers=list(chunk), limit=len(chunk))
            markets.extend(page.markets)
        unknown = sorted(
            {mk.event_ticker for mk in markets if self._events.get(mk.event_ticker) is None}
        )
        for chunk in _chunks(unknown, EVENTS_PER_CALL):
            page_events = self._client.get_events(tickers=list(chunk), limit=len(chunk))
            for event in page_events.events:
                self._events.put(event.event_ticker, (event.series_ticker, event.category or ""))
        out: dict[str, MarketInfo] = {}
        for mk in markets:
            series, category = self._events.get(mk.event_ticker) or ("", "")
            out[mk.ticker] = MarketInfo(
                ticker=mk.ticker,
                title=mk.title or mk.yes_sub_title,
                event_ticker=mk.event_ticker,
                series_ticker=series,
                category=category,
                status=mk.status,
                close_time=mk.close_time,
                quote=market_quote(mk),
            )
        return out


# --------------------------------------------------------------------------- the reader


@dataclass(frozen=True, slots=True)
class _History:
    """An account's fills and settlements, newest first (Kalshi's order)."""

    fills: tuple[m.Fill, ...]
    settlements: tuple[m.Settlement, ...]

    def extended(self, client: KalshiClient) -> _History:
        """This history plus whatever Kalshi has that is newer. The window reopens one
        second before the newest row held (``min_ts`` is whole seconds and rows of that
        second may have arrived since); rows already held are recognised by identity."""
        fills = self.fills
        if fills:
            since = int(max(_fill_time(f) for f in fills).timestamp()) - 1
            known = {f.fill_id for f in fills}
            new = [f for f in client.iter_fills(min_ts=since) if f.fill_id not in known]
            fills = tuple(sorted((*new, *fills), key=_fill_time, reverse=True))
        else:
            fills = tuple(client.iter_fills())
        settlements = self.settlements
        if settlements:
            since = int(max(s.settled_time for s in settlements).timestamp()) - 1
            held = {(s.ticker, s.settled_time) for s in settlements}
            fresh = [
                s
                for s in client.iter_settlements(min_ts=since)
                if (s.ticker, s.settled_time) not in held
            ]
            settlements = tuple(
                sorted((*fresh, *settlements), key=lambda s: s.settled_time, reverse=True)
            )
        else:
            settlements = tuple(client.iter_settlements())
        return _History(fills, settlements)


@dataclass(frozen=True, slots=True)
class _Valued:
    """Positions valued at one moment: what both the portfolio and the positions view need."""

    valuations: list[pnl.PositionValuation]
    holdings: list[pnl.Holding]
    markets: Mapping[str, MarketInfo]


class AccountReader:
    """One user's account views. ``cache_key`` names the user in a shared
    :class:`AccountCache` (default: a cache private to this reader). ``now`` is the
    caller's clock, kept for views that need "today"; the times the views report come
    from Kalshi and from the cache."""

    def __init__(
        self,
        client: KalshiClient,
        market_lookup: MarketLookup | None = None,
        *,
        cache: AccountCache | None = None,
        cache_key: Hashable = "me",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._markets = market_lookup or KalshiMarketLookup(client)
        self._cache = cache if cache is not None else AccountCache()
        self._key = cache_key
        self._now = now

    # ---- plumbing

    def _cached(self, view: Hashable, fetch: Callable[[], _T]) -> Cached[_T]:
        return self._cache.get((self._key, view), fetch)

    @staticmethod
    def _meta(*parts: Cached[Any]) -> dict[str, Any]:
        oldest = min(p.last_updated for p in parts)
        return {"last_updated": _time(oldest), "stale": any(p.stale for p in parts)}

    def _valued(self) -> Cached[_Valued]:
        def fetch() -> _Valued:
            positions = self._client.get_all_positions()
            holdings = [holding(p) for p in positions.market_positions]
            held = [h.ticker for h in holdings]
            markets = self._markets(held) if held else {}
            valuations = [
                pnl.value_position(h, markets[h.ticker].quote if h.ticker in markets else None)
                for h in holdings
            ]
            return _Valued(valuations, holdings, markets)

        return self._cached("positions", fetch)

    def _balance(self) -> Cached[m.Balance]:
        return self._cached("balance", self._client.get_balance)

    def _transfers(self) -> Cached[Decimal]:
        def fetch() -> Decimal:
            return pnl.net_transfers(
                transfers(self._client.iter_deposits(), self._client.iter_withdrawals())
            )

        return self._cached("net_transfers", fetch)

    def _history(self) -> Cached[_History]:
        """Every fill and settlement. The first read walks all pages; later ones ask only
        for what is newer than the newest row already held (``min_ts``), so a dashboard
        refreshing positions every few seconds costs one page, not the whole history."""
        key = (self._key, "history")

        def fetch() -> _History:
            previous = self._cache.peek(key)
            if isinstance(previous, _History):
                return previous.extended(self._client)
            return _History(
                tuple(self._client.iter_fills()), tuple(self._client.iter_settlements())
            )

        return self._cache.get(key, fetch)

    # ---- views

    def net_transfers(self) -> Decimal:
        """Cumulative applied deposits less withdrawals (fees included), now."""
        return self._transfers().value

    def baseline_figures(self) -> pnl.BaselinePoint:
        """The account's total value and cumulative net transfers now: what a baseline row
        records (:mod:`shared.account.baselines`)."""
        balance = self._balance().value
        positions_value = sum((v.market_value for v in self._valued().value.valuations), Decimal(0))
        return pnl.BaselinePoint(
            value=balance.exact_balance_dollars + positions_value,
            net_transfers=self.net_transfers(),
        )

    def portfolio(self, baseline: pnl.BaselinePoint | None) -> dict[str, Any]:
        """Cash, positions value, total value, today's P&L against ``baseline`` (None: not
        known yet, so today's figures are null), unrealized, realized, fees, position count.

        ``reported_positions_value`` is Kalshi's own ``portfolio_value`` (whole cents,
        marked at the bid); ours is the sum of the positions view, which may differ by the
        cents Kalshi truncates and where a position falls back to the last price.
        """
        balance = self._balance()
        valued = self._valued()
        transfers_now = self._transfers() if baseline is not None else None
        summary = pnl.summarize_portfolio(
            balance.value.exact_balance_dollars,
            valued.value.valuations,
            baseline,
            transfers_now.value if transfers_now is not None else Decimal(0),
        )
        parts: list[Cached[Any]] = [balance, valued]
        if transfers_now is not None:
            parts.append(transfers_now)
        reported = balance.value.portfolio_value
        return {
            "cash": money(summary.cash),
            "positions_value": money(summary.positions_value),
            "total_value": money(summary.total_value),
            "reported_positions_value": (
                money(Decimal(reported).scaleb(-2)) if reported is not None else None
            ),
            "unrealized_pnl": money(summary.unrealized_pnl),
            "realized_pnl": money(summary.realized_pnl),
            "fees_paid": money(summary.fees_paid),
            "position_count": summary.position_count,
            "baseline_value": _opt_money(summary.baseline_value),
            "net_transfers_since_baseline": _opt_money(summary.net_transfers_since_baseline),
            "today_pnl": _opt_money(summary.today_pnl),
            "today_pnl_pct": _pct(summary.today_pnl_pct),
            **self._meta(*parts),
        }

    def positions(self) -> dict[str, Any]:
        """Every position Kalshi lists (unsettled markets; flat ones keep their realized
        P&L until the market settles), valued at the held side's bid."""
        valued = self._valued()
        history = self._history()
        replay = pnl.replay_fills(
            (fill_record(f) for f in history.value.fills),
            (settlement_record(s) for s in history.value.settlements),
        )
        rows = []
        for v, h in zip(valued.value.valuations, valued.value.holdings, strict=True):
            info = valued.value.markets.get(v.ticker)
            rows.append(
                {
                    "ticker": v.ticker,
                    "market_title": info.title if info else None,
                    "status": "open" if v.is_open else "closed",
                    "side": v.side,
                    "contracts": count_text(v.contracts),
                    "average_entry_price": price_text(v.average_entry_price),
                    "cost_basis": money(v.cost_basis),
                    "best_bid": price_text(v.best_bid),
                    "best_ask": price_text(v.best_ask),
                    "mark": price_text(v.mark),
                    "mark_source": v.mark_source,
                    "market_value": money(v.market_value),
                    "unrealized_pnl": money(v.unrealized_pnl),
                    "unrealized_pnl_pct": _pct(v.unrealized_pnl_pct),
                    "realized_pnl": money(v.realized_pnl),
                    "fees_paid": money(v.fees_paid),
                    "opened_at": _time(replay.opened_at.get(v.ticker)) if v.is_open else None,
                    "last_updated_at": _time(h.last_updated),
                    "market_close_time": _time(info.close_time) if info else None,
                    "market_status": info.status if info else None,
                }
            )
        return {"positions": rows, **self._meta(valued, history)}

    def fills(self, cursor: str | None = None, limit: int = DEFAULT_PAGE) -> dict[str, Any]:
        """One page of fills, newest first, with a cursor for the next (None at the end)."""
        upstream = _page_cursor("fills", cursor, limit)
        page = self._cached(
            ("fills", upstream, limit),
            lambda: self._client.get_fills(cursor=upstream, limit=limit),
        )
        return {
            "fills": [_fill_row(f) for f in page.value.fills],
            "cursor": _next_cursor("fills", page.value.cursor, limit),
            **self._meta(page),
        }

    def settlements(self, cursor: str | None = None, limit: int = DEFAULT_PAGE) -> dict[str, Any]:
        """One page of settlements, newest first, each with its realized P&L."""
        upstream = _page_cursor("settlements", cursor, limit)
        page = self._cached(
            ("settlements", upstream, limit),
            lambda: self._client.get_settlements(cursor=upstream, limit=limit),
        )
        return {
            "settlements": [_settlement_row(s) for s in page.value.settlements],
            "cursor": _next_cursor("settlements", page.value.cursor, limit),
            **self._meta(page),
        }

    def performance(self) -> dict[str, Any]:
        """Realized performance over the whole fill and settlement history: totals, win
        rate, max drawdown, the cumulative curve by trading day, and by series and category."""
        history = self._history()
        fills, settlements = history.value.fills, history.value.settlements
        tickers = sorted({f.ticker for f in fills} | {s.ticker for s in settlements})
        event_of = {s.ticker: s.event_ticker or "" for s in settlements}
        unknown = [t for t in tickers if _MARKET_GROUPS.get(t) is None]
        info = self._markets(unknown) if unknown else {}
        for ticker in unknown:
            market = info.get(ticker)
            if market is not None and market.series_ticker:
                _MARKET_GROUPS.put(ticker, (market.series_ticker, market.category))
            else:  # Kalshi no longer lists it (settled past the live window) or knows no event
                _MARKET_GROUPS.put(ticker, (_series_guess(event_of.get(ticker) or ticker), ""))

        def classify(ticker: str) -> tuple[str, str]:
            return _MARKET_GROUPS.get(ticker) or ("", "")

        result = pnl.performance(
            (fill_record(f) for f in fills), (settlement_record(s) for s in settlements), classify
        )
        return {
            "realized_pnl": money(result.realized_pnl),
            "fees": money(result.fees),
            "net_pnl": money(result.net_pnl),
            "closed_trades": len(result.trades),
            "wins": result.wins,
            "win_rate_pct": _pct(result.win_rate),
            "max_drawdown": money(result.max_drawdown),
            "curve": _daily_curve(result.curve),
            "by_series": _groups(result.by_series),
            "by_category": _groups(result.by_category),
            **self._meta(history),
        }


# --------------------------------------------------------------------------- helpers


def _opt_money(value: Decimal | None) -> str | None:
    return None if value is None else money(value)


def _series_guess(event_ticker: str) -> str:
    """Kalshi event tickers begin with their series (``KXHIGHNY-26JUN11``); used only when
    Kalshi no longer lists the market (settled past the live window)."""
    return event_ticker.split("-", 1)[0]


def _page_cursor(view: str, cursor: str | None, limit: int) -> str | None:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise bad_request(f"limit must be a whole number from 1 to {MAX_PAGE}", "invalid_limit")
    if not cursor:
        return None
    position = decode_cursor(cursor)
    upstream = position.get("k")
    if position.get("v") != view or position.get("l") != limit or not isinstance(upstream, str):
        raise invalid_cursor()
    return upstream


def _next_cursor(view: str, upstream: str | None, limit: int) -> str | None:
    return encode_cursor({"v": view, "k": upstream, "l": limit}) if upstream else None


def _fill_row(f: m.Fill) -> dict[str, Any]:
    record = fill_record(f)
    side: Literal["yes", "no"] = "yes" if (f.outcome_side or f.side) == "yes" else "no"
    return {
        "fill_id": f.fill_id,
        "order_id": f.order_id,
        "ticker": f.ticker,
        "action": f.action,
        "side": f.side or side,
        "outcome_side": f.outcome_side,
        "book_side": record.book_side,
        "contracts": count_text(f.count_fp),
        "yes_price": price_text(f.yes_price_dollars),
        "no_price": price_text(f.no_price_dollars),
        "fee": money(f.fee_cost),
        "is_taker": f.is_taker,
        "created_at": _time(record.time),
    }


def _settlement_row(s: m.Settlement) -> dict[str, Any]:
    record = settlement_record(s)
    return {
        "ticker": s.ticker,
        "event_ticker": s.event_ticker,
        "market_result": s.market_result,
        "yes_contracts": count_text(record.yes_count),
        "no_contracts": count_text(record.no_count),
        "yes_cost": money(record.yes_cost),
        "no_cost": money(record.no_cost),
        "revenue": money(record.revenue),
        "realized_pnl": money(record.realized_pnl),
        "fees": money(record.fee),
        "value": money(Decimal(s.value).scaleb(-2)) if s.value is not None else None,
        "settled_at": _time(record.time),
    }


def _daily_curve(curve: Sequence[pnl.CurvePoint]) -> list[dict[str, str]]:
    """The cumulative net curve, one point per New York trading day (its last value)."""
    days: dict[str, list[Decimal]] = {}
    for point in curve:
        day = point.time.astimezone(TRADING_TZ).date().isoformat()
        entry = days.setdefault(day, [Decimal(0), Decimal(0), Decimal(0)])
        entry[0] += point.realized_pnl
        entry[1] += point.fee
        entry[2] = point.cumulative_net
    return [
        {
            "trading_day": day,
            "realized_pnl": money(realized),
            "fees": money(fees),
            "net_pnl": money(realized - fees),
            "cumulative_net_pnl": money(cumulative),
        }
        for day, (realized, fees, cumulative) in days.items()
    ]


def _groups(groups: Mapping[str, pnl.Grouped]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "realized_pnl": money(g.realized_pnl),
            "fees": money(g.fees),
            "net_pnl": money(g.net_pnl),
            "closed_trades": g.trades,
            "wins": g.wins,
            "win_rate_pct": _pct(g.win_rate),
        }
        for name, g in sorted(groups.items())
    ]
