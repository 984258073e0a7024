"""A backtest run's lifecycle in the database, through one transaction helper.

Every write a run goes through is a method of :class:`RunTransaction`, which is only ever
obtained from :meth:`Runs.transaction`: its statements commit together, or roll back
together on any exception (the caller sees the exception: a failed write is never silently
dropped). The lifecycle:

``create`` (queued) -> ``claim`` (running; or stand down) -> ``record_progress`` ...
-> ``complete`` (results stored) -> ``announce`` (``backtest.completed`` sent)
or ``fail`` / ``release`` (a transient failure: the queue's retry takes over)
or ``reap`` (no delivery will ever finish it).

All of it runs on plain DBAPI connections (pg8000), the same ones the loader streams
snapshots over with binary COPY, so the worker's attempt uses one access style throughout.

Storing results is idempotent: a Cloud Task may run twice (a retry after a timeout, a
duplicate delivery) and the engine is deterministic, so a second attempt computes the same
result. :meth:`RunTransaction.complete` locks the run row, gives up if the run is gone or
already completed, deletes the trades and variants of any earlier attempt, bulk-loads the
new trades with ``COPY ... FROM STDIN`` and marks the run completed. Readers see either no
result or the whole result, never a mix, and never duplicate trades.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.backtest.data import SnapshotSet
from shared.backtest.engine import BacktestResult
from shared.backtest.loader import Connection
from shared.db.copy_text import COPY_NULL, copy_text
from shared.domain.units import format_count, format_micros, format_ticks

if TYPE_CHECKING:
    from shared.db.engine import Database

__all__ = [
    "Claim",
    "RunOwner",
    "RunTransaction",
    "Runs",
    "StoreOutcome",
    "trade_lines",
    "transaction",
]

_TRADE_COLUMNS = (
    "run_id, variant, ticker, side, count_fp, entry_ts, entry_price_dollars, "
    "entry_snapshot_id, exit_ts, exit_price_dollars, exit_snapshot_id, fees_dollars, "
    "pnl_dollars, entry_reason, exit_reason"
)
MAX_ERROR_CHARS = 4000
MAX_ADDRESS_CHARS = 64


@dataclass(frozen=True)
class RunOwner:
    """Whom a run belongs to: a signed-in user, or a client address (anonymous runs, which
    only the local stack accepts). Exactly one of the two.

    Every read and delete of the API is scoped by an owner, so another user's run id is
    simply not found (404, never 403: the answer must not confirm that the run exists). A
    run with neither (created before owners existed) matches no owner at all.
    """

    user_id: uuid.UUID | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        if (self.user_id is None) == (self.address is None):
            raise ValueError("a run owner is a user id or a client address, exactly one")
        if self.address is not None and not 0 < len(self.address) <= MAX_ADDRESS_CHARS:
            raise ValueError(f"a client address has 1 to {MAX_ADDRESS_CHARS} characters")

    def condition(self) -> tuple[str, tuple[str, ...]]:
        """The SQL condition (on ``backtest_runs``) matching this owner's runs."""
        if self.user_id is not None:
            return "owner_id = %s", (str(self.user_id),)
        assert self.address is not None
        return "owner_id IS NULL AND owner_address = %s", (self.address,)


@dataclass(frozen=True)
class StoreOutcome:
    stored: bool
    reason: str  # "stored", "gone" (run deleted), "already_completed"
    trades: int = 0


@dataclass(frozen=True)
class Claim:
    """What :meth:`RunTransaction.claim` found.

    ``status`` is ``claimed`` (this attempt owns the run now; ``request`` is the stored
    request as :meth:`BacktestRequest.to_json` wrote it), ``gone``, ``completed``
    (``announced`` says whether ``backtest.completed`` went out), ``failed`` (with
    ``error``) or ``running`` (another attempt is alive: stand down).
    """

    status: str
    error: str | None = None
    announced: bool = False
    request: dict[str, Any] = field(default_factory=dict)


