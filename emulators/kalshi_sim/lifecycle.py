"""Market lifecycle: open, close, determine, settle, pause and reopen, new listings.

Each market's next step sits in one time-ordered schedule; ticking runs what fell due, and
:meth:`MarketLifecycle.resume` runs a whole stopped gap at once after a restart. Steps are
reported as :class:`~emulators.kalshi_sim.model.Lifecycle` and ticker happenings; settling
pays out to every account holding the market.
"""

from __future__ import annotations

import heapq
from typing import Any

from emulators.kalshi_sim import wire
from emulators.kalshi_sim.accounts import AccountBook
from emulators.kalshi_sim.book import Book
from emulators.kalshi_sim.catalog import Catalog
from emulators.kalshi_sim.config import MAX_MARKETS
from emulators.kalshi_sim.model import (
    MINUTE_US,
    SECOND_US,
    Clock,
    EventCreated,
    Happening,
    Lifecycle,
    Market,
    PositionNotice,
    SettlementNotice,
    TickerChange,
)
from emulators.kalshi_sim.wire import COUNT_ONE, PRICE_ONE

__all__ = ["MarketLifecycle"]


class MarketLifecycle:
    """The schedule of every market's next lifecycle step, and the steps themselves."""

    def __init__(self, clock: Clock, catalog: Catalog, book: Book, accounts: AccountBook) -> None:
        self.clock = clock
        self.catalog = catalog
        self.book = book
        self.accounts = accounts
        self._schedule: list[tuple[int, int, int, str]] = []  # (when_us, n, market seq, kind)
        self._schedule_n = 0

    def schedule_at(self, when_us: int, market: Market, kind: str) -> None:
        self._schedule_n += 1
        heapq.heappush(self._schedule, (when_us, self._schedule_n, market.seq, kind))

    def place(self, market: Market, plan: str) -> None:
        """Put a just-listed market where its plan says it is now; schedule its next step."""
        now = self.clock.now_us
        rng = self.clock.rng
        fair = market.fair
        open_us, close_us = market.open_us, market.close_us
        settlement_timer = market.settlement_timer_s
        if open_us > now:
            self.schedule_at(open_us, market, "open")
        elif close_us > now:
            market.status = "active"
            market.volume = rng.randint(0, 50_000) * COUNT_ONE
            market.volume_24h = market.volume // rng.randint(1, 5)
            market.open_interest = market.volume // rng.randint(2, 4)
            market.last_price = fair
            market.prev_price = fair
            self.book.reshape(market, [], now)
            market.prev_yes_bid, market.prev_yes_ask, _, _ = market.quotes()
            self.schedule_at(close_us, market, "close")
        else:
            market.status = "closed"
            market.volume = rng.randint(0, 20_000) * COUNT_ONE
            market.open_interest = market.volume // 3
            market.last_price = fair
            determination = close_us + rng.randint(5, 60) * SECOND_US
            if plan == "finalized" or determination + settlement_timer * SECOND_US <= now:
                self.determine(market, [], determination)
                self.finalize(market, [], determination + settlement_timer * SECOND_US)
            elif determination <= now:
                self.determine(market, [], determination)
                finalize_at = now + rng.randint(30, 600) * SECOND_US
                self.schedule_at(finalize_at, market, "settle")
            else:
                self.schedule_at(determination, market, "determine")

    def determine(self, market: Market, out: list[Happening], ts: int) -> None:
        rng = self.clock.rng
        market.status = "determined"
        if rng.random() < 0.03:  # void: settles at a fair price, reported as scalar
            market.result = "scalar"
            market.settlement_value = market.fair // 100 * 100
        elif rng.random() < market.fair / PRICE_ONE:
            market.result = "yes"
            market.settlement_value = PRICE_ONE
        else:
            market.result = "no"
            market.settlement_value = 0
        market.determination_us = ts
        market.updated_us = ts
        self.book.clear(market, out, ts)
        market.touch()
        out.append(
            Lifecycle(
                market,
                {
                    "event_type": "determined",
                    "market_ticker": market.ticker,
                    "result": market.result,
                    "determination_ts": ts // SECOND_US,
                    "settlement_value": wire.price(market.settlement_value),
                },
            )
        )

    def finalize(self, market: Market, out: list[Happening], ts: int) -> None:
        market.status = "finalized"
        market.settlement_us = ts
        market.updated_us = ts
        market.touch()
        out.append(
            Lifecycle(
                market,
                {
                    "event_type": "settled",
                    "market_ticker": market.ticker,
                    "settled_ts": ts // SECOND_US,
                },
            )
        )
        value = market.settlement_value or 0
        for account in self.accounts.all():
            settled = account.settle(
                ticker=market.ticker, result=market.result, value_centi=value, now_us=ts
            )
            if settled is not None:
                settlement, position = settled
                out.append(SettlementNotice(account, settlement))
                out.append(PositionNotice(account, position))

    def transition(self, market: Market, kind: str, out: list[Happening]) -> None:
        now = self.clock.now_us
        if kind == "open" and market.status == "initialized":
            market.status = "active"
            market.updated_us = now
            market.last_price = 0
            self.book.reshape(market, out, now)
            out.append(TickerChange(market, now))
            self.schedule_at(market.close_us, market, "close")
        elif kind == "close" and market.status in ("active", "inactive"):
            market.status = "closed"
            market.updated_us = now
            self.book.clear(market, out, now)
            out.append(TickerChange(market, now))
            self.schedule_at(now + self.clock.rng.randint(5, 60) * SECOND_US, market, "determine")
        elif kind == "determine" and market.status == "closed":
            self.determine(market, out, now)
            self.schedule_at(now + market.settlement_timer_s * SECOND_US, market, "settle")
        elif kind == "settle" and market.status == "determined":
            self.finalize(market, out, now)
            self._maybe_list_new_event(market, out)
        elif kind == "reactivate" and market.status == "inactive":
            market.status = "active"
            market.updated_us = now
            self.book.matcher.cancel_market(market, out)  # Kalshi cancels every resting order
            self.book.reshape(market, out, now)
            out.append(
                Lifecycle(
                    market,
                    {
                        "event_type": "activated",
                        "market_ticker": market.ticker,
                        "is_deactivated": False,
                    },
                )
            )
            out.append(TickerChange(market, now))
        else:
            return
        market.touch()
        self.catalog.active_dirty = True

    def _maybe_list_new_event(self, settled: Market, out: list[Happening]) -> None:
        """Keep the exchange alive: a settled event is often followed by a new one."""
        series = settled.event.series
        if series.template.kind == "combo" or settled is not settled.event.markets[-1]:
            return
        limit = min(MAX_MARKETS, 2 * self.clock.config.n_markets)
        if len(self.catalog.market_list) >= limit or self.clock.rng.random() < 0.3:
            return
        event = self.catalog.new_event(
            series, limit - len(self.catalog.market_list), self.place, at_start=False
        )
        out.append(EventCreated(event))
        for market in event.markets:
            out.append(Lifecycle(market, self.created_payload(market)))

    def created_payload(self, market: Market) -> dict[str, Any]:
        s = market.static
        return {
            "event_type": "created",
            "market_ticker": market.ticker,
            "exchange_index": 0,
            "open_ts": market.open_us // SECOND_US,
            "close_ts": market.close_us // SECOND_US,
            "price_level_structure": s["price_level_structure"],
            "price_ranges": s["price_ranges"],
            "additional_metadata": {
                "name": s["title"],
                "title": s["title"],
                "yes_sub_title": s["yes_sub_title"],
                "no_sub_title": s["no_sub_title"],
                "rules_primary": s["rules_primary"],
                "rules_secondary": s["rules_secondary"],
                "can_close_early": s["can_close_early"],
                "event_ticker": market.event_ticker,
                "expected_expiration_ts": market.close_us // SECOND_US,
                "strike_type": s.get("strike_type", ""),
                # The spec types the strikes number/object, not nullable: absent when unset.
                **{
                    name: s[name]
                    for name in ("floor_strike", "cap_strike", "custom_strike")
                    if s.get(name) is not None
                },
            },
        }

    def run_due(self, now: int, out: list[Happening]) -> None:
        """Every scheduled step due by ``now``, in order."""
        while self._schedule and self._schedule[0][0] <= now:
            _, _, seq, kind = heapq.heappop(self._schedule)
            self.transition(self.catalog.market_list[seq], kind, out)

    def resume(self, until_us: int) -> list[Happening]:
        """Bring a world loaded from disk up to ``until_us`` (the wall clock at restart).

        While the simulator was stopped nothing traded, but time went on: every lifecycle
        step that fell due in the gap (close, determine, settle, reopen, new listings)
        happens now, in order and at its own time, so a market that should have closed is
        closed. Books and volumes stand still over the gap. A clock already ahead of
        ``until_us`` (a manual clock, ticked fast) is left where it is: time never goes back.
        """
        self.clock.version += 1
        out: list[Happening] = []
        while self._schedule and self._schedule[0][0] <= until_us:
            when, _, seq, kind = heapq.heappop(self._schedule)
            self.clock.now_us = max(self.clock.now_us, when)
            self.transition(self.catalog.market_list[seq], kind, out)
        if until_us > self.clock.now_us:
            skipped = (until_us - self.clock.now_us) // self.clock.tick_us
            self.clock.tick_count += skipped
            self.clock.now_us += skipped * self.clock.tick_us
        return out

    def pause(self, market: Market, out: list[Happening]) -> None:
        now = self.clock.now_us
        if market.close_us - now < 5 * MINUTE_US:
            return
        market.status = "inactive"
        market.updated_us = now
        market.touch()
        self.catalog.active_dirty = True
        self.book.matcher.cancel_market(market, out, only_cancel_on_pause=True)
        out.append(
            Lifecycle(
                market,
                {
                    "event_type": "deactivated",
                    "market_ticker": market.ticker,
                    "is_deactivated": True,
                },
            )
        )
        self.schedule_at(now + self.clock.rng.randint(10, 120) * SECOND_US, market, "reactivate")
