"""The bulk ingest on a real Postgres: one transaction, dedup, settlement, read models."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from shared.marketdata.ingest import rebuild_candles, write_poll
from tests.integration.marketdata.handmade import T0, market, universe
from tests.integration.marketdata.synthetic import synthetic_poll

pytestmark = pytest.mark.integration


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as c:
        return int(c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_poll_writes_every_table_once_and_a_duplicate_writes_nothing(engine):
    observations = universe()
    with engine.begin() as c:
        first = write_poll(c, message_id="m-1", polled_at=T0, observations=observations)
    assert first is not None
    assert first.snapshots == len(observations) == 255
    assert first.markets_changed == 255

    with engine.begin() as c:
        again = write_poll(
            c, message_id="m-1", polled_at=T0 + timedelta(minutes=1), observations=observations
        )
    assert again is None
    assert count(engine, "market_snapshots") == 255
    assert count(engine, "market_polls") == 1
    assert count(engine, "processed_messages") == 1

    with engine.connect() as c:
        row = c.execute(
            sa.text(
                "SELECT ts, source, sequence, yes_bid_dollars, last_price_dollars, volume_fp, raw "
                "FROM market_snapshots WHERE ticker = 'KXA-26-T1'"
            )
        ).one()
    assert row.ts == T0
    assert row.source == "poll"
    assert row.sequence == first.sequence
    assert (row.yes_bid_dollars, row.last_price_dollars, row.volume_fp) == (
        D("0.4000"),
        D("0.4000"),
        D("500.00"),
    )
    assert row.raw == {"status": "active"}


def test_a_failed_poll_leaves_nothing_behind(engine):
    observations = universe()
    broken = [*observations, replace(observations[0], ticker="X" * 200)]  # too long: DataError
    with pytest.raises(sa.exc.DBAPIError), engine.begin() as c:
        write_poll(c, message_id="m-err", polled_at=T0, observations=broken)
    for table in ("market_snapshots", "markets", "market_latest", "market_candles"):
        assert count(engine, table) == 0, table
    assert count(engine, "processed_messages") == 0
    with engine.begin() as c:  # and the same message can be processed later
        assert write_poll(c, message_id="m-err", polled_at=T0, observations=observations)


def test_unchanged_metadata_is_not_rewritten_and_settlement_is_recorded(engine):
    alpha = market(
        "KXS-26-A", "KXS-26", "KXS", "Settles", close=T0, volume="5.00", last="0.5", previous="0"
    )
    with engine.begin() as c:
        write_poll(c, message_id="s-1", polled_at=T0, observations=[alpha])
    with engine.begin() as c:
        unchanged = write_poll(
            c,
            message_id="s-2",
            polled_at=T0 + timedelta(minutes=1),
            observations=[replace(alpha, last_price_dollars=D("0.6"))],
        )
    assert unchanged is not None and unchanged.markets_changed == 0

    determined = replace(alpha, status="determined", result="yes", settlement_value_dollars=D("1"))
    with engine.begin() as c:
        step = write_poll(
            c, message_id="s-3", polled_at=T0 + timedelta(minutes=2), observations=[determined]
        )
    assert step is not None and step.markets_changed == 1 and step.newly_determined == 1
    settled_ts = T0 + timedelta(minutes=2, seconds=30)
    finalized = replace(determined, status="finalized", settlement_ts=settled_ts)
    with engine.begin() as c:
        final = write_poll(
            c, message_id="s-4", polled_at=T0 + timedelta(minutes=3), observations=[finalized]
        )
    assert final is not None and final.newly_determined == 0
    with engine.connect() as c:
        row = c.execute(sa.text("SELECT * FROM markets WHERE ticker = 'KXS-26-A'")).one()
    assert row.status == "finalized"
    assert row.result == "yes"
    assert row.settlement_value_dollars == D("1.0000")
    assert row.determined_at == T0 + timedelta(minutes=2)
    assert row.settled_at == settled_ts
    with engine.connect() as c:
        latest_status = c.execute(
            sa.text("SELECT status FROM market_latest WHERE ticker = 'KXS-26-A'")
        ).scalar_one()
    assert latest_status == "finalized"


def test_latest_prices_follow_the_newest_poll_only(engine):
    alpha = market("KXL-26", "KXL", "KXL", "L", close=T0, volume="1.00", last="0.3", previous="0")
    newer = replace(alpha, last_price_dollars=D("0.7"))
    with engine.begin() as c:
        write_poll(c, message_id="l-2", polled_at=T0 + timedelta(minutes=5), observations=[newer])
    with engine.begin() as c:  # an older poll delivered late must not win
        write_poll(c, message_id="l-1", polled_at=T0, observations=[alpha])
    with engine.connect() as c:
        last = c.execute(
            sa.text("SELECT last_price_dollars FROM market_latest WHERE ticker = 'KXL-26'")
        ).scalar_one()
    assert last == D("0.7000")


def test_incremental_candles_equal_a_rebuild_from_snapshots(engine):
    start = datetime(2026, 6, 11, 9, 50, tzinfo=UTC)
    # 12 polls 13 minutes apart (crossing hours), delivered out of order once.
    order = [0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11]
    for poll in order:
        with engine.begin() as c:
            write_poll(
                c,
                message_id=f"c-{poll}",
                polled_at=start + timedelta(minutes=13 * poll),
                observations=synthetic_poll(40, poll=poll),
            )
    with engine.connect() as c:
        incremental = c.execute(sa.text("SELECT * FROM market_candles ORDER BY 1, 2, 3")).all()
    with engine.begin() as c:
        rebuild_candles(c)
    with engine.connect() as c:
        rebuilt = c.execute(sa.text("SELECT * FROM market_candles ORDER BY 1, 2, 3")).all()
    assert len(incremental) == 40 * 4  # the hours 09:00 to 12:00
    assert incremental == rebuilt
