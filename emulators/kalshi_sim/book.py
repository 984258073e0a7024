"""Order books and trades: the book's random walk, taker orders, the public trade tape.

Every price move, order and trade draws from the shared seeded generator
(:class:`~emulators.kalshi_sim.model.Clock`), so the book is as reproducible as the rest of
the exchange. Changes are reported as :class:`BookDelta`, :class:`TradePrint` and
:class:`TickerChange` happenings for the WebSocket hub. The walk moves only the crowd's
part of a level; accounts' resting orders stay in their queues
(:mod:`~emulators.kalshi_sim.matching`), and the crowd's trades fill them as makers.
"""

from __future__ import annotations

from emulators.kalshi_sim.accounts import Account, Fill, Order
from emulators.kalshi_sim.candles import record_candle
from emulators.kalshi_sim.catalog import Catalog
from emulators.kalshi_sim.matching import Matcher, crowd_size, own_size, set_crowd
from emulators.kalshi_sim.model import (
    BookDelta,
    Clock,
    FillNotice,
    Happening,
    Market,
    PositionNotice,
    TickerChange,
    Trade,
    TradePrint,
)
from emulators.kalshi_sim.wire import COUNT_ONE, MICRO_PER_CENTI, PRICE_ONE

__all__ = ["Book"]


