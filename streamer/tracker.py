"""The position tracker: each account's exact state per market, valued live, as events.

Per account and market the tracker holds what Kalshi reports (signed ``position_fp``, the
cost basis ``market_exposure_dollars``, realized P&L, fees, volume traded) and per market
the latest quote. Values come from :mod:`shared.domain.pnl`, the definitions the account
API uses too, so the dashboard's live figures and its page loads cannot disagree.

What moves the state:

- ``market_position`` messages (Kalshi sends one after each fill) and REST position
  snapshots (:meth:`PositionTracker.reconcile`) set a market's state; Kalshi is the source
  of truth, so a reconciliation overwrites and reports every difference with its size;
- ``fill`` messages are relayed and checked: a fill's ``post_position_fp`` that matches
  neither the tracked position nor the tracked position plus the fill means a message was
  lost, and the caller reconciles;
- ``ticker`` messages (and the poller's ``market-snapshots``) update quotes; every account
  holding the market gets its position and portfolio revalued.

Every change becomes a numbered :class:`~shared.streaming.events.StreamEvent` in the
account's own sequence, pushed into the :class:`~shared.streaming.events.EventSink`; an
account's sequence in a tracker run (its *epoch*) opens with a ``snapshot``. The tracker
also marks accounts dirty for the position-cache writer (:mod:`streamer.cache`).

Everything here is synchronous and single-threaded (the event loop's thread): no locks, and
an event's id order is the order the state changed in.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.account.reads import count_text, money, price_text
from shared.domain.pnl import (
    BaselinePoint,
    Holding,
    PositionValuation,
    Quote,
    summarize_portfolio,
    value_position,
)
from shared.kalshi.ws.messages import FillPayload, MarketPositionPayload, TickerPayload
from shared.streaming.events import EventSink, StreamEvent

__all__ = [
    "CONNECTION_STATUSES",
    "Difference",
    "MarketState",
    "PositionTracker",
]

log = logging.getLogger(__name__)

ZERO = Decimal(0)
CONNECTION_STATUSES = frozenset(
    {"connected", "kalshi_reconnecting", "degraded", "exchange_paused", "disconnected"}
)


def _money_or_none(value: Decimal | None) -> str | None:
    return None if value is None else money(value)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


@dataclass
class MarketState:
    """One account's position in one market, as Kalshi reports it (exact)."""

    ticker: str
    position_fp: Decimal = ZERO
    exposure_dollars: Decimal = ZERO
    realized_pnl_dollars: Decimal = ZERO
    fees_paid_dollars: Decimal = ZERO
    total_traded_dollars: Decimal = ZERO
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def holding(self) -> Holding:
        return Holding(
            ticker=self.ticker,
            position=self.position_fp,
            exposure=self.exposure_dollars,
            realized_pnl=self.realized_pnl_dollars,
            fees_paid=self.fees_paid_dollars,
            total_traded=self.total_traded_dollars,
            last_updated=self.updated_at,
        )

    def same_as(self, other: MarketState) -> bool:
        return (
            self.position_fp == other.position_fp
            and self.exposure_dollars == other.exposure_dollars
            and self.realized_pnl_dollars == other.realized_pnl_dollars
            and self.fees_paid_dollars == other.fees_paid_dollars
        )


@dataclass(frozen=True)
class Difference:
    """What a reconciliation corrected in one market (tracked -> Kalshi)."""

    ticker: str
    tracked_position: Decimal | None
    kalshi_position: Decimal | None
    tracked_exposure: Decimal | None
    kalshi_exposure: Decimal | None

    @property
    def size(self) -> Decimal:
        """Contracts the tracker was off by."""
        return abs((self.kalshi_position or ZERO) - (self.tracked_position or ZERO))


@dataclass
class _Account:
    user_id: uuid.UUID
    seq: int = 0
    opened: bool = False
    markets: dict[str, MarketState] = field(default_factory=dict)
    cash_dollars: Decimal | None = None
    connection: str = "disconnected"
    connection_detail: str | None = None
    dirty: bool = False
    baseline: BaselinePoint | None = None
    net_transfers: Decimal | None = None


