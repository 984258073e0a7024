"""A poll's database work follows the markets it polls, not the markets known (ADR 0223).

``market_latest``, ``markets`` and ``market_candles`` hold every market ever seen (on
Kalshi, ten times the markets a poll lists, and candles for every bucket of the past). A
poll must visit only its own markets' rows: one primary-key probe each. The planner does
not know how many rows the staging table holds and used to hash or merge whole tables.
The tests count, with Postgres's own per-transaction statistics
(``pg_stat_xact_user_tables``), the rows each table gave a poll that lists new markets
and changed metadata beside unchanged ones, and read the plans the poll's statements get.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from shared.db.copy_text import copy_payload
from shared.db.models_marketdata import CANDLE_RESOLUTIONS_S
from shared.marketdata import ingest
from shared.marketdata.ingest import write_poll
from shared.marketdata.sql import bucket_start
from tests.integration.marketdata.synthetic import synthetic_poll

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 11, 9, 30, tzinfo=UTC)
KNOWN = 20_000  # other markets in markets and market_latest
POLLED = 300
BACKGROUND_BUCKETS = 24  # hourly candles of each polled market before T0


def _fill(engine: sa.Engine) -> None:
    """KNOWN other markets with latest rows and a day of hourly candles each, a first poll
    of POLLED markets (all new), then a day of hourly candles for those too; analyzed, so
    the planner knows the tables are big."""
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO markets (ticker, event_ticker, status) "
                "SELECT 'KXBG-' || lpad(m::text, 6, '0'), 'KXBGE', 'active' "
                "FROM generate_series(1, :n) AS m"
            ),
            {"n": KNOWN},
        )
        c.execute(
            sa.text(
                "INSERT INTO market_latest (ticker, ts, sequence, status, volume_fp) "
                "SELECT ticker, CAST(:ts AS timestamptz), 1, 'active', 0 FROM markets"
            ),
            {"ts": T0 - timedelta(days=1)},
        )
        _candles(
            c, "SELECT ticker FROM markets WHERE ticker LIKE 'KXBG-%' AND ticker < 'KXBG-002000'"
        )
    with engine.begin() as c:
        write_poll(c, message_id="s-0", polled_at=T0, observations=synthetic_poll(POLLED))
    with engine.begin() as c:
        _candles(c, "SELECT ticker FROM market_latest WHERE ticker LIKE 'KXSYN%'")
    with engine.connect() as c:
        c.execute(sa.text("ANALYZE"))
        c.commit()


def _candles(c: sa.Connection, tickers: str) -> None:
    c.execute(
        sa.text(
            "INSERT INTO market_candles (ticker, resolution_s, bucket_start, first_ts, last_ts, "
            "samples, source) "
            f"SELECT t.ticker, 3600, b, b, b, 1, 'poll' FROM ({tickers}) t "
            "CROSS JOIN generate_series(CAST(:first AS timestamptz), CAST(:last AS timestamptz), "
            "interval '1 hour') AS b"
        ),
        {
            "first": bucket_start(T0, 3600) - timedelta(hours=BACKGROUND_BUCKETS),
            "last": bucket_start(T0, 3600) - timedelta(hours=1),
        },
    )


def _next_poll() -> list[Any]:
    """The second poll: every market's volume moved (all stored), one in ten renamed, and
    30 markets never seen."""
    observations = [
        replace(o, volume_fp=(o.volume_fp or 0) + 1, raw=(o.raw or b"") + b" ")
        for o in synthetic_poll(POLLED + 30)
    ]
    for i in range(0, POLLED, 10):
        observations[i] = replace(observations[i], title=observations[i].title + " (renamed)")
    return observations


def _rows_read(c: sa.Connection) -> dict[str, tuple[int, int, int]]:
    """Per table: sequential scans, rows they read, rows index scans fetched, so far in
    this transaction."""
    rows = c.execute(
        sa.text(
            "SELECT relname, seq_scan, seq_tup_read, idx_tup_fetch FROM pg_stat_xact_user_tables "
            "WHERE relname IN ('market_latest', 'markets', 'market_candles')"
        )
    ).all()
    return {r[0]: (int(r[1]), int(r[2]), int(r[3] or 0)) for r in rows}


def test_a_poll_reads_only_its_own_markets_rows(engine):
    _fill(engine)
    observations = _next_poll()
    with engine.begin() as c:
        written = write_poll(
            c, message_id="s-1", polled_at=T0 + timedelta(minutes=1), observations=observations
        )
        read = _rows_read(c)
        settings = c.execute(
            sa.text(
                "SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin'), "
                "current_setting('enable_seqscan'), current_setting('jit')"
            )
        ).one()
    assert written is not None
    assert written.snapshots == POLLED + 30
    assert written.markets_changed == POLLED // 10 + 30
    polled = len(observations)
    # A row per polled market: market_latest read by the choice and the update; markets
    # by the diff (the markets whose metadata changed); candles by the fold and by the
    # insert's conflict check (per resolution). Never a whole table.
    bound = {
        "market_latest": 2 * polled,
        "markets": polled,
        "market_candles": 2 * polled * len(CANDLE_RESOLUTIONS_S),
    }
    for table, most in bound.items():
        seq_scans, _, index_rows = read.get(table, (0, 0, 0))
        assert seq_scans == 0, (table, read)
        assert index_rows <= most, (table, read)
    # The planner settings are the transaction's again once the poll is written.
    assert tuple(settings) == ("on", "on", "on", "on")
    with engine.connect() as c:  # and the poll was written as before
        latest = c.execute(
            sa.text("SELECT count(*) FROM market_latest WHERE ts = :ts"),
            {"ts": T0 + timedelta(minutes=1)},
        ).scalar_one()
        renamed = c.execute(
            sa.text("SELECT count(*) FROM markets WHERE title LIKE '%(renamed)'")
        ).scalar_one()
    assert (latest, renamed) == (polled, POLLED // 10)


def _explain(c: sa.Connection, statement: str, params: dict[str, object]) -> str:
    return "\n".join(c.execute(sa.text("EXPLAIN " + statement), params).scalars())


def test_the_poll_statements_probe_primary_keys(engine):
    _fill(engine)
    later = T0 + timedelta(minutes=1)
    ordered = sorted(_next_poll(), key=lambda o: o.ticker)
    params: dict[str, object] = {
        "ts": later,
        "sequence": 3,
        "full": False,
        "heartbeat_due": later - timedelta(hours=1),
    }
    for resolution in CANDLE_RESOLUTIONS_S:
        params[f"bucket_{resolution}"] = bucket_start(later, resolution)
    with engine.begin() as c:
        c.execute(sa.text(ingest._CREATE_STAGING))
        copy_payload(c, "poll_staging", ingest._STAGING_COLUMNS, ingest._staging_payload(ordered))
        with ingest.planner_settings(c, ingest._PROBE_SETTINGS):
            choose = _explain(c, ingest._CHOOSE_STORED, params)
            diff = _explain(c, ingest._DIFF, params)
            update = _explain(c, ingest._UPDATE_LATEST, params)
            insert = _explain(c, ingest._INSERT_LATEST, params)
            with ingest.planner_settings(c, {"enable_seqscan": "off"}):  # as fold_candles
                fold = _explain(c, ingest._FOLD_CANDLES, params)
        c.rollback()
    for plan in (choose, update):
        assert "Index Scan using pk_market_latest" in plan, plan
        assert "Hash" not in plan and "Merge" not in plan, plan
    # The choice already found which markets have a latest row: the insert reads none.
    assert "Scan on market_latest" not in insert and "pk_market_latest" not in insert, insert
    assert "pk_markets" in diff and "Seq Scan on markets" not in diff, diff
    assert "Hash" not in diff and "Merge" not in diff, diff
    # The fold probes the whole key: never a ticker's every candle, never a whole bucket.
    probe = fold[fold.index("Index Scan using pk_market_candles") :].splitlines()[1]
    for column in ("ticker", "resolution_s", "bucket_start"):
        assert column in probe, fold
    assert "Hash" not in fold and "Merge" not in fold, fold


def test_a_candle_the_fold_expected_but_missed_is_still_written(engine):
    """The candle insert skips the rows whose candle the fold must have found (the
    market's last stored snapshot is earlier in the bucket), but only once the fold found
    every one of them: a candle gone missing meanwhile is written again from this poll."""
    first = synthetic_poll(20)
    with engine.begin() as c:
        write_poll(c, message_id="m-0", polled_at=T0, observations=first)
    with engine.begin() as c:  # the hour's candle of one market is lost
        c.execute(
            sa.text(
                "DELETE FROM market_candles WHERE ticker = :t AND resolution_s = 3600 "
                "AND bucket_start = :b"
            ),
            {"t": first[3].ticker, "b": bucket_start(T0, 3600)},
        )
    moved = [replace(o, volume_fp=(o.volume_fp or 0) + 1) for o in first]
    with engine.begin() as c:
        write_poll(c, message_id="m-1", polled_at=T0 + timedelta(minutes=1), observations=moved)
    with engine.connect() as c:
        hourly = dict(
            c.execute(
                sa.text(
                    "SELECT ticker, samples FROM market_candles WHERE resolution_s = 3600 "
                    "AND bucket_start = :b"
                ),
                {"b": bucket_start(T0, 3600)},
            ).all()
        )
    assert len(hourly) == 20
    assert hourly.pop(first[3].ticker) == 1  # written again from this poll alone
    assert set(hourly.values()) == {2}


def test_a_copy_turns_nagle_off_on_the_drivers_socket(engine):
    """pg8000 sends CopyDone in a segment of its own; with Nagle's algorithm on it waited
    for the server's delayed ACK (~40 ms per small COPY: a poll's few new markets)."""
    import socket

    with engine.begin() as c:
        sock = c.connection.dbapi_connection._usock  # type: ignore[union-attr]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        copy_payload(c, "market_polls", ("message_id", "polled_at", "market_count"),
                     b"nagle\t2026-06-11T09:30:00+00:00\t0\n")  # fmt: skip
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
