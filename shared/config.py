"""The one place that reads the environment: typed parsers and the settings built from them.

Every deployable is configured by environment variables (Cloud Run / Cloud Functions fill
secrets from Secret Manager at deploy time; locally they are plain variables). Reading them
in one module gives every variable the same rules: unset or blank means the default; a flag
is one of ``1/true/yes/on`` or ``0/false/no/off``; a malformed value is a
:class:`ConfigError` naming the variable, raised when the settings are built (at startup),
never a silent fallback. Areas keep their own settings objects next to their code
(:mod:`shared.marketdata.settings`, :mod:`shared.backtest.settings`), built with these
parsers; what several deployables share lives here. A :class:`Secret` never shows its
value in a ``repr`` or an f-string, so a settings object can be logged safely.

Every parser takes an optional ``env`` mapping (tests pass a dict); ``None`` means the
process environment, read at call time so ``monkeypatch.setenv`` is seen.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "LOCAL_CURSOR_KEY",
    "PROJECT_ID_VARS",
    "ConfigError",
    "DatabaseSettings",
    "KalshiSettings",
    "LoggingSettings",
    "Secret",
    "cursor_key",
    "environ",
    "flag",
    "integer",
    "is_local",
    "number",
    "project_id",
    "seconds",
    "secret",
    "secret_manager_emulator_host",
    "text",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_IP_TYPES = frozenset({"PUBLIC", "PRIVATE", "PSC"})

PROJECT_ID_VARS = ("GOOGLE_CLOUD_PROJECT", "PUBSUB_PROJECT_ID", "GCP_PROJECT")
"""Where the Google Cloud project id comes from, first set wins: the runtime's own variable
(Terraform sets it on every function), then the Pub/Sub emulator's (the local stack), then
the first-generation runtime's. One rule for Pub/Sub, Secret Manager and trace links."""

LOCAL_CURSOR_KEY = "kalshi-insights-cursor-v1"
"""The pagination cursors' MAC key on the local stack only (``APP_ENVIRONMENT=local``)."""


class ConfigError(ValueError):
    """An environment variable is missing or malformed; the message names it."""


