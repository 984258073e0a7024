"""The streamer's entry point: ``python -m streamer`` (the Cloud Run container's command).

Builds the service the environment describes (:class:`streamer.settings.StreamerSettings`)
out of the shared pieces and serves it on uvicorn (:mod:`streamer.server`). One role per
process: ``all`` (the single instance: tracker and fan-out in process), or in split mode
``tracker`` (Kalshi sockets, P&L, publishes ``position-events``) and ``fanout`` (SSE
clients, subscribes to ``position-events``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, text

from shared.auth.principal import AuthContext
from shared.kalshi.environments import environment_from_env
from shared.logging import configure_logging
from shared.messaging.topics import (
    ACCOUNT_EVENTS,
    BACKTEST_EVENTS,
    MARKET_SNAPSHOTS,
    subscription_path,
    topic_path,
)
from shared.streaming.events import POSITION_EVENTS, EventSink, StreamEvent
from streamer.baselines import SqlBaselines
from streamer.books import BookFeeds, BookFeedSettings
from streamer.cache import SqlPositionCache
from streamer.credentials import VaultSigners
from streamer.fanout import FanOut, FanOutSettings
from streamer.inputs import AccountLifecycle, BacktestRelay, MarketRelay, PullConsumer
from streamer.server import server_for
from streamer.service import StreamerService
from streamer.sessions import AuthSessionVerifier
from streamer.settings import StreamerSettings
from streamer.split import CacheSnapshots, PositionEventRelay, PubSubEventSink
from streamer.tracker import PositionTracker
from streamer.upstream import UpstreamManager, UpstreamSettings

__all__ = ["SqlRunOwners", "build_service", "main", "signed_in_accounts"]

log = logging.getLogger(__name__)


class SqlRunOwners:
    """Who started a backtest run: ``backtest_runs.owner_id`` (None for anonymous runs)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def owner_of(self, run_id: uuid.UUID) -> uuid.UUID | None:
        def lookup() -> uuid.UUID | None:
            with self._engine.connect() as conn:
                owner = conn.execute(
                    text("SELECT owner_id FROM backtest_runs WHERE id = :id"), {"id": run_id}
                ).scalar()
            return uuid.UUID(str(owner)) if owner is not None else None

        return await asyncio.to_thread(lookup)


def signed_in_accounts(engine: Engine) -> Any:
    """The accounts to connect at start-up: every user whose stored key is valid."""

    async def known() -> Sequence[uuid.UUID]:
        def query() -> list[uuid.UUID]:
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT user_id FROM user_credentials WHERE status = 'valid'")
                )
                return [uuid.UUID(str(r[0])) for r in rows]

        return await asyncio.to_thread(query)

    return known


class _Forward:
    """The in-process seam: the tracker's events straight into the fan-out."""

    def __init__(self) -> None:
        self.fanout: FanOut | None = None

    def publish(self, event: StreamEvent) -> None:
        if self.fanout is not None:
            self.fanout.publish(event)


def _ensure_subscription(
    project: str, topic: str, name: str, *, ordered: bool, expires: bool = False
) -> None:
    """Create the pull subscription unless it exists. ``expires``: an autoscaled fan-out's
    own subscription, deleted by Pub/Sub a day after its instance stopped pulling."""
    from google.api_core import exceptions
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    request: dict[str, Any] = {
        "name": subscription_path(project, name),
        "topic": topic_path(project, topic),
        "enable_message_ordering": ordered,
    }
    if expires:
        request["expiration_policy"] = {"ttl": {"seconds": 86_400}}
    with (
        pubsub_v1.SubscriberClient() as subscriber,
        contextlib.suppress(exceptions.AlreadyExists),
    ):
        subscriber.create_subscription(request=request)


def build_service(settings: StreamerSettings, engine: Engine, auth: AuthContext) -> StreamerService:
    """The service for ``settings.role`` over ``engine`` and the auth context's key rings."""
    role, project = settings.role, settings.project_id
    environment = environment_from_env()
    verifier = AuthSessionVerifier(auth, engine)
    consumers: list[PullConsumer] = []

    def consume(topic: str, handler: Any, *, ordered: bool = False) -> None:
        if project is None:
            log.warning("no Google Cloud project: not consuming %s", topic)
            return
        name = settings.subscription(topic)
        if settings.create_subscriptions:
            _ensure_subscription(
                project, topic, name, ordered=ordered, expires=settings.per_instance
            )
        consumers.append(PullConsumer(subscription_path(project, name), handler))

    tracker: PositionTracker | None = None
    upstream: UpstreamManager | None = None
    fanout: FanOut | None = None
    books: BookFeeds | None = None
    forward = _Forward()
    if role in ("all", "tracker"):
        sink: EventSink = forward
        if role == "tracker":
            if project is None:
                raise ValueError("split mode needs a Google Cloud project for position-events")
            from shared.messaging.pubsub import Publisher

            sink = PubSubEventSink(Publisher(project))
        tracker = PositionTracker(sink)
        signers = VaultSigners(engine, lambda: auth.vault)
        upstream = UpstreamManager(
            tracker,
            signers,
            UpstreamSettings(
                ws_url=environment.ws_url,
                rest_base_url=environment.rest_base_url,
                reconcile_every_s=settings.reconcile_s,
            ),
            on_key_rejected=signers.mark_rejected,
            baselines=SqlBaselines(engine),
        )
    if role in ("all", "fanout"):
        fanout = FanOut(
            tracker if tracker is not None else CacheSnapshots(engine),
            FanOutSettings(
                replay_events=settings.replay_events,
                client_queue=settings.client_queue,
                heartbeat_s=settings.heartbeat_s,
            ),
        )
        forward.fanout = fanout
        books = BookFeeds(
            VaultSigners(engine, lambda: auth.vault),
            BookFeedSettings(ws_url=environment.ws_url),
            fanout.relay_book,
        )
        consume(MARKET_SNAPSHOTS, MarketRelay(fanout, tracker).handle)
        consume(BACKTEST_EVENTS, BacktestRelay(fanout, SqlRunOwners(engine)).handle)
        if role == "fanout":
            consume(POSITION_EVENTS, PositionEventRelay(fanout).handle, ordered=True)
    elif tracker is not None:
        consume(MARKET_SNAPSHOTS, MarketRelay(None, tracker).handle)
    service = StreamerService(
        fanout=fanout,
        verifier=verifier,
        revocations=verifier if fanout is not None else None,
        tracker=tracker,
        cache=SqlPositionCache(engine) if tracker is not None else None,
        upstream=upstream,
        known_accounts=signed_in_accounts(engine) if upstream is not None else None,
        consumers=consumers,
        cache_interval_s=settings.cache_interval_s,
        revocation_every_s=settings.revocation_check_s,
        snapshot_every_s=settings.snapshot_every_s if role == "tracker" else None,
        books=books,
    )
    if tracker is not None:
        lifecycle = AccountLifecycle(service.account_connected, service.account_disconnected)
        consume(ACCOUNT_EVENTS, lifecycle.handle)
        service.add_consumers(consumers[-1:])
    return service


def main() -> None:
    """Serve until SIGTERM."""
    configure_logging()
    settings = StreamerSettings.from_env()
    from shared.db.engine import get_database

    service = build_service(settings, get_database().engine, AuthContext.from_env())
    server_for(service, settings.host, settings.port).run()


if __name__ == "__main__":
    main()