class Runs:
    """Hands out connections and transactions on the database's pool."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled DBAPI connection, returned to the pool afterwards."""
        raw = self.database.engine.raw_connection()
        try:
            yield raw
        finally:
            raw.close()

    @contextmanager
    def transaction(self, connection: Connection | None = None) -> Iterator[RunTransaction]:
        """One transaction on ``connection`` (or on a pooled connection of its own)."""
        if connection is not None:
            with transaction(connection) as tx:
                yield tx
            return
        with self.connection() as raw, transaction(raw) as tx:
            yield tx


@contextmanager
def transaction(connection: Connection) -> Iterator[RunTransaction]:
    """The lifecycle steps on ``connection``, committed together when the block ends, or
    rolled back together on any exception (the caller sees the exception: a failed write
    is never silently dropped)."""
    cursor = connection.cursor()
    try:
        yield RunTransaction(cursor)
        connection.commit()
    except BaseException:
        connection.rollback()
        raise


class RunTransaction:
    """The lifecycle steps of a run, each inside the enclosing transaction."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    # -- create / claim -------------------------------------------------------------------

    def create(
        self,
        run_id: uuid.UUID,
        *,
        request: Mapping[str, Any],
        strategy_version: str,
        params: Mapping[str, Any],
        variants: int,
        owner: RunOwner | None,
        snapshots: int,
    ) -> None:
        """Store a ``queued`` run and its details from ``request`` (``to_json`` form).

        ``params`` is what the run row shows: the one variant's full parameters, or the
        fixed parameters of a grid. ``owner`` None (the command line) stores a run no API
        caller can see.
        """
        self.cursor.execute(
            "INSERT INTO backtest_runs (id, status, strategy, strategy_version, params, grid, "
            "market_filter, start_ts, end_ts, progress, owner_id, owner_address) VALUES (%s, "
            "'queued', %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, %s::timestamptz, "
            "%s::timestamptz, 0, %s, %s)",
            (
                str(run_id),
                request["strategy"],
                strategy_version,
                json.dumps(params),
                json.dumps(request["grid"]),
                json.dumps(request["markets"]),
                request["start"],
                request["end"],
                None if owner is None or owner.user_id is None else str(owner.user_id),
                None if owner is None else owner.address,
            ),
        )
        self.cursor.execute(
            "INSERT INTO backtest_run_details (run_id, config, rank_by, variants, stage, "
            "attempts, snapshots) VALUES (%s, %s::jsonb, %s, %s, 'queued', 0, %s)",
            (
                str(run_id),
                json.dumps(request["config"]),
                request["rank_by"],
                variants,
                snapshots,
            ),
        )

    def claim(self, run_id: uuid.UUID, *, stale_after_s: float) -> Claim:
        """Take the run for this attempt, unless it is gone, finished or alive elsewhere.

        The run row stays locked until the transaction ends, so two deliveries never both
        claim it. A ``running`` run whose heartbeat is younger than ``stale_after_s`` belongs
        to a live attempt (this delivery is a duplicate and stands down); an older heartbeat
        means that attempt died, and this one takes over.
        """
        self.cursor.execute(
            "SELECT r.status, r.error, d.run_id IS NOT NULL, d.stage, "
            "extract(epoch FROM now() - d.updated_at) "
            "FROM backtest_runs r LEFT JOIN backtest_run_details d ON d.run_id = r.id "
            "WHERE r.id = %s FOR UPDATE OF r",
            (str(run_id),),
        )
        row = self.cursor.fetchone()
        if row is None:
            return Claim("gone")
        status, error, has_detail, stage, age = row
        if status == "completed":
            return Claim("completed", announced=bool(has_detail) and stage == "announced")
        if status == "failed":
            return Claim("failed", error)
        if status == "running" and has_detail and age is not None and float(age) < stale_after_s:
            return Claim("running")
        self.cursor.execute(
            "UPDATE backtest_runs SET status = 'running', "
            "started_at = coalesce(started_at, now()), error = NULL WHERE id = %s",
            (str(run_id),),
        )
        if has_detail:
            self.cursor.execute(
                "UPDATE backtest_run_details SET attempts = coalesce(attempts, 0) + 1, "
                "stage = 'loading', updated_at = now() WHERE run_id = %s",
                (str(run_id),),
            )
        else:
            self.cursor.execute(
                "INSERT INTO backtest_run_details (run_id, config, rank_by, variants, stage, "
                "attempts) VALUES (%s, '{}'::jsonb, 'sharpe', 1, 'loading', 1)",
                (str(run_id),),
            )
        self.cursor.execute(
            "SELECT r.strategy, r.params, r.grid, r.market_filter, r.start_ts, r.end_ts, "
            "d.rank_by, d.config FROM backtest_runs r JOIN backtest_run_details d "
            "ON d.run_id = r.id WHERE r.id = %s",
            (str(run_id),),
        )
        strategy, params, grid, markets, start, end, rank_by, config = self.cursor.fetchone()
        return Claim(
            "claimed",
            request={
                "strategy": strategy,
                "params": params or {},
                "grid": grid,
                "markets": markets or {},
                "start": start.isoformat(),
                "end": end.isoformat(),
                "rank_by": rank_by,
                "config": config or {},
            },
        )

    # -- progress, heartbeat, release -----------------------------------------------------

    def record_progress(self, run_id: uuid.UUID, progress: float, stage: str) -> bool:
        """Record progress of a running run; False when the run is gone or no longer running
        (then its stage is left alone too, so a run another attempt finished keeps its own)."""
        self.cursor.execute(
            "UPDATE backtest_runs SET progress = %s WHERE id = %s AND status = 'running'",
            (float(progress), str(run_id)),
        )
        updated = self.cursor.rowcount
        if updated:
            self.cursor.execute(
                "UPDATE backtest_run_details SET stage = %s, updated_at = now() WHERE run_id = %s",
                (stage, str(run_id)),
            )
        return bool(updated)

    def heartbeat(self, run_id: uuid.UUID) -> bool:
        """Say "this attempt is alive": touch the run's ``updated_at`` while it is running.

        A delivery that finds the run ``running`` with a fresh heartbeat is a duplicate of a
        live attempt and stands down; one that finds it stale takes over (the attempt died).
        """
        self.cursor.execute(
            "UPDATE backtest_run_details d SET updated_at = now() FROM backtest_runs r "
            "WHERE d.run_id = %s AND r.id = d.run_id AND r.status = 'running'",
            (str(run_id),),
        )
        return bool(self.cursor.rowcount)

    def release(self, run_id: uuid.UUID) -> bool:
        """End a failed attempt's claim on a running run: its heartbeat becomes stale at once,
        so the queue's retry takes the run over instead of standing down as a duplicate."""
        self.cursor.execute(
            "UPDATE backtest_run_details SET stage = 'retrying', updated_at = 'epoch' "
            "WHERE run_id = %s",
            (str(run_id),),
        )
        return bool(self.cursor.rowcount)

    # -- endings --------------------------------------------------------------------------

    def fail(self, run_id: uuid.UUID, message: str) -> bool:
        """Mark the run failed with ``message`` unless it already completed (then its stage is
        left alone too: a completed run whose stage said "failed" would be announced again)."""
        self.cursor.execute(
            "UPDATE backtest_runs SET status = 'failed', error = %s, finished_at = now() "
            "WHERE id = %s AND status <> 'completed'",
            (message[:MAX_ERROR_CHARS], str(run_id)),
        )
        updated = self.cursor.rowcount
        if updated:
            self.cursor.execute(
                "UPDATE backtest_run_details SET stage = 'failed', updated_at = now() "
                "WHERE run_id = %s",
                (str(run_id),),
            )
        return bool(updated)

    def complete(
        self,
        run_id: uuid.UUID,
        data: SnapshotSet,
        variants: Sequence[BacktestResult],
        ranking: Sequence[int],
        *,
        equity_points: int = 500,
        data_report: Mapping[str, Any] | None = None,
    ) -> StoreOutcome:
        """Replace the run's results with ``variants`` and mark it completed.

        ``data_report``: what backed the run (:mod:`shared.backtest.coverage`).
        """
        cursor = self.cursor
        cursor.execute("SELECT status FROM backtest_runs WHERE id = %s FOR UPDATE", (str(run_id),))
        row = cursor.fetchone()
        if row is None:
            return StoreOutcome(False, "gone")  # nothing written: the commit only unlocks
        if row[0] == "completed":
            return StoreOutcome(False, "already_completed")
        cursor.execute("DELETE FROM backtest_trades WHERE run_id = %s", (str(run_id),))
        cursor.execute("DELETE FROM backtest_variants WHERE run_id = %s", (str(run_id),))
        text = "".join(
            trade_lines(run_id, index, result, data) for index, result in enumerate(variants)
        )
        total = sum(len(result.trades) for result in variants)
        if text:
            cursor.execute(
                f"COPY backtest_trades ({_TRADE_COLUMNS}) FROM STDIN",
                stream=io.BytesIO(text.encode()),
            )
        rank_of = {variant: position + 1 for position, variant in enumerate(ranking)}
        for index, result in enumerate(variants):
            cursor.execute(
                "INSERT INTO backtest_variants (run_id, variant, rank, params, metrics, "
                "equity_curve) VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)",
                (
                    str(run_id),
                    index,
                    rank_of[index],
                    json.dumps(result.params),
                    json.dumps(result.metrics.to_json()),
                    json.dumps(result.equity_curve(equity_points)),
                ),
            )
        best = variants[ranking[0]]
        metrics = best.metrics.to_json()
        if len(variants) > 1:
            metrics = {**metrics, "best_variant": ranking[0], "variants": len(variants)}
        cursor.execute(
            "UPDATE backtest_runs SET status = 'completed', progress = 1, error = NULL, "
            "metrics = %s::jsonb, equity_curve = %s::jsonb, strategy_version = %s, "
            "finished_at = now() WHERE id = %s",
            (
                json.dumps(metrics),
                json.dumps(best.equity_curve(equity_points)),
                best.strategy_version,
                str(run_id),
            ),
        )
        cursor.execute(
            "UPDATE backtest_run_details SET stage = 'done', data_report = %s::jsonb, "
            "updated_at = now() WHERE run_id = %s",
            (None if data_report is None else json.dumps(data_report), str(run_id)),
        )
        return StoreOutcome(True, "stored", total)

    def announce(self, run_id: uuid.UUID, publish: Callable[[Mapping[str, Any]], None]) -> bool:
        """Send ``backtest.completed`` for a completed run through ``publish`` and record
        that it went out (stage ``announced``); False when the run is gone.

        The stage changes only when ``publish`` returned: if it raises, the transaction
        rolls back and the next delivery announces again (same idempotency key, so
        consumers see it at most once).
        """
        self.cursor.execute(
            "SELECT strategy, strategy_version, metrics FROM backtest_runs WHERE id = %s",
            (str(run_id),),
        )
        row = self.cursor.fetchone()
        if row is None:
            return False
        strategy, strategy_version, metrics = row
        publish(
            {
                "run_id": str(run_id),
                "strategy": strategy,
                "strategy_version": strategy_version,
                "status": "completed",
                "progress": 1.0,
                "metrics": metrics,
            }
        )
        self.cursor.execute(
            "UPDATE backtest_run_details SET stage = 'announced', updated_at = now() "
            "WHERE run_id = %s",
            (str(run_id),),
        )
        return True

    def reap(self, *, older_than_s: float, stale_after_s: float, message: str) -> list[uuid.UUID]:
        """Mark failed every run still ``running`` ``older_than_s`` after it started whose
        heartbeat is older than ``stale_after_s``; return their ids.

        ``older_than_s`` is the worker's timeout times the queue's attempts: by then every
        delivery the queue will make has had its full deadline, so nothing will finish the
        run. The heartbeat condition keeps a live attempt (a slow run on its last delivery)
        alive.
        """
        self.cursor.execute(
            "UPDATE backtest_runs r SET status = 'failed', error = %s, finished_at = now() "
            "FROM backtest_run_details d WHERE d.run_id = r.id AND r.status = 'running' "
            "AND r.started_at < now() - make_interval(secs => %s) "
            "AND d.updated_at < now() - make_interval(secs => %s) RETURNING r.id",
            (message[:MAX_ERROR_CHARS], float(older_than_s), float(stale_after_s)),
        )
        ids = [uuid.UUID(str(row[0])) for row in self.cursor.fetchall()]
        if ids:
            self.cursor.execute(
                "UPDATE backtest_run_details SET stage = 'failed', updated_at = now() "
                "WHERE run_id = ANY(%s::uuid[])",
                ([str(i) for i in ids],),
            )
        return ids

    # -- reads ----------------------------------------------------------------------------

    def page(
        self,
        *,
        limit: int,
        owner: RunOwner | None = None,
        before: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` runs, newest first, after the ``(created_at, id)`` position
        ``before`` (exclusive), only ``owner``'s when given."""
        where: list[str] = []
        args: list[Any] = []
        if owner is not None:
            condition, values = owner.condition()
            where.append(condition)
            args += values
        if before is not None:
            where.append("(created_at, id) < (%s::timestamptz, %s::uuid)")
            args += [before[0], str(before[1])]
        self.cursor.execute(
            f"SELECT {_RUN_COLUMNS} FROM backtest_runs "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} "
            "ORDER BY created_at DESC, id DESC LIMIT %s",
            (*args, limit),
        )
        return [_row(_RUN_KEYS, row) for row in self.cursor.fetchall()]

    def get(self, run_id: uuid.UUID, owner: RunOwner | None = None) -> dict[str, Any] | None:
        """The run with its details (``detail`` is None when it has none), or None; with
        ``owner``, None too when the run is someone else's."""
        condition, values = owner.condition() if owner is not None else ("TRUE", ())
        self.cursor.execute(
            f"SELECT {_RUN_COLUMNS} FROM backtest_runs WHERE id = %s AND {condition}",
            (str(run_id), *values),
        )
        row = self.cursor.fetchone()
        if row is None:
            return None
        run = _row(_RUN_KEYS, row)
        self.cursor.execute(
            f"SELECT {', '.join(_DETAIL_KEYS)} FROM backtest_run_details WHERE run_id = %s",
            (str(run_id),),
        )
        detail = self.cursor.fetchone()
        run["detail"] = None if detail is None else _row(_DETAIL_KEYS, detail)
        return run

    def variants(self, run_id: uuid.UUID) -> list[dict[str, Any]]:
        """The run's variants, best rank first."""
        self.cursor.execute(
            "SELECT variant, rank, params, metrics, equity_curve FROM backtest_variants "
            "WHERE run_id = %s ORDER BY rank",
            (str(run_id),),
        )
        keys = ("variant", "rank", "params", "metrics", "equity_curve")
        return [_row(keys, row) for row in self.cursor.fetchall()]

    def trades(
        self, run_id: uuid.UUID, variant: int, *, limit: int, after: int | None = None
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` trades of one variant in id order, after trade id ``after``."""
        self.cursor.execute(
            f"SELECT {', '.join(_TRADE_KEYS)} FROM backtest_trades "
            "WHERE run_id = %s AND variant = %s"
            + ("" if after is None else " AND id > %s")
            + " ORDER BY id LIMIT %s",
            (str(run_id), variant, *(() if after is None else (after,)), limit),
        )
        return [_row(_TRADE_KEYS, row) for row in self.cursor.fetchall()]

    def delete(self, run_id: uuid.UUID, owner: RunOwner | None = None) -> bool:
        """Delete the run (its details, variants and trades go with it); False when absent
        (or, with ``owner``, someone else's)."""
        condition, values = owner.condition() if owner is not None else ("TRUE", ())
        self.cursor.execute(
            f"DELETE FROM backtest_runs WHERE id = %s AND {condition}", (str(run_id), *values)
        )
        return bool(self.cursor.rowcount)

    def count_since(self, owner: RunOwner, since: datetime) -> int:
        """How many runs ``owner`` created at or after ``since`` (the anonymous quota)."""
        condition, values = owner.condition()
        self.cursor.execute(
            f"SELECT count(*) FROM backtest_runs WHERE {condition} AND created_at >= %s",
            (*values, since),
        )
        row = self.cursor.fetchone()
        return int(row[0]) if row else 0


_RUN_KEYS = (
    "id",
    "status",
    "strategy",
    "strategy_version",
    "params",
    "grid",
    "market_filter",
    "start_ts",
    "end_ts",
    "progress",
    "created_at",
    "started_at",
    "finished_at",
    "metrics",
    "equity_curve",
    "error",
)
_RUN_COLUMNS = ", ".join(_RUN_KEYS)
_DETAIL_KEYS = ("stage", "attempts", "rank_by", "config", "snapshots", "data_report")
_TRADE_KEYS = (
    "id",
    "ticker",
    "side",
    "count_fp",
    "entry_ts",
    "entry_price_dollars",
    "entry_snapshot_id",
    "exit_ts",
    "exit_price_dollars",
    "exit_snapshot_id",
    "fees_dollars",
    "pnl_dollars",
    "entry_reason",
    "exit_reason",
)


def _row(keys: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(keys, row, strict=True))


# -- trades as COPY text ------------------------------------------------------------------


def _iso(micros: np.ndarray[Any, Any]) -> list[str]:
    text = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    return [t + "+00" for t in text.tolist()]


def trade_lines(run_id: uuid.UUID, variant: int, result: BacktestResult, data: SnapshotSet) -> str:
    """The trades of one variant as COPY text rows (vectorised where it matters)."""
    t = result.trades
    n = len(t)
    if n == 0:
        return ""
    tickers = [data.tickers[m] for m in t.market.tolist()]
    sides = ["yes" if s == 1 else "no" for s in t.side.tolist()]
    counts = [format_count(c) for c in t.count_units.tolist()]
    entry_ts = _iso(data.ts[t.entry_row])
    entry_ids = data.snapshot_id[t.entry_row].tolist()
    exit_ts = _iso(t.exit_ts)
    exit_ids = np.where(t.exit_row >= 0, data.snapshot_id[np.maximum(t.exit_row, 0)], -1).tolist()
    entry_px = [format_ticks(v) for v in t.entry_price.tolist()]
    exit_px = [format_ticks(v) for v in t.exit_price.tolist()]
    fees = [format_micros(v) for v in t.fees_micro.tolist()]
    pnl = [format_micros(v) for v in t.pnl_micro.tolist()]
    run = str(run_id)
    lines = [
        "\t".join(
            (
                run,
                str(variant),
                copy_text(tickers[i]),
                sides[i],
                counts[i],
                entry_ts[i],
                entry_px[i],
                str(entry_ids[i]),
                exit_ts[i],
                exit_px[i],
                COPY_NULL if exit_ids[i] < 0 else str(exit_ids[i]),
                fees[i],
                pnl[i],
                copy_text(t.entry_reasons[i]),
                copy_text(t.exit_reasons[i]),
            )
        )
        for i in range(n)
    ]
    return "\n".join(lines) + "\n"
