"""How the stream authenticates a browser: the session cookie, verified by the auth core.

The seam is narrow on purpose: the stream needs a user id, the session's id (``jti``, to
notice a revocation mid-stream) and when it expires; everything about keys, algorithms and
revocation tables belongs to :mod:`shared.auth`. Never a token in the query string: a URL
ends up in logs and browser history, so a request carrying one is refused outright.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "CREDENTIAL_QUERY_NAMES",
    "SESSION_COOKIE",
    "RevocationCheck",
    "SessionVerifier",
    "StreamAuthError",
    "StreamPrincipal",
]

SESSION_COOKIE = "ki_session"
CREDENTIAL_QUERY_NAMES = frozenset(
    {"token", "access_token", "session", SESSION_COOKIE, "jwt", "authorization", "api_key"}
)
"""Query parameters that would carry a credential in a URL: refused with 400."""


@dataclass(frozen=True)
class StreamPrincipal:
    """Who a stream belongs to, and until when."""

    user_id: uuid.UUID
    jti: str
    expires_at: float
    """Unix seconds; the stream ends with an ``error`` event then."""


class StreamAuthError(Exception):
    """401 (or 403) with the auth core's stable code; the message is for a person."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class SessionVerifier(Protocol):
    """Turns the ``ki_session`` cookie into a principal or raises :class:`StreamAuthError`
    (no cookie, bad signature, expired, revoked, the user's Kalshi key marked invalid)."""

    async def verify(self, cookie: str | None) -> StreamPrincipal: ...


class RevocationCheck(Protocol):
    """Which of these live sessions were revoked since they connected (one query for all)."""

    async def revoked(self, jtis: Collection[str]) -> set[str]: ...
