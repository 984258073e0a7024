"""The ``account`` function's settings, read once at import through :mod:`shared.config`.

- ``kalshi``: the Kalshi every signed-in user's key is checked against and read from:
  ``KALSHI_BASE_URL`` (the local simulator) or ``KALSHI_ENV`` (``demo``/``production``).
  Always the server's: a sign-in request can never point the function at another host
  (which would turn sign-in into a way to make the function send signed requests anywhere).
- ``auth``: sessions, cookies, origins, proxy hops, key rings, sign-in limits
  (:class:`shared.auth.settings.AuthSettings`).
- ``project_id``: where ``account-events`` is published (:func:`shared.config.project_id`).
- ``cache_ttl_s``: ``ACCOUNT_CACHE_TTL_S`` (3), how long a user's Kalshi reads are reused.
- ``kalshi_timeout_s``: ``ACCOUNT_KALSHI_TIMEOUT_S`` (10), one Kalshi request's budget, well
  inside the function's 30 s timeout.
- ``day_boundary_audience`` / ``day_boundary_invoker``: ``DAY_BOUNDARY_AUDIENCE`` and
  ``DAY_BOUNDARY_INVOKER_SA``, the OIDC audience and the only service account the
  day-boundary job endpoint accepts in the cloud (without both it refuses every call).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared import config
from shared.auth.settings import AuthSettings
from shared.kalshi.environments import KalshiEnvironment, environment_from_env

__all__ = ["AccountSettings"]


@dataclass(frozen=True)
class AccountSettings:
    kalshi: KalshiEnvironment
    auth: AuthSettings = field(default_factory=AuthSettings)
    project_id: str | None = None
    local: bool = False
    cache_ttl_s: float = 3.0
    kalshi_timeout_s: float = 10.0
    day_boundary_audience: str | None = None
    day_boundary_invoker: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AccountSettings:
        return cls(
            kalshi=environment_from_env(env),
            auth=AuthSettings.from_env(env),
            project_id=config.project_id(env),
            local=config.is_local(env),
            cache_ttl_s=config.number("ACCOUNT_CACHE_TTL_S", cls.cache_ttl_s, env),
            kalshi_timeout_s=config.seconds("ACCOUNT_KALSHI_TIMEOUT_S", cls.kalshi_timeout_s, env),
            day_boundary_audience=config.text("DAY_BOUNDARY_AUDIENCE", env),
            day_boundary_invoker=config.text("DAY_BOUNDARY_INVOKER_SA", env),
        )
