"""What order entry needs to know about a market: its price grid and its fee structure.

Checked before an order leaves for Kalshi, so a person gets "0.0050 is not a price on this
market: prices step by 0.01" instead of Kalshi's bare ``invalid price``, and an unknown
ticker is a 404 naming it. The fee structure (the series' ``fee_type`` and
``fee_multiplier``, an event's overrides) prices the ticket preview through
:mod:`shared.domain.fees`.

Kalshi changes neither often, and an order must not pay three extra round trips, so
:class:`MarketRulesCache` keeps each market's rules for a minute and each series' fees for
ten, per instance, bounded. A market that does not exist is not cached (it may be listed
a moment later).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from shared.kalshi import models as m
from shared.kalshi.client import KalshiClient
from shared.kalshi.errors import NotFoundError

__all__ = ["MarketRules", "MarketRulesCache", "UnknownMarket", "grid_step"]

CENT_GRID = (m.PriceRange(start=Decimal(0), end=Decimal(1), step=Decimal("0.01")),)


class UnknownMarket(Exception):
    def __init__(self, ticker: str) -> None:
        super().__init__(f"no market {ticker} on Kalshi")
        self.ticker = ticker


@dataclass(frozen=True)
class MarketRules:
    ticker: str
    status: str
    price_ranges: tuple[m.PriceRange, ...]
    fee_type: str = "quadratic"
    fee_multiplier: Decimal = Decimal(1)

    def on_grid(self, yes_price: Decimal) -> bool:
        """Whether ``yes_price`` is a tick of one of the market's price ranges."""
        return any(
            r.start <= yes_price <= r.end and (yes_price - r.start) % r.step == 0
            for r in self.price_ranges
            if r.step > 0
        )

    def describe_grid(self) -> str:
        return "; ".join(
            f"steps of {r.step.normalize():f} from {r.start:.2f} to {r.end:.2f}"
            for r in self.price_ranges
        )


def grid_step(rules: MarketRules, yes_price: Decimal) -> Decimal | None:
    """The tick size in force at ``yes_price`` (None off every range)."""
    for r in rules.price_ranges:
        if r.start <= yes_price <= r.end:
            return r.step
    return None


class _Ttl:
    """A small LRU map whose entries expire."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max = max_entries
        self._items: OrderedDict[str, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, now: float) -> object | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or now - hit[0] > self.ttl_s:
                return None
            self._items.move_to_end(key)
            return hit[1]

    def put(self, key: str, value: object, now: float) -> None:
        with self._lock:
            self._items[key] = (now, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max:
                self._items.popitem(last=False)


class MarketRulesCache:
    """Market rules by ticker (60 s) and series fees by series (600 s), per instance."""

    def __init__(
        self,
        *,
        market_ttl_s: float = 60.0,
        series_ttl_s: float = 600.0,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._markets = _Ttl(market_ttl_s, max_entries)
        self._series = _Ttl(series_ttl_s, max_entries)
        self._clock = clock

    def peek(self, ticker: str) -> MarketRules | None:
        """The cached rules of ``ticker``, or None (nothing is fetched)."""
        cached = self._markets.get(ticker, self._clock())
        return cached if isinstance(cached, MarketRules) else None

    def rules(self, client: KalshiClient, ticker: str) -> MarketRules:
        now = self._clock()
        cached = self._markets.get(ticker, now)
        if isinstance(cached, MarketRules):
            return cached
        try:
            market = client.get_market(ticker)
        except NotFoundError:
            raise UnknownMarket(ticker) from None
        fee_type, multiplier = self._fees(client, market.event_ticker, now)
        rules = MarketRules(
            ticker=market.ticker,
            status=market.status,
            price_ranges=tuple(market.price_ranges) or CENT_GRID,
            fee_type=fee_type,
            fee_multiplier=multiplier,
        )
        self._markets.put(ticker, rules, now)
        return rules

    def _fees(self, client: KalshiClient, event_ticker: str, now: float) -> tuple[str, Decimal]:
        """The fee structure in force for the event: its overrides, else its series'."""
        cached = self._series.get("event:" + event_ticker, now)
        if isinstance(cached, tuple):
            return cached
        event = client.get_event(event_ticker).event
        series_key = "series:" + event.series_ticker
        series_fees = self._series.get(series_key, now)
        if not isinstance(series_fees, tuple):
            series = client.get_series(event.series_ticker)
            series_fees = (series.fee_type or "quadratic", series.fee_multiplier or Decimal(1))
            self._series.put(series_key, series_fees, now)
        fees: tuple[str, Decimal] = (
            event.fee_type_override or series_fees[0],
            event.fee_multiplier_override
            if event.fee_multiplier_override is not None
            else series_fees[1],
        )
        self._series.put("event:" + event_ticker, fees, now)
        return fees
