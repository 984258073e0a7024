"""The archive's content checksum is exact at production sizes (no int64 overflow)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from shared.history.archive import ARCHIVE_SCHEMA, _arrow_checksum


def test_a_day_of_timestamps_sums_exactly() -> None:
    base = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp() * 1_000_000)
    n = 20_000  # a day of 10,000 markets overflows int64 at ~5,000 rows
    ts = [base + i * 4_000_000 for i in range(n)]
    columns = {f.name: pa.nulls(n, f.type) for f in ARCHIVE_SCHEMA}
    columns["id"] = pa.array(range(n), pa.int64())
    columns["ts"] = pa.array(ts, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    columns["yes_bid"] = pa.array([4_000] * n, pa.int32())
    table = pa.table(columns, schema=ARCHIVE_SCHEMA)
    assert _arrow_checksum(table) == (n, sum(range(n)), sum(ts), 4_000 * n)
    assert sum(ts) > 2**63  # the premise
