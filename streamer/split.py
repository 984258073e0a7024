"""Split mode: the tracker and the fan-out in separate deployments, joined by Pub/Sub.

One tracker instance (the Kalshi sockets, the P&L) publishes every per-user event to the
``position-events`` topic with the user id as ordering key, so each user's events arrive in
sequence; any number of fan-out instances (autoscaled, the SSE clients) each pull their own
ordered subscription and feed their :class:`~streamer.fanout.FanOut` exactly as the
tracker does in process. Nothing else changes: event ids are the tracker's, so any fan-out
resumes any browser from its replay buffer.

A fan-out that has not seen a user yet (it just started, or the user is new to it) builds
the first snapshot from ``position_cache`` valued at ``market_latest``
(:class:`CacheSnapshots`). That state carries no tracker id (epoch 0): the next tracker event
for the user is applied on top of it and its id adopted, and the tracker's periodic
``snapshot`` (:meth:`streamer.tracker.PositionTracker.publish_snapshots`) replaces it
wholesale, so a fan-out converges within one snapshot interval even after losing messages.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, text

from shared.messaging.envelope import Envelope, InvalidMessage
from shared.messaging.pubsub import Publisher
from shared.streaming.events import (
    POSITION_EVENTS,
    StreamEvent,
    decode_position_event,
    position_event_envelope,
)
from streamer.cache import SqlPositionCache
from streamer.fanout import FanOut
from streamer.tracker import PositionTracker

__all__ = ["CacheSnapshots", "PositionEventRelay", "PubSubEventSink"]

log = logging.getLogger(__name__)


class PubSubEventSink:
    """:class:`~shared.streaming.events.EventSink` publishing to ``position-events``.

    ``publish`` never blocks the event loop: events are queued and a worker thread sends
    them in order, grouped per user under the user's ordering key.
    """

    def __init__(self, publisher: Publisher, topic: str = POSITION_EVENTS) -> None:
        self._publisher = publisher
        self._topic = topic
        self._queue: queue.SimpleQueue[StreamEvent | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="position-events", daemon=True)
        self._thread.start()
        self.published = 0
        self.failures = 0

    def publish(self, event: StreamEvent) -> None:
        self._queue.put(event)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, then stop the worker."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get())
            stop = None in batch
            per_user: dict[uuid.UUID, list[Envelope]] = defaultdict(list)
            for event in batch:
                if event is not None:
                    per_user[event.user_id].append(position_event_envelope(event))
            for user_id, envelopes in per_user.items():
                try:
                    self._publisher.publish_many(
                        self._topic, envelopes, ordering_key=str(user_id), timeout=30
                    )
                    self.published += len(envelopes)
                except Exception as exc:
                    # The fan-outs see a gap and reload from the cache; the tracker's next
                    # periodic snapshot corrects them in any case.
                    self.failures += len(envelopes)
                    log.warning("publishing %d position events failed: %s", len(envelopes), exc)
            if stop:
                return


class PositionEventRelay:
    """A ``position-events`` message -> the fan-out (the split fan-out's input)."""

    def __init__(self, fanout: FanOut) -> None:
        self._fanout = fanout

    async def handle(self, envelope: Envelope) -> None:
        self._fanout.publish(decode_position_event(envelope))


class _NullSink:
    def publish(self, event: StreamEvent) -> None:
        return None


_QUOTES = text(
    "SELECT ticker, yes_bid_dollars, yes_ask_dollars, last_price_dollars "
    "FROM market_latest WHERE ticker = ANY(CAST(:tickers AS text[]))"
)


class CacheSnapshots:
    """:class:`~shared.streaming.events.SnapshotSource` from ``position_cache`` valued at
    ``market_latest``: what a split fan-out shows a user before the tracker's events."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cache = SqlPositionCache(engine)

    async def snapshot(self, user_id: uuid.UUID) -> StreamEvent | None:
        def load() -> tuple[list[Any], list[Any]]:
            states = self._cache.load_user(user_id)
            if not states:
                return states, []
            with self._engine.connect() as conn:
                quotes = list(conn.execute(_QUOTES, {"tickers": [s.ticker for s in states]}))
            return states, quotes

        states, quotes = await asyncio.to_thread(load)
        valuer = PositionTracker(_NullSink(), epoch=0)
        valuer.restore(user_id, states)
        for ticker, bid, ask, last in quotes:
            valuer.on_quote(ticker, bid, ask, last)
        event = await valuer.snapshot(user_id)
        if event is None:  # pragma: no cover - the valuer always answers
            raise InvalidMessage("no snapshot")
        data = dict(event.data)
        data["connection"] = None  # unknown here: the tracker's events will say
        return StreamEvent(user_id, 0, 0, "snapshot", data)
