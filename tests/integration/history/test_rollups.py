"""Candles from other sources (ADR 0172): ``upsert_candles`` is idempotent, ranks sources,
and never overwrites the project's own observations; a poll replaces a foreign candle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from shared.history.rollups import CandleRow, prune_minute_candles, upsert_candles
from shared.marketdata.ingest import write_poll
from tests.integration.marketdata.handmade import market

pytestmark = pytest.mark.integration

HOUR = datetime(2026, 6, 11, 10, tzinfo=UTC)
TICKER = "KXRU-26-T1"


def candle(res: int, start: datetime, close: str, samples: int = 1) -> CandleRow:
    price = D(close)
    return CandleRow(
        TICKER, res, start, start, start + timedelta(seconds=res - 1),
        mid_open=price, mid_high=price, mid_low=price, mid_close=price,
        last_open=price, last_high=price, last_low=price, last_close=price,
        volume_open_fp=D("10.00"), volume_close_fp=D("12.00"), samples=samples,
    )  # fmt: skip


def stored(engine: sa.Engine) -> dict[tuple[int, datetime], tuple[str, D]]:
    with engine.connect() as c:
        return {
            (r.resolution_s, r.bucket_start): (r.source, r.mid_close)
            for r in c.execute(
                sa.text("SELECT * FROM market_candles WHERE ticker = :t"), {"t": TICKER}
            )
        }


def test_sources_rank_and_the_own_observations_win(engine: sa.Engine) -> None:
    rows = [candle(3600, HOUR, "0.4000"), candle(60, HOUR, "0.4000")]
    with engine.begin() as c:
        assert upsert_candles(c, "kalshi_candles", rows) == 2
    with engine.begin() as c:
        assert upsert_candles(c, "kalshi_candles", rows) == 0  # a re-run changes nothing
    with engine.begin() as c:  # the trade tape ranks below Kalshi's candles
        assert upsert_candles(c, "trades", [candle(3600, HOUR, "0.9000")]) == 0
    with engine.begin() as c:  # the same source with newer numbers replaces
        assert upsert_candles(c, "kalshi_candles", [candle(3600, HOUR, "0.4500")]) == 1
    assert stored(engine)[(3600, HOUR)] == ("kalshi_candles", D("0.45000"))

    observation = market(
        TICKER, "KXRU-26", "KXRU", "R", close=None, volume="20.00", last="0.6000",
        previous="0", bid="0.5000", ask="0.5200",
    )  # fmt: skip
    with engine.begin() as c:
        write_poll(c, message_id="ru-1", polled_at=HOUR + timedelta(seconds=30),
                   observations=[observation])  # fmt: skip
    after = stored(engine)
    assert after[(3600, HOUR)] == ("poll", D("0.51000"))  # the poll replaced Kalshi's
    assert after[(60, HOUR)] == ("poll", D("0.51000"))
    assert after[(86_400, datetime(2026, 6, 11, tzinfo=UTC))][0] == "poll"
    with engine.begin() as c:  # and nobody overwrites the poll's candle
        assert upsert_candles(c, "kalshi_candles", [candle(3600, HOUR, "0.1000")]) == 0
    assert stored(engine)[(3600, HOUR)] == ("poll", D("0.51000"))


def test_bad_sources_and_resolutions_are_refused(engine: sa.Engine) -> None:
    with engine.begin() as c, pytest.raises(ValueError, match="unknown source"):
        upsert_candles(c, "rumours", [candle(60, HOUR, "0.1")])
    with engine.begin() as c, pytest.raises(ValueError, match="not a rollup resolution"):
        upsert_candles(c, "trades", [candle(120, HOUR, "0.1")])


def test_minute_candles_expire_and_coarser_ones_stay(engine: sa.Engine) -> None:
    old = HOUR - timedelta(days=400)
    with engine.begin() as c:
        upsert_candles(c, "kalshi_candles", [candle(60, old, "0.3"), candle(3600, old, "0.3"),
                                             candle(60, HOUR, "0.3")])  # fmt: skip
    with engine.begin() as c:
        assert prune_minute_candles(c, HOUR - timedelta(days=365)) == 1
    assert set(stored(engine)) == {(3600, old), (60, HOUR)}