class Secret:
    """A string that must not leak into logs, errors or reprs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself: call only where it is handed to the library that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


# ---- parsers


def environ(env: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """``env``, or the process environment when it is ``None`` (the only read of it)."""
    return os.environ if env is None else env


def _raw(env: Mapping[str, str] | None, name: str) -> str | None:
    """The stripped value, or ``None`` when unset or blank (which always means the default)."""
    value = (environ(env).get(name) or "").strip()
    return value or None


_T = TypeVar("_T")
_N = TypeVar("_N", int, float)


def _parse(name: str, value: str, convert: Callable[[str], _T], what: str) -> _T:
    """``convert(value)``, or the :class:`ConfigError` every numeric parser raises for a
    value that does not parse (naming the variable, quoting at most 20 characters)."""
    try:
        return convert(value)
    except ValueError:
        raise ConfigError(f"{name} must be {what}, got {value[:20]!r}") from None


def _at_least(name: str, parsed: _N, minimum: _N) -> _N:
    if parsed < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {parsed}")
    return parsed


def text(name: str, env: Mapping[str, str] | None = None, default: str | None = None) -> str | None:
    """A string, stripped; unset or blank is ``default``."""
    value = _raw(env, name)
    return default if value is None else value


def secret(name: str, env: Mapping[str, str] | None = None) -> Secret | None:
    """A secret, kept exactly as given (a PEM's newlines matter); unset or empty is ``None``."""
    value = environ(env).get(name)
    return Secret(value) if value else None


def flag(name: str, default: bool, env: Mapping[str, str] | None = None) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); unset or blank is ``default``."""
    value = _raw(env, name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {value[:20]!r}")


def integer(
    name: str,
    default: int,
    env: Mapping[str, str] | None = None,
    *,
    minimum: int = 0,
    maximum: int | None = None,
) -> int:
    """A whole number within ``[minimum, maximum]``; unset or blank is ``default``."""
    value = _raw(env, name)
    if value is None:
        return default
    parsed = _at_least(name, _parse(name, value, int, "a whole number"), minimum)
    if maximum is not None and parsed > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {parsed}")
    return parsed


def number(
    name: str, default: float, env: Mapping[str, str] | None = None, *, minimum: float = 0.0
) -> float:
    """A finite number of at least ``minimum``; unset or blank is ``default``."""
    value = _raw(env, name)
    if value is None:
        return default
    parsed = _parse(name, value, float, "a number")
    if not math.isfinite(parsed):
        raise ConfigError(f"{name} must be a finite number, got {value[:20]!r}")
    return _at_least(name, parsed, minimum)


def seconds(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """A positive, finite duration in seconds; fractions allowed (tests use sub-second
    deadlines). Unset or blank is ``default``."""
    value = _raw(env, name)
    if value is None:
        return default
    parsed = _parse(name, value, float, "a number of seconds")
    if not parsed > 0 or not math.isfinite(parsed):
        raise ConfigError(f"{name} must be a positive number of seconds, got {value[:20]!r}")
    return parsed


def project_id(env: Mapping[str, str] | None = None) -> str | None:
    """The Google Cloud project: the first of :data:`PROJECT_ID_VARS` that is set."""
    return next((v for v in (text(n, env) for n in PROJECT_ID_VARS) if v), None)


def secret_manager_emulator_host(env: Mapping[str, str] | None = None) -> str | None:
    """``SECRET_MANAGER_EMULATOR_HOST`` (``host:port``): the local Secret Manager emulator.

    The only thing that tells local from deployed secret reads: both use the real client,
    this just points it at the emulator over an insecure channel.
    """
    return text("SECRET_MANAGER_EMULATOR_HOST", env) or None


def is_local(env: Mapping[str, str] | None = None) -> bool:
    """``APP_ENVIRONMENT=local``: the local stack, which sets it for every function.

    Fail closed: anything else, including nothing, is the cloud. Local mode relaxes checks
    (no OIDC token on task requests, a built-in cursor key), so it must be asked for by name.
    """
    return text("APP_ENVIRONMENT", env) == "local"


def cursor_key(env: Mapping[str, str] | None = None) -> Secret:
    """The pagination cursors' MAC key: ``API_CURSOR_KEY``.

    On the local stack a missing key falls back to :data:`LOCAL_CURSOR_KEY`; in the cloud it
    is a :class:`ConfigError`, so the API functions (which read it at import) refuse to start
    rather than sign cursors with a key anyone can read in the source.
    """
    configured = secret("API_CURSOR_KEY", env)
    if configured:
        return configured
    if is_local(env):
        return Secret(LOCAL_CURSOR_KEY)
    raise ConfigError(
        "API_CURSOR_KEY is not set (only the local stack, APP_ENVIRONMENT=local, may omit it)"
    )


# ---- settings several deployables share


@dataclass(frozen=True)
class KalshiSettings:
    """Which Kalshi to talk to and as whom (:mod:`shared.kalshi.environments` resolves them).

    - ``base_url`` / ``ws_url``: ``KALSHI_BASE_URL`` (+ optional ``KALSHI_WS_URL``); a base
      URL wins over a name, so the local stack can publish the simulator's URLs.
    - ``environment``: ``KALSHI_ENV`` (default ``demo``: it cannot move real money).
    - ``key_id``: ``KALSHI_KEY_ID``; without it only public endpoints are used.
    - ``private_key`` / ``private_key_path``: ``KALSHI_PRIVATE_KEY`` (the PEM itself) or
      ``KALSHI_PRIVATE_KEY_PATH`` (a file holding it); the PEM wins.
    """

    environment: str = "demo"
    base_url: str | None = None
    ws_url: str | None = None
    key_id: str | None = None
    private_key: Secret | None = None
    private_key_path: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KalshiSettings:
        return cls(
            environment=text("KALSHI_ENV", env, "demo") or "demo",
            base_url=text("KALSHI_BASE_URL", env),
            ws_url=text("KALSHI_WS_URL", env),
            key_id=text("KALSHI_KEY_ID", env),
            private_key=secret("KALSHI_PRIVATE_KEY", env),
            private_key_path=text("KALSHI_PRIVATE_KEY_PATH", env),
        )


@dataclass(frozen=True)
class LoggingSettings:
    """``LOG_LEVEL`` (default INFO), the project trace links name (:func:`project_id`), and
    ``LOG_EXECUTION_ID`` (functions-framework labels each line with its execution id; Terraform
    sets it on every function)."""

    level: str = "INFO"
    project: str | None = None
    execution_id: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LoggingSettings:
        return cls(
            level=text("LOG_LEVEL", env, "INFO") or "INFO",
            project=project_id(env),
            execution_id=flag("LOG_EXECUTION_ID", False, env),
        )


@dataclass(frozen=True)
class DatabaseSettings:
    """How to reach Postgres.

    ``INSTANCE_CONNECTION_NAME`` (``project:region:instance``) selects Cloud SQL through the
    Python connector; otherwise ``DATABASE_URL`` names any Postgres (the local stack, tests).
    Pool defaults are small on purpose: a function instance handles a handful of concurrent
    requests, and hundreds of instances share one Cloud SQL connection limit.
    """

    database_url: str | None = None
    instance_connection_name: str | None = None
    db_user: str = "postgres"
    db_name: str = "kalshi_insights"
    db_pass: Secret | None = None
    db_iam_auth: bool = False
    db_ip_type: str = "PUBLIC"
    pool_size: int = 2
    max_overflow: int = 2
    pool_timeout: int = 30
    pool_recycle: int = 1800
    # Every wait on the database is bounded (docs/decisions/0081): opening a connection,
    # one statement on the server, one read or write on the socket (the health probe's own
    # deadline, DB_HEALTH_TIMEOUT, lives in shared/db/deadline.py).
    # A statement_timeout of 0 disables it (migrations: DDL may run long); socket_timeout
    # None means statement_timeout + 5 s, so the server cancels a slow statement before the
    # client gives up on the socket.
    connect_timeout: float = 5.0
    statement_timeout: float = 20.0
    socket_timeout: float | None = None

    @property
    def effective_socket_timeout(self) -> float | None:
        """The socket timeout to apply; ``None`` (wait forever) only with no statement timeout."""
        if self.socket_timeout is not None:
            return self.socket_timeout
        return self.statement_timeout + 5.0 if self.statement_timeout > 0 else None

    @property
    def uses_cloud_sql(self) -> bool:
        return bool(self.instance_connection_name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DatabaseSettings:
        instance = text("INSTANCE_CONNECTION_NAME", env)
        url = text("DATABASE_URL", env)
        if instance is None and url is None:
            raise ConfigError(
                "no database configured: set DATABASE_URL (any Postgres) or "
                "INSTANCE_CONNECTION_NAME (Cloud SQL)"
            )
        ip_type = (text("DB_IP_TYPE", env) or "PUBLIC").upper()
        if ip_type not in _IP_TYPES:
            raise ConfigError(f"DB_IP_TYPE must be one of {sorted(_IP_TYPES)}, got {ip_type!r}")
        return cls(
            database_url=url,
            instance_connection_name=instance,
            db_user=text("DB_USER", env, "postgres") or "postgres",
            db_name=text("DB_NAME", env, "kalshi_insights") or "kalshi_insights",
            db_pass=secret("DB_PASS", env),
            db_iam_auth=flag("DB_IAM_AUTH", False, env),
            db_ip_type=ip_type,
            pool_size=integer("DB_POOL_SIZE", 2, env, minimum=1),
            max_overflow=integer("DB_MAX_OVERFLOW", 2, env),
            pool_timeout=integer("DB_POOL_TIMEOUT", 30, env, minimum=1),
            pool_recycle=integer("DB_POOL_RECYCLE", 1800, env, minimum=1),
            connect_timeout=seconds("DB_CONNECT_TIMEOUT", 5.0, env),
            statement_timeout=seconds("DB_STATEMENT_TIMEOUT", 20.0, env),
            socket_timeout=(
                seconds("DB_SOCKET_TIMEOUT", 1.0, env) if text("DB_SOCKET_TIMEOUT", env) else None
            ),
        )
