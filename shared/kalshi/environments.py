"""Where Kalshi lives: production, demo, or any base URL (the local simulator).

A Kalshi environment is a REST base URL that *includes* ``/trade-api/v2`` plus the matching
WebSocket URL (``/trade-api/ws/v2``). Keys are per environment: a demo key only works on the
demo hosts, a production key only on production. The "external-api" hosts are the ones
Kalshi recommends since 2026-05-07; the older "shared" hosts still work and are kept for
people who pinned them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from shared.config import KalshiSettings

__all__ = [
    "DEMO",
    "DEMO_SHARED_HOST",
    "ENVIRONMENTS",
    "PRODUCTION",
    "PRODUCTION_SHARED_HOST",
    "REST_PREFIX",
    "WS_PATH",
    "KalshiEnvironment",
    "KalshiEnvironmentError",
    "custom_environment",
    "environment_from_env",
    "resolve_environment",
]

REST_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"


class KalshiEnvironmentError(ValueError):
    """A name or URL does not describe a usable Kalshi environment."""


@dataclass(frozen=True)
class KalshiEnvironment:
    """One Kalshi deployment: names its REST base (with ``/trade-api/v2``) and WS URL."""

    name: str
    rest_base_url: str
    ws_url: str

    @property
    def rest_path_prefix(self) -> str:
        """The path part of the REST base, which every signed path starts with."""
        return urlsplit(self.rest_base_url).path.rstrip("/")


PRODUCTION = KalshiEnvironment(
    "production",
    "https://external-api.kalshi.com/trade-api/v2",
    "wss://external-api-ws.kalshi.com/trade-api/ws/v2",
)
PRODUCTION_SHARED_HOST = KalshiEnvironment(
    "production-shared-host",
    "https://api.elections.kalshi.com/trade-api/v2",
    "wss://api.elections.kalshi.com/trade-api/ws/v2",
)
DEMO = KalshiEnvironment(
    "demo",
    "https://external-api.demo.kalshi.co/trade-api/v2",
    "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2",
)
DEMO_SHARED_HOST = KalshiEnvironment(
    "demo-shared-host",
    "https://demo-api.kalshi.co/trade-api/v2",
    "wss://demo-api.kalshi.co/trade-api/ws/v2",
)

ENVIRONMENTS: Mapping[str, KalshiEnvironment] = {
    "production": PRODUCTION,
    "prod": PRODUCTION,
    "production-shared-host": PRODUCTION_SHARED_HOST,
    "demo": DEMO,
    "demo-shared-host": DEMO_SHARED_HOST,
}


def _derive_ws_url(rest_base_url: str) -> str:
    parts = urlsplit(rest_base_url)
    scheme = {"http": "ws", "https": "wss"}[parts.scheme]
    path = parts.path.rstrip("/")
    root = path[: -len(REST_PREFIX)] if path.endswith(REST_PREFIX) else ""
    return urlunsplit((scheme, parts.netloc, root + WS_PATH, "", ""))


def custom_environment(
    rest_base_url: str, ws_url: str | None = None, name: str = "custom"
) -> KalshiEnvironment:
    """An environment for any base URL, e.g. the simulator's ``http://127.0.0.1:P/trade-api/v2``.

    The base URL must include the API prefix, because Kalshi signs the full path; a bare host
    gets ``/trade-api/v2`` appended (the usual "short path → 401" mistake, made impossible).
    The WS URL defaults to the same host with ``/trade-api/ws/v2``.
    """
    parts = urlsplit(rest_base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise KalshiEnvironmentError(
            f"Kalshi base URL must be an absolute http(s) URL, got {rest_base_url!r}"
        )
    if parts.query or parts.fragment:
        raise KalshiEnvironmentError("Kalshi base URL must not carry a query string or fragment")
    path = parts.path.rstrip("/") or REST_PREFIX
    base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    if ws_url is not None and urlsplit(ws_url).scheme not in ("ws", "wss"):
        raise KalshiEnvironmentError(
            f"Kalshi WebSocket URL must be ws:// or wss://, got {ws_url!r}"
        )
    return KalshiEnvironment(name, base, ws_url or _derive_ws_url(base))


def resolve_environment(name_or_url: str | KalshiEnvironment) -> KalshiEnvironment:
    """``"production"``, ``"demo"`` (and their ``-shared-host`` twins) or a base URL."""
    if isinstance(name_or_url, KalshiEnvironment):
        return name_or_url
    key = name_or_url.strip().lower()
    if key in ENVIRONMENTS:
        return ENVIRONMENTS[key]
    if "://" in key:
        return custom_environment(name_or_url)
    known = ", ".join(sorted(ENVIRONMENTS))
    raise KalshiEnvironmentError(
        f"unknown Kalshi environment {name_or_url!r}; use {known} or a URL"
    )


def environment_from_env(env: Mapping[str, str] | None = None) -> KalshiEnvironment:
    """Read ``KALSHI_BASE_URL`` (+ optional ``KALSHI_WS_URL``) or ``KALSHI_ENV``.

    A base URL wins, so the local stack (which publishes the simulator's URLs) and a user
    pointing at demo/production by name both work; with neither set, demo is the default
    because it cannot move real money.
    """
    settings = KalshiSettings.from_env(env)
    ws = settings.ws_url
    if settings.base_url:
        return custom_environment(settings.base_url, ws)
    environment = resolve_environment(settings.environment)
    if ws:
        return KalshiEnvironment(environment.name, environment.rest_base_url, ws)
    return environment
