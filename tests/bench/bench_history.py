"""History storage benchmarks: change-only ingest, rollup history, archived backtests.

Run: ``.venv/bin/python -m tests.bench.bench_history`` (a few minutes at the defaults;
``--only change-only`` / ``--only history`` / ``--only archive``, repeatable; sizes are
flags). It starts a throwaway Postgres cluster of its own (fsync off, as the tests), and
for ``change-only`` the Kalshi exchange simulator, and prints each figure beside its
baseline measured in the same process.

1. ``change-only``: the simulator's usual activity (its default 0.5 s tick, polled once a
   minute: 120 ticks between polls, ``--markets`` markets, ``--polls`` polls). The same
   polls are written twice, every snapshot stored (the baseline, heartbeat 0) and
   change-only (heartbeat 1 h): rows stored per poll against markets polled, bytes of
   ``market_snapshots`` (heap, indexes, TOAST) per market-day, and the poll's database
   time either way.
1b. ``poll``: a steady poll of each ``--poll-markets`` size (repeatable: the issue's
   targets are 10,000 markets in 0.25 s of database time and 100,000 in 2.5 s) with
   ``--known-markets`` in ``market_latest`` and ``--background-snapshots`` over ``--days``
   partitions before it; change-only vs every snapshot stored vs one bare COPY of the
   poll's rows (the floor), then one poll with 1 % new markets, and each step's database
   time. The issue's size (~10 minutes): ``--only poll --poll-markets 10000 100000
   --known-markets 100000 --background-snapshots 10000000 --days 30 --poll-runs 3``.
2. ``history``: one ticker with a year of rollups at every resolution (written as the
   poll writes them, production-shaped); ``get_history`` over a year at 1h and 1d, and
   over 83 days at 1h (2,000 candles), p50/p95. Baseline: the same answers computed from
   the hourly rollups alone (the design before this round: 1d from 8,760 hourly rows).
3. ``archive``: ``--snapshots`` snapshots (default 1,000,000; the issue's size is
   10,000,000, ``--snapshots 10000000`` where the machine holds it) of ``--archive-markets``
   markets in poll order with the ``raw`` payload, spread over ``--days`` daily
   partitions, archived to Parquet and dropped; then a backtest's load from the archive
   (``load_snapshots`` with the store: Parquet, the poll grid rebuilt, a ``SnapshotSet``)
   against the floor of reading the same Parquet columns into numpy, and the compute
   (momentum) rate; peak allocations (numpy's by tracemalloc, Arrow's pool), and the
   high-water RSS (MiB) of the whole run (load, engine, metrics) in a fresh process, each
   stage's on its own, with the load's Arrow pool peak there. ``--keep DIR`` keeps the
   cluster and the archive for the next run of the same sizes (the fill takes minutes
   at 10,000,000 snapshots). The issue's size: ``--only archive --snapshots 10000000
   --archive-markets 1000 --days 30``.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from devstack.postgres import LocalPostgres
from tests.bench.bench_marketdata import new_database, percentile, report, timed
from tests.bench.cluster import kept_postgres, throwaway_postgres
from tests.bench.shapes import recorded_size_raw

T0 = datetime(2026, 3, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------- 1. change-only


def _snapshot_bytes(engine: sa.Engine) -> int:
    with engine.connect() as c:
        return int(
            c.execute(
                sa.text(
                    "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) "
                    "FROM pg_inherits i WHERE i.inhparent = 'market_snapshots'::regclass"
                )
            ).scalar_one()
        )


def bench_change_only(server: LocalPostgres, args: argparse.Namespace) -> dict[str, float]:
    from emulators.kalshi_sim.config import SimConfig
    from emulators.kalshi_sim.runner import SimulatorServer
    from shared.kalshi.client import KalshiClient
    from shared.marketdata.ingest import write_poll
    from shared.marketdata.observation import observation_from_market

    print(
        f"1. change-only ingest: simulator, {args.markets} markets, {args.polls} polls a "
        f"minute apart, {args.ticks} ticks between polls (120: a minute of its 0.5 s tick)"
    )
    full = new_database(server, "bench_hist_full")
    changed = new_database(server, "bench_hist_changed")
    rows = {"full": 0, "changed": 0}
    db_time = {"full": [], "changed": []}  # type: dict[str, list[float]]
    markets_polled = 0
    config = SimConfig(seed=20261128, n_markets=args.markets, tick_interval_s=None)
    with SimulatorServer(config) as sim, KalshiClient(base_url=sim.base_url) as kalshi:
        for poll in range(args.polls):
            sim.advance(args.ticks)
            observations = [
                observation_from_market(m, None)
                for m in kalshi.iter_markets(status="open", limit=1000)
            ]
            markets_polled += len(observations)
            polled_at = T0 + timedelta(minutes=poll)
            for name, engine, heartbeat in (
                ("full", full, 0.0),
                ("changed", changed, 3_600.0),
            ):
                with engine.begin() as c:
                    written = write_poll(
                        c,
                        message_id=f"{name}-{poll}",
                        polled_at=polled_at,
                        observations=observations,
                        heartbeat_seconds=heartbeat,
                    )
                assert written is not None
                rows[name] += written.snapshots
                db_time[name].append(written.timings.database_seconds)
    market_days = markets_polled / 1440  # one market polled 1,440 times is a market-day
    out: dict[str, float] = {}
    for name, engine in (("full", full), ("changed", changed)):
        size = _snapshot_bytes(engine)
        out[f"{name}_rows_per_poll"] = rows[name] / args.polls
        out[f"{name}_bytes_per_market_day"] = size / market_days
        out[f"{name}_db_p50"] = statistics.median(db_time[name])
        engine.dispose()
    per_poll = markets_polled / args.polls
    print(
        f"   markets polled per poll                        {per_poll:10.1f}\n"
        f"   rows stored per poll, every snapshot           {out['full_rows_per_poll']:10.1f}\n"
        f"   rows stored per poll, change-only              {out['changed_rows_per_poll']:10.1f}"
        f"   ({out['changed_rows_per_poll'] / per_poll:.1%} of markets polled)\n"
        f"   snapshot bytes per market-day, every snapshot  "
        f"{out['full_bytes_per_market_day']:10.0f}\n"
        f"   snapshot bytes per market-day, change-only     "
        f"{out['changed_bytes_per_market_day']:10.0f}"
        f"   => {out['full_bytes_per_market_day'] / out['changed_bytes_per_market_day']:.1f}x"
        " smaller\n"
        f"   poll db time p50, every snapshot               {out['full_db_p50'] * 1000:8.1f} ms\n"
        f"   poll db time p50, change-only                  {out['changed_db_p50'] * 1000:8.1f} ms"
    )
    print(
        "   (the run covers less than a day: the hourly heartbeat adds at most 24 rows per "
        "market-day on top of the changes)"
    )
    return out


# ---------------------------------------------------------------------------- 1b. poll


def bench_poll(server: LocalPostgres, args: argparse.Namespace) -> dict[str, float]:
    """A steady poll of each ``--poll-markets`` size (the issue's targets: 10,000 markets in
    0.25 s of database time, 100,000 in 2.5 s, with ``--known-markets`` in market_latest)."""
    out: dict[str, float] = {}
    for n in args.poll_markets:
        for key, value in _bench_poll_size(server, args, n).items():
            out[f"{n} {key}"] = value
    return out


def _bench_poll_size(server: LocalPostgres, args: argparse.Namespace, n: int) -> dict[str, float]:
    """A steady poll of ``n`` synthetic markets (production-shaped raw), 10 % of them
    changed since the previous poll, change-only vs every snapshot stored, against the
    floor of one bare COPY of the poll's snapshot rows into the partitioned table. Then one
    more poll in which 1 % of the markets are new (listed for the first time) and as many
    left the list. Database time per step: the median over the steady polls."""
    import random
    from dataclasses import replace

    from shared.db.copy_text import copy_payload
    from shared.marketdata import ingest
    from shared.marketdata.ingest import write_poll
    from tests.integration.marketdata.synthetic import synthetic_poll

    print(f"1b. steady poll of {n:,} markets, 10 % changed: database time of write_poll")
    if args.known_markets > n or args.background_snapshots:
        print(
            f"   with {max(args.known_markets, n):,} markets in market_latest and "
            f"{args.background_snapshots:,} snapshots over the {args.days} days before"
        )
    base = synthetic_poll(n)
    newcomers = synthetic_poll(n + n // 100)[n:]
    out: dict[str, float] = {}
    steps: dict[str, dict[str, float]] = {}
    for label, heartbeat in (("every snapshot", 0.0), ("change-only", 3_600.0)):
        rng = random.Random(3)  # the same changes either way
        engine = new_database(server, f"bench_hist_poll_{int(heartbeat)}")
        started = time.perf_counter()
        _background(engine, args.known_markets - n, args.background_snapshots, args.days)
        if args.known_markets > n or args.background_snapshots:
            print(f"   background filled in {time.perf_counter() - started:.0f} s")
        observations = list(base)
        times: list[float] = []
        stored: list[int] = []
        per_step: dict[str, list[float]] = {}
        for poll in range(args.poll_runs + 2):
            if poll:
                for i in rng.sample(range(n), n // 10):
                    o = observations[i]
                    observations[i] = replace(
                        o, volume_fp=(o.volume_fp or Decimal(0)) + 1, raw=(o.raw or b"") + b" "
                    )
            if poll == args.poll_runs + 1:  # 1 % new markets, as many gone
                observations = observations[len(newcomers) :] + newcomers
            with engine.begin() as c:
                written = write_poll(
                    c,
                    message_id=f"p-{poll}",
                    polled_at=T0 + timedelta(minutes=poll),
                    observations=observations,
                    heartbeat_seconds=heartbeat,
                )
            assert written is not None
            if poll == args.poll_runs + 1:
                out[f"{label} new"] = written.timings.database_seconds
                new_steps = written.timings.steps or {}
                assert written.markets_changed == len(newcomers), written.markets_changed
            elif poll:  # the first poll (every market new) is not steady
                times.append(written.timings.database_seconds)
                stored.append(written.snapshots)
                for name, seconds in (written.timings.steps or {}).items():
                    per_step.setdefault(name, []).append(seconds)
        out[label] = statistics.median(times)
        steps[label] = {name: statistics.median(v) for name, v in per_step.items()}
        print(
            f"   {label:<16} db time p50 {out[label] * 1000:7.1f} ms, max "
            f"{max(times) * 1000:7.1f} ms; rows stored per poll {statistics.median(stored):,.0f}"
            f"; with 1 % new markets {out[f'{label} new'] * 1000:7.1f} ms"
        )
        slowest = sorted(new_steps.items(), key=lambda kv: -kv[1])[:6]
        print("      the poll with new markets, slowest steps: " + ", ".join(
            f"{name} {seconds * 1000:.0f} ms" for name, seconds in slowest))  # fmt: skip
        ordered = sorted(observations, key=lambda o: o.ticker)
        payload = ingest._snapshot_payload(ordered, T0 + timedelta(days=1), 999)
        floor: list[float] = []
        for _run in range(3):
            with engine.connect() as c:
                transaction = c.begin()
                started = time.perf_counter()
                copy_payload(c, "market_snapshots", ingest._SNAPSHOT_COLUMNS, payload)
                floor.append(time.perf_counter() - started)
                transaction.rollback()
        out[f"{label} floor"] = min(floor)
        engine.dispose()
    every, changed = steps["every snapshot"], steps["change-only"]
    print("   database time per step, ms (median of the steady polls):")
    print(f"      {'step':<20} {'change-only':>12} {'every snapshot':>15}")
    for name in sorted(changed, key=lambda k: -changed[k]):
        if max(changed[name], every.get(name, 0.0)) >= 0.0005:
            print(
                f"      {name:<20} {changed[name] * 1000:12.1f} {every.get(name, 0.0) * 1000:15.1f}"
            )
    floor_s = out["change-only floor"]
    print(
        f"   floor: one COPY of all {n:,} snapshot rows {floor_s * 1000:7.1f} ms"
        f"; change-only = {out['change-only'] / floor_s:.2f}x the floor, "
        f"{out['change-only'] / out['every snapshot']:.2f}x every snapshot stored; "
        f"with 1 % new markets {out['change-only new'] / floor_s:.2f}x the floor"
    )
    return out


_BACKGROUND_RAW = recorded_size_raw("KXBG", "2026-02-28T23:59:00Z")


def _background(engine: sa.Engine, markets: int, snapshots: int, days: int) -> None:
    """Production-sized tables around the poll: ``markets`` other markets known (in
    ``markets`` and ``market_latest``) and ``snapshots`` poll snapshots of them, with the
    recorded-size ``raw``, spread over the ``days`` daily partitions before ``T0``."""
    from shared.history.partitions import ensure_partitions

    if markets <= 0 and snapshots <= 0:
        return
    markets = max(markets, 1)
    first = T0 - timedelta(days=days)
    with engine.begin() as c:
        ensure_partitions(c, first.date(), days + 2)
        c.execute(
            sa.text(
                "INSERT INTO markets (ticker, event_ticker, status) "
                "SELECT 'KXBG-' || lpad(m::text, 7, '0'), 'KXBGE-' || (m / 10), 'active' "
                "FROM generate_series(0, :n - 1) AS m"
            ),
            {"n": markets},
        )
        c.execute(
            sa.text(
                "INSERT INTO market_latest (ticker, ts, sequence, status, yes_bid_dollars, "
                "yes_ask_dollars, volume_fp) SELECT 'KXBG-' || lpad(m::text, 7, '0'), "
                ":ts, 1, 'active', 0.47, 0.49, m FROM generate_series(0, :n - 1) AS m"
            ),
            {"n": markets, "ts": T0 - timedelta(minutes=1)},
        )
    step = timedelta(days=days) / max(snapshots, 1)
    batch = 1_000_000
    for lo in range(0, snapshots, batch):
        with engine.begin() as c:
            c.execute(
                sa.text(
                    "INSERT INTO market_snapshots (ticker, ts, source, sequence, "
                    "yes_bid_dollars, yes_ask_dollars, volume_fp, raw) "
                    "SELECT 'KXBG-' || lpad(mod(i, :n)::text, 7, '0'), "
                    "CAST(:first AS timestamptz) + i * CAST(:step AS interval), "
                    "'poll', i / :n + 1, 0.47, 0.49, i / :n, CAST(:raw AS jsonb) "
                    "FROM generate_series(:lo, :hi - 1) AS i"
                ),
                {
                    "n": markets,
                    "first": first,
                    "step": step,
                    "raw": _BACKGROUND_RAW,
                    "lo": lo,
                    "hi": min(snapshots, lo + batch),
                },
            )
    with engine.connect() as c:
        c.execute(sa.text("ANALYZE"))
        c.commit()


# ---------------------------------------------------------------------------- 2. history


def bench_history(server: LocalPostgres, args: argparse.Namespace) -> dict[str, float]:
    from shared.history.rollups import CandleRow, upsert_candles
    from shared.marketdata.queries import HistoryRequest, get_history, history_sql

    print("2. one ticker, a year of rollups at 1m/5m/1h/1d: get_history vs hourly-only")
    engine = new_database(server, "bench_hist_year", pooled=True)
    ticker = "KXBENCH-26-T1"
    rng = np.random.default_rng(5)
    start = T0
    rows: list[CandleRow] = []
    minutes = 365 * 1440
    walk = np.clip(5000 + np.cumsum(rng.integers(-3, 4, minutes)), 100, 9800)
    for res in (60, 300, 3600, 86_400):
        step = res // 60
        for i in range(0, minutes, step):
            block = walk[i : i + step]
            p_open, p_high, p_low, p_close = (
                Decimal(int(x)) / 10_000 for x in (block[0], block.max(), block.min(), block[-1])
            )
            begin = start + timedelta(minutes=i)
            rows.append(
                CandleRow(
                    ticker,
                    res,
                    begin,
                    begin,
                    begin + timedelta(seconds=res - 60),
                    mid_open=p_open,
                    mid_high=p_high,
                    mid_low=p_low,
                    mid_close=p_close,
                    last_open=p_open,
                    last_high=p_high,
                    last_low=p_low,
                    last_close=p_close,
                    volume_open_fp=Decimal(i),
                    volume_close_fp=Decimal(i + step),
                    samples=step,
                )
            )
        with engine.begin() as c:
            upsert_candles(c, "poll", rows)
        rows.clear()
    with engine.begin() as c:
        c.execute(sa.text("ANALYZE market_candles"))
    end = start + timedelta(days=365)
    out: dict[str, float] = {}

    def answer(interval: str, until: datetime) -> Callable[[], Any]:
        def run() -> Any:
            with engine.connect() as c:
                return get_history(c, HistoryRequest(ticker, start, until, interval), now=end)

        return run

    def hourly_only(seconds: int, until: datetime) -> Callable[[], Any]:
        # The hourly rollups grouped to the interval, as before this round.
        sql = sa.text(history_sql("mid", True, 14_400))

        def run() -> Any:
            with engine.connect() as c:
                return c.execute(
                    sql,
                    {"ticker": ticker, "start": start, "end": until, "i": seconds,
                     "baseline": None},
                ).all()  # fmt: skip

        return run

    for label, interval, until, seconds in (
        ("a year at 1d", "1d", end, 86_400),
        ("a year at 1h (answered at 1d: 2,000 candles max)", "1h", end, 86_400),
        ("83 days at 1h (2,000 candles)", "1h", start + timedelta(days=83), 3600),
    ):
        base = percentile(timed(hourly_only(seconds, until), args.runs), 95)
        fast = report(label, timed(answer(interval, until), args.runs), base)
        print(f"   {'  baseline: hourly rollups grouped':<44} p95 {base * 1000:8.1f} ms")
        out[label] = fast
    engine.dispose()
    return out


# ---------------------------------------------------------------------------- 3. archive


def _raw_payload(ticker: str, bid: int, volume: int) -> str:
    return json.dumps(
        {
            "ticker": ticker,
            "status": "active",
            "yes_bid_dollars": f"{bid / 10_000:.4f}",
            "yes_ask_dollars": f"{(bid + 200) / 10_000:.4f}",
            "volume_fp": f"{volume}.00",
            "previous_price_dollars": "0.5000",
            "updated_time": "2026-03-01T00:00:00Z",
            "liquidity_dollars": "0.0000",
            "open_interest_fp": "1000.00",
            "volume_24h_fp": "500.00",
        }
    )


def _fill(engine: sa.Engine, n_markets: int, per_market: int, days: int) -> None:
    """Snapshots in poll order: poll p writes every market once, ``raw`` included; the
    polls are spread evenly over ``days`` days. market_polls gets each poll's time."""
    from shared.db.copy_text import copy_payload
    from shared.history.partitions import ensure_partitions

    span = timedelta(days=days) / per_market
    tickers = [f"KXARC{m // 100:04d}-26-M{m:05d}" for m in range(n_markets)]
    rng = np.random.default_rng(11)
    bids = rng.integers(1000, 8000, n_markets)
    with engine.begin() as c:
        ensure_partitions(c, T0.date(), days + 1)
    batch_polls = max(1, 200_000 // n_markets)
    for first in range(0, per_market, batch_polls):
        polls = range(first, min(per_market, first + batch_polls))
        lines: list[str] = []
        poll_lines: list[str] = []
        for p in polls:
            ts = (T0 + span * p).isoformat()
            poll_lines.append(f"p-{p}\t{ts}\t{n_markets}\n")
            bids = np.clip(bids + rng.integers(-20, 21, n_markets), 100, 9700)
            for m, ticker in enumerate(tickers):
                bid = int(bids[m])
                lines.append(
                    f"{ticker}\t{ts}\tpoll\t{p + 1}\t{bid / 10_000:.4f}\t"
                    f"{(bid + 200) / 10_000:.4f}\t{_raw_payload(ticker, bid, p)}\n"
                )
        with engine.begin() as c:
            copy_payload(c, "market_polls", ("message_id", "polled_at", "market_count"),
                         "".join(poll_lines).encode())  # fmt: skip
            copy_payload(
                c,
                "market_snapshots",
                ("ticker", "ts", "source", "sequence", "yes_bid_dollars", "yes_ask_dollars",
                 "raw"),
                "".join(lines).encode(),
            )  # fmt: skip
    with engine.begin() as c:
        values = ", ".join(f"('{t}', 'KXARC-EV', 'active')" for t in tickers)
        c.execute(sa.text(f"INSERT INTO markets (ticker, event_ticker, status) VALUES {values}"))
        c.execute(
            sa.text(
                "INSERT INTO market_latest (ticker, ts) SELECT ticker, max(ts) "
                "FROM market_snapshots GROUP BY ticker"
            )
        )


def bench_archive(server: LocalPostgres, args: argparse.Namespace) -> dict[str, float]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shared.backtest.engine import run_backtest
    from shared.backtest.loader import MarketFilter, load_snapshots, resolve_markets
    from shared.backtest.strategies import registry
    from shared.history.archive import archive_day
    from shared.history.partitions import partition_days
    from shared.history.stores import LocalArchive

    n, markets, days = args.snapshots, args.archive_markets, args.days
    per_market = n // markets
    print(
        f"3. backtest over {markets * per_market:,} archived snapshots ({markets} markets, "
        f"{days} daily partitions, raw payload): load from Parquet vs reading its columns"
    )
    store = LocalArchive(Path(args.workdir) / "archive")
    marker = Path(args.workdir) / "archive-fixture.json"
    shape = {"snapshots": n, "markets": markets, "days": days}
    kept = json.loads(marker.read_text()) if args.keep and marker.exists() else {}
    if kept.get("shape") == shape:
        # --keep: the cluster and the archive of an earlier run with the same sizes.
        engine = sa.create_engine(server.url_for("bench_hist_archive"), poolclass=NullPool)
        all_days = [date.fromisoformat(d) for d in kept["days"]]
        archived_bytes = int(kept["bytes"])
        print(f"   reusing the filled and archived fixture in {args.workdir}")
    else:
        marker.unlink(missing_ok=True)
        engine = new_database(server, "bench_hist_archive")
        started = time.perf_counter()
        _fill(engine, markets, per_market, days)
        print(f"   filled in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        with engine.connect() as c:
            all_days = [d for d in partition_days(c) if d < T0.date() + timedelta(days=days)]
        archived_bytes = 0
        for day in all_days:
            with engine.begin() as c:
                archived_bytes += archive_day(c, store, day).bytes
        archive_s = time.perf_counter() - started
        print(f"   archived {len(all_days)} days in {archive_s:.1f} s")
        if args.keep:
            record = {"shape": shape, "days": [d.isoformat() for d in all_days],
                      "bytes": archived_bytes}  # fmt: skip
            marker.write_text(json.dumps(record))
    print(f"   {archived_bytes / (markets * per_market):.1f} bytes a snapshot in Parquet")
    end = T0 + timedelta(days=days)

    def floor() -> dict[str, Any]:
        parts = []
        for day in all_days:
            data = store.get(f"snapshots/day={day.isoformat()}/part-0000.parquet")
            parts.append(
                pq.read_table(
                    io.BytesIO(data), columns=["ticker", "ts", "id", "yes_bid", "yes_ask"]
                )
            )
        table = pa.concat_tables(parts)
        return {
            "ticker": table.column("ticker")
            .dictionary_encode()
            .combine_chunks()
            .indices.to_numpy(),
            "ts": table.column("ts").cast("int64").to_numpy(),
            "id": table.column("id").to_numpy(),
            "bid": table.column("yes_bid").fill_null(-1).to_numpy(),
            "ask": table.column("yes_ask").fill_null(-1).to_numpy(),
        }

    raw = engine.raw_connection()
    try:
        infos = resolve_markets(raw.cursor(), MarketFilter())
        raw.rollback()

        def load() -> Any:
            return load_snapshots(raw, infos, T0, end, archive=store)

        # The floor and the load each timed from the state a worker's run starts in: no
        # freed pages held by Arrow's pool or the C heap (a fresh process). The load hands
        # its freed pages back at its end (ADR 0230), so a repeated load always starts so;
        # a repeated floor would start on the previous read's pages and skip
        # their faults, a state the load is never in (ADR 0238). That figure is printed
        # too, as measured before.
        floor_warm_s = min(timed(floor, 3, warmup=1))
        floor_s = min(_timed_released(floor, 3))
        # Timed untraced, as the floor is: tracemalloc hooks every allocation. The
        # traced load after it gives the numpy peak.
        load_s = min(_timed_released(load, 3))
        tracemalloc.start()
        pool = pa.default_memory_pool()
        data = load()
        _, numpy_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        arrow_peak = pool.max_memory()
    finally:
        raw.close()
    assert data.n_rows == markets * per_market, (data.n_rows, markets * per_market)
    strategy = registry.create("momentum")

    def compute_once(loaded: Any = data) -> Any:
        return run_backtest(loaded, strategy)

    compute = min(timed(compute_once, 2, warmup=0))
    data_rows = data.n_rows
    print(f"   read the Parquet columns into numpy (floor)    {floor_s:8.2f} s"
          f"   (repeated on the previous read's pages {floor_warm_s:.2f} s)")  # fmt: skip
    print(f"   load_snapshots from the archive                {load_s:8.2f} s"
          f"   => {load_s / floor_s:.2f}x the floor"
          f" ({load_s / floor_warm_s:.2f}x the repeated floor)")  # fmt: skip
    print(f"   compute (momentum)                             {compute:8.2f} s"
          f"   => {data.n_rows / compute / 1e6:.2f}M snapshots/s")  # fmt: skip
    print(f"   peak allocations: numpy {numpy_peak / 2**20:.0f} MiB (the load, tracemalloc); "
          f"Arrow pool {arrow_peak / 2**20:.0f} MiB (this process's peak, the floor's "
          "whole table included)")  # fmt: skip
    del data
    # The whole run in a fresh process (its own high-water RSS): load from the archive,
    # then the engine and the metrics, each stage's peak measured on its own.
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue: Any = ctx.Queue()
    child = ctx.Process(
        target=_archive_run, args=(server.url_for("bench_hist_archive"), str(store.root),
                                   end, queue),
    )  # fmt: skip
    child.start()
    run = queue.get(timeout=3600)
    child.join(timeout=60)
    print(
        f"   whole run in a fresh process: peak RSS {run['peak_mb']:.0f} MiB (load "
        f"{run['load_mb']:.0f} MiB, target <= 1,024 MiB, 1 GB = 954 MiB; engine + metrics "
        f"{run['compute_mb']:.0f} MiB; the worker has 2,048); before loading "
        f"{run['base_mb']:.0f} MiB; the load's Arrow pool peak {run['arrow_mb']:.0f} MiB"
    )
    engine.dispose()
    return {
        "load_ratio": load_s / floor_s,
        "load_ratio_repeated_floor": load_s / floor_warm_s,
        "compute_rate": data_rows / compute,
        "peak_mb": run["peak_mb"],
    }


def _timed_released(fn: Callable[[], Any], runs: int) -> list[float]:
    """Seconds of each of ``runs`` calls, each after handing every freed page back to the
    operating system (Arrow's pool, the C heap): the state a fresh worker process is in.
    One untimed call first (imports, the page cache)."""
    from shared.backtest.memory import release_freed_memory

    fn()
    samples = []
    for _ in range(runs):
        release_freed_memory()
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def _archive_run(url: str, root: str, end: datetime, out: Any) -> None:
    """Child process: resolve, load from the archive, run momentum (engine + metrics)."""
    from shared.backtest.engine import run_backtest
    from shared.backtest.loader import MarketFilter, load_snapshots, resolve_markets
    from shared.backtest.strategies import registry
    from shared.history.stores import LocalArchive
    from tests.bench.rss import reset_peak, status_mib

    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    base = status_mib("VmRSS")
    reset_peak()
    infos = resolve_markets(raw.cursor(), MarketFilter())
    raw.rollback()
    data = load_snapshots(raw, infos, T0, end, archive=LocalArchive(Path(root)))
    load_mb = status_mib("VmHWM")
    import pyarrow as pa  # loaded by the load already: imported here, not counted before it

    arrow_mb = pa.default_memory_pool().max_memory() / 2**20
    reset_peak()
    result = run_backtest(data, registry.create("momentum"))
    compute_mb = status_mib("VmHWM")
    raw.close()
    engine.dispose()
    out.put(
        {
            "base_mb": base,
            "load_mb": load_mb,
            "compute_mb": compute_mb,
            "peak_mb": max(load_mb, compute_mb),
            "arrow_mb": arrow_mb,
            "trades": len(result.trades),
        }
    )


BENCHES: dict[str, Callable[[LocalPostgres, argparse.Namespace], dict[str, float]]] = {
    "change-only": bench_change_only,
    "poll": bench_poll,
    "history": bench_history,
    "archive": bench_archive,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BENCHES), action="append")
    parser.add_argument("--markets", type=int, default=300, help="simulator markets")
    parser.add_argument("--polls", type=int, default=90, help="polls, a minute apart")
    parser.add_argument("--ticks", type=int, default=120, help="simulator ticks per poll")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per history query")
    parser.add_argument(
        "--poll-markets", type=int, nargs="+", default=[10_000], help="poll: sizes, each a case"
    )
    parser.add_argument("--poll-runs", type=int, default=5)
    parser.add_argument("--snapshots", type=int, default=1_000_000)
    parser.add_argument("--archive-markets", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--known-markets", type=int, default=0, help="poll: markets in market_latest (all)"
    )
    parser.add_argument(
        "--background-snapshots", type=int, default=0, help="poll: snapshots before the polls"
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the cluster (stopped) and the archive in DIR; the archive bench reuses "
        "them when the sizes match (remove DIR when done)",
    )
    args = parser.parse_args(argv)
    with _cluster(args.keep) as (server, base):
        args.workdir = str(base)
        for name in args.only or list(BENCHES):
            BENCHES[name](server, args)


@contextmanager
def _cluster(keep: str | None) -> Iterator[tuple[LocalPostgres, Path]]:
    """A throwaway cluster, or with ``--keep DIR`` one in ``DIR`` that is stopped, not
    removed, at the end: the archive bench then reuses its filled and archived fixture
    (minutes at 10,000,000 snapshots) when the sizes match."""
    cluster = throwaway_postgres("ki-bench-hist-") if keep is None else kept_postgres(Path(keep))
    with cluster as (server, base):
        yield server, base


if __name__ == "__main__":
    main()
    sys.exit(0)
