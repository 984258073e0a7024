"""The ``account`` function's use cases: sign in and out, the user's Kalshi reads, settings,
API tokens, account deletion and the day-boundary job.

Sign-in (:meth:`AccountService.sign_in`), in this order, each step cheaper than the next:
the client address is charged against the sign-in limiter (every attempt counts, so a
failure does too; a success clears the key's count), the key id and PEM are checked
without the network (400 naming the problem), then one signed ``GET /portfolio/balance``
against the server's Kalshi with the submitted key tells whether Kalshi accepts it (401
with Kalshi's reason; 503 with ``Retry-After`` when Kalshi is down). Only then, in one
transaction: the user (one per Kalshi key id and environment) is created or found, the key
is sealed and stored (replacing any earlier one: the user's settings, tokens and runs
stay), a sign-in baseline is recorded if today has none, and a session is issued. After
the commit ``account.connected`` goes to ``account-events``.

Reads go through the user's stored key: one Kalshi client per user per instance (it holds
the key's rate limit and a connection pool), a short per-user cache in front
(:mod:`shared.account.cache`). When Kalshi rejects the stored key on a read, the credential
is marked invalid, ``account.disconnected`` is published, and the answer is 401
``kalshi_key_revoked`` (every later request of that user too, until they sign in again).

Errors are :class:`AccountError` (status, code, message); the router renders them.
Nothing here logs or returns key material, a session token or an API token.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, text

from shared.account import baselines
from shared.account.cache import AccountCache
from shared.account.events import AccountEventSink, account_envelope
from shared.account.preferences import (
    Preferences,
    PreferencesError,
    load_preferences,
    parse_preferences,
    save_preferences,
)
from shared.account.reads import AccountReader, KalshiMarketLookup
from shared.account.settings import AccountSettings
from shared.auth import api_tokens, credentials, ratelimit, session_store
from shared.auth.csrf import SESSION_COOKIE, new_csrf_token
from shared.auth.pem import InvalidPrivateKey, load_rsa_private_key
from shared.auth.principal import (
    CREDENTIAL_UNCHECKED,
    AuthContext,
    AuthError,
    Principal,
    parse_cookies,
)
from shared.auth.ratelimit import RateLimited, SigninLimiter
from shared.auth.sessions import IssuedSession
from shared.db.autocommit import autocommitted
from shared.domain.pnl import BaselinePoint
from shared.kalshi.client import KalshiClient, RetryPolicy
from shared.kalshi.errors import (
    AuthenticationError,
    BadRequestError,
    KalshiAPIError,
    KalshiError,
    PermissionDeniedError,
)
from shared.kalshi.signing import KalshiSigner

__all__ = [
    "KALSHI_RETRY_AFTER_S",
    "AccountError",
    "AccountService",
    "ClientFactory",
    "SignedIn",
    "mask_key_id",
]

logger = logging.getLogger(__name__)

KALSHI_RETRY_AFTER_S = 30
"""What ``Retry-After`` tells a client when Kalshi is unreachable or failing."""
MAX_KEY_ID_CHARS = 64
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
MAX_TOKEN_DAYS = 365
MAX_POOLED_CLIENTS = 512
"""Users whose Kalshi client an instance keeps (least recently used go first)."""

_T = TypeVar("_T")

ClientFactory = Callable[[KalshiSigner], KalshiClient]
"""Builds the Kalshi client that signs with one user's key (tests: the same, elsewhere)."""


class AccountError(Exception):
    """A refused request: HTTP ``status``, a stable ``code``, a ``message`` for a person."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: the user as shown, the new session, the CSRF token."""

    user: dict[str, Any]
    session: IssuedSession
    csrf_token: str


def mask_key_id(key_id: str) -> str:
    """The key id as shown back: enough to recognise it, not enough to reuse it anywhere
    (``a952…44c1``). A key id is not a secret, but it is half of a credential."""
    if len(key_id) <= 8:
        return key_id[:2] + "…"
    return f"{key_id[:4]}…{key_id[-4:]}"


