"""Old daily partitions of ``market_snapshots`` as Parquet, verified before they drop.

One day is one file set under ``snapshots/day=YYYY-MM-DD/``: ``part-0000.parquet`` (rows
sorted by ticker then time, so a reader filtering on tickers skips row groups) and
``manifest.json`` (rows, bytes, SHA-256 of the file, and a content checksum). Prices are
exact integers: ticks of $0.0001 (``int32``, null when absent) and counts in hundredths of
a contract (``int64``); ``raw`` is the JSON text. The archive is Cloud Storage in the cloud
(``gs://bucket/prefix``, the bucket's lifecycle in Terraform) and a directory locally
(ADR 0171, 0174).

A partition is dropped only after its file set was read back from the store and matched
the partition: the same row count, the file's SHA-256 as written, and the same content
checksum (the sums of ids, times and price ticks, computed by Postgres on one side and by
Arrow on the other). ``history_archives`` records each step; the database function that
drops a partition refuses a day without a verified archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import Connection, text

from shared.history.partitions import PARTS_SCHEMA, drop_partition, partition_name
from shared.history.stores import (
    ArchiveError,
    ArchiveStore,
    GcsArchive,
    LocalArchive,
    open_archive,
)

__all__ = [
    "ARCHIVE_SCHEMA",
    "ArchiveError",
    "ArchiveStore",
    "DayArchive",
    "GcsArchive",
    "LocalArchive",
    "archive_day",
    "archived_days",
    "open_archive",
    "read_day",
]

log = logging.getLogger(__name__)

PRICE_COLUMNS = ("yes_bid", "yes_ask", "no_bid", "no_ask", "last_price")
COUNT_COLUMNS = ("volume", "open_interest")

ARCHIVE_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("ticker", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("source", pa.string()),
        ("sequence", pa.int64()),
        *[(name, pa.int32()) for name in PRICE_COLUMNS],
        *[(name, pa.int64()) for name in COUNT_COLUMNS],
        ("raw", pa.string()),
    ]
)
"""One archived snapshot: prices in ticks, counts in hundredths, ``raw`` as JSON text."""

_EXPORT = """
COPY (
    SELECT id, ticker, floor(extract(epoch FROM ts) * 1000000)::bigint,
           source, sequence,
           round(yes_bid_dollars * 10000)::int, round(yes_ask_dollars * 10000)::int,
           round(no_bid_dollars * 10000)::int, round(no_ask_dollars * 10000)::int,
           round(last_price_dollars * 10000)::int,
           round(volume_fp * 100)::bigint, round(open_interest_fp * 100)::bigint, raw::text
    FROM {table} ORDER BY ticker, ts, id
) TO STDOUT (FORMAT csv)
"""

# The content checksum, the same numbers both sides: row count, and sums of the id, the
# time (µs since the epoch) and every price tick (NULL as 0), as exact integers.
_DB_CHECKSUM = """
SELECT count(*), coalesce(sum(id), 0),
       coalesce(sum(floor(extract(epoch FROM ts) * 1000000)::numeric), 0),
       coalesce(sum(coalesce(round(yes_bid_dollars * 10000), 0)
                  + coalesce(round(yes_ask_dollars * 10000), 0)
                  + coalesce(round(last_price_dollars * 10000), 0)), 0)
