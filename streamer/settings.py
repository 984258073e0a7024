"""The streamer's settings, read through :mod:`shared.config` (the only environment reader).

| variable | default | meaning |
|---|---|---|
| ``PORT`` | 8080 | listening port (Cloud Run sets it) |
| ``STREAMER_HOST`` | ``0.0.0.0`` | listening address |
| ``STREAMER_ROLE`` | ``all`` | ``all`` (one instance), ``tracker`` or ``fanout`` (split mode) |
| ``STREAMER_INSTANCE`` | ``0`` | names a fan-out's own subscriptions; ``auto``: per process |
| ``STREAMER_HEARTBEAT_S`` | 15 | quiet time before a heartbeat comment |
| ``STREAMER_REPLAY_EVENTS`` | 256 | events kept per user for resumes (at most 120 s old) |
| ``STREAMER_CLIENT_QUEUE`` | 256 | frames a slow client may lag before one coalesced snapshot |
| ``STREAMER_RECONCILE_S`` | 60 | REST reconciliation timer per account |
| ``STREAMER_CACHE_INTERVAL_S`` | 1 | position-cache write rounds |
| ``STREAMER_REVOCATION_CHECK_S`` | 30 | how often open streams' sessions are re-checked |
| ``STREAMER_SNAPSHOT_EVERY_S`` | 30 | split mode: the tracker's periodic per-user snapshot |
| ``STREAMER_CREATE_SUBSCRIPTIONS`` | false | create missing subscriptions (local only) |
| ``<TOPIC>_SUBSCRIPTION`` | derived | e.g. ``MARKET_SNAPSHOTS_SUBSCRIPTION`` (Terraform) |

``STREAMER_INSTANCE=auto`` is for autoscaled fan-outs (Cloud Run instances cannot be
numbered): each process names its subscriptions with a random id and creates them with a
one-day expiry, so an instance's subscriptions disappear after it does.

Kalshi's URLs come from ``KALSHI_BASE_URL``/``KALSHI_WS_URL``/``KALSHI_ENV``
(:func:`shared.kalshi.environments.environment_from_env`), the database from
``DATABASE_URL`` and friends, the session and vault keys from Secret Manager
(:class:`shared.auth.settings.AuthSettings`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from shared import config

__all__ = ["ROLES", "StreamerSettings"]

ROLES = ("all", "tracker", "fanout")
_TOPICS = ("market-snapshots", "account-events", "backtest-events", "position-events")


@dataclass(frozen=True)
class StreamerSettings:
    host: str = "0.0.0.0"  # noqa: S104 (a container listens on every interface)
    port: int = 8080
    role: str = "all"
    instance: str = "0"
    heartbeat_s: float = 15.0
    replay_events: int = 256
    client_queue: int = 256
    reconcile_s: float = 60.0
    cache_interval_s: float = 1.0
    revocation_check_s: float = 30.0
    snapshot_every_s: float = 30.0
    create_subscriptions: bool = False
    project_id: str | None = None
    subscriptions: tuple[tuple[str, str], ...] = ()
    """``(topic, subscription)`` pairs set explicitly (``MARKET_SNAPSHOTS_SUBSCRIPTION``...)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StreamerSettings:
        role = config.text("STREAMER_ROLE", env, "all") or "all"
        if role not in ROLES:
            raise config.ConfigError(f"STREAMER_ROLE must be one of {', '.join(ROLES)}")
        return cls(
            host=config.text("STREAMER_HOST", env, cls.host) or cls.host,
            port=config.integer("PORT", cls.port, env, minimum=1, maximum=65_535),
            role=role,
            instance=_instance(config.text("STREAMER_INSTANCE", env, "0") or "0"),
            heartbeat_s=config.seconds("STREAMER_HEARTBEAT_S", cls.heartbeat_s, env),
            replay_events=config.integer(
                "STREAMER_REPLAY_EVENTS", cls.replay_events, env, minimum=1
            ),
            client_queue=config.integer("STREAMER_CLIENT_QUEUE", cls.client_queue, env, minimum=1),
            reconcile_s=config.seconds("STREAMER_RECONCILE_S", cls.reconcile_s, env),
            cache_interval_s=config.seconds("STREAMER_CACHE_INTERVAL_S", cls.cache_interval_s, env),
            revocation_check_s=config.seconds(
                "STREAMER_REVOCATION_CHECK_S", cls.revocation_check_s, env
            ),
            snapshot_every_s=config.seconds("STREAMER_SNAPSHOT_EVERY_S", cls.snapshot_every_s, env),
            create_subscriptions=config.flag("STREAMER_CREATE_SUBSCRIPTIONS", False, env),
            project_id=config.project_id(env),
            subscriptions=tuple(
                (topic, name)
                for topic in _TOPICS
                if (name := config.text(topic.upper().replace("-", "_") + "_SUBSCRIPTION", env))
            ),
        )

    @property
    def per_instance(self) -> bool:
        """Subscriptions named for this process alone (``STREAMER_INSTANCE=auto``): created
        at start-up with an expiry, so an autoscaled instance's die with it."""
        return self.instance.startswith("i")

    def subscription(self, topic: str) -> str:
        """This instance's pull subscription to ``topic``."""
        explicit = dict(self.subscriptions).get(topic)
        if explicit:
            return explicit
        if topic.startswith("position-events"):
            return f"{topic}-fanout-{self.instance}"
        suffix = "streamer" if self.role == "all" else f"streamer-{self.role}-{self.instance}"
        return f"{topic}-{suffix}"


def _instance(value: str) -> str:
    if value == "auto":
        return "i" + uuid.uuid4().hex[:12]
    if not value.isdigit() or int(value) > 999:
        raise config.ConfigError("STREAMER_INSTANCE must be 0-999 or auto")
    return str(int(value))