def _kalshi_reason(error: KalshiAPIError) -> str:
    """Kalshi's own words for a refusal (already scrubbed by the client), short."""
    reason = error.message or error.code or "rejected"
    if error.details and error.details not in reason:
        reason += f" ({error.details})"
    return reason[:200]


def _unavailable(error: KalshiError) -> AccountError:
    return AccountError(
        503,
        "kalshi_unavailable",
        f"Kalshi did not answer ({type(error).__name__}); try again shortly",
        retry_after=KALSHI_RETRY_AFTER_S,
    )


class _ClientPool:
    """One Kalshi client (and market lookup) per user on this instance, LRU-bounded."""

    def __init__(self, max_entries: int = MAX_POOLED_CLIENTS) -> None:
        self._entries: OrderedDict[uuid.UUID, tuple[KalshiClient, KalshiMarketLookup]] = (
            OrderedDict()
        )
        self._max = max_entries
        self._lock = threading.Lock()

    def get(
        self, user_id: uuid.UUID, build: Callable[[], KalshiClient]
    ) -> tuple[KalshiClient, KalshiMarketLookup]:
        with self._lock:
            entry = self._entries.get(user_id)
            if entry is not None:
                self._entries.move_to_end(user_id)
                return entry
        client = build()  # outside the lock: decrypting and parsing the key takes a while
        entry = (client, KalshiMarketLookup(client))
        with self._lock:
            self._entries[user_id] = entry
            self._entries.move_to_end(user_id)
            while len(self._entries) > self._max:
                _, (old, _) = self._entries.popitem(last=False)
                old.close()
        return entry

    def drop(self, user_id: uuid.UUID) -> None:
        with self._lock:
            entry = self._entries.pop(user_id, None)
        if entry is not None:
            entry[0].close()


