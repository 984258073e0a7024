"""The market-snapshots contract: what the poll encodes, a consumer decodes unchanged."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from shared.marketdata.observation import MarketObservation
from shared.marketdata.snapshot_messages import (
    SNAPSHOT_BATCH_TYPE,
    SNAPSHOT_BATCH_VERSION,
    SNAPSHOT_ITEM_FIELDS,
    SnapshotItem,
    decode_snapshot_batch,
    snapshot_envelopes,
    snapshot_item,
)
from shared.messaging.envelope import Envelope, InvalidMessage, decode, encode

POLLED_AT = datetime(2026, 6, 11, 5, 0, 7, 123456, tzinfo=timezone(timedelta(hours=-4)))


def items(n: int) -> list[dict[str, object]]:
    return [
        snapshot_item(
            MarketObservation(
                ticker=f"KXTEST-{i:05d}",
                event_ticker="KXTEST",
                status="active",
                yes_bid_dollars=D("0.4100") if i % 3 else None,
                yes_ask_dollars=D("0.4300"),
                last_price_dollars=D("0.0000"),
                volume_fp=D("1234.50"),
                open_interest_fp=None if i % 2 else D("17.00"),
            )
        )
        for i in range(n)
    ]


def test_items_from_observations_and_snapshot_rows_are_the_same_strings():
    (from_observation,) = items(1)
    assert tuple(from_observation) == SNAPSHOT_ITEM_FIELDS
    assert snapshot_item(dict(from_observation)) == from_observation
    assert from_observation["yes_ask_dollars"] == "0.4300"


def test_a_chunked_poll_round_trips_through_the_wire():
    sent = items(400)
    envelopes = snapshot_envelopes(42, POLLED_AT, sent, max_bytes=8 * 1024)
    assert len(envelopes) > 1
    batches = [decode_snapshot_batch(decode(encode(e))) for e in envelopes]
    assert [b.chunk for b in batches] == list(range(len(envelopes)))
    assert {b.chunks for b in batches} == {len(envelopes)}
    assert {b.poll for b in batches} == {42}
    assert {b.ts for b in batches} == {POLLED_AT}
    assert all(b.ts.utcoffset() == timedelta(0) for b in batches)
    assert [e.idempotency_key for e in envelopes] == [f"poll-42-{i}" for i in range(len(batches))]
    assert all(len(encode(e)) <= 8 * 1024 for e in envelopes)
    received = [m for b in batches for m in b.markets]
    expected = [
        SnapshotItem(**{k: (v if k == "ticker" or v is None else D(v)) for k, v in item.items()})
        for item in sent
    ]
    assert received == expected
    assert received[1].yes_bid_dollars == D("0.4100") and received[0].yes_bid_dollars is None
    assert str(received[0].last_price_dollars) == "0.0000"  # exact, scale kept


def test_an_empty_poll_is_no_messages():
    assert snapshot_envelopes(1, POLLED_AT, [], max_bytes=8 * 1024) == []


def batch(payload: dict[str, object], **fields: object) -> Envelope:
    defaults: dict[str, object] = {"type": SNAPSHOT_BATCH_TYPE, "version": SNAPSHOT_BATCH_VERSION}
    defaults.update(fields)
    return Envelope(payload=payload, emitted_at=datetime(2026, 6, 11, tzinfo=UTC), **defaults)  # type: ignore[arg-type]


GOOD = {"poll": 1, "ts": "2026-06-11T05:00:00+00:00", "chunk": 0, "chunks": 1, "markets": []}


@pytest.mark.parametrize(
    "envelope",
    [
        batch(GOOD, type="poll_markets.trigger"),
        batch(GOOD, version=2),
        batch({**GOOD, "ts": "2026-06-11T05:00:00"}),
        batch({**GOOD, "ts": "yesterday"}),
        batch({**GOOD, "poll": True}),
        batch({**GOOD, "chunk": 1}),
        batch({**GOOD, "markets": {}}),
        batch({**GOOD, "markets": [{"ticker": ""}]}),
        batch({**GOOD, "markets": [{"ticker": "A", "volume_fp": 1.5}]}),
        batch({**GOOD, "markets": [{"ticker": "A", "volume_fp": "NaN"}]}),
        batch({**GOOD, "markets": [{"ticker": "A", "volume_fp": "lots"}]}),
    ],
)
def test_what_is_not_a_known_batch_is_an_invalid_message(envelope: Envelope):
    with pytest.raises(InvalidMessage):
        decode_snapshot_batch(envelope)


def test_unknown_fields_are_ignored():
    payload = {**GOOD, "extra": 1, "markets": [{"ticker": "A", "new_field": "x"}]}
    (item,) = decode_snapshot_batch(batch(payload)).markets
    assert item == SnapshotItem("A", None, None, None, None, None)
