"""The bulk ingest on a real Postgres: one transaction, dedup, settlement, read models."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from shared.db.copy_text import copy_rows
from shared.db.models import Market
from shared.kalshi import models as km
from shared.marketdata import ingest
from shared.marketdata.ingest import PollWrite, rebuild_candles, write_poll
from shared.marketdata.observation import EventInfo, MarketObservation, observation_from_market
from tests.integration.marketdata.handmade import T0, market, universe
from tests.integration.marketdata.synthetic import RECORDED, synthetic_poll

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
    assert len([r for r in incremental if r.resolution_s == 3600]) == 40 * 4  # 09:00-12:00
    assert incremental == rebuilt


def _markets(engine: sa.Engine, prefix: str = "") -> dict[str, tuple[object, ...]]:
    with engine.connect() as c:
        rows = c.execute(
            sa.text("SELECT * FROM markets WHERE ticker LIKE :p ORDER BY ticker"),
            {"p": f"{prefix}%"},
        ).all()
    return {row.ticker[len(prefix) :]: tuple(row)[1:] for row in rows}


def test_new_markets_are_copied_exactly_as_the_upsert_would_insert_them(engine):
    settled_ts = T0 - timedelta(minutes=30)
    base = market(
        "KXN-26-A", "KXN-26", "KXN", "Plain", close=T0, volume="1", last="0", previous="0"
    )
    observations = [
        base,
        replace(base, ticker="KXN-26-B", series_ticker=None, event_title=None, category=None),
        replace(base, ticker="KXN-26-C", status="determined", result="no"),
        replace(
            base,
            ticker="KXN-26-D",
            status="finalized",
            result="yes",
            settlement_value_dollars=D("1.0000"),
            settlement_ts=settled_ts,
        ),
        replace(base, ticker="KXN-26-E", status="finalized", result="void"),
        replace(
            base,
            ticker="KXN-26-F",
            title="Tab\there, back\\slash, new\nline",
            yes_sub_title="",
            open_time=None,
            close_time=None,
            market_type="scalar",
        ),
    ]
    with engine.begin() as c:
        written = write_poll(c, message_id="n-1", polled_at=T0, observations=observations)
    assert written is not None
    assert written.markets_changed == 6 and written.newly_determined == 3
    assert written.timings.steps is not None and "copy_new_markets" in written.timings.steps

    # The same markets through the upsert's INSERT branch, under other tickers.
    with engine.begin() as c:
        c.execute(sa.text(ingest._CREATE_META_STAGING))
        copy_rows(
            c,
            "poll_meta_staging",
            ("ticker", *ingest._META_COLUMNS),
            [("U-" + o.ticker, *ingest._meta(o)) for o in observations],
        )
        c.execute(sa.text(ingest._UPSERT_MARKETS), {"ts": T0})
    copied, upserted = _markets(engine, "KXN-"), _markets(engine, "U-KXN-")
    assert copied == upserted and len(copied) == 6
    d = _markets(engine, "KXN-26-D")[""]
    columns = [c.name for c in Market.__table__.columns][1:]
    row = dict(zip(columns, d, strict=True))
    assert row["determined_at"] == T0 and row["settled_at"] == settled_ts
    assert row["updated_at"] == T0


def test_a_poll_mixing_unchanged_changed_foreign_and_new_markets(engine):
    alpha = market("KXM-26-A", "KXM-26", "KXM", "A", close=T0, volume="1", last="0.5", previous="0")
    beta = replace(alpha, ticker="KXM-26-B", title="B")
    with engine.begin() as c:
        write_poll(c, message_id="x-1", polled_at=T0, observations=[alpha, beta])
    with engine.begin() as c:  # a market some other tool recorded (no latest prices yet)
        c.execute(
            sa.text(
                "INSERT INTO markets (ticker, event_ticker, series_ticker, category, status) "
                "VALUES ('KXM-26-C', 'KXM-26', 'KXMANUAL', 'Manual', 'active')"
            )
        )
    foreign = replace(alpha, ticker="KXM-26-C", title="C", series_ticker=None, category=None)
    new = replace(alpha, ticker="KXM-26-D", title="D")
    determined = replace(beta, status="determined", result="yes")
    polled_at = T0 + timedelta(minutes=1)
    with engine.begin() as c:
        written = write_poll(
            c,
            message_id="x-2",
            polled_at=polled_at,
            observations=[new, foreign, determined, alpha],  # any order
        )
    assert written is not None
    assert written.markets_changed == 3  # B, C, D; A is unchanged
    assert written.newly_determined == 1
    with engine.connect() as c:
        rows = {
            r.ticker: r for r in c.execute(sa.text("SELECT * FROM markets ORDER BY ticker")).all()
        }
        latest = dict(c.execute(sa.text("SELECT ticker, ts FROM market_latest")).all())
        samples = dict(
            c.execute(
                sa.text("SELECT ticker, samples FROM market_candles WHERE resolution_s = 3600")
            ).all()
        )
    assert rows["KXM-26-A"].updated_at == T0  # untouched
    assert (rows["KXM-26-B"].result, rows["KXM-26-B"].determined_at) == ("yes", polled_at)
    assert (rows["KXM-26-C"].title, rows["KXM-26-C"].series_ticker) == ("C", "KXMANUAL")
    assert rows["KXM-26-C"].category == "Manual"
    assert (rows["KXM-26-D"].title, rows["KXM-26-D"].updated_at) == ("D", polled_at)
    assert latest == dict.fromkeys(("KXM-26-A", "KXM-26-B", "KXM-26-C", "KXM-26-D"), polled_at)
    # Change-only (ADR 0170): A's and B's prices and raw payload are unchanged (B's new
    # status lives in ``markets``), so neither snapshot is stored again or folded.
    assert samples == {"KXM-26-A": 1, "KXM-26-B": 1, "KXM-26-C": 1, "KXM-26-D": 1}


def test_overlapping_polls_of_new_markets_write_one_after_the_other(engine):
    """Without the write lock the second poll would COPY the same new markets and fail on
    their primary keys once the first commits."""
    observations = synthetic_poll(30)
    later = T0 + timedelta(minutes=1)
    first = engine.connect()
    first_tx = first.begin()
    try:
        assert write_poll(first, message_id="o-1", polled_at=T0, observations=observations)
        outcome: dict[str, object] = {}

        def second_poll() -> None:
            try:
                with engine.begin() as c:
                    outcome["write"] = write_poll(
                        c, message_id="o-2", polled_at=later, observations=observations
                    )
            except Exception as exc:  # reported below
                outcome["error"] = exc

        thread = threading.Thread(target=second_poll)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive(), "the second poll should wait for the first one's lock"
        first_tx.commit()
        thread.join(timeout=30)
        assert not thread.is_alive()
    finally:
        first.close()
    assert "error" not in outcome, outcome.get("error")
    second = outcome["write"]
    assert isinstance(second, PollWrite) and second.markets_changed == 0
    assert count(engine, "markets") == 30
    # The second poll saw the same markets unchanged: nothing new stored (ADR 0170).
    assert count(engine, "market_snapshots") == 30
    with engine.connect() as c:
        assert set(c.execute(sa.text("SELECT ts FROM market_latest")).scalars()) == {later}
        assert set(c.execute(sa.text("SELECT samples FROM market_candles")).scalars()) == {1}


def test_a_poll_refuses_to_run_outside_read_committed(engine):
    with engine.connect() as c:
        c = c.execution_options(isolation_level="REPEATABLE READ")
        with pytest.raises(ValueError, match="READ COMMITTED"), c.begin():
            write_poll(c, message_id="rr-1", polled_at=T0, observations=universe())
    assert count(engine, "processed_messages") == 0
    assert count(engine, "market_snapshots") == 0


def test_a_copy_larger_than_one_message_arrives_whole(engine):
    # ~1.3 MB: several of copy_payload's 256 KiB CopyData messages, split mid-row.
    rows = [(i, f"row {i} " + "x" * (i % 1000) + "\tend\\") for i in range(2600)]
    with engine.begin() as c:
        c.execute(sa.text("CREATE TEMPORARY TABLE big (n integer, body text) ON COMMIT DROP"))
        assert copy_rows(c, "big", ("n", "body"), rows) == len(rows)
        stored = c.execute(sa.text("SELECT n, body FROM big ORDER BY n")).all()
    assert [tuple(r) for r in stored] == rows


def _dirty_market() -> MarketObservation:
    """A market off the wire with NULs in its title, subtitle, rules and a raw-kept field."""
    wire = json.loads((RECORDED / "markets__single.json").read_text())["market"]
    wire.update(
        ticker="KXNUL-26-T1",
        event_ticker="KXNUL-26",
        title="Will it\u0000 rain?",
        subtitle="sub\u0000title",
        rules_primary="Resolves\u0000 yes if it rains.",
        expiration_value="12\u0000",
        status="active",
    )
    body = json.dumps({"market": wire}).encode()  # NUL arrives as the JSON escape \u0000
    parsed = km.decode(body, km.GetMarketResponse).market
    event = EventInfo("KXNUL", "Rain\u0000 event", "Weather\u0000")
    return observation_from_market(parsed, event)


def test_text_postgres_refuses_is_cleaned_and_never_blocks_a_poll(engine, caplog):
    dirty = _dirty_market()
    assert "\x00" in dirty.title and b"\\u0000" in (dirty.raw or b"")
    surrogate = replace(dirty, ticker="KXNUL-26-T2", title="lone \ud800 surrogate", raw=None)
    bad_ticker = replace(dirty, ticker="KXNUL-26-T\x003")
    clean = market(
        "KXOK-26-T1", "KXOK-26", "KXOK", "Fine", close=T0, volume="5.00", last="0.5", previous="0"
    )
    observations = [dirty, surrogate, bad_ticker, clean]

    for n, polled_at in enumerate((T0, T0 + timedelta(minutes=1))):
        with engine.begin() as c:
            written = write_poll(
                c, message_id=f"nul-{n}", polled_at=polled_at, observations=observations
            )
        # The second poll repeats the first: change-only stores nothing new (ADR 0170).
        assert written is not None and written.snapshots == (3 if n == 0 else 0)
        assert set(written.cleaned) == {"KXNUL-26-T1", "KXNUL-26-T2"}
        assert written.skipped == ("KXNUL-26-T\x003",)

    with engine.connect() as c:
        stored = {
            r.ticker: r
            for r in c.execute(sa.text("SELECT ticker, title, event_title, category FROM markets"))
        }
        raw = c.execute(
            sa.text("SELECT raw FROM market_snapshots WHERE ticker = 'KXNUL-26-T1' LIMIT 1")
        ).scalar_one()
        snapshots = c.execute(
            sa.text("SELECT ticker, count(*) FROM market_snapshots GROUP BY ticker")
        ).all()
    assert set(stored) == {"KXNUL-26-T1", "KXNUL-26-T2", "KXOK-26-T1"}
    assert stored["KXNUL-26-T1"].title == "Will it rain?"
    assert stored["KXNUL-26-T1"].event_title == "Rain event"
    assert stored["KXNUL-26-T1"].category == "Weather"
    assert stored["KXNUL-26-T2"].title == "lone \ufffd surrogate"
    assert raw["expiration_value"] == "12"
    assert dict(snapshots) == {"KXNUL-26-T1": 1, "KXNUL-26-T2": 1, "KXOK-26-T1": 1}
    assert "left out of the poll" in caplog.text


def test_a_late_poll_inside_a_candle_that_opened_one_sided_becomes_its_open(engine):
    """10:01 one-sided (no midpoint), 10:22 mid 0.645, then 10:12 (mid 0.79) arrives late:
    the hour's first midpoint is 10:12's. The fold alone kept 10:22's."""
    hour = datetime(2026, 6, 11, 10, 0, tzinfo=UTC)

    def at(minute: int, bid: str, ask: str, last: str) -> None:
        observation = market(
            "KXLATE-26-T1",
            "KXLATE-26",
            "KXLATE",
            "Late",
            close=None,
            volume=f"{100 + minute}.00",
            last=last,
            previous="0",
            bid=bid,
            ask=ask,
        )
        with engine.begin() as c:
            write_poll(
                c,
                message_id=f"late-{minute}",
                polled_at=hour + timedelta(minutes=minute),
                observations=[observation],
            )

    at(1, "0.0000", "0.1300", "0.1500")
    at(22, "0.6300", "0.6600", "0.6000")
    at(12, "0.7800", "0.8000", "0.7000")
    at(40, "0.0000", "0.2000", "0.5000")  # one-sided again: the close stays 10:22's
    at(31, "0.2000", "0.2300", "0.2500")  # late, between the last midpoint and the end
    with engine.connect() as c:
        folded = c.execute(sa.text("SELECT * FROM market_candles WHERE resolution_s = 3600")).one()
    assert (folded.mid_open, folded.mid_close) == (D("0.79000"), D("0.21500"))
    assert (folded.last_open, folded.last_close) == (D("0.1500"), D("0.5000"))
    assert (folded.volume_open_fp, folded.volume_close_fp) == (D("101.00"), D("140.00"))
    with engine.begin() as c:
        rebuild_candles(c)
    with engine.connect() as c:
        assert (
            c.execute(sa.text("SELECT * FROM market_candles WHERE resolution_s = 3600")).one()
            == folded
        )