class AccountService:
    """Everything the account API does, over Postgres, the vault, Kalshi and Pub/Sub."""

    def __init__(
        self,
        engine: Engine,
        auth: AuthContext,
        settings: AccountSettings,
        *,
        events: AccountEventSink | None = None,
        client_factory: ClientFactory | None = None,
        cache: AccountCache | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.auth = auth
        self.settings = settings
        self.events = events
        self.cache = cache or AccountCache(
            settings.cache_ttl_s, max_stale_seconds=max(600.0, settings.cache_ttl_s)
        )
        self._client_factory = client_factory or self._default_client
        self._clients = _ClientPool()
        self._limiter = SigninLimiter(settings.auth.signin)
        self._now = now
        self._held: ContextVar[Connection | None] = ContextVar(
            f"account-held-connection-{id(self)}", default=None
        )

    # ---- plumbing

    def _default_client(self, signer: KalshiSigner) -> KalshiClient:
        return KalshiClient(
            self.settings.kalshi,
            signer=signer,
            timeout=self.settings.kalshi_timeout_s,
            # A person is waiting: one quick retry, never the batch jobs' patience.
            retry=RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1.0),
        )

    def _publish(self, status: str, user_id: uuid.UUID, reason: str, event_id: str | None) -> None:
        """Announce on ``account-events``; a Pub/Sub outage is logged, never fails the
        request (the streamer reconciles connected users on its own start)."""
        if self.events is None:
            return
        try:
            envelope = account_envelope(
                "connected" if status == "connected" else "disconnected",
                user_id,
                self.settings.kalshi.name,
                reason,
                event_id=event_id,
                now=self._now(),
            )
            self.events.publish(envelope)
        except Exception as error:
            logger.warning(
                "could not publish account.%s for %s: %s", status, user_id, type(error).__name__
            )

    def _forget(self, user_id: uuid.UUID) -> None:
        self._clients.drop(user_id)
        self.cache.forget(user_id)

    def authenticate(self, request: Any) -> Principal:
        """The caller (session or API token), or :class:`~shared.auth.principal.AuthError`.

        A request with no credential at all is refused before any key ring is read."""
        headers = request.headers
        if headers.get("Authorization") is None and not parse_cookies(headers.get("Cookie")).get(
            SESSION_COOKIE
        ):
            raise AuthError(401, "not_signed_in", "sign in, or send an API token")
        return self.auth.authenticate(request, engine=self.engine, now=self._now())

    @contextmanager
    def authenticated_on_one_connection(self, request: Any) -> Iterator[Principal]:
        """Authenticate on a connection the request's own work then continues on
        (:meth:`held_connection`; ADR 0205): the order path's one pool checkout. The
        authentication's statement is sent in the driver's autocommit (ADR 0221): one
        round trip, a token's ``last_used_at`` stamp committed with it, no ``BEGIN`` or
        ``COMMIT``; the order's own statements follow the same way. The connection goes
        back to the pool at the end of the block."""
        headers = request.headers
        if headers.get("Authorization") is None and not parse_cookies(headers.get("Cookie")).get(
            SESSION_COOKIE
        ):
            raise AuthError(401, "not_signed_in", "sign in, or send an API token")
        with self.engine.connect() as conn:
            # One round trip, committed as Postgres answers (ADR 0221): no BEGIN/COMMIT.
            with autocommitted(conn):
                principal = self.auth.authenticate(request, conn=conn, now=self._now())
            token = self._held.set(conn)
            try:
                yield principal
            finally:
                self._held.reset(token)

    def held_connection(self) -> Connection | None:
        """The connection this request authenticated on (inside
        :meth:`authenticated_on_one_connection`), out of any transaction; else None."""
        return self._held.get()

    # ---- sign-in

    def sign_in(self, key_id: Any, pem: Any, client_address: str) -> SignedIn:
        """Check the key with Kalshi, store it, start a session (see the module docstring)."""
        now = self._now()
        key_hint = key_id if isinstance(key_id, str) and len(key_id) <= MAX_KEY_ID_CHARS else ""
        try:
            with self.engine.begin() as conn:
                self._limiter.check_and_count(conn, client_address, key_hint or None, now)
        except RateLimited as limited:
            raise AccountError(
                429,
                "rate_limited",
                "too many sign-in attempts; wait before trying again",
                retry_after=max(1, int(limited.retry_after_seconds)),
            ) from None
        if not isinstance(key_id, str) or not _KEY_ID.match(key_id.strip()):
            raise AccountError(
                400, "invalid_request", "key_id must be the Kalshi API key id (1 to 64 characters)"
            )
        key_id = key_id.strip()
        if not isinstance(pem, str | bytes) or not pem:
            raise AccountError(400, "invalid_key", "private_key_pem must be the PEM text")
        try:
            private_key = load_rsa_private_key(pem)
        except InvalidPrivateKey as bad:
            raise AccountError(400, "invalid_key", bad.message) from None
        signer = KalshiSigner(key_id=key_id, private_key=private_key)
        client = self._client_factory(signer)
        try:
            client.get_balance()
            figures = self._sign_in_figures(client)
        except (AuthenticationError, PermissionDeniedError) as rejected:
            client.close()
            raise AccountError(
                401, "kalshi_rejected", f"Kalshi refused the key: {_kalshi_reason(rejected)}"
            ) from None
        except KalshiError as error:
            client.close()
            raise _unavailable(error) from None
        with self.engine.begin() as conn:
            user_id = self._upsert_user(conn, key_id, now)
            credentials.save_credential(conn, self.auth.vault, user_id, key_id, pem, validated=True)
            if figures is not None and baselines.baseline_for(conn, user_id, now) is None:
                baselines.record_sign_in_baseline(conn, user_id, figures, now)
            session = self.auth.tokens.issue(user_id, now)
            session_store.record_session(conn, session)
            self._limiter.record_success(conn, client_address, key_id)
            user = self._user(conn, user_id, via="session", scope="trade")
        self._forget(user_id)
        # The checked client is the user's client from now on (its rate limit included).
        self._clients.get(user_id, lambda: client)
        self._publish("connected", user_id, "sign_in", session.jti)
        return SignedIn(user=user, session=session, csrf_token=new_csrf_token())

    def _sign_in_figures(self, client: KalshiClient) -> BaselinePoint | None:
        """The account's value at sign-in (for a first baseline of the day), or None when
        Kalshi fails to value it: sign-in does not depend on it."""
        try:
            return AccountReader(client, cache=AccountCache(0.0)).baseline_figures()
        except (AuthenticationError, PermissionDeniedError):
            raise
        except KalshiError as error:
            logger.warning("sign-in baseline skipped: %s", type(error).__name__)
            return None

    def _upsert_user(self, conn: Connection, key_id: str, now: datetime) -> uuid.UUID:
        row = conn.execute(
            text(
                "INSERT INTO users (id, kalshi_key_id, environment, signed_in_at) "
                "VALUES (:id, :key_id, :environment, :now) "
                "ON CONFLICT (kalshi_key_id, environment) DO UPDATE SET signed_in_at = :now "
                "RETURNING id"
            ),
            {
                "id": uuid.uuid4(),
                "key_id": key_id,
                "environment": self.settings.kalshi.name,
                "now": now,
            },
        ).scalar_one()
        return uuid.UUID(str(row))

    def _user(
        self, conn: Connection, user_id: uuid.UUID, *, via: str, scope: str
    ) -> dict[str, Any]:
        row = conn.execute(
            text(
                "SELECT u.id, u.kalshi_key_id, u.environment, u.signed_in_at, c.status "
                "FROM users u LEFT JOIN user_credentials c ON c.user_id = u.id "
                "WHERE u.id = :user_id"
            ),
            {"user_id": user_id},
        ).one_or_none()
        if row is None:
            raise AccountError(401, "not_signed_in", "this account no longer exists")
        return {
            "id": str(row.id),
            "key_id": mask_key_id(row.kalshi_key_id),
            "kalshi_environment": row.environment,
            "signed_in_at": row.signed_in_at.isoformat() if row.signed_in_at else None,
            "credential_status": row.status or "missing",
            "via": via,
            "scope": scope,
        }

    def me(self, principal: Principal) -> dict[str, Any]:
        with self.engine.begin() as conn:
            return self._user(conn, principal.user_id, via=principal.via, scope=principal.scope)

    def renew(self, principal: Principal) -> IssuedSession | None:
        """A fresh session when ``principal``'s is old enough (20 h), retiring the old one;
        None otherwise (and for API tokens)."""
        claims = principal.session
        now = self._now()
        if claims is None or not self.auth.tokens.needs_renewal(claims, now):
            return None
        with self.engine.begin() as conn:
            session = self.auth.tokens.issue(principal.user_id, now)
            session_store.record_session(conn, session)
            session_store.revoke_session(conn, claims.jti)
        return session

    # ---- Kalshi reads

    def reader(self, principal: Principal) -> AccountReader:
        user_id = principal.user_id
        if principal.via != "session":
            # A session's check refused anything but a valid key; a token's statement read
            # the status into the principal (ADR 0205). Only a principal built without
            # authenticating (a test, a job) has it unread.
            status = principal.credential
            if status == CREDENTIAL_UNCHECKED:
                with self.engine.begin() as conn:
                    stored = credentials.credential_status(conn, user_id)
                status = stored.status if stored is not None else None
            if status is None:
                raise AccountError(
                    401, "kalshi_not_connected", "no Kalshi key is stored; sign in again"
                )
            if status != "valid":
                raise AccountError(
                    401, "kalshi_key_revoked", "Kalshi no longer accepts the stored key"
                )

        def build() -> KalshiClient:
            with self.engine.begin() as conn:
                try:
                    signer = credentials.load_signer(conn, self.auth.vault, user_id)
                except credentials.CredentialMissing:
                    raise AccountError(
                        401, "kalshi_not_connected", "no Kalshi key is stored; sign in again"
                    ) from None
            return self._client_factory(signer)

        client, lookup = self._clients.get(user_id, build)
        return AccountReader(client, lookup, cache=self.cache, cache_key=user_id, now=self._now)

    def read(self, principal: Principal, view: Callable[[AccountReader], _T]) -> _T:
        """``view`` of the user's account; Kalshi refusing the stored key revokes it."""
        reader = self.reader(principal)
        try:
            return view(reader)
        except (AuthenticationError, PermissionDeniedError) as rejected:
            self._key_revoked(principal.user_id, _kalshi_reason(rejected))
            raise AccountError(
                401,
                "kalshi_key_revoked",
                "Kalshi no longer accepts the stored key; sign in again with a working key",
            ) from None
        except BadRequestError as error:
            raise AccountError(400, "invalid_request", f"Kalshi refused: {error.message}") from None
        except KalshiError as error:
            raise _unavailable(error) from None

    def kalshi_client(self, principal: Principal) -> KalshiClient:
        """The user's own Kalshi client from this instance's pool (order entry,
        :mod:`shared.trading`, signs with it); the same 401s as a read without a usable key."""
        return self.reader(principal)._client

    def key_rejected(self, user_id: uuid.UUID, reason: str) -> None:
        """Kalshi refused the stored key on an order call: handled as on a read."""
        self._key_revoked(user_id, reason)

    def _key_revoked(self, user_id: uuid.UUID, reason: str) -> None:
        with self.engine.begin() as conn:
            credentials.mark_invalid(conn, user_id, reason)
        self._forget(user_id)
        self._publish("disconnected", user_id, "key_revoked", None)
        logger.warning("Kalshi rejected the stored key of user %s; marked invalid", user_id)

    def portfolio(self, principal: Principal) -> dict[str, Any]:
        with self.engine.begin() as conn:
            stored = baselines.baseline_for(conn, principal.user_id, self._now())
        baseline = stored.point if stored is not None else None
        return self.read(principal, lambda reader: reader.portfolio(baseline))

    def _cached_view(
        self, principal: Principal, name: str, view: Callable[[AccountReader], dict[str, Any]]
    ) -> dict[str, Any]:
        """A whole rendered view, kept as long as the reads it is built from (the per-user
        cache's TTL): a dashboard polling every few seconds gets it without the view being
        valued again (200 positions cost milliseconds to value and render). Served past a
        Kalshi outage, it says so (``stale``)."""

        def build(reader: AccountReader) -> dict[str, Any]:
            cached = self.cache.get((principal.user_id, "view", name), lambda: view(reader))
            return {**cached.value, "stale": True} if cached.stale else cached.value

        return self.read(principal, build)

    def positions(self, principal: Principal) -> dict[str, Any]:
        return self._cached_view(principal, "positions", lambda reader: reader.positions())

    def fills(self, principal: Principal, cursor: str | None, limit: int) -> dict[str, Any]:
        return self.read(principal, lambda reader: reader.fills(cursor, limit))

    def settlements(self, principal: Principal, cursor: str | None, limit: int) -> dict[str, Any]:
        return self.read(principal, lambda reader: reader.settlements(cursor, limit))

    def performance(self, principal: Principal) -> dict[str, Any]:
        return self._cached_view(principal, "performance", lambda reader: reader.performance())

    # ---- settings

    def preferences(self, principal: Principal) -> dict[str, Any]:
        with self.engine.begin() as conn:
            return load_preferences(conn, principal.user_id).to_json()

    def save_preferences(self, principal: Principal, body: Any) -> dict[str, Any]:
        try:
            preferences: Preferences = parse_preferences(body)
        except PreferencesError as bad:
            raise AccountError(400, "invalid_settings", str(bad)) from None
        with self.engine.begin() as conn:
            save_preferences(conn, principal.user_id, preferences)
        return preferences.to_json()

    # ---- sign-out and deletion

    @staticmethod
    def _session_only(principal: Principal, what: str) -> None:
        if principal.via != "session":
            raise AccountError(403, "session_required", f"{what} needs a signed-in browser session")

    def sign_out(self, principal: Principal) -> None:
        """Forget the stored key and end every session of the user (API tokens stay, and
        work again once the user signs in again)."""
        self._session_only(principal, "signing out")
        with self.engine.begin() as conn:
            credentials.delete_credential(conn, principal.user_id)
            session_store.revoke_user_sessions(conn, principal.user_id)
        self._forget(principal.user_id)
        self._publish("disconnected", principal.user_id, "logout", principal.jti)

    def delete_account(self, principal: Principal) -> None:
        """Delete the user and everything stored for them: credential, sessions (revoked
        first, so a copied cookie stays dead), tokens, settings, baselines, positions,
        fills and backtest runs (foreign keys cascade from ``users``)."""
        self._session_only(principal, "deleting the account")
        with self.engine.begin() as conn:
            session_store.revoke_user_sessions(conn, principal.user_id)
            conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": principal.user_id})
        self._forget(principal.user_id)
        self._publish("disconnected", principal.user_id, "account_deleted", principal.jti)

    # ---- API tokens

    def create_token(self, principal: Principal, body: Any) -> dict[str, Any]:
        self._session_only(principal, "creating an API token")
        if not isinstance(body, dict):
            raise AccountError(400, "invalid_request", "the body must be a JSON object")
        unknown = sorted(set(body) - {"name", "scope", "expires_in_days"})
        if unknown:
            raise AccountError(
                400,
                "invalid_request",
                f"unknown field {unknown[0]!r}; a token takes name, scope, expires_in_days",
            )
        name = body.get("name")
        scope = body.get("scope", "read")
        days = body.get("expires_in_days")
        if not isinstance(name, str):
            raise AccountError(400, "invalid_request", "name must be a string")
        if not isinstance(scope, str):
            raise AccountError(400, "invalid_request", "scope must be read or trade")
        expires_at = None
        if days is not None:
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
                raise AccountError(
                    400, "invalid_request", f"expires_in_days must be 1 to {MAX_TOKEN_DAYS}"
                )
            expires_at = self._now() + timedelta(days=days)
        try:
            with self.engine.begin() as conn:
                plaintext, info = api_tokens.create_token(
                    conn, principal.user_id, name, scope, expires_at, now=self._now()
                )
        except api_tokens.TokenError as bad:
            raise AccountError(400, bad.code, bad.message) from None
        return {"token": plaintext, **_token_json(info)}

    def list_tokens(self, principal: Principal) -> dict[str, Any]:
        self._session_only(principal, "listing API tokens")
        with self.engine.begin() as conn:
            return {
                "items": [_token_json(t) for t in api_tokens.list_tokens(conn, principal.user_id)]
            }

    def revoke_token(self, principal: Principal, token_id: str) -> None:
        self._session_only(principal, "revoking an API token")
        try:
            parsed = uuid.UUID(token_id)
        except ValueError:
            raise AccountError(404, "not_found", "no such token") from None
        with self.engine.begin() as conn:
            found = api_tokens.revoke_token(conn, principal.user_id, parsed, now=self._now())
        if not found:
            raise AccountError(404, "not_found", "no such token")

    # ---- the day-boundary job

    def trading_day(self) -> date:
        """Today in Kalshi's trading calendar (New York)."""
        return baselines.trading_day(self._now())

    def record_day_boundary(self, day: date) -> dict[str, Any]:
        """Every connected user's baseline for ``day`` (idempotent per user and day)."""
        with self.engine.begin() as conn:
            users = [
                uuid.UUID(str(r[0]))
                for r in conn.execute(
                    text("SELECT user_id FROM user_credentials WHERE status = 'valid'")
                )
            ]

        def reader_for(user_id: uuid.UUID) -> AccountReader:
            return self.reader(Principal(user_id, "session", "read"))

        report = baselines.record_day_boundary(self.engine, users, reader_for, day, now=self._now)
        purged = self.purge_expired()
        return {
            "users": len(users),
            "recorded": report.recorded,
            "already": report.already,
            "failed": len(report.failed),
            "purged": purged,
        }

    def purge_expired(self) -> dict[str, int]:
        """Delete sessions, revocations and sign-in counters that can no longer matter.

        Expired sessions and revocations verify as expired anyway, and a counter whose
        window ended resets on its next hit, so their rows only cost space and index
        size on tables every authenticated request reads. The daily job runs this after
        the baselines: nothing else would ever delete them.
        """
        now = self._now()
        with self.engine.begin() as conn:
            sessions = session_store.purge_expired(conn, now=now)
            counters = ratelimit.purge_counters(conn, now=now)
        return {"sessions": sessions.sessions, "revoked": sessions.revoked, "counters": counters}


def _token_json(info: api_tokens.TokenInfo) -> dict[str, Any]:
    return {
        "id": str(info.id),
        "name": info.name,
        "scope": info.scope,
        "prefix": info.prefix,
        "created_at": info.created_at.isoformat(),
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
    }
