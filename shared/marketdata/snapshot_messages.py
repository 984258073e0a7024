"""The ``market-snapshots`` message contract: what a poll announces, chunked, both ways.

After each written poll the poller publishes the latest prices of every market it wrote
as ``market_snapshots.batch`` envelopes (:mod:`shared.messaging.envelope`). The schema,
the chunking and the encoding live here, apart from the poller, so a consumer (the
streamer) decodes with the same definitions the publisher encodes with and does not
import the poll to do it.

Payload, version 1::

    {"poll": n, "ts": ISO time, "chunk": i, "chunks": k,
     "markets": [{"ticker", "yes_bid_dollars", "yes_ask_dollars", "last_price_dollars",
                  "volume_fp", "open_interest_fp"}, ...]}

Decimals travel as strings (exact), absent prices as null. A poll is split into chunks
of at most ``max_bytes`` encoded bytes each; chunk ``i`` of ``k`` carries idempotency key
``poll-<n>-<i>``, so a republished chunk deduplicates at the consumer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.marketdata.observation import MarketObservation
from shared.messaging.envelope import Envelope, InvalidMessage, aware_time, encode

__all__ = [
    "SNAPSHOT_BATCH_TYPE",
    "SNAPSHOT_BATCH_VERSION",
    "SNAPSHOT_ITEM_FIELDS",
    "SnapshotBatch",
    "SnapshotItem",
    "decode_snapshot_batch",
    "snapshot_envelopes",
    "snapshot_item",
]

SNAPSHOT_BATCH_TYPE = "market_snapshots.batch"
SNAPSHOT_BATCH_VERSION = 1
SNAPSHOT_ITEM_FIELDS: tuple[str, ...] = (
    "ticker",
    "yes_bid_dollars",
    "yes_ask_dollars",
    "last_price_dollars",
    "volume_fp",
    "open_interest_fp",
)
"""One market's entry in a batch, in wire order."""


def snapshot_item(row: Mapping[str, Any] | MarketObservation) -> dict[str, Any]:
    """One market's entry: from an observation (on-time publish) or a snapshot row
    (republish), so both announce exactly the same fields; decimals as strings."""
    get = row.get if isinstance(row, Mapping) else lambda k: getattr(row, k)
    item = {
        "ticker": get("ticker"),
        "yes_bid_dollars": get("yes_bid_dollars"),
        "yes_ask_dollars": get("yes_ask_dollars"),
        "last_price_dollars": get("last_price_dollars"),
        "volume_fp": get("volume_fp"),
        "open_interest_fp": get("open_interest_fp"),
    }
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in item.items()}


def snapshot_envelopes(
    sequence: int,
    polled_at: datetime,
    items: Sequence[Mapping[str, Any]],
    max_bytes: int,
) -> list[Envelope]:
    """The ``market-snapshots`` messages of one poll: latest prices, chunked by size.

    ``items`` are :func:`snapshot_item` entries. Idempotency key ``poll-<n>-<i>``: a
    republished chunk dedupes.
    """
    # Imported where used, as the poller always did: the publisher's module (and
    # concurrent.futures with it) loads only once something is published.
    from shared.messaging.pubsub import chunk_by_size

    def envelope(chunk: Sequence[Mapping[str, Any]], index: int, count: int) -> Envelope:
        return Envelope(
            type=SNAPSHOT_BATCH_TYPE,
            version=SNAPSHOT_BATCH_VERSION,
            idempotency_key=f"poll-{sequence}-{index}",
            emitted_at=polled_at,
            payload={
                "poll": sequence,
                "ts": polled_at.astimezone(UTC).isoformat(),
                "chunk": index,
                "chunks": count,
                "markets": list(chunk),
            },
        )

    def sized(chunk: Sequence[Mapping[str, Any]]) -> bytes:
        return encode(envelope(chunk, 99_999, 99_999))

    chunks = chunk_by_size(list(items), sized, max_bytes)
    return [envelope(chunk, i, len(chunks)) for i, chunk in enumerate(chunks)]


@dataclass(frozen=True)
class SnapshotItem:
    """One market's latest prices as a batch carries them, decimals parsed back."""

    ticker: str
    yes_bid_dollars: Decimal | None
    yes_ask_dollars: Decimal | None
    last_price_dollars: Decimal | None
    volume_fp: Decimal | None
    open_interest_fp: Decimal | None


@dataclass(frozen=True)
class SnapshotBatch:
    """One decoded ``market_snapshots.batch`` message: chunk ``chunk`` of ``chunks``."""

    poll: int
    ts: datetime
    chunk: int
    chunks: int
    markets: tuple[SnapshotItem, ...]


def _int(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidMessage(f"snapshot batch {name} must be a non-negative integer")
    return value


def _decimal(entry: Mapping[str, Any], name: str) -> Decimal | None:
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMessage(f"snapshot batch {name} must be a decimal string or null")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InvalidMessage(f"snapshot batch {name} is not a decimal") from None
    if not number.is_finite():
        raise InvalidMessage(f"snapshot batch {name} is not a finite decimal")
    return number


def _item(entry: object) -> SnapshotItem:
    if not isinstance(entry, Mapping):
        raise InvalidMessage("snapshot batch markets must be JSON objects")
    ticker = entry.get("ticker")
    if not isinstance(ticker, str) or not ticker:
        raise InvalidMessage("snapshot batch ticker must be a non-empty string")
    return SnapshotItem(
        ticker=ticker,
        yes_bid_dollars=_decimal(entry, "yes_bid_dollars"),
        yes_ask_dollars=_decimal(entry, "yes_ask_dollars"),
        last_price_dollars=_decimal(entry, "last_price_dollars"),
        volume_fp=_decimal(entry, "volume_fp"),
        open_interest_fp=_decimal(entry, "open_interest_fp"),
    )


def decode_snapshot_batch(envelope: Envelope) -> SnapshotBatch:
    """The batch an envelope carries; :class:`InvalidMessage` when it is not one we know.

    Takes an envelope already parsed by :func:`shared.messaging.envelope.decode`. Another
    type or a version other than :data:`SNAPSHOT_BATCH_VERSION` is refused rather than
    misread; unknown payload and entry fields are ignored (forward compatible).
    """
    if envelope.type != SNAPSHOT_BATCH_TYPE:
        raise InvalidMessage(f"not a {SNAPSHOT_BATCH_TYPE} message: {envelope.type}")
    if envelope.version != SNAPSHOT_BATCH_VERSION:
        raise InvalidMessage(f"unknown {SNAPSHOT_BATCH_TYPE} version {envelope.version}")
    payload = envelope.payload
    ts = aware_time(payload.get("ts"), "snapshot batch ts")
    chunk, chunks = _int(payload, "chunk"), _int(payload, "chunks")
    if chunk >= chunks:
        raise InvalidMessage("snapshot batch chunk must be below chunks")
    markets = payload.get("markets")
    if not isinstance(markets, list):
        raise InvalidMessage("snapshot batch markets must be a list")
    return SnapshotBatch(
        poll=_int(payload, "poll"),
        ts=ts,
        chunk=chunk,
        chunks=chunks,
        markets=tuple(_item(entry) for entry in markets),
    )
