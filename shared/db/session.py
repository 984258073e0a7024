"""Transactions: one ``with`` block is one commit, or one rollback on any exception.

Repositories take a :class:`~sqlalchemy.orm.Session` argument and never commit themselves,
so a handler can put its writes and its ``processed_messages`` row in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from shared.db.engine import Database, get_database

__all__ = ["session_scope"]


@contextmanager
def session_scope(database: Database | None = None) -> Iterator[Session]:
    """A session inside a transaction: committed on success, rolled back on error."""
    db = get_database() if database is None else database
    with db.sessions.begin() as session:
        yield session
