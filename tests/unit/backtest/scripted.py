"""Test helpers: tiny hand-made markets and a strategy that trades on given snapshot ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np

from shared.backtest.data import MarketInfo, SnapshotRow, SnapshotSet
from shared.backtest.strategies.base import ENTER_NO, ENTER_YES, Signals, Strategy, StrategyView

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def book(
    markets: list[MarketInfo], quotes: dict[str, list[tuple[int, str | None, str | None]]]
) -> SnapshotSet:
    """``quotes[ticker]`` = ``[(snapshot_id, yes_bid, yes_ask), ...]`` one minute apart."""
    rows = [
        SnapshotRow(
            ticker,
            T0 + timedelta(minutes=i),
            sid,
            None if bid is None else Decimal(bid),
            None if ask is None else Decimal(ask),
        )
        for ticker, items in quotes.items()
        for i, (sid, bid, ask) in enumerate(items)
    ]
    return SnapshotSet.from_rows(markets, rows)


class Scripted(Strategy):
    """Buys YES at ``yes_at`` ids, NO at ``no_at`` ids, closes at ``exit_at`` ids."""

    name = "scripted"
    version = "test-1"
    params_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "contracts": {"type": "integer", "minimum": 1, "default": 10},
            "take_profit": {"type": ["number", "null"], "default": None},
            "stop_loss": {"type": ["number", "null"], "default": None},
            "max_hold_minutes": {"type": ["number", "null"], "default": None},
            "exit_before_close_minutes": {"type": ["number", "null"], "default": None},
        },
    }

    def __init__(
        self,
        yes_at: tuple[int, ...] = (),
        no_at: tuple[int, ...] = (),
        exit_at: tuple[int, ...] = (),
        limit: int | None = None,
        ttl_minutes: float | None = None,
        **params: Any,
    ) -> None:
        super().__init__(params)
        self.yes_at, self.no_at, self.exit_at = yes_at, no_at, exit_at
        self.limit, self.ttl_minutes = limit, ttl_minutes

    def signals(self, view: StrategyView) -> Signals:
        entry = np.zeros(view.n_rows, dtype=np.int8)
        entry[np.isin(view.snapshot_id, self.yes_at)] = ENTER_YES
        entry[np.isin(view.snapshot_id, self.no_at)] = ENTER_NO
        leave = np.isin(view.snapshot_id, self.exit_at)
        limits = None
        if self.limit is not None:
            limits = np.full(view.n_rows, self.limit, dtype=np.int32)
        return Signals(
            entry=entry,
            exit_yes=leave,
            exit_no=leave,
            limit_ticks=limits,
            entry_reason="scripted entry",
            exit_reason="scripted exit",
        )

    def exit_rules(self) -> Any:
        rules = super().exit_rules()
        if self.ttl_minutes is None:
            return rules
        from dataclasses import replace

        return replace(rules, order_ttl_s=self.ttl_minutes * 60)
