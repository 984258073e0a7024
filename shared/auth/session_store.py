"""Which sessions are live: the Postgres side of session tokens.

A signature proves a token is ours; it cannot prove the user has not logged out since. So
each issued session is recorded in ``user_sessions`` (in the transaction that signs the
user in), and a session is live only while its row is there and its ``jti`` is not in
``revoked_tokens``. Logout moves every live session of the user into ``revoked_tokens``;
deleting the user removes its sessions by cascade. Checking the allowlist *and* the
denylist means a token signed but never recorded (a crash between signing and commit) is
refused too. Each check is one primary-key lookup per table.

All functions take the caller's :class:`~sqlalchemy.Connection` and do not commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from shared.auth.sessions import IssuedSession

__all__ = [
    "PurgeReport",
    "is_revoked",
    "purge_expired",
    "record_session",
    "revoke_session",
    "revoke_user_sessions",
]

_LIVE = text(
    "SELECT EXISTS (SELECT 1 FROM user_sessions WHERE jti = :jti) "
    "AND NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = :jti)"
)


def record_session(conn: Connection, issued: IssuedSession) -> None:
    """Remember a newly issued session (idempotent on its ``jti``)."""
    conn.execute(
        text(
            "INSERT INTO user_sessions (jti, user_id, issued_at, expires_at) "
            "VALUES (:jti, :user_id, :issued_at, :expires_at) ON CONFLICT (jti) DO NOTHING"
        ),
        {
            "jti": issued.jti,
            "user_id": issued.user_id,
            "issued_at": issued.issued_at,
            "expires_at": issued.expires_at,
        },
    )


def is_revoked(conn: Connection, jti: str) -> bool:
    """True unless the session was recorded and has not been revoked."""
    return not bool(conn.execute(_LIVE, {"jti": jti}).scalar_one())


def revoke_session(conn: Connection, jti: str) -> bool:
    """Revoke one session (renewal retires the old cookie's session). True if it was live."""
    moved = conn.execute(
        text(
            "WITH moved AS (DELETE FROM user_sessions WHERE jti = :jti "
            "RETURNING jti, expires_at), "
            "denied AS (INSERT INTO revoked_tokens (jti, expires_at) "
            "SELECT jti, expires_at FROM moved ON CONFLICT (jti) DO NOTHING) "
            "SELECT count(*) FROM moved"
        ),
        {"jti": jti},
    ).scalar_one()
    return bool(moved)


def revoke_user_sessions(conn: Connection, user_id: uuid.UUID) -> int:
    """Revoke every live session of ``user_id`` (logout); returns how many there were.

    One statement: the rows leave ``user_sessions`` and their ``jti``s enter
    ``revoked_tokens`` together, so no concurrent check sees a gap.
    """
    return int(
        conn.execute(
            text(
                "WITH moved AS (DELETE FROM user_sessions WHERE user_id = :user_id "
                "RETURNING jti, expires_at), "
                "denied AS (INSERT INTO revoked_tokens (jti, expires_at) "
                "SELECT jti, expires_at FROM moved ON CONFLICT (jti) DO NOTHING) "
                "SELECT count(*) FROM moved"
            ),
            {"user_id": user_id},
        ).scalar_one()
    )


@dataclass(frozen=True)
class PurgeReport:
    sessions: int
    revoked: int


def purge_expired(conn: Connection, now: datetime | None = None) -> PurgeReport:
    """Delete sessions and revocations whose tokens have expired (they verify as expired
    anyway, so their rows only cost space)."""
    moment = now or datetime.now(UTC)
    sessions = conn.execute(
        text("DELETE FROM user_sessions WHERE expires_at < :now"), {"now": moment}
    ).rowcount
    revoked = conn.execute(
        text("DELETE FROM revoked_tokens WHERE expires_at < :now"), {"now": moment}
    ).rowcount
    return PurgeReport(sessions=int(sessions), revoked=int(revoked))
