"""The auth settings every deployable that authenticates reads, through :mod:`shared.config`.

- ``AUTH_SESSION_ISSUER`` / ``AUTH_SESSION_AUDIENCE``: the session JWT's ``iss``/``aud``
  (default ``kalshi-insights`` for both: one product, one audience; change them to keep
  two deployments' sessions apart).
- ``AUTH_SESSION_LIFETIME_S`` (86400) and ``AUTH_SESSION_RENEW_AFTER_S`` (72000).
- ``AUTH_COOKIE_SECURE`` (default true): false only on the local stack
  (``APP_ENVIRONMENT=local``), which serves plain http on loopback; anywhere else false is
  a :class:`~shared.config.ConfigError`.
- ``AUTH_ALLOWED_ORIGINS``: comma-separated origins allowed to make cookie-authenticated
  state changes, besides the request's own ``Host`` (see :mod:`shared.auth.csrf`).
- ``AUTH_TRUSTED_PROXY_HOPS``: how many ``X-Forwarded-For`` entries, counted from the
  right, our own proxies appended (:func:`shared.auth.ratelimit.client_address`). Default
  2 in the cloud (Google's HTTPS load balancer appends ``<client>, <lb>``) and 1 locally
  (the gateway appends the client).
- ``AUTH_SESSION_KEYS_SECRET`` (``session-signing-keys``) and
  ``AUTH_CREDENTIAL_KEY_RING_SECRET`` (``credential-key-ring``): the Secret Manager ids.
- ``AUTH_KEYS_REFRESH_S`` (300): how long an instance keeps the key rings before reading
  them again, so a rotation reaches running instances without a redeploy.
- ``AUTH_SIGNIN_MAX_PER_ADDRESS`` (20), ``AUTH_SIGNIN_MAX_PER_KEY`` (5) and
  ``AUTH_SIGNIN_WINDOW_S`` (900): the sign-in limiter's budgets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from shared import config

__all__ = ["AuthSettings", "SigninLimits"]


@dataclass(frozen=True)
class SigninLimits:
    """Sign-in attempts allowed per client address and per Kalshi key id in one window."""

    per_address: int = 20
    per_key: int = 5
    window_s: int = 900

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_s)


@dataclass(frozen=True)
class AuthSettings:
    issuer: str = "kalshi-insights"
    audience: str = "kalshi-insights"
    session_lifetime_s: int = 86400
    renew_after_s: int = 72000
    cookie_secure: bool = True
    allowed_origins: tuple[str, ...] = ()
    trusted_hops: int = 2
    session_keys_secret: str = "session-signing-keys"  # noqa: S105 (a secret id)
    credential_key_ring_secret: str = "credential-key-ring"  # noqa: S105 (a secret id)
    keys_refresh_s: float = 300.0
    signin: SigninLimits = field(default_factory=SigninLimits)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(seconds=self.session_lifetime_s)

    @property
    def renew_after(self) -> timedelta:
        return timedelta(seconds=self.renew_after_s)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthSettings:
        local = config.is_local(env)
        secure = config.flag("AUTH_COOKIE_SECURE", True, env)
        if not secure and not local:
            raise config.ConfigError(
                "AUTH_COOKIE_SECURE=false is allowed only on the local stack "
                "(APP_ENVIRONMENT=local): session cookies travel over HTTPS only"
            )
        origins = config.text("AUTH_ALLOWED_ORIGINS", env) or ""
        lifetime = config.integer("AUTH_SESSION_LIFETIME_S", 86400, env, minimum=60)
        return cls(
            issuer=config.text("AUTH_SESSION_ISSUER", env, cls.issuer) or cls.issuer,
            audience=config.text("AUTH_SESSION_AUDIENCE", env, cls.audience) or cls.audience,
            session_lifetime_s=lifetime,
            renew_after_s=config.integer(
                "AUTH_SESSION_RENEW_AFTER_S", min(72000, lifetime), env, minimum=1
            ),
            cookie_secure=secure,
            allowed_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            trusted_hops=config.integer(
                "AUTH_TRUSTED_PROXY_HOPS", 1 if local else 2, env, minimum=0, maximum=10
            ),
            session_keys_secret=config.text(
                "AUTH_SESSION_KEYS_SECRET", env, cls.session_keys_secret
            )
            or cls.session_keys_secret,
            credential_key_ring_secret=config.text(
                "AUTH_CREDENTIAL_KEY_RING_SECRET", env, cls.credential_key_ring_secret
            )
            or cls.credential_key_ring_secret,
            keys_refresh_s=config.seconds("AUTH_KEYS_REFRESH_S", 300.0, env),
            signin=SigninLimits(
                per_address=config.integer("AUTH_SIGNIN_MAX_PER_ADDRESS", 20, env, minimum=1),
                per_key=config.integer("AUTH_SIGNIN_MAX_PER_KEY", 5, env, minimum=1),
                window_s=config.integer("AUTH_SIGNIN_WINDOW_S", 900, env, minimum=1),
            ),
        )
