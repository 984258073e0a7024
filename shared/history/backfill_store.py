"""Where the backfill writes: markets, candles (through the rollups), trades, checkpoints.

Every function works in the caller's transaction, and the backfill commits one market step
(its rows *and* its checkpoint) at a time: a run killed between two commits has either
stored a step completely and recorded it, or neither, so the restart redoes at most the
step it was in, and the rows' keys (``trade_id``; a candle's ticker, resolution and bucket)
make redoing it add nothing (ADR 0178).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, text

from shared.domain.prices import mid_price
from shared.history.backfill_kalshi import KalshiCandle, MarketInfo, TradeRow
from shared.history.rollups import CandleRow, upsert_candles
from shared.history.sources import KALSHI_CANDLES, TRADES

__all__ = [
    "STEPS",
    "Checkpoint",
    "candle_rows",
    "load_checkpoints",
    "record_step",
    "write_candles",
    "write_market",
    "write_trades",
]

STEPS: tuple[str, ...] = ("market", "candles_1440", "candles_60", "candles_1", "trades")
"""A market's steps in the order the backfill runs them."""


@dataclass(frozen=True)
class Checkpoint:
    ticker: str
    window_start: dt.datetime
    window_end: dt.datetime
    steps: frozenset[str]
    completed: bool

    def covers(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether this checkpoint's window holds ``[start, end]``."""
        return self.window_start <= start and self.window_end >= end


def load_checkpoints(connection: Connection, tickers: Sequence[str]) -> dict[str, Checkpoint]:
    rows = connection.execute(
        text(
            "SELECT ticker, window_start, window_end, steps, completed_at IS NOT NULL "
            "FROM backfill_checkpoints WHERE ticker = ANY(:t)"
        ),
        {"t": list(tickers)},
    )
    return {r[0]: Checkpoint(r[0], r[1], r[2], frozenset(r[3] or ()), bool(r[4])) for r in rows}


def record_step(
    connection: Connection,
    market: MarketInfo,
    start: dt.datetime,
    end: dt.datetime,
    step: str,
    rows: int,
    *,
    reset: bool = False,
) -> None:
    """Add ``step`` to the market's checkpoint for the window ``[start, end]``.

    ``reset``: the window changed, so the steps done for the old one no longer count.
    """
    connection.execute(
        text(
            """
            INSERT INTO backfill_checkpoints
                (ticker, series_ticker, window_start, window_end, steps, rows, completed_at)
            VALUES (:ticker, :series, :start, :end, ARRAY[:step]::varchar[], :rows,
                    CASE WHEN :last THEN now() END)
            ON CONFLICT (ticker) DO UPDATE SET
                window_start = excluded.window_start,
                window_end = excluded.window_end,
                steps = CASE WHEN :reset THEN excluded.steps
                        ELSE array(SELECT DISTINCT unnest(backfill_checkpoints.steps
                                                          || excluded.steps)) END,
                rows = CASE WHEN :reset THEN excluded.rows
                       ELSE backfill_checkpoints.rows + excluded.rows END,
                completed_at = excluded.completed_at,
                updated_at = now()
            """
        ),
        {
            "ticker": market.ticker,
            "series": market.series_ticker,
            "start": start,
            "end": end,
            "step": step,
            "rows": rows,
            "last": step == STEPS[-1],
            "reset": reset,
        },
    )


def write_market(connection: Connection, market: MarketInfo) -> int:
    """The market's metadata and settlement result into ``markets``.

    A market the poller already stored keeps its row (the poller saw it live); only a
    result it lacks is filled in. Returns rows written (0 when nothing changed).
    """
    from shared.marketdata.ingest import lock_market_data

    lock_market_data(connection)
    result = connection.execute(
        text(
            """
            INSERT INTO markets AS m (ticker, event_ticker, series_ticker, title, yes_sub_title,
                market_type, status, open_time, close_time, result, settlement_value_dollars,
                settled_at)
            VALUES (:ticker, :event_ticker, :series_ticker, :title, :yes_sub_title,
                :market_type, :status, :open_time, :close_time, :result, :value, :settled_at)
            ON CONFLICT (ticker) DO UPDATE SET
                result = excluded.result,
                settlement_value_dollars = excluded.settlement_value_dollars,
                settled_at = excluded.settled_at,
                status = excluded.status
            WHERE m.result IS NULL AND excluded.result IS NOT NULL
            """
        ),
        {
            "ticker": market.ticker,
            "event_ticker": market.event_ticker,
            "series_ticker": market.series_ticker,
            "title": market.title,
            "yes_sub_title": market.yes_sub_title,
            "market_type": market.market_type,
            "status": market.status,
            "open_time": market.open_time,
            "close_time": market.close_time,
            "result": market.result,
            "value": market.settlement_value_dollars,
            "settled_at": market.settled_at,
        },
    )
    return int(result.rowcount)


def candle_rows(
    ticker: str, period_min: int, candles: Iterable[KalshiCandle], volume_before: Decimal
) -> tuple[list[CandleRow], Decimal]:
    """Kalshi candles as ``market_candles`` rows; returns them and the cumulative volume.

    ``mid_*`` is the mid rule applied to Kalshi's bid and ask OHLC legs pairwise (open with
    open, high with high ...): exact at open and close; the high and low are the midpoint of
    the two legs' extremes, which Kalshi's candle does not say occurred together (ADR 0177).
    ``last_*`` is the trade OHLC, or Kalshi's ``previous`` close held flat in a period
    without trades (the last price stands until the next trade). Volume is cumulative from
    the start of the backfilled window (``volume_before``), as the rollups keep it.
    """
    period = dt.timedelta(minutes=period_min)
    rows = []
    cumulative = volume_before
    for c in candles:
        mids = [mid_price(b, a) for b, a in zip(c.bid, c.ask, strict=True)]
        if c.price[3] is not None:
            last = c.price
        else:
            last = (c.previous, c.previous, c.previous, c.previous)
        start = c.end - period
        opened = cumulative
        cumulative += c.volume
        rows.append(
            CandleRow(
                ticker=ticker,
                resolution_s=period_min * 60,
                bucket_start=start,
                first_ts=start,
                last_ts=c.end,
                mid_open=mids[0],
                mid_high=mids[1],
                mid_low=mids[2],
                mid_close=mids[3],
                last_open=last[0],
                last_high=last[1],
                last_low=last[2],
                last_close=last[3],
                volume_open_fp=opened,
                volume_close_fp=cumulative,
                samples=1,
            )
        )
    return rows, cumulative


def write_candles(connection: Connection, rows: Sequence[CandleRow]) -> int:
    """Kalshi's candles through the rollups' one entry point, as ``kalshi_candles``."""
    return upsert_candles(connection, KALSHI_CANDLES, rows)


def write_trades(connection: Connection, trades: Sequence[TradeRow]) -> int:
    """Trades into the tape; one already stored (same ``trade_id``) is skipped."""
    if not trades:
        return 0
    result = connection.execute(
        text(
            """
            INSERT INTO market_trades (trade_id, ticker, ts, yes_price_dollars, count_fp,
                                       taker_outcome_side, is_block_trade, source)
            SELECT *, CAST(:source AS varchar) FROM unnest(
                CAST(:ids AS varchar[]), CAST(:tickers AS varchar[]),
                CAST(:ts AS timestamptz[]), CAST(:prices AS numeric[]),
                CAST(:counts AS numeric[]), CAST(:sides AS varchar[]), CAST(:blocks AS boolean[]))
            ON CONFLICT (trade_id) DO NOTHING
            """
        ),
        {
            "source": TRADES,
            "ids": [t.trade_id for t in trades],
            "tickers": [t.ticker for t in trades],
            "ts": [t.ts for t in trades],
            "prices": [t.yes_price_dollars for t in trades],
            "counts": [t.count_fp for t in trades],
            "sides": [t.taker_outcome_side for t in trades],
            "blocks": [t.is_block_trade for t in trades],
        },
    )
    return int(result.rowcount)
