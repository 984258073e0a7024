"""Order entry: account orders matched by price-time priority against the simulated book.

A level of Kalshi's book (bids only: YES bids, NO bids in NO-leg pricing) is a total size in
``market.yes``/``market.no``. Where accounts rest orders, the level also has a queue in
``market.queues``: its entries in priority order, each an :class:`Order` or an ``int`` of
crowd size (the simulated liquidity). Crowd size that arrives joins the back of the queue;
crowd size that leaves is taken from the back first, so an order keeps its place. A taker
(an account order, or the crowd's own random trades in :mod:`~emulators.kalshi_sim.book`)
consumes a level from the front: crowd entries trade with the crowd, orders become maker
fills for their accounts. Every fill is charged through :mod:`shared.domain.fees` with the
order's own fee accumulator and the series' fee structure at that instant.

Self-trade prevention follows the V2 spec: ``taker_at_cross`` stops the taker when its next
match is its own order (fills so far stand, the rest is canceled); ``maker`` cancels the
resting order and matching continues.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from emulators.kalshi_sim.accounts import Account, Order
from emulators.kalshi_sim.model import (
    BookDelta,
    Clock,
    FillNotice,
    Happening,
    Market,
    OrderNotice,
    PositionNotice,
    TickerChange,
    Trade,
)
from emulators.kalshi_sim.wire import PRICE_ONE
from shared.domain.fees import FeeAccumulator, FeeChange, SeriesFees

__all__ = ["Matcher", "OrderReject", "crowd_size", "own_size", "set_crowd"]


class TradePrinter(Protocol):
    """The book's public tape (a protocol: the book owns the matcher, not the reverse)."""

    def print_trade(
        self,
        market: Market,
        yes_price: int,
        count: int,
        outcome: str,
        ts: int,
        out: list[Happening],
    ) -> Trade: ...


