"""Typed settings shared by every deployable, read from the environment.

Only what several deployables need lives here (the database connection, for now). Each
area keeps its own settings next to its code, so this module stays small. Secrets arrive
as environment variables that Cloud Run / Cloud Functions fill from Secret Manager at
deploy time; locally they are plain variables. A :class:`Secret` never shows its value in a
``repr`` or an f-string, so a settings object can be logged safely.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ConfigError", "DatabaseSettings", "Secret"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_IP_TYPES = frozenset({"PUBLIC", "PRIVATE", "PSC"})


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


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive duration in seconds; fractions allowed (tests use sub-second deadlines)."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


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
        env = os.environ if env is None else env
        instance = (env.get("INSTANCE_CONNECTION_NAME") or "").strip() or None
        url = (env.get("DATABASE_URL") or "").strip() or None
        if instance is None and url is None:
            raise ConfigError(
                "no database configured: set DATABASE_URL (any Postgres) or "
                "INSTANCE_CONNECTION_NAME (Cloud SQL)"
            )
        ip_type = (env.get("DB_IP_TYPE") or "PUBLIC").strip().upper()
        if ip_type not in _IP_TYPES:
            raise ConfigError(f"DB_IP_TYPE must be one of {sorted(_IP_TYPES)}, got {ip_type!r}")
        password = env.get("DB_PASS")
        return cls(
            database_url=url,
            instance_connection_name=instance,
            db_user=env.get("DB_USER") or "postgres",
            db_name=env.get("DB_NAME") or "kalshi_insights",
            db_pass=Secret(password) if password else None,
            db_iam_auth=_flag(env, "DB_IAM_AUTH", False),
            db_ip_type=ip_type,
            pool_size=_int(env, "DB_POOL_SIZE", 2, minimum=1),
            max_overflow=_int(env, "DB_MAX_OVERFLOW", 2),
            pool_timeout=_int(env, "DB_POOL_TIMEOUT", 30, minimum=1),
            pool_recycle=_int(env, "DB_POOL_RECYCLE", 1800, minimum=1),
            connect_timeout=_seconds(env, "DB_CONNECT_TIMEOUT", 5.0),
            statement_timeout=_seconds(env, "DB_STATEMENT_TIMEOUT", 20.0),
            socket_timeout=(
                _seconds(env, "DB_SOCKET_TIMEOUT", 1.0) if env.get("DB_SOCKET_TIMEOUT") else None
            ),
        )
