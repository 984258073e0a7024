"""Who is calling: the one entry point every function uses to authenticate a request.

:func:`authenticate` looks at the request once and answers with a :class:`Principal` or
raises :class:`AuthError` (an :class:`~shared.api.errors.ApiError`, so the router renders
it as the usual JSON error):

1. ``Authorization: Bearer ki_...``: an API token (:mod:`shared.auth.api_tokens`): one
   statement checks the hash, revocation and expiry, stamps ``last_used_at`` (at most once a
   minute) and reads the user's stored-key status into ``Principal.credential``. No CSRF
   check: a browser never attaches this header on its own. Any other scheme, or a token
   that is not live, is 401 ``invalid_token``.
2. Otherwise the ``ki_session`` cookie: the JWT is verified (:mod:`shared.auth.sessions`),
   unsafe methods pass the CSRF checks (:mod:`shared.auth.csrf`), and then one query asks
   Postgres whether the session is still live and whether the user's stored Kalshi key is
   still good. A key Kalshi rejected makes every session of its user 401
   ``kalshi_key_revoked`` until the user signs in again with a working key.

Status codes: 401 ``not_signed_in``, ``session_expired``, ``session_revoked``,
``invalid_session``, ``invalid_token``, ``kalshi_key_revoked``; 403 ``csrf_rejected``,
``insufficient_scope`` (:func:`require_scope`). Messages never quote the token.

:class:`AuthContext` bundles what a deployable needs (settings, the session-token verifier
and the credential vault built lazily from Secret Manager, re-read every
``AUTH_KEYS_REFRESH_S`` so a rotation reaches running instances) so a function's
``main.py`` can keep one in its lazy global.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, text

from shared.api.errors import ApiError
from shared.auth import api_tokens, credentials
from shared.auth.csrf import SESSION_COOKIE, CsrfRejected, check_csrf
from shared.auth.sessions import (
    InvalidSession,
    SessionClaims,
    SessionTokens,
    signing_keys_from_secret,
)
from shared.auth.settings import AuthSettings
from shared.auth.vault import CredentialUnreadable, CredentialVault, key_ring_from_secret
from shared.kalshi.signing import KalshiSigner
from shared.secrets import SecretStore

__all__ = [
    "CREDENTIAL_UNCHECKED",
    "SCOPE_ORDER",
    "AuthContext",
    "AuthError",
    "Principal",
    "authenticate",
    "parse_cookies",
    "require_scope",
]

SCOPE_ORDER = {"read": 1, "trade": 2}
"""A scope includes every scope below it: ``trade`` may also read."""
SESSION_SCOPE = "trade"
"""A signed-in browser may do everything its user may."""
_MAX_COOKIE_HEADER = 8192
CREDENTIAL_UNCHECKED = "unchecked"
"""``Principal.credential`` of a principal built without reading the stored key's status
(a job acting for a user, a test): whoever needs the key must read it."""

_SESSION_STATE = text(
    "SELECT EXISTS (SELECT 1 FROM user_sessions WHERE jti = :jti AND user_id = :user_id) "
    "AND NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = :jti) AS live, "
    "(SELECT status FROM user_credentials WHERE user_id = :user_id) AS credential"
)


class AuthError(ApiError):
    """A refused request: 401 (who are you?) or 403 (not allowed to do that)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        headers = {"WWW-Authenticate": 'Bearer realm="kalshi-insights"'} if status == 401 else {}
        headers["Cache-Control"] = "no-store"
        super().__init__(status, code, message, headers=headers)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``via`` is ``"session"`` (browser cookie) or ``"token"`` (API token). ``scope`` is what
    it may do (``"trade"`` for sessions; the token's own for tokens). Exactly one of
    ``session`` (the verified claims; ``jti`` is its id) and ``token_id`` is set.
    ``credential`` is the status of the user's stored Kalshi key as the authenticating
    statement read it (``valid``, ``invalid``, ``None`` when none is stored), so the
    account and order paths decide on it without querying again; a session is only ever
    authenticated with a ``valid`` key.
    """

    user_id: uuid.UUID
    via: Literal["session", "token"]
    scope: str
    session: SessionClaims | None = None
    token_id: uuid.UUID | None = None
    credential: str | None = CREDENTIAL_UNCHECKED

    @property
    def jti(self) -> str | None:
        return self.session.jti if self.session is not None else None

    def allows(self, scope: str) -> bool:
        return SCOPE_ORDER.get(self.scope, 0) >= SCOPE_ORDER.get(scope, 99)


def require_scope(principal: Principal, scope: str) -> Principal:
    """``principal`` if it may act with ``scope``; else 403 ``insufficient_scope``."""
    if not principal.allows(scope):
        raise AuthError(403, "insufficient_scope", f"this needs a token with the {scope} scope")
    return principal


def parse_cookies(header: str | None) -> dict[str, str]:
    """``Cookie: a=1; b=2`` as a dict (first occurrence wins); lenient, bounded."""
    cookies: dict[str, str] = {}
    if not header or len(header) > _MAX_COOKIE_HEADER:
        return cookies
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


def _header(request: Any, name: str) -> str | None:
    value = request.headers.get(name)
    return str(value) if value is not None else None


def _cookie_header(request: Any) -> str | None:
    """Every ``Cookie`` header joined (HTTP/2 lets a client split cookies across several)."""
    getlist = getattr(request.headers, "getlist", None)
    if getlist is not None:
        values = [str(v) for v in getlist("Cookie")]
        return "; ".join(values) if values else None
    return _header(request, "Cookie")


def _headers(request: Any) -> Mapping[str, str]:
    headers = request.headers
    return headers if hasattr(headers, "get") else dict(headers)


def _bearer_token(value: str) -> str:
    """The token of an ``Authorization`` header, refusing what cannot be one of ours
    before any database work."""
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not api_tokens.looks_like_token(token):
        raise AuthError(401, "invalid_token", "use Authorization: Bearer <api token>")
    return token


def _token_principal(conn: Connection, token: str, now: datetime) -> Principal:
    try:
        found = api_tokens.verify_token(conn, token, now)
    except api_tokens.InvalidToken:
        raise AuthError(401, "invalid_token", "the API token is not valid") from None
    return Principal(
        found.user_id, "token", found.scope, token_id=found.token_id, credential=found.credential
    )


_SESSION_ERRORS = {"expired": ("session_expired", "the session has expired; sign in again")}


def _verified_session(
    request: Any,
    token: str,
    tokens: SessionTokens,
    settings: AuthSettings,
    cookies: Mapping[str, str],
    now: datetime,
) -> SessionClaims:
    """Signature, claims and (for unsafe methods) CSRF: everything but the database."""
    try:
        claims = tokens.verify(token, now)
    except InvalidSession as error:
        code, message = _SESSION_ERRORS.get(
            error.code, ("invalid_session", "the session is not valid; sign in again")
        )
        raise AuthError(401, code, message) from None
    try:
        check_csrf(request.method, _headers(request), cookies, settings.allowed_origins)
    except CsrfRejected as rejected:
        raise AuthError(403, "csrf_rejected", rejected.message) from None
    return claims


def _session_principal(conn: Connection, claims: SessionClaims) -> Principal:
    state = conn.execute(_SESSION_STATE, {"jti": claims.jti, "user_id": claims.user_id}).one()
    if not state.live:
        raise AuthError(401, "session_revoked", "the session has ended; sign in again")
    if state.credential is None:
        raise AuthError(401, "session_revoked", "no Kalshi key is stored; sign in again")
    if state.credential != "valid":
        raise AuthError(
            401, "kalshi_key_revoked", "Kalshi no longer accepts the stored key; sign in again"
        )
    return Principal(
        claims.user_id, "session", SESSION_SCOPE, session=claims, credential=state.credential
    )


def authenticate(
    request: Any,
    *,
    tokens: SessionTokens,
    settings: AuthSettings,
    engine: Engine | None = None,
    conn: Connection | None = None,
    now: datetime | None = None,
) -> Principal:
    """The caller of ``request`` (see the module docstring), or :class:`AuthError`.

    Pass ``engine`` (a short transaction is opened and committed: verifying a token stamps
    its ``last_used_at``) or ``conn`` (the caller's transaction). Everything that can be
    refused without the database (no credentials, a bad signature, CSRF) is refused first.
    """
    if (engine is None) == (conn is None):
        raise ValueError("pass exactly one of engine and conn")
    moment = now or datetime.now(UTC)
    authorization = _header(request, "Authorization")
    cookies = parse_cookies(_cookie_header(request))
    session_token = cookies.get(SESSION_COOKIE)
    run: Callable[[Connection], Principal]
    if authorization is not None:
        token = _bearer_token(authorization)

        def run(connection: Connection) -> Principal:
            return _token_principal(connection, token, moment)

    elif session_token:
        claims = _verified_session(request, session_token, tokens, settings, cookies, moment)

        def run(connection: Connection) -> Principal:
            return _session_principal(connection, claims)

    else:
        raise AuthError(401, "not_signed_in", "sign in, or send an API token")
    if conn is not None:
        return run(conn)
    assert engine is not None
    if authorization is None:  # a session: the check only reads
        return _read_alone(engine, run)
    with engine.begin() as connection:
        return run(connection)


def _read_alone(engine: Engine, run: Callable[[Connection], Principal]) -> Principal:
    """``run`` (a read-only check) as one statement outside any transaction (ADR 0205).

    pg8000 sends a ``BEGIN`` of its own before a statement unless its connection is in
    autocommit mode, and a ``COMMIT`` must end it: three round trips for one read.
    SQLAlchemy's ``AUTOCOMMIT`` isolation level avoids them but pays a ``SET SESSION
    CHARACTERISTICS`` and a ``COMMIT`` when the connection goes back to the pool, so the
    driver's own flag is switched on for the statement alone. A transaction the pool's
    pre-ping opened is rolled back after it (nothing was written); a driver without the
    flag gets a short transaction."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        if driver is None or not hasattr(driver, "autocommit"):
            with connection.begin():
                return run(connection)
        driver.autocommit = True
        try:
            return run(connection)
        finally:
            driver.autocommit = False
            connection.rollback()  # nothing to roll back unless the pre-ping began one


class AuthContext:
    """Settings plus the key rings from Secret Manager, built on first use and refreshed.

    ``store`` is any :class:`~shared.secrets.SecretStore` (``None``: the environment's, on
    first use). Thread-safe; one per instance.
    """

    def __init__(
        self,
        settings: AuthSettings,
        store: SecretStore | Callable[[], SecretStore] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._store_source = store
        self._store: SecretStore | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: SessionTokens | None = None
        self._vault: CredentialVault | None = None
        self._tokens_at = self._vault_at = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthContext:
        return cls(AuthSettings.from_env(env))

    def _secret_store(self) -> SecretStore:
        if self._store is None:
            source = self._store_source
            if source is None:
                from shared.secrets import secret_store_from_env

                self._store = secret_store_from_env()
            elif isinstance(source, SecretStore):
                self._store = source
            else:
                self._store = source()
        return self._store

    def _stale(self, loaded_at: float) -> bool:
        return self._clock() - loaded_at >= self.settings.keys_refresh_s

    @property
    def tokens(self) -> SessionTokens:
        """The session-token issuer/verifier over the current signing-key ring."""
        with self._lock:
            if self._tokens is None or self._stale(self._tokens_at):
                raw = self._secret_store().get(self.settings.session_keys_secret)
                self._tokens = SessionTokens(
                    signing_keys_from_secret(raw),
                    self.settings.issuer,
                    self.settings.audience,
                    self.settings.session_lifetime,
                    self.settings.renew_after,
                )
                self._tokens_at = self._clock()
            return self._tokens

    @property
    def vault(self) -> CredentialVault:
        """The credential vault over the current key ring."""
        with self._lock:
            if self._vault is None or self._stale(self._vault_at):
                raw = self._secret_store().get(self.settings.credential_key_ring_secret)
                self._vault = CredentialVault(key_ring_from_secret(raw))
                self._vault_at = self._clock()
            return self._vault

    def load_signer(self, conn: Connection, user_id: uuid.UUID) -> KalshiSigner:
        """The user's Kalshi signer (:func:`shared.auth.credentials.load_signer`). A row
        sealed by a key version this instance has not seen (a rotation since the ring was
        read) triggers one re-read of the ring."""
        try:
            return credentials.load_signer(conn, self.vault, user_id)
        except CredentialUnreadable:
            if self._clock() - self._vault_at < min(5.0, self.settings.keys_refresh_s):
                raise
        with self._lock:
            self._vault = None
        return credentials.load_signer(conn, self.vault, user_id)

    def refresh(self) -> None:
        """Forget the cached rings; the next use reads Secret Manager again."""
        with self._lock:
            self._tokens = None
            self._vault = None

    def authenticate(
        self,
        request: Any,
        *,
        engine: Engine | None = None,
        conn: Connection | None = None,
        now: datetime | None = None,
    ) -> Principal:
        """:func:`authenticate` with this context's tokens and settings. A session signed
        by a key this instance has not seen yet (rotated since the last read) triggers one
        re-read of the ring."""
        try:
            return authenticate(
                request,
                tokens=self.tokens,
                settings=self.settings,
                engine=engine,
                conn=conn,
                now=now,
            )
        except AuthError as error:
            if error.code != "invalid_session" or not self._knows_fewer_keys(request):
                raise
        self.refresh()
        return authenticate(
            request, tokens=self.tokens, settings=self.settings, engine=engine, conn=conn, now=now
        )

    def _knows_fewer_keys(self, request: Any) -> bool:
        """Whether the session cookie names a ``kid`` this instance does not know (and the
        ring was not read within the last few seconds: no re-read storm on forged kids)."""
        import jwt

        token = parse_cookies(_cookie_header(request)).get(SESSION_COOKIE, "")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return False
        fresh = self._ring_just_read()
        return isinstance(kid, str) and self.tokens.keys.public_key(kid) is None and not fresh

    def _ring_just_read(self) -> bool:
        return self._clock() - self._tokens_at < min(5.0, self.settings.keys_refresh_s)

    def verify_session(self, token: str, now: datetime | None = None) -> SessionClaims:
        """:meth:`SessionTokens.verify` over the current ring, for callers holding a bare
        session JWT rather than a request (the streamer). Like :meth:`authenticate`, a token
        signed by a key this instance has not seen (rotated since the last read) triggers
        one re-read of the ring, unless it was read within the last few seconds."""
        try:
            return self.tokens.verify(token, now)
        except InvalidSession as error:
            if error.code != "unknown_key" or self._ring_just_read():
                raise
        self.refresh()
        return self.tokens.verify(token, now)