class Book:
    """The books live on the markets; this is how they move, plus every trade printed."""

    def __init__(self, clock: Clock, catalog: Catalog) -> None:
        self.clock = clock
        self.catalog = catalog
        self.trades: list[Trade] = []
        self.trades_by_ticker: dict[str, list[Trade]] = {}
        self._trade_seq = 0
        self.matcher = Matcher(clock, self)

    def reshape(self, market: Market, out: list[Happening], ts: int) -> None:
        """Move the book toward its target shape around ``fair``, emitting signed deltas."""
        step = market.step
        target_yes: dict[int, int] = {}
        target_no: dict[int, int] = {}
        for i in range(market.n_levels):
            p = market.fair - (market.k_bid + i) * step
            if p > 0:
                target_yes[p] = crowd_size(market, "yes", p) or self._random_size()
            q = (PRICE_ONE - market.fair) - (market.k_ask + i) * step
            if q > 0:
                target_no[q] = crowd_size(market, "no", q) or self._random_size()
        self._apply_target(market, "yes", market.yes, target_yes, out, ts)
        self._apply_target(market, "no", market.no, target_no, out, ts)
        if market.queues:
            self.matcher.uncross(market, out, ts)

    def _random_size(self) -> int:
        rng = self.clock.rng
        size = rng.randint(1, 400) * COUNT_ONE
        if rng.random() < 0.1:
            size += rng.randint(1, 99)
        return size

    @staticmethod
    def _apply_target(
        market: Market,
        side: str,
        book: dict[int, int],
        target: dict[int, int],
        out: list[Happening],
        ts: int,
    ) -> None:
        """Set the crowd's size of every level to ``target`` (resting orders stay)."""
        for price in sorted(set(book) | set(target)):
            old = book.get(price, 0)
            crowd = target.get(price, 0)
            new = crowd + (own_size(market, side, price) if market.queues else 0)
            if old == new:
                continue
            if market.queues:
                set_crowd(market, side, price, crowd)
            if new:
                book[price] = new
            else:
                del book[price]
            out.append(BookDelta(market, side, price, new - old, ts))

    def change_level(
        self, market: Market, side: str, price: int, delta: int, out: list[Happening], ts: int
    ) -> None:
        """The crowd adds or cancels size at a level; resting orders are never touched."""
        book = market.yes if side == "yes" else market.no
        if (side, price) in market.queues:
            crowd = crowd_size(market, side, price)
            delta = max(delta, -crowd)
            set_crowd(market, side, price, crowd + delta)
        new = book.get(price, 0) + delta
        if new <= 0:
            delta = -book.get(price, 0)
            book.pop(price, None)
        else:
            book[price] = new
        if delta:
            out.append(BookDelta(market, side, price, delta, ts))

    def clear(self, market: Market, out: list[Happening], ts: int) -> None:
        """The market stops trading: resting orders are canceled, the crowd leaves."""
        self.matcher.cancel_market(market, out)
        self._apply_target(market, "yes", market.yes, {}, out, ts)
        self._apply_target(market, "no", market.no, {}, out, ts)

    def print_trade(
        self,
        market: Market,
        yes_price: int,
        count: int,
        outcome: str,
        ts: int,
        out: list[Happening],
    ) -> Trade:
        self._trade_seq += 1
        trade = Trade(
            seq=self._trade_seq,
            trade_id=self.clock.new_uuid(),
            ticker=market.ticker,
            yes_price=yes_price,
            count=count,
            taker_outcome_side=outcome,
            created_us=ts,
        )
        self.trades.append(trade)
        self.trades_by_ticker.setdefault(market.ticker, []).append(trade)
        market.last_price = yes_price
        market.last_trade_size = count
        market.volume += count
        market.volume_24h += count
        market.dollar_volume_micro += yes_price * count
        market.event.series.volume += count
        if self.clock.rng.random() < 0.6:
            market.open_interest += count
        else:
            market.open_interest = max(0, market.open_interest - count)
        record_candle(market, ts, trade_price=yes_price, volume=count)
        out.append(TradePrint(market, trade))
        return trade

    def take(
        self, market: Market, outcome: str, want: int, ts: int, out: list[Happening]
    ) -> tuple[int, int] | None:
        """A crowd taker for ``outcome`` against the best opposite bid; (yes_price, count).

        At a level where accounts rest orders the matcher trades it (queue order, maker
        fills, one trade per match) and the result is None: nothing is left to print.
        """
        side = "no" if outcome == "yes" else "yes"  # YES is lifted from the best NO bid
        book = market.no if side == "no" else market.yes
        if not book:
            return None
        level = max(book)
        yes_price = PRICE_ONE - level if side == "no" else level
        if (side, level) in market.queues:
            self.matcher.take_level(market, side, level, want, out, ts)
            return None
        count = min(want, book[level])
        self.change_level(market, side, level, -count, out, ts)
        return yes_price, count

    def account_fill(
        self, account: Account, out: list[Happening], market: Market | None = None
    ) -> Fill | None:
        """Trade once on ``account``'s behalf (a taker order against the book)."""
        self.clock.version += 1
        rng = account.rng
        if market is None:
            active = self.catalog.active_markets()
            candidates = [m for m in active if m.yes and m.no]
            if not candidates:
                return None
            market = candidates[rng.randrange(len(candidates))]
        if market.status != "active" or not market.yes or not market.no:
            return None
        position = account.positions.get(market.ticker)
        held = position.position if position else 0
        want = rng.randint(1, 10) * COUNT_ONE
        if held and rng.random() < 0.35:
            action = "sell"
            side = "yes" if held > 0 else "no"
            want = min(want, abs(held))
        else:
            action = "buy"
            side = ("yes" if held > 0 else "no") if held else rng.choice(["yes", "no"])
        outcome = "yes" if (action, side) in (("buy", "yes"), ("sell", "no")) else "no"
        ts = self.clock.now_us + rng.randint(1, 400)
        best = max(market.no) if outcome == "yes" else max(market.yes)
        if ("no" if outcome == "yes" else "yes", best) in market.queues:
            return None  # accounts' orders rest there: only real orders trade with them
        taken = self.take(market, outcome, want, ts, out)
        if taken is None:
            return None
        yes_price, count = taken
        trade = self.print_trade(market, yes_price, count, outcome, ts, out)
        fill, pos = account.apply_taker_fill(
            ticker=market.ticker,
            event_ticker=market.event_ticker,
            action=action,
            side=side,
            count=count,
            yes_price=yes_price,
            now_us=ts,
            trade_id=trade.trade_id,
        )
        side_price = yes_price if side == "yes" else PRICE_ONE - yes_price
        order = Order(
            order_id=fill.order_id,
            client_order_id=fill.client_order_id,
            account=account,
            ticker=market.ticker,
            book_side=fill.book_side,
            price=yes_price,
            initial_count=count,
            time_in_force="immediate_or_cancel",
            self_trade_prevention_type="taker_at_cross",
            post_only=False,
            created_us=ts,
            seq=fill.seq,
            status="executed",
            fill_count=count,
            taker_fill_cost_micro=side_price * count,
            taker_fees_micro=fill.fee_centi * MICRO_PER_CENTI,
            updated_us=ts,
            legacy=(action, side),
        )
        account.orders[order.order_id] = order
        out.append(FillNotice(account, fill))
        out.append(PositionNotice(account, pos))
        out.append(TickerChange(market, ts))
        market.touch()
        return fill

    def walk(self, market: Market, out: list[Happening], ts: int) -> None:
        """One bounded random-walk step of a market's fair value, book and trades."""
        rng = self.clock.rng
        before = (market.quotes(), market.last_price, market.volume, market.open_interest)
        step = market.step
        r = rng.random()
        if r < 0.3:
            market.fair = min(PRICE_ONE - 2 * step, market.fair + step)
        elif r < 0.6:
            market.fair = max(2 * step, market.fair - step)
        if rng.random() < 0.15:
            market.k_bid = rng.randint(1, 2)
            market.k_ask = rng.randint(1, 2)
        self.reshape(market, out, ts)
        if rng.random() < 0.4:
            side = rng.choice(["yes", "no"])
            book = market.yes if side == "yes" else market.no
            if book:
                level = rng.choice(sorted(book))
                self.change_level(market, side, level, rng.randint(-50, 80) * COUNT_ONE, out, ts)
        if rng.random() < self.clock.config.trade_probability:
            outcome = rng.choice(["yes", "no"])
            want = rng.randint(1, 40) * COUNT_ONE + (
                rng.randint(1, 99) if rng.random() < 0.1 else 0
            )
            taken = self.take(market, outcome, want, ts, out)
            if taken is not None:
                self.print_trade(market, taken[0], taken[1], outcome, ts, out)
        record_candle(market, ts)
        after = (market.quotes(), market.last_price, market.volume, market.open_interest)
        if after != before:
            out.append(TickerChange(market, ts))
        market.touch()
