"""Statements sent one at a time, each committed when Postgres answers it.

pg8000 opens a transaction with a ``BEGIN`` round trip of its own before a statement unless
its connection is in autocommit mode, and a ``COMMIT`` round trip must end it; SQLAlchemy's
``AUTOCOMMIT`` isolation level avoids both but costs a ``BEGIN``, ``SET SESSION
CHARACTERISTICS`` and ``COMMIT`` when the connection goes back to the pool. On a hot path
whose statements need no transaction around them (each is complete on its own), switching
the driver's own flag for the block is one round trip per statement (ADR 0205, ADR 0221).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

__all__ = ["autocommitted"]


@contextmanager
def autocommitted(conn: Connection) -> Iterator[None]:
    """Statements sent inside are each committed when Postgres answers: one round trip
    apiece, no ``BEGIN`` or ``COMMIT`` (ADR 0205, ADR 0221).

    pg8000 opens a transaction with a ``BEGIN`` round trip of its own before a statement
    unless its connection is in autocommit mode, and SQLAlchemy's ``AUTOCOMMIT`` isolation
    level costs a ``BEGIN``, ``SET SESSION CHARACTERISTICS`` and ``COMMIT`` when the
    connection goes back to the pool. So the driver's own autocommit flag is switched on
    for the block (and off again). Whatever the connection had open is committed first. A
    driver without the flag gets one short transaction, committed at the end of the block.
    """
    if conn.in_transaction():
        conn.commit()
    driver = conn.connection.driver_connection
    if driver is not None and getattr(driver, "_in_transaction", False):
        # A transaction the driver opened behind SQLAlchemy's back (SQLAlchemy's own
        # pool_pre_ping sends BEGIN and SELECT 1 with pg8000): end it, or the statements
        # below would run inside it and be rolled back with it.
        driver.commit()
    if driver is None or not hasattr(driver, "autocommit"):
        yield
        conn.commit()
        return
    driver.autocommit = True
    try:
        yield
    finally:
        driver.autocommit = False
    # SQLAlchemy began a transaction of its own for the statements; the driver has none
    # open, so ending it sends nothing.
    conn.rollback()
