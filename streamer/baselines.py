"""Today's baseline for the tracker: the ``account_baselines`` row of the current trading day.

The account API and the streamer measure "today's P&L" from the same stored baseline
(:mod:`shared.account.baselines`: written at the day boundary, or at sign-in when the day
began before the account was known), so the dashboard's figure is the same whether it came
from ``GET /api/v1/account/portfolio`` or from the stream. No row for the day: None, and
today's P&L is null rather than a figure measured from some other day.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from shared.account.baselines import baseline_for
from shared.domain.pnl import BaselinePoint

__all__ = ["SqlBaselines"]


class SqlBaselines:
    """:class:`streamer.upstream.BaselineSource` over ``account_baselines``."""

    def __init__(
        self, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._engine = engine
        self._clock = clock

    async def baseline(self, user_id: uuid.UUID) -> BaselinePoint | None:
        def load() -> BaselinePoint | None:
            with self._engine.connect() as conn:
                stored = baseline_for(conn, user_id, self._clock())
            return stored.point if stored is not None else None

        return await asyncio.to_thread(load)