FROM {table}
"""


@dataclass(frozen=True)
class DayArchive:
    """What ``history_archives`` records of one archived day."""

    day: date
    uri: str
    rows: int
    sha256: str
    bytes: int
    checksum: tuple[int, int, int, int]


def _day_prefix(day: date) -> str:
    return f"snapshots/day={day.isoformat()}"


def _copy_out(connection: Connection, sql: str) -> bytes:
    sink = io.BytesIO()
    dbapi: Any = connection.connection.dbapi_connection
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql, stream=sink)
    finally:
        cursor.close()
    return sink.getvalue()


def _table_of(connection: Connection, day: date) -> str:
    name = partition_name(day)
    found = connection.execute(
        text("SELECT to_regclass(:n) IS NOT NULL"), {"n": f"{PARTS_SCHEMA}.{name}"}
    ).scalar_one()
    if not found:
        raise ArchiveError(f"no partition for {day}")
    return f"{PARTS_SCHEMA}.{name}"


def _read_csv(payload: bytes) -> pa.Table:
    names = ARCHIVE_SCHEMA.names
    types = {f.name: (pa.int64() if f.name == "ts" else f.type) for f in ARCHIVE_SCHEMA}
    table = pacsv.read_csv(
        io.BytesIO(payload),
        read_options=pacsv.ReadOptions(column_names=names),
        convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )
    # Postgres's CSV writes NULL as an unquoted empty field and "" as a quoted one; only
    # the nullable numeric columns and raw can be NULL, and raw is never the empty string.
    raw = table.column("raw")
    raw = pc.if_else(pc.equal(raw, ""), pa.scalar(None, pa.string()), raw)
    ts = table.column("ts").cast(pa.timestamp("us", tz="UTC"))
    table = table.set_column(names.index("ts"), "ts", ts)
    table = table.set_column(names.index("raw"), "raw", raw)
    return table.cast(ARCHIVE_SCHEMA)


def _arrow_checksum(table: pa.Table) -> tuple[int, int, int, int]:
    def total(array: Any) -> int:
        value = pc.sum(array).as_py()
        return int(value or 0)

    ticks = 0
    for name in ("yes_bid", "yes_ask", "last_price"):
        ticks += total(pc.fill_null(table.column(name).cast(pa.int64()), 0))
    # Times summed in two halves: a day of microsecond timestamps overflows int64 at ~5,000
    # rows; each half stays far inside it, and Python joins them exactly.
    ts = table.column("ts").cast(pa.int64())
    high = total(pc.shift_right(ts, 20))
    low = total(pc.bit_wise_and(ts, (1 << 20) - 1))
    return (table.num_rows, total(table.column("id")), (high << 20) + low, ticks)


def _db_checksum(connection: Connection, table: str) -> tuple[int, int, int, int]:
    row = connection.execute(text(_DB_CHECKSUM.format(table=table))).one()
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def archive_day(
    connection: Connection, store: ArchiveStore, day: date, *, drop: bool = True
) -> DayArchive:
    """Export ``day``'s partition to ``store``, verify it, record it and (``drop``) drop
    the partition, in the caller's transaction. Raises :class:`ArchiveError` (leaving the
    partition) when the file set does not verify.

    Re-running a day is safe: the file set is rewritten from the same rows (deterministic
    order) and the record updated.
    """
    table = _table_of(connection, day)
    payload = _copy_out(connection, _EXPORT.format(table=table))
    expected = _db_checksum(connection, table)
    arrow = _read_csv(payload)
    del payload
    exported = _arrow_checksum(arrow)
    if exported != expected:
        raise ArchiveError(
            f"{day}: the exported rows do not match the partition "
            f"(rows, ids, times, ticks: {exported} exported, {expected} in Postgres)"
        )
    sink = io.BytesIO()
    pq.write_table(arrow, sink, compression="zstd", row_group_size=64_000)
    data = sink.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    prefix = _day_prefix(day)
    manifest = {
        "day": day.isoformat(),
        "files": [
            {
                "name": "part-0000.parquet",
                "rows": arrow.num_rows,
                "bytes": len(data),
                "sha256": digest,
            }
        ],
        "rows": arrow.num_rows,
        "checksum": list(expected),
    }
    store.put(f"{prefix}/part-0000.parquet", data)
    store.put(f"{prefix}/manifest.json", json.dumps(manifest, sort_keys=True).encode())
    archived_at = datetime.now(UTC)
    # Verify from the store, not from memory: what a reader will get.
    back = store.get(f"{prefix}/part-0000.parquet")
    if hashlib.sha256(back).hexdigest() != digest:
        raise ArchiveError(f"{day}: the stored file's SHA-256 differs from the written one")
    if _arrow_checksum(pq.read_table(io.BytesIO(back))) != expected:
        raise ArchiveError(f"{day}: the stored file's rows do not match the partition")
    record = DayArchive(day, f"{store.url}/{prefix}", arrow.num_rows, digest, len(data), expected)
    connection.execute(
        text(
            "INSERT INTO history_archives (day, uri, rows, sha256, bytes, archived_at, "
            "verified_at) VALUES (:day, :uri, :rows, :sha, :bytes, :at, now()) "
            "ON CONFLICT (day) DO UPDATE SET uri = excluded.uri, rows = excluded.rows, "
            "sha256 = excluded.sha256, bytes = excluded.bytes, "
            "archived_at = excluded.archived_at, verified_at = excluded.verified_at"
        ),
        {
            "day": day,
            "uri": record.uri,
            "rows": record.rows,
            "sha": digest,
            "bytes": len(data),
            "at": archived_at,
        },
    )
    if drop:
        drop_partition(connection, day)
        connection.execute(
            text("UPDATE history_archives SET dropped_at = now() WHERE day = :d"), {"d": day}
        )
    log.info(
        "archived %s: %d rows, %d bytes, verified%s",
        day,
        record.rows,
        len(data),
        ", partition dropped" if drop else "",
    )
    return record


def archived_days(connection: Connection) -> list[date]:
    """Days whose partition was dropped after a verified archive, oldest first."""
    return list(
        connection.execute(
            text(
                "SELECT day FROM history_archives WHERE dropped_at IS NOT NULL "
                "AND verified_at IS NOT NULL ORDER BY day"
            )
        ).scalars()
    )


ARCHIVE_COLUMNS_FOR_LOADER = ("ticker", "ts", "id", "source", "yes_bid", "yes_ask")
DICTIONARY_COLUMNS = ("ticker", "source")
"""String columns read as Arrow dictionaries: a day repeats each ticker thousands of times
and ``source`` has four values, so the reader hands back small dictionaries and int32
indices instead of decoding a million strings (the file stores them dictionary-encoded)."""


def _wanted_row_groups(metadata: Any, tickers: Sequence[str]) -> list[int]:
    """Row groups whose ``ticker`` range (from the file's statistics) holds a wanted ticker.

    The file is sorted by ticker, so a selection touches a few row groups; a group without
    statistics is always read. Bytewise order, as Parquet's statistics compare strings.
    """
    import bisect

    wanted = sorted(t.encode() for t in tickers)
    column = metadata.schema.names.index("ticker")
    groups: list[int] = []
    for index in range(metadata.num_row_groups):
        stats = metadata.row_group(index).column(column).statistics
        if stats is None or not stats.has_min_max:
            groups.append(index)
            continue
        low, high = stats.min, stats.max
        low = low.encode() if isinstance(low, str) else low
        high = high.encode() if isinstance(high, str) else high
        at = bisect.bisect_left(wanted, low)
        if at < len(wanted) and wanted[at] <= high:
            groups.append(index)
    return groups


def read_day(
    store: ArchiveStore,
    day: date,
    tickers: Sequence[str] | None = None,
    columns: Sequence[str] = ARCHIVE_COLUMNS_FOR_LOADER,
) -> pa.Table:
    """One archived day's ``columns``, ticker then time order, with ``ticker`` and
    ``source`` as dictionary arrays (:data:`DICTIONARY_COLUMNS`).

    With ``tickers``, only the row groups whose ticker range (the file's statistics) holds
    one of them are decoded; rows of other tickers inside those groups stay, for the
    caller to drop (it maps tickers through the small dictionary anyway). Whole row groups
    and only the needed columns, no row-by-row predicate.
    """
    data = store.get(f"{_day_prefix(day)}/part-0000.parquet")
    dictionary = [c for c in DICTIONARY_COLUMNS if c in columns]
    parquet = pq.ParquetFile(pa.BufferReader(data), read_dictionary=dictionary)
    groups = (
        list(range(parquet.metadata.num_row_groups))
        if tickers is None
        else _wanted_row_groups(parquet.metadata, tickers)
    )
    if not groups:
        return parquet.schema_arrow.empty_table().select(list(columns))
    return parquet.read_row_groups(groups, columns=list(columns))


def days_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
