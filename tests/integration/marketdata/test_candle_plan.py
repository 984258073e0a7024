"""The candle insert's plan cannot degrade when ``market_candles`` statistics are stale.

A later poll that lists new markets inserts their buckets. With the table's statistics
from when it was small, the planner used to pick a nested-loop anti-join against
``market_candles`` for the old ``INSERT ... WHERE NOT EXISTS``: seconds of database time
at 10,000 markets. The test makes the statistics stale on purpose (analyzed small,
autovacuum off, then grown) and reads the plan Postgres chooses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from shared.db.copy_text import copy_payload
from shared.db.models_marketdata import CANDLE_RESOLUTIONS_S
from shared.marketdata import ingest
from shared.marketdata.ingest import write_poll
from shared.marketdata.sql import bucket_start
from tests.integration.marketdata.synthetic import synthetic_poll

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 11, 9, 5, tzinfo=UTC)


def test_candle_writes_plan_no_nested_loop_under_stale_statistics(engine):
    with engine.begin() as c:
        c.execute(sa.text("ALTER TABLE market_candles SET (autovacuum_enabled = false)"))
    with engine.begin() as c:  # statistics taken in the previous hour
        write_poll(
            c,
            message_id="p-0",
            polled_at=T0 - timedelta(hours=1),
            observations=synthetic_poll(2000),
        )
        c.execute(sa.text("ANALYZE market_candles"))
    with engine.begin() as c:  # this hour's buckets: the statistics have never seen them
        write_poll(
            c,
            message_id="p-1",
            polled_at=T0 + timedelta(minutes=1),
            observations=synthetic_poll(2000),
        )

    later = T0 + timedelta(minutes=2)  # same hour, 500 markets it has never seen
    ordered = sorted(synthetic_poll(2500, poll=2), key=lambda o: o.ticker)
    params: dict[str, object] = {"ts": later, "sequence": 3}
    for resolution in CANDLE_RESOLUTIONS_S:
        params[f"bucket_{resolution}"] = bucket_start(later, resolution)
    with engine.begin() as c:
        c.execute(sa.text(ingest._CREATE_STAGING))
        copy_payload(c, "poll_staging", ingest._STAGING_COLUMNS, ingest._staging_payload(ordered))
        estimate = explain(
            c,
            "SELECT 1 FROM market_candles WHERE resolution_s = 3600 AND bucket_start = :b",
            {"b": params["bucket_3600"]},
        )
        insert_plan = explain(c, ingest._INSERT_CANDLES, params)
        c.execute(sa.text("SET LOCAL enable_seqscan = off"))  # as ingest.fold_candles runs it
        update_plan = explain(c, ingest._UPDATE_CANDLES, params)
        c.rollback()

    # The premise: the statistics are stale (2,000 candles in this bucket, 1 expected).
    assert "rows=1 " in estimate, estimate
    # The only loop allowed is over the (four) rollup resolutions: never one that rescans
    # market_candles once per market.
    assert not _rescans_candles(insert_plan), insert_plan
    assert "market_candles c" not in insert_plan, insert_plan  # no join with it at all
    assert not _rescans_candles(update_plan), update_plan


def _rescans_candles(plan: str) -> bool:
    """A nested loop whose inner side scans market_candles other than by its key."""
    lines = plan.splitlines()
    for i, line in enumerate(lines):
        if "Nested Loop" in line:
            inner = lines[i + 1 :]
            if any("Seq Scan on market_candles" in x or "Bitmap" in x for x in inner):
                return True
    return False


def explain(connection: sa.Connection, statement: str, params: dict[str, object]) -> str:
    return "\n".join(connection.execute(sa.text("EXPLAIN " + statement), params).scalars())


def test_the_fold_never_rescans_the_staging_table_per_candle(engine):
    """A filter on ``c.source`` in the fold's WHERE made Postgres expect 0.5 % of an
    unanalyzed ``market_candles`` and loop over the staging table once per candle: minutes
    for a 10,000-market poll. The source is now chosen per column in SET (ADR 0172)."""
    with engine.begin() as c:  # one poll into fresh tables, never analyzed
        write_poll(
            c, message_id="f-0", polled_at=T0, observations=synthetic_poll(2000),
            heartbeat_seconds=0,
        )  # fmt: skip
    later = T0 + timedelta(minutes=1)
    ordered = sorted(synthetic_poll(2000, poll=1), key=lambda o: o.ticker)
    params: dict[str, object] = {"ts": later, "sequence": 2}
    for resolution in CANDLE_RESOLUTIONS_S:
        params[f"bucket_{resolution}"] = bucket_start(later, resolution)
    with engine.begin() as c:
        c.execute(sa.text(ingest._CREATE_STAGING))
        copy_payload(c, "poll_staging", ingest._STAGING_COLUMNS, ingest._staging_payload(ordered))
        c.execute(sa.text("SET LOCAL enable_seqscan = off"))  # as ingest.fold_candles runs it
        plan = explain(c, ingest._FOLD_CANDLES, params)
        c.rollback()
    assert "Index Scan using pk_market_candles" in plan, plan
    lines = plan.splitlines()
    for i, line in enumerate(lines):
        if "Nested Loop" in line:
            assert not any("poll_staging" in x for x in lines[i + 1 :]), plan
