"""Postgres ``COPY ... FROM STDIN`` text format, and running it through SQLAlchemy on pg8000.

COPY is the fastest way into Postgres from Python: one statement, one round trip, no
per-row parse/plan (about 100x a row-at-a-time INSERT, 5x a 1,000-row multi-VALUES batch).
The text format is simple enough to write by hand: tab-separated columns, ``\\N`` for NULL,
and backslash escapes for backslash, tab, newline and carriage return.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Connection

__all__ = [
    "COPY_NULL",
    "copy_payload",
    "copy_rows",
    "copy_text",
    "copy_time",
    "encode_copy_rows",
    "encode_copy_value",
]

COPY_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    """``value`` with COPY's backslash escapes; returned as is when it needs none.

    The check first because the ingest's hand-specialised encoders call this 10,000s of
    times a poll and almost no ticker or title contains a backslash, tab or line break.
    """
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def copy_time(value: datetime | None) -> str:
    """A ``timestamptz`` column value; naive datetimes are refused, not guessed at."""
    if value is None:
        return COPY_NULL
    if value.tzinfo is None:
        raise ValueError("COPY refuses naive datetimes: the column is timestamptz")
    return value.isoformat()


def encode_copy_value(value: object) -> str:
    """One column value in COPY text format (the caller joins columns with tabs)."""
    if value is None:
        return COPY_NULL
    if isinstance(value, str):
        return copy_text(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return copy_time(value)
    if isinstance(value, bytes):
        # JSON documents arrive as UTF-8 bytes; they may contain escaped control chars.
        return copy_text(value.decode("utf-8"))
    raise TypeError(f"cannot COPY a {type(value).__name__}")


def encode_copy_rows(rows: Iterable[Sequence[object]]) -> bytes:
    """Rows as one COPY text payload, UTF-8 encoded."""
    enc = encode_copy_value
    return "".join("\t".join([enc(v) for v in row]) + "\n" for row in rows).encode("utf-8")


def copy_rows(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> int:
    """``COPY table (columns) FROM STDIN`` inside ``connection``'s current transaction.

    Goes through the raw pg8000 DBAPI connection under the SQLAlchemy ``Connection``, so the
    COPY commits or rolls back with everything else the caller does on that connection.
    ``table`` and ``columns`` are identifiers from our own code, never user input.
    """
    return copy_payload(connection, table, columns, encode_copy_rows(rows))


_CHUNK_BYTES = 256 * 1024


def _chunks(payload: bytes) -> list[memoryview]:
    """``payload`` as 256 KiB CopyData messages.

    Given a file, pg8000 sends 8 KiB messages with a flush each: ~460 Python round trips
    for a 10,000-row snapshot COPY, on the same two cores the server parses with. Fewer,
    larger messages measured ~5-10 ms less database time per poll.
    """
    view = memoryview(payload)
    return [view[i : i + _CHUNK_BYTES] for i in range(0, len(view), _CHUNK_BYTES)]


def _no_delay(dbapi: Any) -> None:
    """Turn Nagle's algorithm off on the driver's TCP socket (libpq does; pg8000 does not).

    pg8000 flushes CopyDone on its own after the last CopyData: with Nagle on, that small
    segment waits for the server to acknowledge the previous one, and the server, which
    has nothing to answer before CopyDone, delays its ACK (~40 ms on Linux). A COPY of a
    few new markets measured ~45 ms instead of ~2 ms.
    """
    sock = getattr(dbapi, "_usock", None)
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def copy_payload(connection: Connection, table: str, columns: Sequence[str], payload: bytes) -> int:
    """Like :func:`copy_rows` with rows already encoded by :func:`encode_copy_rows`."""
    dbapi: Any = connection.connection.dbapi_connection
    _no_delay(dbapi)
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    error_class: type[Exception] = connection.dialect.loaded_dbapi.Error
    cursor = dbapi.cursor()
    try:
        cursor.execute(statement, stream=_chunks(payload))
        return int(cursor.rowcount)
    except error_class as exc:
        # The raw cursor bypasses SQLAlchemy's wrapping; wrap here so callers see the same
        # sqlalchemy.exc.DBAPIError family as for every other statement.
        raise sqlalchemy.exc.DBAPIError.instance(statement, None, exc, error_class) from exc
    finally:
        cursor.close()