class OrderReject(Exception):
    """An order the exchange refuses; ``code``/``message``/``details`` are Kalshi's."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


INSUFFICIENT_BALANCE = ("insufficient_balance", "insufficient balance")
POST_ONLY_CROSS = ("invalid_order", "invalid order", "post only cross")


# ---------------------------------------------------------------- level bookkeeping


def _book(market: Market, side: str) -> dict[int, int]:
    return market.yes if side == "yes" else market.no


def own_size(market: Market, side: str, price: int) -> int:
    queue = market.queues.get((side, price))
    if not queue:
        return 0
    return sum(e.remaining_count for e in queue if isinstance(e, Order))


def crowd_size(market: Market, side: str, price: int) -> int:
    return _book(market, side).get(price, 0) - own_size(market, side, price)


def set_crowd(market: Market, side: str, price: int, crowd: int) -> None:
    """Make the crowd part of a queued level ``crowd``: new size at the back, cancels too."""
    queue = market.queues.get((side, price))
    if queue is None:
        return
    current = sum(e for e in queue if isinstance(e, int))
    if crowd > current:
        if queue and isinstance(queue[-1], int):
            queue[-1] += crowd - current
        else:
            queue.append(crowd - current)
        return
    excess = current - crowd
    for i in range(len(queue) - 1, -1, -1):
        if excess <= 0:
            break
        entry = queue[i]
        if isinstance(entry, int):
            taken = min(entry, excess)
            excess -= taken
            if entry == taken:
                del queue[i]
            else:
                queue[i] = entry - taken


def _change_total(
    market: Market, side: str, price: int, delta: int, out: list[Happening], ts: int
) -> None:
    if not delta:
        return
    book = _book(market, side)
    new = book.get(price, 0) + delta
    if new > 0:
        book[price] = new
    else:
        book.pop(price, None)
    out.append(BookDelta(market, side, price, delta, ts))


@dataclass(slots=True)
class _Result:
    filled: int = 0
    cost: int = 0  # yes-price x count of the fills (average price)
    fees: int = 0  # trade fees of the fills (average fee)
    stopped: bool = False  # self-trade prevention stopped the taker


class Matcher:
    """Matches account orders and keeps their fills, positions and notices flowing."""

    def __init__(self, clock: Clock, tape: TradePrinter) -> None:
        self.clock = clock
        self.tape = tape
        self.expiring: list[Order] = []  # resting orders with an expiration_time

    # ------------------------------------------------------------ fees

    @staticmethod
    def series_fees(market: Market) -> SeriesFees:
        series = market.event.series
        changes = tuple(
            FeeChange(cid, series.ticker, fee_type, Decimal(mult), at)
            for cid, fee_type, mult, at in series.fee_changes
        )
        return SeriesFees(series.fee_type, Decimal(series.fee_multiplier), changes)

    def _fee(self, market: Market, count: int, yes_price: int, *, maker: bool, ts: int) -> int:
        return self.series_fees(market).trade_fee_micro(count, yes_price, maker=maker, ts_us=ts)

    # ------------------------------------------------------------ entering orders

    def check_balance(self, account: Account, market: Market, order: Order) -> None:
        """Refuse an order whose opening part, with the taker fee, exceeds the free balance.

        Free balance is the cash less what the account's other resting orders could spend.
        """
        need = self._cost(account, market, order, order.remaining_count)
        held = sum(
            self._cost(account, market, o, o.remaining_count)
            for o in account.orders.values()
            if o.status == "resting" and o is not order
        )
        if need + held > account.balance_micro:
            raise OrderReject(400, *INSUFFICIENT_BALANCE)

    def _cost(self, account: Account, market: Market, order: Order, count: int) -> int:
        position = account.positions.get(order.ticker)
        held = position.position if position else 0
        closable = max(0, -held) if order.book_side == "bid" else max(0, held)
        opening = max(0, count - closable)
        side_price = order.price if order.book_side == "bid" else PRICE_ONE - order.price
        fee = self._fee(market, count, order.price, maker=False, ts=self.clock.now_us)
        return opening * side_price + fee

    @staticmethod
    def closable(account: Account, ticker: str, book_side: str) -> int:
        """Contracts an order on ``book_side`` can close: a bid closes NO, an ask YES."""
        position = account.positions.get(ticker)
        held = position.position if position else 0
        return max(0, -held) if book_side == "bid" else max(0, held)

    def crosses(self, market: Market, order: Order) -> bool:
        return bool(self._crossing_levels(market, order))

    @staticmethod
    def _crossing_levels(market: Market, order: Order) -> list[int]:
        """The opposite book's levels the order would trade at, best first."""
        if order.book_side == "bid":  # lifts YES asks == NO bids at 1 - price
            return [q for q in sorted(market.no, reverse=True) if PRICE_ONE - q <= order.price]
        return [y for y in sorted(market.yes, reverse=True) if y >= order.price]

    def fillable(self, market: Market, order: Order) -> int:
        """How much the order would fill now (a dry run, self-trade prevention included)."""
        opposite = "no" if order.book_side == "bid" else "yes"
        total = 0
        for level in self._crossing_levels(market, order):
            queue = market.queues.get((opposite, level))
            if queue is None:
                total += _book(market, opposite)[level]
                continue
            for entry in queue:
                if isinstance(entry, int):
                    total += entry
                elif entry.account is order.account:
                    if order.self_trade_prevention_type == "taker_at_cross":
                        return total
                else:
                    total += entry.remaining_count
        return total

    def execute(self, market: Market, order: Order, out: list[Happening]) -> _Result:
        """Match ``order`` as a taker, then rest what is left (good-till-canceled only)."""
        ts = self.clock.now_us
        result = _Result()
        opposite = "no" if order.book_side == "bid" else "yes"
        for level in self._crossing_levels(market, order):
            if order.remaining_count <= 0 or result.stopped:
                break
            if level not in _book(market, opposite):
                continue
            self._match_level(market, opposite, level, order, result, out, ts)
        if result.filled:
            out.append(TickerChange(market, ts))
            market.touch()
        if (
            order.remaining_count
            and order.time_in_force == "good_till_canceled"
            and not result.stopped
        ):
            self._rest(market, order, out, ts)
        elif order.remaining_count:
            order.remaining_count = 0  # immediate-or-cancel rest, or stopped by STP
            order.status = "canceled"
        else:
            order.status = "executed"
        order.updated_us = ts
        out.append(OrderNotice(order))
        return result

    def _rest(self, market: Market, order: Order, out: list[Happening], ts: int) -> None:
        side, price = order.rest_side, order.rest_price
        queue = market.queues.get((side, price))
        if queue is None:
            existing = _book(market, side).get(price, 0)
            queue = [existing] if existing else []
            market.queues[(side, price)] = queue
        queue.append(order)
        order.status = "resting"
        if order.expiration_us is not None and order not in self.expiring:
            self.expiring.append(order)
        _change_total(market, side, price, order.remaining_count, out, ts)
        out.append(TickerChange(market, ts))
        market.touch()

    # ------------------------------------------------------------ matching one level

    def uncross(self, market: Market, out: list[Happening], ts: int) -> None:
        """The crowd's book moved through resting orders: the crowd trades with them.

        The walk places crowd bids around a moving fair value; where a crowd bid now
        reaches an account order resting on the other side, the crowd is the taker (the
        order was there first) and the order fills as a maker, as it would on Kalshi when
        the market trades through it. The crowd's crossing size is used up by the trade.
        """
        for _ in range(1000):  # each round removes a level or a crossing size; bounded
            if not (market.yes and market.no):
                return
            y, q = max(market.yes), max(market.no)
            if y + q < PRICE_ONE:
                return
            if ("no", q) in market.queues and ("yes", y) not in market.queues:
                taker_side, taker_level, maker_side, maker_level = "yes", y, "no", q
            elif ("yes", y) in market.queues and ("no", q) not in market.queues:
                taker_side, taker_level, maker_side, maker_level = "no", q, "yes", y
            else:  # crowd against crowd never crosses; orders on both sides never rest crossed
                return
            book = _book(market, taker_side)
            want = min(book[taker_level], _book(market, maker_side)[maker_level])
            traded = self.take_level(market, maker_side, maker_level, want, out, ts)
            _change_total(market, taker_side, taker_level, -traded, out, ts)

    def take_level(
        self, market: Market, side: str, level: int, want: int, out: list[Happening], ts: int
    ) -> int:
        """A crowd taker consumes up to ``want`` at one level; resting orders fill as makers."""
        result = _Result()
        self._match_level(market, side, level, None, result, out, ts, want)
        return result.filled

    def _match_level(
        self,
        market: Market,
        side: str,
        level: int,
        taker: Order | None,
        result: _Result,
        out: list[Happening],
        ts: int,
        want: int | None = None,
    ) -> None:
        yes_price = level if side == "yes" else PRICE_ONE - level
        taker_outcome = "no" if side == "yes" else "yes"  # hitting YES bids sells YES

        def wanted() -> int:
            return taker.remaining_count if taker is not None else (want or 0) - result.filled

        queue = market.queues.get((side, level))
        if queue is None:
            n = min(wanted(), _book(market, side).get(level, 0))
            if n:
                _change_total(market, side, level, -n, out, ts)
                trade = self.tape.print_trade(market, yes_price, n, taker_outcome, ts, out)
                self._taker_fill(market, taker, n, yes_price, trade, result, out, ts)
            return
        while queue and wanted() > 0:
            head = queue[0]
            if isinstance(head, int):
                n = min(head, wanted())
                if n == head:
                    queue.pop(0)
                else:
                    queue[0] = head - n
                _change_total(market, side, level, -n, out, ts)
                trade = self.tape.print_trade(market, yes_price, n, taker_outcome, ts, out)
                self._taker_fill(market, taker, n, yes_price, trade, result, out, ts)
                continue
            if taker is not None and head.account is taker.account:
                if taker.self_trade_prevention_type == "taker_at_cross":
                    result.stopped = True
                    break
                queue.pop(0)  # "maker": the resting order goes, matching continues
                _change_total(market, side, level, -head.remaining_count, out, ts)
                self._close(head, out, ts)
                continue
            n = min(head.remaining_count, wanted())
            head.remaining_count -= n
            if head.remaining_count == 0:
                queue.pop(0)
            _change_total(market, side, level, -n, out, ts)
            trade = self.tape.print_trade(market, yes_price, n, taker_outcome, ts, out)
            self._maker_fill(market, head, n, yes_price, trade, out, ts)
            self._taker_fill(market, taker, n, yes_price, trade, result, out, ts)
        if not any(isinstance(e, Order) for e in queue):
            del market.queues[(side, level)]

    def _taker_fill(
        self,
        market: Market,
        taker: Order | None,
        n: int,
        yes_price: int,
        trade: Trade,
        result: _Result,
        out: list[Happening],
        ts: int,
    ) -> None:
        result.filled += n
        if taker is None:
            return
        fee = self._fee(market, n, yes_price, maker=False, ts=ts)
        taker.remaining_count -= n
        taker.fill_count += n
        side_price = yes_price if taker.book_side == "bid" else PRICE_ONE - yes_price
        taker.taker_fill_cost_micro += side_price * n
        taker.taker_fees_micro += fee
        result.cost += yes_price * n
        result.fees += fee
        self._book_fill(market, taker, n, yes_price, fee, True, trade, out, ts)

    def _maker_fill(
        self,
        market: Market,
        maker: Order,
        n: int,
        yes_price: int,
        trade: Trade,
        out: list[Happening],
        ts: int,
    ) -> None:
        fee = self._fee(market, n, yes_price, maker=True, ts=ts)
        maker.fill_count += n
        side_price = yes_price if maker.book_side == "bid" else PRICE_ONE - yes_price
        maker.maker_fill_cost_micro += side_price * n
        maker.maker_fees_micro += fee
        maker.updated_us = ts
        if maker.remaining_count == 0:
            maker.status = "executed"
        self._book_fill(market, maker, n, yes_price, fee, False, trade, out, ts)
        out.append(OrderNotice(maker))

    def _book_fill(
        self,
        market: Market,
        order: Order,
        n: int,
        yes_price: int,
        fee: int,
        is_taker: bool,
        trade: Trade,
        out: list[Happening],
        ts: int,
    ) -> None:
        account = order.account
        fill, position, _charge = account.apply_fill(
            ticker=market.ticker,
            event_ticker=market.event_ticker,
            book_side=order.book_side,
            count=n,
            yes_price=yes_price,
            is_taker=is_taker,
            trade_fee=fee,
            accumulator=order.accumulator,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            now_us=ts,
            trade_id=trade.trade_id,
        )
        out.append(FillNotice(account, fill))
        out.append(PositionNotice(account, position))

    # ------------------------------------------------------------ changing resting orders

    def _close(self, order: Order, out: list[Happening], ts: int) -> int:
        """Cancel what rests of ``order`` (already out of its queue); returns the count."""
        reduced = order.remaining_count
        order.remaining_count = 0
        order.status = "canceled"
        order.updated_us = ts
        out.append(OrderNotice(order))
        return reduced

    def _unqueue(self, market: Market, order: Order, out: list[Happening], ts: int) -> None:
        key = (order.rest_side, order.rest_price)
        queue = market.queues.get(key)
        if queue is None:
            return
        for i, entry in enumerate(queue):
            if entry is order:
                del queue[i]
                break
        _change_total(market, key[0], key[1], -order.remaining_count, out, ts)
        if not any(isinstance(e, Order) for e in queue):
            del market.queues[key]
        out.append(TickerChange(market, ts))
        market.touch()

    def cancel(self, market: Market, order: Order, out: list[Happening]) -> int:
        ts = self.clock.now_us
        self._unqueue(market, order, out, ts)
        return self._close(order, out, ts)

    def decrease(self, market: Market, order: Order, to: int, out: list[Happening]) -> None:
        """Shrink the resting count to ``to`` in place (keeps priority); 0 cancels."""
        ts = self.clock.now_us
        if to <= 0:
            self.cancel(market, order, out)
            return
        cut = order.remaining_count - to
        order.remaining_count = to
        order.updated_us = ts
        _change_total(market, order.rest_side, order.rest_price, -cut, out, ts)
        out.append(TickerChange(market, ts))
        market.touch()
        out.append(OrderNotice(order))

    def amend(
        self, market: Market, order: Order, price: int, remaining: int, out: list[Happening]
    ) -> _Result:
        """New price and/or size. A smaller size at the same price keeps priority; any other
        change re-enters the order at the back of its (new) level and may trade."""
        if price == order.price and remaining <= order.remaining_count:
            self.decrease(market, order, remaining, out)
            return _Result()
        ts = self.clock.now_us
        self._unqueue(market, order, out, ts)
        order.price = price
        order.remaining_count = remaining
        order.status = "resting"
        return self.execute(market, order, out)

    def cancel_market(
        self, market: Market, out: list[Happening], *, only_cancel_on_pause: bool = False
    ) -> None:
        """Cancel the market's resting orders: all of them (it closed, or it reactivated
        after a pause, when Kalshi cancels every resting order), or on a pause only those
        placed with ``cancel_order_on_pause``."""
        ts = self.clock.now_us
        for (side, price), queue in list(market.queues.items()):
            for entry in list(queue):
                if isinstance(entry, Order) and (entry.cancel_on_pause or not only_cancel_on_pause):
                    queue.remove(entry)
                    _change_total(market, side, price, -entry.remaining_count, out, ts)
                    self._close(entry, out, ts)
            if not any(isinstance(e, Order) for e in queue):
                del market.queues[(side, price)]
        market.touch()

    def expire(self, markets: dict[str, Market], out: list[Happening]) -> None:
        """Cancel resting orders whose ``expiration_time`` has passed (one tick's check)."""
        if not self.expiring:
            return
        now = self.clock.now_us
        keep = []
        for order in self.expiring:
            if order.status != "resting":
                continue
            if order.expiration_us is not None and order.expiration_us <= now:
                self.cancel(markets[order.ticker], order, out)
            else:
                keep.append(order)
        self.expiring = keep

    @staticmethod
    def queue_position(market: Market, order: Order) -> int:
        """Contracts ahead of ``order`` at its level (0 when it does not rest)."""
        if order.status != "resting":
            return 0
        queue = market.queues.get((order.rest_side, order.rest_price), [])
        ahead = 0
        for entry in queue:
            if entry is order:
                return ahead
            ahead += entry if isinstance(entry, int) else entry.remaining_count
        return 0

    def new_order(
        self,
        account: Account,
        *,
        ticker: str,
        book_side: str,
        price: int,
        count: int,
        time_in_force: str,
        self_trade_prevention_type: str,
        post_only: bool,
        client_order_id: str,
        expiration_us: int | None,
        cancel_on_pause: bool = False,
    ) -> Order:
        order = Order(
            order_id=self.clock.new_uuid(),
            client_order_id=client_order_id,
            account=account,
            ticker=ticker,
            book_side=book_side,
            price=price,
            initial_count=count,
            time_in_force=time_in_force,
            self_trade_prevention_type=self_trade_prevention_type,
            post_only=post_only,
            created_us=self.clock.now_us,
            seq=account.next_seq,
            expiration_us=expiration_us,
            remaining_count=count,
            updated_us=self.clock.now_us,
            cancel_on_pause=cancel_on_pause,
            accumulator=FeeAccumulator(account.precision_micro),
        )
        account.next_seq += 1
        return order
