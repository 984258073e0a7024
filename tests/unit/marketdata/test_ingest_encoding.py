"""The ingest's hand-specialised COPY encoders agree with the generic one, and the
metadata fingerprint and bucket boundaries they write follow their rules."""

from datetime import UTC, datetime

import pytest

from shared.db.copy_text import encode_copy_rows


def test_specialised_poll_payloads_match_the_generic_encoder():
    from dataclasses import replace
    from decimal import Decimal as D

    from shared.marketdata import ingest
    from tests.integration.marketdata.synthetic import synthetic_poll

    observations = synthetic_poll(5)
    observations[1] = replace(observations[1], ticker="ODD\tTICKER", raw=b'{"a":"q\\"\\\\"}')
    observations[2] = replace(observations[2], yes_bid_dollars=None, raw=None, volume_fp=D("1.50"))
    ts = datetime(2026, 6, 11, 5, tzinfo=UTC)
    generic = encode_copy_rows(
        (
            o.ticker,
            ts,
            "poll",
            7,
            o.yes_bid_dollars,
            o.yes_ask_dollars,
            o.no_bid_dollars,
            o.no_ask_dollars,
            o.last_price_dollars,
            o.volume_fp,
            o.open_interest_fp,
            o.raw,
        )
        for o in observations
    )
    assert ingest._snapshot_payload(observations, ts, 7) == generic
    staging = encode_copy_rows(
        (
            i,
            o.ticker,
            o.yes_bid_dollars,
            o.yes_ask_dollars,
            o.no_bid_dollars,
            o.no_ask_dollars,
            o.last_price_dollars,
            o.previous_price_dollars,
            o.volume_fp,
            o.volume_24h_fp,
            o.open_interest_fp,
            ingest.metadata_hash(o),
            o.status,
            ingest.snapshot_hash(body),
        )
        for i, (o, body) in enumerate(
            zip(observations, ingest._snapshot_bodies(observations), strict=True)
        )
    )
    assert ingest._staging_payload(observations) == staging


def test_new_market_rows_match_the_generic_encoder_and_the_upserts_rules():
    from dataclasses import replace
    from decimal import Decimal as D

    from shared.marketdata import ingest
    from tests.integration.marketdata.synthetic import synthetic_poll

    settled = datetime(2026, 6, 11, 4, 30, tzinfo=UTC)
    observations = synthetic_poll(6)
    observations[1] = replace(observations[1], title="a\tb\\c", series_ticker=None)
    observations[2] = replace(observations[2], status="determined", result="no")
    observations[3] = replace(
        observations[3], status="finalized", result="yes", settlement_value_dollars=D("1")
    )
    observations[4] = replace(observations[4], status="finalized", settlement_ts=settled)
    observations[5] = replace(observations[5], open_time=None, close_time=None, category=None)
    now = datetime(2026, 6, 11, 5, tzinfo=UTC)

    def expected(o):
        determined_at = now if o.result is not None else None
        settled_at = (o.settlement_ts or now) if o.status == "finalized" else None
        return (o.ticker, *ingest._meta(o)[:-1], determined_at, settled_at, now)

    generic = encode_copy_rows(expected(o) for o in observations)
    assert ingest._new_markets_payload(observations, now) == generic
    assert len(ingest._NEW_MARKET_COLUMNS) == len(expected(observations[0]))
    with pytest.raises(ValueError):
        ingest._new_markets_payload([replace(observations[0], open_time=datetime(2026, 6, 1))], now)


def test_metadata_hash_follows_every_stored_field_and_nothing_else():
    from dataclasses import replace
    from datetime import timedelta, timezone
    from decimal import Decimal as D

    from shared.marketdata import ingest
    from shared.marketdata.ingest import metadata_hash
    from tests.integration.marketdata.synthetic import synthetic_poll

    o = synthetic_poll(1)[0]
    assert metadata_hash(o) == metadata_hash(replace(o))
    # Prices, volumes and the raw document are not metadata.
    assert metadata_hash(o) == metadata_hash(
        replace(o, yes_bid_dollars=D("0.01"), volume_fp=D("1"), raw=b"{}")
    )
    # The same instant written in another offset is the same metadata.
    shifted = o.close_time.astimezone(timezone(timedelta(hours=-5)))
    assert metadata_hash(o) == metadata_hash(replace(o, close_time=shifted))
    changes = {
        "event_ticker": "OTHER",
        "series_ticker": None,
        "title": "Renamed",
        "event_title": None,
        "yes_sub_title": None,
        "category": None,
        "market_type": "scalar",
        "status": "closed",
        "open_time": None,
        "close_time": o.close_time + timedelta(microseconds=1),
        "result": "yes",
        "settlement_value_dollars": D("1.0000"),
        "settlement_ts": o.close_time,
    }
    assert set(changes) == set(ingest._META_COLUMNS)  # every column markets stores
    hashes = {metadata_hash(replace(o, **{name: value})) for name, value in changes.items()}
    assert len(hashes) == len(changes) and metadata_hash(o) not in hashes
    assert -(2**63) <= metadata_hash(o) < 2**63


def test_bucket_start_is_the_epoch_aligned_floor():
    from datetime import timedelta

    from shared.marketdata.sql import bucket_start

    hour = datetime(2026, 6, 11, 5, tzinfo=UTC)
    assert bucket_start(hour, 3600) == hour
    assert (
        bucket_start(hour + timedelta(minutes=59, seconds=59, microseconds=999_999), 3600) == hour
    )
    assert bucket_start(hour - timedelta(microseconds=1), 3600) == hour - timedelta(hours=1)
    assert bucket_start(hour + timedelta(hours=7), 86_400) == datetime(2026, 6, 11, tzinfo=UTC)
    before_epoch = datetime(1969, 12, 31, 23, 30, tzinfo=UTC)
    assert bucket_start(before_epoch, 3600) == datetime(1969, 12, 31, 23, tzinfo=UTC)
    with pytest.raises(ValueError):
        bucket_start(datetime(2026, 6, 11), 3600)
