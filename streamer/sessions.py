"""The stream's session check, built on the auth core (:mod:`shared.auth`).

A stream is opened with the ``ki_session`` cookie only: the JWT is verified by
:class:`shared.auth.sessions.SessionTokens` (EdDSA, key ring, audience, issuer, expiry), its
``jti`` must still be a live session (:func:`shared.auth.session_store.is_revoked`), and
the user's stored Kalshi key must not be marked invalid. A stream is a GET that changes
nothing, so no CSRF check applies. While streams are open, :meth:`revoked` asks in one
query which of their sessions were revoked since (logout, "sign out everywhere").
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Collection

from sqlalchemy import Engine, text

from shared.auth.principal import AuthContext
from shared.auth.session_store import is_revoked
from shared.auth.sessions import InvalidSession, SessionClaims, SessionTokens
from streamer.auth import StreamAuthError, StreamPrincipal

__all__ = ["AuthSessionVerifier"]

_LIVE_SESSIONS = text(
    "SELECT s.jti FROM user_sessions s WHERE s.jti = ANY(CAST(:jtis AS text[])) "
    "AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = s.jti)"
)
_KEY_STATUS = text("SELECT status FROM user_credentials WHERE user_id = :user_id")


class AuthSessionVerifier:
    """:class:`~streamer.auth.SessionVerifier` and :class:`~streamer.auth.RevocationCheck`."""

    def __init__(
        self, tokens: SessionTokens | Callable[[], SessionTokens] | AuthContext, engine: Engine
    ) -> None:
        # An AuthContext follows signing-key rotations and re-reads its ring at once for a
        # kid it has not seen (a sign-in right after ``rotate-keys --sessions``); a callable
        # (``lambda: auth_context.tokens``) only follows them every AUTH_KEYS_REFRESH_S.
        if isinstance(tokens, AuthContext):
            self._verify: Callable[[str], SessionClaims] = tokens.verify_session
        else:
            source = tokens if callable(tokens) else (lambda: tokens)
            self._verify = lambda cookie: source().verify(cookie)
        self._engine = engine

    async def verify(self, cookie: str | None) -> StreamPrincipal:
        if not cookie:
            raise StreamAuthError(401, "not_signed_in", "Sign in to see live positions.")
        try:
            claims = self._verify(cookie)
        except InvalidSession as exc:
            if exc.code == "expired":
                raise StreamAuthError(
                    401, "session_expired", "Your session has expired; sign in again."
                ) from None
            raise StreamAuthError(
                401, "invalid_session", "The session cookie is not valid; sign in again."
            ) from None
        revoked, key_status = await asyncio.to_thread(self._lookup, claims.jti, claims.user_id)
        if revoked:
            raise StreamAuthError(401, "session_revoked", "This session was signed out.")
        if key_status == "invalid":
            raise StreamAuthError(
                401, "kalshi_key_revoked", "Kalshi no longer accepts your key; sign in again."
            )
        return StreamPrincipal(claims.user_id, claims.jti, claims.expires_at.timestamp())

    def _lookup(self, jti: str, user_id: uuid.UUID) -> tuple[bool, str | None]:
        with self._engine.connect() as conn:
            revoked = is_revoked(conn, jti)
            status = conn.execute(_KEY_STATUS, {"user_id": user_id}).scalar()
        return revoked, status

    async def revoked(self, jtis: Collection[str]) -> set[str]:
        if not jtis:
            return set()
        wanted = sorted(set(jtis))

        def live() -> set[str]:
            with self._engine.connect() as conn:
                return {row[0] for row in conn.execute(_LIVE_SESSIONS, {"jtis": wanted})}

        return set(wanted) - await asyncio.to_thread(live)
