"""The simulated exchange's past: settled markets from before the world began, with their
candlesticks and public trades, so a backfill has something to load.

Why a separate past instead of ticking the world backwards: today's world must stay exactly
what the seed makes it (tests and saved worlds depend on byte-identical markets), and a
past of 90+ days at one tick per half second would take hours to simulate. So the past is
*derived*: a pure function of the seed, the world's start time and the series catalog,
drawing from its own generators (never the world's :class:`~emulators.kalshi_sim.model.Clock`),
and computed lazily per market with numpy.

Shape: every non-combo series lists one event per cadence (daily for temperatures, crypto
and games, monthly for economics) over the last :data:`HISTORY_DAYS` days, each with the
same strike ladder the live catalog uses; every market closed and settled before the world
started. A market's price path is a bounded random walk at four steps a minute, from which
1-minute candles are taken, and 1-hour and 1-day candles are aggregated from those, so the
three resolutions agree exactly. Trades print in about one minute in twelve, at the ask for
a YES taker and at the bid for a NO taker; volume and open interest follow from them.

Tiers (Kalshi's live/historical split): markets settled before :attr:`History.cutoff_us`
and trades before it are *historical* (``/historical/*``); the rest of the past is served
by the live endpoints. By default the cutoff is the world's start (the running world is the
live tier); ``live_days`` moves it back so the most recent past is live, as on Kalshi.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from emulators.kalshi_sim import wire
from emulators.kalshi_sim.model import DAY_US, HOUR_US, MINUTE_US, SECOND_US, SeriesTemplate
from emulators.kalshi_sim.wire import PRICE_ONE

__all__ = ["HISTORY_DAYS", "History", "MarketPath", "PastMarket"]

HISTORY_DAYS = 120
"""How far back the past reaches (at least the 90 days the backfill needs)."""

SUBSTEPS = 4  # price steps per minute: gives 1-minute candles a real high and low
TRADE_CHANCE = 1 / 12  # chance that a minute prints a trade
_MONTH_DAYS = 30

# (cadence, lifetime before close, markets per event) per series kind.
_SHAPES: dict[str, tuple[int, int, int]] = {
    "temp": (DAY_US, 36 * HOUR_US, 6),
    "crypto": (DAY_US, 24 * HOUR_US, 8),
    "game": (DAY_US, 48 * HOUR_US, 2),
    "econ": (_MONTH_DAYS * DAY_US, _MONTH_DAYS * DAY_US, 5),
}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def _seed_int(*parts: object) -> int:
    """A stable 64-bit seed from text (Python's ``hash`` is salted per process)."""
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _date_code(when_us: int) -> str:
    t = time.gmtime(when_us // SECOND_US)
    return f"{t.tm_year % 100:02d}{_MONTHS[t.tm_mon - 1]}{t.tm_mday:02d}"


@dataclass(frozen=True, slots=True)
class PastMarket:
    """One settled market of the past (its metadata; the path is computed on demand)."""

    index: int  # position in listing order (oldest close first)
    ticker: str
    event_ticker: str
    series_ticker: str
    title: str
    yes_sub_title: str
    strike: dict[str, Any]
    open_us: int
    close_us: int
    settled_us: int
    step: int  # tick size in centi-cents
    fair0: int  # opening fair value in cents

    @property
    def minutes(self) -> int:
        return (self.close_us - self.open_us) // MINUTE_US


@dataclass(frozen=True, slots=True)
class MarketPath:
    """A past market's minutes as arrays (prices in centi-cents, counts in hundredths)."""

    end_s: np.ndarray  # end_period_ts of each 1-minute candle
    bid: np.ndarray  # (minutes, 4): open, high, low, close
    ask: np.ndarray
    trade_minute: np.ndarray  # minute index of each trade
    trade_us: np.ndarray  # created time of each trade
    trade_price: np.ndarray  # YES price of each trade
    trade_count: np.ndarray
    trade_yes: np.ndarray  # bool: taker_outcome_side == "yes"
    trade_ids: tuple[str, ...]
    volume: np.ndarray  # per minute
    open_interest: np.ndarray  # at the end of each minute
    result: str
    last_price: int


class History:
    """The past of one seeded world; see the module docstring."""

    def __init__(
        self,
        seed: int,
        start_us: int,
        templates: list[SeriesTemplate],
        taken_event_tickers: set[str],
        *,
        days: int = HISTORY_DAYS,
        live_days: float = 0.0,
    ) -> None:
        self.seed = seed
        self.start_us = start_us
        self.days = days
        self.live_days = live_days
        self.markets: list[PastMarket] = []
        self.by_ticker: dict[str, PastMarket] = {}
        self._build(templates, taken_event_tickers)
        self._global_trades: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.json_cache: dict[str, bytes] = {}  # rendered market JSON (never changes)

    # ------------------------------------------------------------------ tiers

    @property
    def cutoff_us(self) -> int:
        """Kalshi's ``market_settled_ts`` = ``trades_created_ts`` for this past."""
        cutoff = self.start_us - int(self.live_days * DAY_US)
        return cutoff // SECOND_US * SECOND_US

    def is_historical(self, market: PastMarket) -> bool:
        return market.settled_us < self.cutoff_us

    def historical_markets(self) -> list[PastMarket]:
        return [m for m in self.markets if self.is_historical(m)]

    def live_markets(self) -> list[PastMarket]:
        return [m for m in self.markets if not self.is_historical(m)]

    # ------------------------------------------------------------------ catalog

    def _build(self, templates: list[SeriesTemplate], taken: set[str]) -> None:
        first_day = (self.start_us // DAY_US - self.days) * DAY_US
        last_close = self.start_us // DAY_US * DAY_US  # strictly before the world's first day
        listed: list[PastMarket] = []
        for template in templates:
            shape = _SHAPES.get(template.kind)
            if shape is None:
                continue  # combos are built from live legs; the past has none
            cadence, life, n_markets = shape
            close = first_day + cadence
            n = 0
            while close <= last_close:
                n += 1
                listed.extend(self._event(template, close, life, n_markets, n, taken))
                close += cadence
        listed.sort(key=lambda m: (m.close_us, m.ticker))
        for i, market in enumerate(listed):
            market = PastMarket(**{**_fields(market), "index": i})
            self.markets.append(market)
            self.by_ticker[market.ticker] = market

    def _event(
        self,
        template: SeriesTemplate,
        close_us: int,
        life_us: int,
        n_markets: int,
        n: int,
        taken: set[str],
    ) -> list[PastMarket]:
        rng = np.random.default_rng(_seed_int(self.seed, "history", template.ticker, close_us))
        code = _date_code(close_us - SECOND_US)
        event_ticker = f"{template.ticker}-{code}"
        if template.kind == "game":
            event_ticker += f"H{n}"
        if event_ticker in taken:
            return []
        close = close_us - MINUTE_US if template.kind != "econ" else close_us - HOUR_US
        open_us = close - life_us + (MINUTE_US if template.kind != "econ" else HOUR_US)
        open_us = open_us // HOUR_US * HOUR_US
        close = close // MINUTE_US * MINUTE_US
        settled = close + int(rng.integers(2, 30)) * MINUTE_US
        out = []
        base = int(rng.integers(40, 95))
        for j in range(n_markets):
            suffix, strike, sub = _strike(template, base, j)
            fair0 = int(rng.integers(5, 96))
            out.append(
                PastMarket(
                    index=0,
                    ticker=f"{event_ticker}-{suffix}",
                    event_ticker=event_ticker,
                    series_ticker=template.ticker,
                    title=f"{template.title}: {sub} on {code}?",
                    yes_sub_title=sub,
                    strike=strike,
                    open_us=open_us,
                    close_us=close,
                    settled_us=settled,
                    step=100,
                    fair0=fair0,
                )
            )
        return out

    # ------------------------------------------------------------------ paths

    @functools.lru_cache(maxsize=512)  # noqa: B019 - one History per simulator, lives as long
    def path(self, ticker: str) -> MarketPath:
        """The market's minutes, computed once and cached (deterministic from the seed)."""
        m = self.by_ticker[ticker]
        rng = np.random.default_rng(_seed_int(self.seed, "path", ticker))
        minutes = m.minutes
        steps = rng.choice(np.array([-1, 0, 0, 1], dtype=np.int64), size=minutes * SUBSTEPS)
        fair = np.clip(m.fair0 + np.cumsum(steps), 2, 98)
        half = rng.integers(1, 3, size=minutes * SUBSTEPS)
        bid = ((fair - half + 1).clip(1, 98) * 100).reshape(minutes, SUBSTEPS)
        ask = ((fair + half).clip(2, 99) * 100).reshape(minutes, SUBSTEPS)
        bid4 = np.stack([bid[:, 0], bid.max(1), bid.min(1), bid[:, -1]], axis=1)
        ask4 = np.stack([ask[:, 0], ask.max(1), ask.min(1), ask[:, -1]], axis=1)
        trade_minute = np.flatnonzero(rng.random(minutes) < TRADE_CHANCE)
        k = len(trade_minute)
        yes = rng.random(k) < 0.5
        offsets = rng.integers(0, MINUTE_US // SECOND_US, size=k) * SECOND_US + rng.integers(
            0, SECOND_US, size=k
        )
        trade_us = m.open_us + trade_minute * MINUTE_US + offsets
        price = np.where(yes, ask4[trade_minute, 3], bid4[trade_minute, 3])
        count = rng.integers(1, 40, size=k) * 100
        ids = _uuids(rng, k)
        volume = np.zeros(minutes, dtype=np.int64)
        np.add.at(volume, trade_minute, count)
        open_interest = np.cumsum(volume) * 3 // 5
        last_fair = int(fair[-1])
        result = "yes" if rng.random() < last_fair / 100 else "no"
        end_s = (m.open_us // SECOND_US) + 60 * (np.arange(minutes, dtype=np.int64) + 1)
        return MarketPath(
            end_s=end_s,
            bid=bid4,
            ask=ask4,
            trade_minute=trade_minute,
            trade_us=trade_us,
            trade_price=price,
            trade_count=count,
            trade_yes=yes,
            trade_ids=ids,
            volume=volume,
            open_interest=open_interest,
            result=result,
            last_price=int(price[-1]) if k else last_fair * 100,
        )

    # ------------------------------------------------------------------ candles

    def candles(
        self, ticker: str, period_min: int, start_s: int, end_s: int
    ) -> list[dict[str, Any]]:
        """Candles ending in ``[start_s, end_s]``: dicts of integers (None: no trade)."""
        p = self.path(ticker)
        period_s = period_min * 60
        group_end = ((p.end_s - 1) // period_s + 1) * period_s
        lo = int(np.searchsorted(group_end, start_s, side="left"))
        hi = int(np.searchsorted(group_end, end_s, side="right"))
        if lo >= hi:
            return []
        # Minute slices per group: boundaries where group_end changes. Vectorised: a
        # 1-minute request over a 36-hour market is 2,160 candles.
        ends = group_end[lo:hi]
        cuts = np.flatnonzero(np.diff(ends)) + 1
        offsets = np.concatenate(([0], cuts))
        stops = np.concatenate((cuts, [hi - lo])) + lo
        bid, ask = p.bid[lo:hi], p.ask[lo:hi]
        columns = {
            "end": ends[offsets],
            "bo": bid[offsets, 0],
            "bh": np.maximum.reduceat(bid[:, 1], offsets),
            "bl": np.minimum.reduceat(bid[:, 2], offsets),
            "bc": p.bid[stops - 1, 3],
            "ao": ask[offsets, 0],
            "ah": np.maximum.reduceat(ask[:, 1], offsets),
            "al": np.minimum.reduceat(ask[:, 2], offsets),
            "ac": p.ask[stops - 1, 3],
            "volume": np.add.reduceat(p.volume[lo:hi], offsets),
            "oi": p.open_interest[stops - 1],
        }
        group_ends = columns["end"]
        trade_end = group_end[p.trade_minute] if len(p.trade_minute) else np.empty(0, np.int64)
        t_lo = np.searchsorted(trade_end, group_ends, side="left")
        t_hi = np.searchsorted(trade_end, group_ends, side="right")
        traded = t_hi > t_lo
        n = len(group_ends)
        price = p.trade_price
        t_open = np.full(n, -1, dtype=np.int64)
        t_close = np.full(n, -1, dtype=np.int64)
        t_high = np.full(n, -1, dtype=np.int64)
        t_low = np.full(n, -1, dtype=np.int64)
        t_mean = np.full(n, -1, dtype=np.int64)
        if traded.any():
            idx_lo, idx_hi = t_lo[traded], t_hi[traded]
            t_open[traded] = price[idx_lo]
            t_close[traded] = price[idx_hi - 1]
            # reduceat over the traded groups' (non-empty, consecutive) trade ranges
            span = slice(int(idx_lo[0]), int(idx_hi[-1]))
            rel = idx_lo - idx_lo[0]
            hi_all = np.maximum.reduceat(price[span], rel)
            lo_all = np.minimum.reduceat(price[span], rel)
            weighted = np.add.reduceat(price[span] * p.trade_count[span], rel)
            counted = np.add.reduceat(p.trade_count[span], rel)
            t_high[traded], t_low[traded] = hi_all, lo_all
            t_mean[traded] = weighted // counted
        previous = np.where(t_lo > 0, price[np.maximum(t_lo - 1, 0)] if len(price) else -1, -1)
        rows = zip(
            *(c.tolist() for c in columns.values()),
            t_open.tolist(),
            t_high.tolist(),
            t_low.tolist(),
            t_close.tolist(),
            t_mean.tolist(),
            previous.tolist(),
            strict=True,
        )
        out = []
        for end, bo, bh, bl, bc, ao, ah, al, ac, vol, oi, to, th, tl, tc, tm, prev in rows:
            trade: dict[str, int | None] = (
                {"open": to, "high": th, "low": tl, "close": tc, "mean": tm}
                if to >= 0
                else dict.fromkeys(("open", "high", "low", "close", "mean"))
            )
            trade["previous"] = prev if prev >= 0 else None
            out.append(
                {
                    "end_period_ts": end,
                    "yes_bid": {"open": bo, "high": bh, "low": bl, "close": bc},
                    "yes_ask": {"open": ao, "high": ah, "low": al, "close": ac},
                    "price": trade,
                    "volume": vol,
                    "open_interest": oi,
                }
            )
        return out

    # ------------------------------------------------------------------ trades

    def global_trades(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every past trade sorted by time: (created_us, market index, trade index)."""
        if self._global_trades is None:
            times, markets, indexes = [], [], []
            for m in self.markets:
                p = self.path(m.ticker)
                times.append(p.trade_us)
                markets.append(np.full(len(p.trade_us), m.index, dtype=np.int64))
                indexes.append(np.arange(len(p.trade_us), dtype=np.int64))
            t = np.concatenate(times) if times else np.empty(0, np.int64)
            mk = np.concatenate(markets) if markets else np.empty(0, np.int64)
            ix = np.concatenate(indexes) if indexes else np.empty(0, np.int64)
            order = np.lexsort((ix, mk, t))
            self._global_trades = (t[order], mk[order], ix[order])
        return self._global_trades

    def trade_dict(self, market: PastMarket, i: int) -> dict[str, Any]:
        p = self.path(market.ticker)
        outcome = "yes" if bool(p.trade_yes[i]) else "no"
        price = int(p.trade_price[i])
        return {
            "trade_id": p.trade_ids[i],
            "ticker": market.ticker,
            "count_fp": wire.count(int(p.trade_count[i])),
            "yes_price_dollars": wire.price(price),
            "no_price_dollars": wire.price(PRICE_ONE - price),
            "taker_side": outcome,
            "taker_outcome_side": outcome,
            "taker_book_side": "bid" if outcome == "yes" else "ask",
            "created_time": wire.rfc3339_us(int(p.trade_us[i])),
            "is_block_trade": False,
        }

    # ------------------------------------------------------------------ markets

    def market_dict(self, m: PastMarket) -> dict[str, Any]:
        """Kalshi's Market object for a settled past market (every required field)."""
        p = self.path(m.ticker)
        volume = int(p.volume.sum())
        value = PRICE_ONE if p.result == "yes" else 0
        d: dict[str, Any] = {
            "ticker": m.ticker,
            "event_ticker": m.event_ticker,
            "market_type": "binary",
            "title": m.title,
            "subtitle": "",
            "yes_sub_title": m.yes_sub_title,
            "no_sub_title": m.yes_sub_title,
            "created_time": wire.rfc3339_us(m.open_us - HOUR_US),
            "updated_time": wire.rfc3339_us(m.settled_us),
            "open_time": wire.rfc3339_us(m.open_us),
            "close_time": wire.rfc3339_us(m.close_us),
            "expected_expiration_time": wire.rfc3339_us(m.close_us),
            "expiration_time": wire.rfc3339_us(m.close_us),
            "latest_expiration_time": wire.rfc3339_us(m.close_us),
            "settlement_timer_seconds": 300,
            "status": "finalized",
            "notional_value_dollars": "1.0000",
            "yes_bid_dollars": "0.0000",
            "yes_ask_dollars": "0.0000",
            "no_bid_dollars": "0.0000",
            "no_ask_dollars": "0.0000",
            "yes_bid_size_fp": "0.00",
            "yes_ask_size_fp": "0.00",
            "last_price_dollars": wire.price(p.last_price),
            "previous_yes_bid_dollars": "0.0000",
            "previous_yes_ask_dollars": "0.0000",
            "previous_price_dollars": wire.price(p.last_price),
            "volume_fp": wire.count(volume),
            "volume_24h_fp": "0.00",
            "open_interest_fp": wire.count(int(p.open_interest[-1])),
            "result": p.result,
            "settlement_value_dollars": wire.price(value),
            "settlement_ts": wire.rfc3339_us(m.settled_us),
            "can_close_early": True,
            "expiration_value": "",
            "liquidity_dollars": "0.0000",
            "rules_primary": f"If {m.yes_sub_title}, then the market resolves to Yes.",
            "rules_secondary": "The settlement source decides the outcome.",
            "price_level_structure": "linear_cent",
            "price_ranges": [{"end": "1.0000", "start": "0.0000", "step": wire.price(m.step)}],
            "occurrence_datetime": wire.rfc3339_us(m.close_us),
        }
        d.update(m.strike)
        return d

    def tickers_in_series(self, series: str) -> list[PastMarket]:
        return [m for m in self.markets if m.series_ticker == series]

    def after_settled(self, markets: list[PastMarket], ts_s: int) -> int:
        """Index of the first market (by settlement) settled at or after ``ts_s``."""
        keys = [m.settled_us // SECOND_US for m in markets]
        return bisect.bisect_left(keys, ts_s)


def _uuids(rng: np.random.Generator, k: int) -> tuple[str, ...]:
    raw = rng.bytes(16 * k)
    return tuple(str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(k))


def _fields(m: PastMarket) -> dict[str, Any]:
    return {name: getattr(m, name) for name in PastMarket.__slots__}


def _strike(template: SeriesTemplate, base: int, j: int) -> tuple[str, dict[str, Any], str]:
    if template.kind == "temp":
        lo = base + 2 * j
        return (
            f"B{lo}.5",
            {"strike_type": "between", "floor_strike": lo, "cap_strike": lo + 1},
            f"{lo}° to {lo + 1}°",
        )
    if template.kind == "crypto":
        strike = base * 1000 + j * 500
        return (
            f"T{strike - 0.01:.2f}",
            {"strike_type": "greater", "floor_strike": strike - 0.01},
            f"${strike:,} or above",
        )
    if template.kind == "game":
        side = "HOME" if j == 0 else "AWAY"
        return side, {"strike_type": "structured"}, f"{side.title()} team wins"
    pct = (base % 5 + j) / 10
    return f"T{pct}", {"strike_type": "greater", "floor_strike": pct}, f"Above {pct}%"
