"""What the backfill reads from Kalshi, and the rows it makes of it.

Kalshi splits its data at the cutoffs of ``GET /historical/cutoff``: markets settled before
``market_settled_ts`` (and their candlesticks) are only in ``/historical/markets*``, trades
before ``trades_created_ts`` only in ``/historical/trades``; everything newer is in the live
endpoints. :class:`KalshiHistory` hides that split: each read names a market and a window
and goes to whichever tier holds it (both, for a trade window across the cutoff).

Candles come in two shapes: the live endpoint's ``yes_bid.open_dollars`` / ``volume_fp``
and the historical one's ``yes_bid.open`` / ``volume``; :func:`parse_candle` reads either
into one :class:`KalshiCandle` of exact decimals. A market's candles are asked of the tier
its settlement time names (:attr:`MarketInfo.historical`); if that tier answers 404 for
the market (an exchange whose tiers disagree with its own cutoff, or a cutoff that moved
between the listing and the read), the other tier is asked once, and the answer is
remembered for the market's other requests. The budget comes from
``/account/limits`` and ``/account/endpoint_costs`` when the client signs (a key), Kalshi's
Basic tier otherwise (:func:`read_budget`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.kalshi.client import KalshiClient, api_path
from shared.kalshi.errors import KalshiAPIError, NotFoundError

__all__ = [
    "CANDLE_PERIODS",
    "MAX_CANDLES_PER_REQUEST",
    "Budget",
    "Cutoff",
    "KalshiCandle",
    "KalshiHistory",
    "MarketInfo",
    "TradeRow",
    "parse_candle",
    "parse_market",
    "parse_trade",
    "read_budget",
]

CANDLE_PERIODS: tuple[int, ...] = (1440, 60, 1)
"""Minutes per candle Kalshi serves (1 day, 1 hour, 1 minute), coarsest first."""

MAX_CANDLES_PER_REQUEST = 5000
"""A window per request small enough for any candle endpoint (Kalshi pages event candles
past 5,000 and caps batches at 10,000), so one request always answers in full."""

BASIC_READ_TOKENS_PER_S = 200.0
BASIC_READ_CAPACITY = 200.0
DEFAULT_COST = 10


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


@dataclass(frozen=True)
class Cutoff:
    market_settled: dt.datetime
    trades_created: dt.datetime


@dataclass(frozen=True)
class Budget:
    """Read requests per second and burst, at the default cost, and where they came from."""

    tokens_per_s: float
    capacity_tokens: float
    cost: int
    origin: str  # "account" (the key's limits) or "basic"

    @property
    def requests_per_s(self) -> float:
        return self.tokens_per_s / self.cost

    @property
    def burst_requests(self) -> float:
        return max(1.0, self.capacity_tokens / self.cost)


@dataclass(frozen=True)
class MarketInfo:
    """A market as ``markets`` stores it, plus where its history lives."""

    ticker: str
    event_ticker: str
    series_ticker: str | None
    title: str
    yes_sub_title: str | None
    market_type: str
    status: str
    open_time: dt.datetime | None
    close_time: dt.datetime | None
    result: str | None
    settlement_value_dollars: Decimal | None
    settled_at: dt.datetime | None
    historical: bool  # settled before the cutoff: served by /historical/*


@dataclass(frozen=True)
class KalshiCandle:
    end: dt.datetime
    bid: tuple[Decimal, Decimal, Decimal, Decimal]  # open, high, low, close
    ask: tuple[Decimal, Decimal, Decimal, Decimal]
    price: tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]
    previous: Decimal | None
    volume: Decimal
    open_interest: Decimal | None


@dataclass(frozen=True)
class TradeRow:
    trade_id: str
    ticker: str
    ts: dt.datetime
    yes_price_dollars: Decimal
    count_fp: Decimal
    taker_outcome_side: str
    is_block_trade: bool


def parse_market(data: Mapping[str, Any], series_ticker: str | None, cutoff: Cutoff) -> MarketInfo:
    settled = data.get("settlement_ts")
    settled_at = _ts(settled) if settled else None
    result = data.get("result") or None
    return MarketInfo(
        ticker=data["ticker"],
        event_ticker=data["event_ticker"],
        series_ticker=series_ticker,
        title=data.get("title") or "",
        yes_sub_title=data.get("yes_sub_title"),
        market_type=data.get("market_type") or "binary",
        status=data["status"],
        open_time=_ts(data["open_time"]) if data.get("open_time") else None,
        close_time=_ts(data["close_time"]) if data.get("close_time") else None,
        result=result,
        settlement_value_dollars=_dec(data.get("settlement_value_dollars")),
        settled_at=settled_at,
        historical=settled_at is not None and settled_at < cutoff.market_settled,
    )


def _ohlc(d: Mapping[str, Any], suffix: str) -> tuple[Any, Any, Any, Any]:
    return tuple(_dec(d.get(f"{k}{suffix}")) for k in ("open", "high", "low", "close"))  # type: ignore[return-value]


def parse_candle(data: Mapping[str, Any]) -> KalshiCandle:
    """A candle in either shape: live (``*_dollars``, ``volume_fp``) or historical."""
    live = "volume_fp" in data
    suffix = "_dollars" if live else ""
    price = data.get("price") or {}
    volume = _dec(data.get("volume_fp" if live else "volume")) or Decimal(0)
    return KalshiCandle(
        end=dt.datetime.fromtimestamp(int(data["end_period_ts"]), dt.UTC),
        bid=_ohlc(data["yes_bid"], suffix),
        ask=_ohlc(data["yes_ask"], suffix),
        price=_ohlc(price, suffix),
        previous=_dec(price.get(f"previous{suffix}")),
        volume=volume,
        open_interest=_dec(data.get("open_interest_fp" if live else "open_interest")),
    )


def parse_trade(data: Mapping[str, Any]) -> TradeRow:
    side = data.get("taker_outcome_side") or data.get("taker_side") or ""
    return TradeRow(
        trade_id=data["trade_id"],
        ticker=data["ticker"],
        ts=_ts(data["created_time"]),
        yes_price_dollars=Decimal(data["yes_price_dollars"]),
        count_fp=Decimal(data["count_fp"]),
        taker_outcome_side=side,
        is_block_trade=bool(data.get("is_block_trade", False)),
    )


def read_budget(client: KalshiClient, *, signed: bool) -> Budget:
    """The key's Read budget (``/account/limits`` + ``/account/endpoint_costs``), or Basic.

    Every call the backfill makes is a GET that ``endpoint_costs`` does not list, so it
    costs ``default_cost``.
    """
    cost = DEFAULT_COST
    try:
        costs = client.request("GET", "/account/endpoint_costs")
        cost = int(costs.get("default_cost", DEFAULT_COST)) or DEFAULT_COST
    except KalshiAPIError:
        pass
    if not signed:
        return Budget(BASIC_READ_TOKENS_PER_S, BASIC_READ_CAPACITY, cost, "basic")
    limits = client.request("GET", "/account/limits")
    read = limits["read"]
    return Budget(float(read["refill_rate"]), float(read["bucket_capacity"]), cost, "account")


class KalshiHistory:
    """Reads of one market's past, routed to the live or historical tier."""

    def __init__(self, client: KalshiClient) -> None:
        self.client = client
        self._cutoff: Cutoff | None = None
        self._tier: dict[str, bool] = {}  # ticker -> historical, learnt from a 404

    @property
    def requests(self) -> int:
        return self.client.stats.requests_sent

    def cutoff(self) -> Cutoff:
        if self._cutoff is None:
            data = self.client.request("GET", "/historical/cutoff")
            self._cutoff = Cutoff(
                market_settled=_ts(data["market_settled_ts"]),
                trades_created=_ts(data["trades_created_ts"]),
            )
        return self._cutoff

    # ---- discovery

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self.client.request("GET", path, {**params, "cursor": cursor, "limit": 1000})
            yield from page.get(key) or ()
            cursor = page.get("cursor")
            if not cursor:
                return

    def series_tickers(self) -> list[str]:
        data = self.client.request("GET", "/series")
        return sorted(s["ticker"] for s in data.get("series") or ())

    def markets_of_series(self, series: str, since: dt.datetime | None = None) -> list[MarketInfo]:
        """Every market of the series: archived, recently settled and live, each once.

        ``since``: only markets that may still have been listed after it are needed (a
        market closes before it settles), so the archive, which holds only markets settled
        before the cutoff, is not read at all when ``since`` is past the cutoff, and the
        live listings ask Kalshi for markets closing (settling) after ``since``. A daily
        backfill's window is then listed in a few requests per series, not the series'
        whole archive. Kalshi may still send more; the caller cuts to its window anyway.
        """
        cutoff = self.cutoff()
        seen: dict[str, MarketInfo] = {}
        settled: dict[str, Any] = {"series_ticker": series, "status": "settled"}
        listed: dict[str, Any] = {"series_ticker": series}
        sources: list[tuple[str, dict[str, Any]]] = []
        if since is None or since < cutoff.market_settled:
            sources.append(("/historical/markets", {"series_ticker": series}))
        if since is not None:
            settled["min_settled_ts"] = int(since.timestamp())
            listed["min_close_ts"] = int(since.timestamp())
        sources += [("/markets", settled), ("/markets", listed)]
        for path, params in sources:
            for data in self._pages(path, "markets", params):
                seen.setdefault(data["ticker"], parse_market(data, series, cutoff))
        return list(seen.values())

    def market(self, ticker: str) -> MarketInfo:
        """One market by ticker (live first, then the archive), with its series."""
        cutoff = self.cutoff()
        try:
            data = self.client.request("GET", api_path("markets", ticker))["market"]
        except KalshiAPIError as exc:
            if exc.status != 404:
                raise
            data = self.client.request("GET", api_path("historical", "markets", ticker))["market"]
        event = self.client.request("GET", api_path("events", data["event_ticker"]))["event"]
        return parse_market(data, event.get("series_ticker"), cutoff)

    # ---- history

    def candles(
        self, market: MarketInfo, period: int, start: dt.datetime, end: dt.datetime
    ) -> Iterator[list[KalshiCandle]]:
        """Candles ending in ``[start, end]``, one request's worth at a time."""
        span = dt.timedelta(minutes=period * MAX_CANDLES_PER_REQUEST)
        lo = start
        while lo <= end:
            hi = min(end, lo + span - dt.timedelta(seconds=1))
            params = {
                "start_ts": int(lo.timestamp()),
                "end_ts": int(hi.timestamp()),
                "period_interval": period,
            }
            data = self._candle_page(market, params)
            yield [parse_candle(c) for c in data.get("candlesticks") or ()]
            lo = hi + dt.timedelta(seconds=1)

    def _candle_path(self, market: MarketInfo, historical: bool) -> str | None:
        if historical:
            return api_path("historical", "markets", market.ticker, "candlesticks")
        if not market.series_ticker:
            return None  # the live candles are addressed by series
        return api_path("series", market.series_ticker, "markets", market.ticker, "candlesticks")

    def _candle_page(self, market: MarketInfo, params: dict[str, Any]) -> dict[str, Any]:
        """One candle request, to the market's tier; a 404 there tries the other tier once."""
        historical = self._tier.get(market.ticker, market.historical)
        path = self._candle_path(market, historical)
        if path is None:
            raise ValueError(f"{market.ticker}: the live candles need its series")
        try:
            first: dict[str, Any] = self.client.request("GET", path, params)
            return first
        except KalshiAPIError as exc:
            other = self._candle_path(market, not historical)
            if exc.status != 404 or other is None or market.ticker in self._tier:
                raise
            try:
                data: dict[str, Any] = self.client.request("GET", other, params)
            except KalshiAPIError as second:
                if second.status != 404:
                    raise
                raise NotFoundError(
                    404,
                    "not_found",
                    f"{market.ticker}: neither tier has its candlesticks ({path}, {other})",
                    method="GET",
                    path=other,
                ) from None
            self._tier[market.ticker] = not historical
            return data

    def trades(self, ticker: str, start: dt.datetime, end: dt.datetime) -> Iterator[list[TradeRow]]:
        """The market's public trades in ``[start, end]``, a page at a time, from whichever
        tiers the window touches."""
        cutoff = self.cutoff().trades_created
        windows = []
        if start < cutoff:
            windows.append(
                ("/historical/trades", start, min(end, cutoff - dt.timedelta(seconds=1)))
            )
        if end >= cutoff:
            windows.append(("/markets/trades", max(start, cutoff), end))
        for path, lo, hi in windows:
            params: dict[str, Any] = {
                "ticker": ticker,
                "min_ts": int(lo.timestamp()),
                "max_ts": int(hi.timestamp()),
                "limit": 1000,
            }
            cursor = None
            while True:
                page = self.client.request("GET", path, {**params, "cursor": cursor})
                yield [parse_trade(t) for t in page.get("trades") or ()]
                cursor = page.get("cursor")
                if not cursor:
                    break