def position_json(valuation: PositionValuation, state: MarketState) -> dict[str, Any]:
    """One position as the stream shows it: the account API's fields and renderings
    (:mod:`shared.account.reads`), plus Kalshi's signed ``position_fp``."""
    return {
        "ticker": valuation.ticker,
        "status": "open" if valuation.is_open else "closed",
        "side": valuation.side,
        "position_fp": count_text(state.position_fp),
        "contracts": count_text(valuation.contracts),
        "cost_basis": money(valuation.cost_basis),
        "average_entry_price": price_text(valuation.average_entry_price),
        "best_bid": price_text(valuation.best_bid),
        "best_ask": price_text(valuation.best_ask),
        "mark": price_text(valuation.mark),
        "mark_source": valuation.mark_source,
        "market_value": money(valuation.market_value),
        "unrealized_pnl": money(valuation.unrealized_pnl),
        "unrealized_pnl_pct": _text(valuation.unrealized_pnl_pct),
        "realized_pnl": money(valuation.realized_pnl),
        "fees_paid": money(valuation.fees_paid),
        "updated_at": state.updated_at.astimezone(UTC).isoformat(),
    }


class PositionTracker:
    """Every account's positions and P&L; the in-process :class:`SnapshotSource`."""

    def __init__(self, sink: EventSink, *, epoch: int | None = None) -> None:
        self._sink = sink
        self.epoch = epoch if epoch is not None else int(time.time() * 1000)
        self._accounts: dict[uuid.UUID, _Account] = {}
        self._quotes: dict[str, Quote] = {}
        self._holders: dict[str, set[uuid.UUID]] = {}

    # ---- accounts --------------------------------------------------------------------------

    def accounts(self) -> list[uuid.UUID]:
        return list(self._accounts)

    def has(self, user_id: uuid.UUID) -> bool:
        return user_id in self._accounts

    def restore(self, user_id: uuid.UUID, states: Iterable[MarketState]) -> None:
        """Load an account's cached positions (start-up), without events: :meth:`open`
        announces the state once the account is ready."""
        account = self._account(user_id)
        for state in states:
            account.markets[state.ticker] = state
            self._hold(user_id, state)

    def open(self, user_id: uuid.UUID) -> None:
        """Start the account's sequence in this run with a ``snapshot`` (idempotent)."""
        account = self._account(user_id)
        if not account.opened:
            account.opened = True
            self._emit(account, "snapshot", self._snapshot_data(account))

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop an account (signed out): its markets stop counting as held."""
        account = self._accounts.pop(user_id, None)
        if account is None:
            return
        for ticker in account.markets:
            holders = self._holders.get(ticker)
            if holders is not None:
                holders.discard(user_id)
                if not holders:
                    del self._holders[ticker]

    def held_tickers(self, user_id: uuid.UUID) -> set[str]:
        """Markets where the account holds contracts (what its ``ticker`` feed needs)."""
        account = self._accounts.get(user_id)
        if account is None:
            return set()
        return {t for t, s in account.markets.items() if s.position_fp != 0}

    def positions(self, user_id: uuid.UUID) -> dict[str, MarketState]:
        account = self._accounts.get(user_id)
        return dict(account.markets) if account is not None else {}

    def all_held_tickers(self) -> set[str]:
        return set(self._holders)

    # ---- what moves the state ----------------------------------------------------------

    def on_market_position(self, user_id: uuid.UUID, msg: MarketPositionPayload) -> None:
        """Kalshi's ``market_position``: the market's state after a change (authoritative)."""
        account = self._account(user_id)
        state = MarketState(
            ticker=msg.market_ticker,
            position_fp=msg.position_fp,
            exposure_dollars=msg.position_cost_dollars or ZERO,
            realized_pnl_dollars=msg.realized_pnl_dollars or ZERO,
            fees_paid_dollars=msg.fees_paid_dollars or ZERO,
            total_traded_dollars=self._traded(account, msg.market_ticker),
        )
        self._set(account, state)

    def on_fill(self, user_id: uuid.UUID, msg: FillPayload) -> Decimal | None:
        """Relay a fill; returns the size of a disagreement with ``post_position_fp``
        (None when it agrees or Kalshi did not say), which the caller reconciles."""
        account = self._account(user_id)
        self._emit(account, "fill", _fill_json(msg))
        if msg.post_position_fp is None:
            return None
        state = account.markets.get(msg.market_ticker)
        tracked = state.position_fp if state is not None else ZERO
        delta = _fill_delta(msg)
        # market_position may come before or after its fill: either state is consistent.
        if msg.post_position_fp in (tracked, tracked + delta):
            return None
        return abs(msg.post_position_fp - (tracked + delta))

    def on_ticker(self, msg: TickerPayload) -> None:
        """A ``ticker`` message: new quote; revalue every account holding the market."""
        self.on_quote(
            msg.market_ticker, msg.yes_bid_dollars, msg.yes_ask_dollars, msg.price_dollars
        )

    def on_quote(
        self,
        ticker: str,
        yes_bid: Decimal | None,
        yes_ask: Decimal | None,
        last_price: Decimal | None,
    ) -> int:
        """Update a market's quote and revalue its holders; returns accounts revalued."""
        old = self._quotes.get(ticker)
        quote = Quote(yes_bid=yes_bid, yes_ask=yes_ask, last_price=last_price)
        if old is not None and old == quote:
            return 0
        self._quotes[ticker] = quote
        holders = self._holders.get(ticker)
        if not holders:
            return 0
        for user_id in list(holders):
            account = self._accounts[user_id]
            state = account.markets.get(ticker)
            if state is None or not account.opened:
                continue
            self._emit(account, "position_update", self._position(state))
            self._emit(account, "portfolio_update", self._portfolio(account))
        return len(holders)

    def on_order(self, user_id: uuid.UUID, data: Mapping[str, Any]) -> None:
        """Relay a ``user_orders`` update as ``order_update``."""
        self._emit(self._account(user_id), "order_update", dict(data))

    def set_cash(self, user_id: uuid.UUID, cash_dollars: Decimal) -> None:
        account = self._account(user_id)
        if account.cash_dollars != cash_dollars:
            account.cash_dollars = cash_dollars
            if account.opened:
                self._emit(account, "portfolio_update", self._portfolio(account))

    def set_day(
        self, user_id: uuid.UUID, baseline: BaselinePoint | None, net_transfers: Decimal | None
    ) -> None:
        """The trading day's baseline (``account_baselines``) and Kalshi's cumulative net
        transfers now: with both, the portfolio carries today's P&L as the account API
        defines it (:func:`shared.domain.pnl.today_pnl`); without a baseline it is null."""
        account = self._account(user_id)
        if (account.baseline, account.net_transfers) == (baseline, net_transfers):
            return
        account.baseline, account.net_transfers = baseline, net_transfers
        if account.opened:
            self._emit(account, "portfolio_update", self._portfolio(account))

    def reconcile(
        self, user_id: uuid.UUID, kalshi: Sequence[MarketState], cash_dollars: Decimal | None
    ) -> list[Difference]:
        """Make the account equal Kalshi's REST snapshot; return what differed."""
        account = self._account(user_id)
        differences: list[Difference] = []
        seen = set()
        for state in kalshi:
            seen.add(state.ticker)
            old = account.markets.get(state.ticker)
            if old is not None and old.same_as(state):
                continue
            differences.append(
                Difference(
                    state.ticker,
                    old.position_fp if old else None,
                    state.position_fp,
                    old.exposure_dollars if old else None,
                    state.exposure_dollars,
                )
            )
            self._set(account, state, portfolio=False)
        for ticker in [t for t in account.markets if t not in seen]:
            old = account.markets[ticker]
            differences.append(
                Difference(ticker, old.position_fp, None, old.exposure_dollars, None)
            )
            self._remove(account, ticker)
        cash_changed = cash_dollars is not None and cash_dollars != account.cash_dollars
        if cash_dollars is not None:
            account.cash_dollars = cash_dollars
        if (differences or cash_changed) and account.opened:
            self._emit(account, "portfolio_update", self._portfolio(account))
        return differences

    def set_connection(self, user_id: uuid.UUID, status: str, detail: str | None = None) -> None:
        if status not in CONNECTION_STATUSES:
            raise ValueError(f"unknown connection status {status!r}")
        account = self._account(user_id)
        if (account.connection, account.connection_detail) == (status, detail):
            return
        account.connection, account.connection_detail = status, detail
        if account.opened:
            self._emit(account, "connection_status", self._connection(account))

    def reject(self, user_id: uuid.UUID, code: str, message: str) -> None:
        """End the account's streams with ``error`` (its Kalshi key was rejected)."""
        account = self._account(user_id)
        self._emit(account, "error", {"error": code, "message": message})

    def publish_snapshots(self) -> int:
        """A ``snapshot`` event for every open account, in its sequence (split mode sends
        these periodically, so every fan-out converges even after a lost message)."""
        count = 0
        for account in self._accounts.values():
            if account.opened:
                self._emit(account, "snapshot", self._snapshot_data(account))
                count += 1
        return count

    # ---- reads -------------------------------------------------------------------------

    async def snapshot(self, user_id: uuid.UUID) -> StreamEvent | None:
        """The account's state now, numbered with its current sequence (SnapshotSource)."""
        account = self._account(user_id)
        if not account.opened:
            self.open(user_id)
        return StreamEvent(
            user_id, self.epoch, account.seq, "snapshot", self._snapshot_data(account)
        )

    def take_dirty(self) -> dict[uuid.UUID, list[MarketState]]:
        """Accounts changed since the last call, with their full state (cache writer)."""
        out: dict[uuid.UUID, list[MarketState]] = {}
        for account in self._accounts.values():
            if account.dirty:
                account.dirty = False
                out[account.user_id] = list(account.markets.values())
        return out

    def mark_dirty(self, user_id: uuid.UUID) -> None:
        """Write this account again (its last cache write failed)."""
        account = self._accounts.get(user_id)
        if account is not None:
            account.dirty = True

    # ---- internals ---------------------------------------------------------------------

    def _account(self, user_id: uuid.UUID) -> _Account:
        account = self._accounts.get(user_id)
        if account is None:
            account = _Account(user_id)
            self._accounts[user_id] = account
        return account

    def _traded(self, account: _Account, ticker: str) -> Decimal:
        state = account.markets.get(ticker)
        return state.total_traded_dollars if state is not None else ZERO

    def _hold(self, user_id: uuid.UUID, state: MarketState) -> None:
        if state.position_fp != 0:
            self._holders.setdefault(state.ticker, set()).add(user_id)
        else:
            holders = self._holders.get(state.ticker)
            if holders is not None:
                holders.discard(user_id)
                if not holders:
                    del self._holders[state.ticker]

    def _set(self, account: _Account, state: MarketState, *, portfolio: bool = True) -> None:
        old = account.markets.get(state.ticker)
        if old is not None and old.same_as(state):
            return
        account.markets[state.ticker] = state
        account.dirty = True
        self._hold(account.user_id, state)
        if account.opened:
            self._emit(account, "position_update", self._position(state))
            if portfolio:
                self._emit(account, "portfolio_update", self._portfolio(account))

    def _remove(self, account: _Account, ticker: str) -> None:
        state = account.markets.pop(ticker)
        account.dirty = True
        self._hold(account.user_id, MarketState(ticker=state.ticker))
        if account.opened:
            self._emit(account, "position_removed", {"ticker": ticker})

    def _valuation(self, state: MarketState) -> PositionValuation:
        return value_position(state.holding(), self._quotes.get(state.ticker))

    def _position(self, state: MarketState) -> dict[str, Any]:
        return position_json(self._valuation(state), state)

    def _portfolio(self, account: _Account) -> dict[str, Any]:
        valuations = [self._valuation(s) for s in account.markets.values()]
        cash = account.cash_dollars
        day = account.baseline if cash is not None and account.net_transfers is not None else None
        summary = summarize_portfolio(
            cash if cash is not None else ZERO,
            valuations,
            day,
            account.net_transfers if account.net_transfers is not None else ZERO,
        )
        return {
            "cash": money(cash) if cash is not None else None,
            "positions_value": money(summary.positions_value),
            "total_value": money(summary.total_value) if cash is not None else None,
            "unrealized_pnl": money(summary.unrealized_pnl),
            "realized_pnl": money(summary.realized_pnl),
            "fees_paid": money(summary.fees_paid),
            "position_count": summary.position_count,
            "baseline_value": _money_or_none(summary.baseline_value),
            "net_transfers_since_baseline": _money_or_none(summary.net_transfers_since_baseline),
            "today_pnl": _money_or_none(summary.today_pnl),
            "today_pnl_pct": None if summary.today_pnl_pct is None else str(summary.today_pnl_pct),
        }

    def _connection(self, account: _Account) -> dict[str, Any]:
        return {"status": account.connection, "detail": account.connection_detail}

    def _snapshot_data(self, account: _Account) -> dict[str, Any]:
        return {
            "positions": [self._position(account.markets[t]) for t in sorted(account.markets)],
            "portfolio": self._portfolio(account),
            "connection": self._connection(account),
        }

    def _emit(self, account: _Account, kind: str, data: Mapping[str, Any]) -> None:
        account.seq += 1
        self._sink.publish(StreamEvent(account.user_id, self.epoch, account.seq, kind, data))


