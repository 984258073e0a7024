"""Long-settled markets leave the ``market_latest`` read model (ADR 0226).

``market_latest`` holds one row per market any poll ever saw, and the markets list reads
(and, on a cache miss, sorts) all of it. On Kalshi most known markets are settled: after
a while nobody lists them, yet each still costs the list's sort, the poll's diff and the
choice of stored snapshots a row. The history's daily round
(:func:`shared.history.maintenance.run_maintenance`) deletes the rows of markets that

- a poll last saw settled (``finalized``) and no poll has seen for ``window`` (default
  7 days, ``SETTLED_MARKET_RETENTION_DAYS``), or
- in any other status (closed, or still active when Kalshi stopped returning it), no poll
  has seen since the poller stopped following it: for ``follow_window`` (14 days, the
  poller's own), counted back from the newest poll as well as from ``now``, so polls that
  stopped (an outage) never empty the read model of the markets they would still see.

A market's last poll moves to ``markets.last_polled_at`` in the same statement, because
the backtest loader ends a market's last stored snapshot's hold there (it reads
``coalesce(market_latest.ts, markets.last_polled_at)``). ``markets`` keeps every market:
its detail, history, candles and backtests still answer; only its latest prices go (a
settled market has none worth showing). A market that shows up in a poll again gets a new
``market_latest`` row from the poll's insert of missing rows.

Each batch is its own transaction under the market-data write lock (ADR 0055), so a poll
never interleaves with it and a batch never holds the lock long. The statement is
idempotent: a second run finds nothing, and a market seen by a poll meanwhile (its
``ts`` newer than the cutoff) is skipped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from shared.marketdata.ingest import lock_market_data
from shared.marketdata.observation import FINAL_STATUS
from shared.marketdata.poll_state import FOLLOW_WINDOW

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_FOLLOW_WINDOW",
    "DEFAULT_WINDOW",
    "prune_settled_markets",
]

log = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(days=7)
DEFAULT_FOLLOW_WINDOW = FOLLOW_WINDOW
"""How long the poller keeps fetching a market that left the open list unsettled: an
unsettled market is pruned only once it is no longer followed, so pruning never cuts short
the wait for its result, and a market the poller would fetch again is never pruned."""
DEFAULT_BATCH = 5_000
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)

# One batch: pick up to :batch rows past the cutoffs in primary-key order after :after,
# copy their last poll to markets (keeping a later one, should a rerun meet it), delete
# them. Data-modifying CTEs all run; the DELETE returns the batch's last ticker.
_PRUNE_BATCH = f"""
WITH doomed AS (
    SELECT l.ticker, l.ts FROM market_latest l
    WHERE l.ticker > :after AND l.ts < CAST(:cutoff AS timestamptz)
      AND (l.status = '{FINAL_STATUS}' OR l.ts < CAST(:follow_cutoff AS timestamptz))
    ORDER BY l.ticker
    LIMIT :batch
), marked AS (
    UPDATE markets m SET last_polled_at = greatest(m.last_polled_at, d.ts)
    FROM doomed d WHERE m.ticker = d.ticker
)
DELETE FROM market_latest l USING doomed d WHERE l.ticker = d.ticker
RETURNING l.ticker
"""


def prune_settled_markets(
    engine: Engine,
    now: datetime,
    *,
    window: timedelta = DEFAULT_WINDOW,
    follow_window: timedelta = DEFAULT_FOLLOW_WINDOW,
    batch: int = DEFAULT_BATCH,
) -> int:
    """Delete long-settled and no longer followed markets' ``market_latest`` rows; returns
    how many went.

    ``window`` <= 0 prunes nothing. Batches of ``batch`` rows, each committed on its own
    under the market-data write lock; a keyset on the ticker walks the table once.
    """
    if window <= timedelta(0):
        return 0
    with engine.connect() as connection:
        newest = connection.execute(text("SELECT max(polled_at) FROM market_polls")).scalar()
    # No poll yet: nothing is followed or unfollowed, so only the settled rule applies.
    followed_since = min(now, newest) if newest is not None else _NEVER
    params = {
        "cutoff": now - window,
        "follow_cutoff": followed_since - max(window, follow_window),
        "batch": max(batch, 1),
        "after": "",
    }
    pruned = 0
    while True:
        with engine.begin() as connection:
            lock_market_data(connection)
            tickers = connection.execute(text(_PRUNE_BATCH), params).scalars().all()
        pruned += len(tickers)
        if len(tickers) < params["batch"]:  # type: ignore[operator]
            break
        params["after"] = max(tickers)
    if pruned:
        log.info("pruned %d settled or no longer followed markets from market_latest", pruned)
    return pruned
