"""API tokens: long-lived bearer credentials for scripts.

A token is ``ki_`` + 32 random bytes, URL-safe base64 (43 characters). It is shown to the
user once, at creation; the database keeps only its SHA-256 (``api_tokens.token_hash``,
unique) and a short display prefix. A fast hash is right here, unlike for passwords: the
input has 256 bits of entropy, so there is nothing to brute-force and no need for a slow,
salted KDF; a lookup by hash is one index probe per request
(docs/decisions/0144-api-tokens-sha256.md).

Scopes: ``read`` (every GET) and ``trade`` (also state changes: orders, backtest
submissions). Tokens belong to one user; another user's token id is simply not found.
All functions take the caller's :class:`~sqlalchemy.Connection` and do not commit.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, RowMapping, text

__all__ = [
    "MAX_TOKENS_PER_USER",
    "SCOPES",
    "TOKEN_PREFIX",
    "InvalidToken",
    "TokenError",
    "TokenInfo",
    "TokenPrincipal",
    "create_token",
    "hash_token",
    "list_tokens",
    "looks_like_token",
    "revoke_token",
    "verify_token",
]

TOKEN_PREFIX = "ki_"  # noqa: S105 (the public marker of our tokens, not a secret)
SCOPES = ("read", "trade")
MAX_TOKENS_PER_USER = 25
"""Live (unrevoked, unexpired) tokens one user may hold: plenty for scripts, and a bound."""
MAX_NAME_CHARS = 64
LAST_USED_RESOLUTION = timedelta(seconds=60)
"""``last_used_at`` is written at most once a minute per token, not on every request."""
_TOKEN = re.compile(r"^ki_[A-Za-z0-9_-]{43}$")
_DISPLAY_CHARS = 11  # "ki_" + 8


class TokenError(ValueError):
    """A token cannot be created as asked (``invalid_name``, ``invalid_scope``,
    ``invalid_expiry``, ``too_many_tokens``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidToken(Exception):
    """A presented token is not usable (``malformed``, ``unknown``, ``revoked``,
    ``expired``). Callers answer 401 ``invalid_token`` without saying which."""

    def __init__(self, code: str) -> None:
        super().__init__(f"api token {code.replace('_', ' ')}")
        self.code = code


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token itself."""

    id: uuid.UUID
    name: str
    scope: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class TokenPrincipal:
    """Who a verified token speaks for."""

    user_id: uuid.UUID
    token_id: uuid.UUID
    scope: str
    name: str
    credential: str | None = None
    """The user's stored Kalshi key status (``valid``/``invalid``; ``None``: none stored),
    read in the verifying statement so no request re-queries it."""


_VERIFY = text(
    "WITH found AS (SELECT id, user_id, name, scope, expires_at, revoked_at "
    "FROM api_tokens WHERE token_hash = :hash), "
    "stamped AS (UPDATE api_tokens SET last_used_at = :now WHERE id = (SELECT id FROM found) "
    "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > :now) "
    "AND (last_used_at IS NULL OR last_used_at <= :stale) RETURNING id) "
    "SELECT f.id, f.user_id, f.name, f.scope, f.expires_at, f.revoked_at, "
    "(SELECT status FROM user_credentials c WHERE c.user_id = f.user_id) AS credential, "
    "EXISTS (SELECT 1 FROM stamped) AS stamped FROM found f"
)
"""Verification in one statement (one round trip): the token by its hash, the user's
credential status, and the ``last_used_at`` stamp, written only when the token is live and
the stamp is older than :data:`LAST_USED_RESOLUTION` (the guard is in the ``UPDATE``, so
concurrent requests do not each rewrite it). Needs only what ADR 0146 grants the
deployables: ``SELECT`` on ``api_tokens``, ``UPDATE (last_used_at)``, and ``user_id``,
``status`` of ``user_credentials``."""


def hash_token(plaintext: str) -> bytes:
    return hashlib.sha256(plaintext.encode()).digest()


def looks_like_token(value: str) -> bool:
    return bool(_TOKEN.match(value))


def _info(row: RowMapping) -> TokenInfo:
    return TokenInfo(
        id=row["id"],
        name=row["name"],
        scope=row["scope"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
    )


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def create_token(
    conn: Connection,
    user_id: uuid.UUID,
    name: str,
    scope: str,
    expires_at: datetime | None = None,
    *,
    now: datetime | None = None,
) -> tuple[str, TokenInfo]:
    """A new token for ``user_id``: ``(plaintext, info)``. Show the plaintext once."""
    moment = _now(now)
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise TokenError("invalid_name", f"name must be 1 to {MAX_NAME_CHARS} printable characters")
    if scope not in SCOPES:
        raise TokenError("invalid_scope", f"scope must be one of {', '.join(SCOPES)}")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= moment):
        raise TokenError("invalid_expiry", "expires_at must be a time in the future, with a zone")
    # Serialise creations per user, so two concurrent requests cannot both pass the bound.
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('api_tokens'), hashtext(:user_id))"),
        {"user_id": str(user_id)},
    )
    live = conn.execute(
        text(
            "SELECT count(*) FROM api_tokens WHERE user_id = :user_id AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > :now)"
        ),
        {"user_id": user_id, "now": moment},
    ).scalar_one()
    if live >= MAX_TOKENS_PER_USER:
        raise TokenError(
            "too_many_tokens", f"at most {MAX_TOKENS_PER_USER} tokens; revoke one first"
        )
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = (
        conn.execute(
            text(
                "INSERT INTO api_tokens (id, user_id, name, scope, token_hash, prefix, "
                "created_at, expires_at) VALUES (:id, :user_id, :name, :scope, :hash, "
                ":prefix, :now, :expires_at) RETURNING id, name, scope, prefix, created_at, "
                "expires_at, last_used_at"
            ),
            {
                "id": uuid.uuid4(),
                "user_id": user_id,
                "name": name,
                "scope": scope,
                "hash": hash_token(plaintext),
                "prefix": plaintext[:_DISPLAY_CHARS],
                "now": moment,
                "expires_at": expires_at,
            },
        )
        .mappings()
        .one()
    )
    return plaintext, _info(row)


def list_tokens(conn: Connection, user_id: uuid.UUID) -> list[TokenInfo]:
    """The user's unrevoked tokens, newest first (expired ones included, marked by
    ``expires_at``, so a user sees why a script stopped working)."""
    rows = conn.execute(
        text(
            "SELECT id, name, scope, prefix, created_at, expires_at, last_used_at "
            "FROM api_tokens WHERE user_id = :user_id AND revoked_at IS NULL "
            "ORDER BY created_at DESC, id"
        ),
        {"user_id": user_id},
    ).mappings()
    return [_info(row) for row in rows]


def revoke_token(
    conn: Connection, user_id: uuid.UUID, token_id: uuid.UUID, *, now: datetime | None = None
) -> bool:
    """Revoke one of the user's tokens. ``False`` when the user has no such live token
    (including another user's token: not found, not forbidden)."""
    revoked = conn.execute(
        text(
            "UPDATE api_tokens SET revoked_at = :now WHERE id = :id AND user_id = :user_id "
            "AND revoked_at IS NULL"
        ),
        {"id": token_id, "user_id": user_id, "now": _now(now)},
    ).rowcount
    return bool(revoked)


def verify_token(conn: Connection, plaintext: str, now: datetime | None = None) -> TokenPrincipal:
    """The principal of a presented token; :class:`InvalidToken` if it is not live.

    One statement (:data:`_VERIFY`): the lookup by hash, the user's credential status, and
    the ``last_used_at`` stamp (at most once per :data:`LAST_USED_RESOLUTION`). The caller
    commits (the stamp is the only write, and only when the token is live).
    """
    moment = _now(now)
    if not isinstance(plaintext, str) or not looks_like_token(plaintext):
        raise InvalidToken("malformed")
    row = (
        conn.execute(
            _VERIFY,
            {
                "hash": hash_token(plaintext),
                "now": moment,
                "stale": moment - LAST_USED_RESOLUTION,
            },
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise InvalidToken("unknown")
    if row["revoked_at"] is not None:
        raise InvalidToken("revoked")
    if row["expires_at"] is not None and row["expires_at"] <= moment:
        raise InvalidToken("expired")
    return TokenPrincipal(
        user_id=row["user_id"],
        token_id=row["id"],
        scope=row["scope"],
        name=row["name"],
        credential=row["credential"],
    )
