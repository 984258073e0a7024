"""Write-through of the tracker's positions to ``position_cache``, and reading them back.

The cache exists so a restarted streamer shows every account's positions at once (then
reconciles with Kalshi), and so a fan-out instance in split mode can build a snapshot for a
user it has not seen. It is never the source of truth, so writes are batched: at most one
write per account per interval (1 s), each replacing the account's rows in one transaction
(upsert the markets held, delete the ones gone). A failed write is logged and the account
marked dirty again: the in-memory state is untouched and the next round writes it whole.

The database calls are synchronous SQLAlchemy (the project's engine); the writer runs them
in a worker thread so the event loop keeps streaming meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine, text

from streamer.tracker import MarketState, PositionTracker

__all__ = ["CacheStore", "PositionCacheWriter", "SqlPositionCache"]

log = logging.getLogger(__name__)


class CacheStore(Protocol):
    """Where the cache lives (a table; a fake in unit tests)."""

    def load_all(self) -> dict[uuid.UUID, list[MarketState]]: ...

    def write(self, user_id: uuid.UUID, states: Sequence[MarketState]) -> None: ...


class SqlPositionCache:
    """``position_cache`` through SQLAlchemy: one transaction per account write."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def load_all(self) -> dict[uuid.UUID, list[MarketState]]:
        out: dict[uuid.UUID, list[MarketState]] = defaultdict(list)
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT user_id, ticker, position_fp, market_exposure_dollars, "
                    "realized_pnl_dollars, fees_paid_dollars, total_traded_dollars, updated_at "
                    "FROM position_cache ORDER BY user_id, ticker"
                )
            )
            for row in rows:
                out[uuid.UUID(str(row[0]))].append(
                    MarketState(
                        ticker=row[1],
                        position_fp=row[2],
                        exposure_dollars=row[3],
                        realized_pnl_dollars=row[4],
                        fees_paid_dollars=row[5],
                        total_traded_dollars=row[6],
                        updated_at=row[7],
                    )
                )
        return dict(out)

    def load_user(self, user_id: uuid.UUID) -> list[MarketState]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT ticker, position_fp, market_exposure_dollars, realized_pnl_dollars, "
                    "fees_paid_dollars, total_traded_dollars, updated_at "
                    "FROM position_cache WHERE user_id = :u ORDER BY ticker"
                ),
                {"u": user_id},
            )
            return [
                MarketState(
                    ticker=r[0],
                    position_fp=r[1],
                    exposure_dollars=r[2],
                    realized_pnl_dollars=r[3],
                    fees_paid_dollars=r[4],
                    total_traded_dollars=r[5],
                    updated_at=r[6],
                )
                for r in rows
            ]

    def write(self, user_id: uuid.UUID, states: Sequence[MarketState]) -> None:
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "DELETE FROM position_cache WHERE user_id = :u "
                    "AND NOT (ticker = ANY(CAST(:tickers AS text[])))"
                ),
                {"u": user_id, "tickers": [s.ticker for s in states]},
            )
            if not states:
                return
            conn.execute(
                text(
                    "INSERT INTO position_cache (user_id, ticker, position_fp, "
                    "market_exposure_dollars, realized_pnl_dollars, fees_paid_dollars, "
                    "total_traded_dollars, updated_at) VALUES (:u, :t, :p, :e, :r, :f, :v, :at) "
                    "ON CONFLICT (user_id, ticker) DO UPDATE SET "
                    "position_fp = EXCLUDED.position_fp, "
                    "market_exposure_dollars = EXCLUDED.market_exposure_dollars, "
                    "realized_pnl_dollars = EXCLUDED.realized_pnl_dollars, "
                    "fees_paid_dollars = EXCLUDED.fees_paid_dollars, "
                    "total_traded_dollars = EXCLUDED.total_traded_dollars, "
                    "updated_at = EXCLUDED.updated_at"
                ),
                [
                    {
                        "u": user_id,
                        "t": s.ticker,
                        "p": s.position_fp,
                        "e": s.exposure_dollars,
                        "r": s.realized_pnl_dollars,
                        "f": s.fees_paid_dollars,
                        "v": s.total_traded_dollars,
                        "at": now,
                    }
                    for s in states
                ],
            )


class PositionCacheWriter:
    """Every ``interval_s``, writes each account the tracker changed; retries failures."""

    def __init__(
        self, tracker: PositionTracker, store: CacheStore, *, interval_s: float = 1.0
    ) -> None:
        self._tracker = tracker
        self._store = store
        self._interval_s = interval_s
        self.writes = 0
        self.failures = 0

    async def write_round(self) -> int:
        """Write every dirty account once; returns how many failed (they stay dirty)."""
        failed = 0
        for user_id, states in self._tracker.take_dirty().items():
            try:
                await asyncio.to_thread(self._store.write, user_id, states)
                self.writes += 1
            except Exception as exc:
                failed += 1
                self.failures += 1
                self._tracker.mark_dirty(user_id)
                log.warning(
                    "position cache write for %s failed (%s); kept in memory, retried",
                    user_id,
                    type(exc).__name__,
                )
        return failed

    async def run(self) -> None:
        """Write rounds forever (cancel to stop; call :meth:`flush` after)."""
        while True:
            await asyncio.sleep(self._interval_s)
            with contextlib.suppress(Exception):
                await self.write_round()

    async def flush(self, attempts: int = 3) -> bool:
        """Final rounds at shutdown; True when everything was written."""
        for _ in range(attempts):
            if await self.write_round() == 0:
                return True
        return False
