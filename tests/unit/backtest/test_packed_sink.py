"""The packed snapshot COPY decoded as it streams (ADR 0230) equals decoding the whole
stream at once, however pg8000 happens to split it into writes."""

from __future__ import annotations

import numpy as np
import pytest

from shared.backtest import loader

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _stream(rng: np.random.Generator, markets: int) -> tuple[bytes, list[tuple[int, int]]]:
    """A binary COPY of ``(idx int4, packed bytea)`` rows, as Postgres sends it."""
    out = bytearray(_SIGNATURE + (0).to_bytes(4, "big") + (0).to_bytes(4, "big"))
    shape = []
    for market in sorted(rng.choice(50, size=markets, replace=False).tolist()):
        count = int(rng.integers(1, 30))
        records = np.zeros(count, dtype=loader._PACKED_RECORD)
        records["ts"] = np.sort(rng.integers(0, 10**12, count))
        records["id"] = rng.integers(1, 10**9, count)
        records["bid"] = rng.integers(-1, 10_000, count)
        records["ask"] = rng.integers(-1, 10_000, count)
        records["poll"] = rng.integers(0, 2, count)
        body = records.tobytes()
        out += (2).to_bytes(2, "big") + (4).to_bytes(4, "big") + market.to_bytes(4, "big")
        out += len(body).to_bytes(4, "big") + body
        shape.append((market, count))
    out += (-1).to_bytes(2, "big", signed=True)
    return bytes(out), shape


def _whole(raw: bytes) -> loader.StoredRows:
    """The decoding before the sink: parse the whole stream, then convert each column."""
    records, markets, counts = loader._parse_packed(raw, loader._PACKED_RECORD)
    return loader.StoredRows(
        market=np.repeat(np.array(markets, dtype=np.int32), np.array(counts, dtype=np.int64)),
        ts=records["ts"].astype(np.int64) + loader.PG_EPOCH_US,
        snapshot_id=records["id"].astype(np.int64),
        yes_bid=records["bid"].astype(np.int32),
        yes_ask=records["ask"].astype(np.int32),
        poll=records["poll"] == 1,
    )


@pytest.mark.parametrize("seed", range(20))
def test_any_split_of_the_stream_decodes_the_same(seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw, _shape = _stream(rng, int(rng.integers(0, 6)))
    want = _whole(raw)
    cuts = sorted(set(rng.integers(0, len(raw), int(rng.integers(0, 12))).tolist()))
    sink = loader._PackedSink()
    for lo, hi in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        sink.write(raw[lo:hi])
    got = sink.rows()
    for name in loader.StoredRows.__dataclass_fields__:
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
        assert getattr(got, name).dtype == getattr(want, name).dtype, name


def test_a_stream_cut_short_or_malformed_is_refused() -> None:
    raw, _shape = _stream(np.random.default_rng(1), 2)
    sink = loader._PackedSink()
    sink.write(raw[:-2])  # no trailer
    with pytest.raises(ValueError, match="ended early"):
        sink.rows()
    with pytest.raises(ValueError, match="not a binary COPY"):
        loader._PackedSink().write(b"x" * 40)