def _fill_delta(msg: FillPayload) -> Decimal:
    """The fill's change to the signed (YES-positive) position."""
    if msg.book_side is not None:
        return msg.count_fp if msg.book_side == "bid" else -msg.count_fp
    side, action = msg.side or msg.purchased_side, msg.action
    buys_yes = (side == "yes") == (action == "buy")
    return msg.count_fp if buys_yes else -msg.count_fp


def _fill_json(msg: FillPayload) -> dict[str, Any]:
    """A fill as the account API lists them (``/account/fills`` rows), plus Kalshi's
    ``post_position_fp``.

    ``fill_id`` is the WebSocket message's ``trade_id``: Kalshi's asyncapi calls it the
    unique identifier for fills, and every recorded REST fill carries the same value in
    both ``fill_id`` and ``trade_id`` (the simulator does as Kalshi does), so the stream and
    the REST list name one fill alike. ``created_at`` has the REST row's shape (UTC, ``Z``);
    the socket sends milliseconds (``ts_ms``), the REST list microseconds.
    """
    side = msg.outcome_side or msg.side or msg.purchased_side
    created = (
        datetime.fromtimestamp(msg.ts_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
        if msg.ts_ms is not None
        else None
    )
    return {
        "fill_id": msg.trade_id,
        "order_id": msg.order_id,
        "ticker": msg.market_ticker,
        "action": msg.action,
        "side": msg.side or side,
        "outcome_side": msg.outcome_side,
        "book_side": msg.book_side,
        "contracts": count_text(msg.count_fp),
        "yes_price": price_text(msg.yes_price_dollars),
        "no_price": price_text(1 - msg.yes_price_dollars),
        "fee": money(msg.fee_cost) if msg.fee_cost is not None else None,
        "is_taker": msg.is_taker,
        "created_at": created,
        "post_position_fp": count_text(msg.post_position_fp)
        if msg.post_position_fp is not None
        else None,
    }
