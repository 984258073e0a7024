"""The streamer's long-lived part: tracker, fan-out, cache, upstreams and inputs, wired.

Start-up, in order: restore ``position_cache`` into the tracker (then ``/readyz`` turns
ready), start every known account's upstream (each reconciles with Kalshi as it connects),
then the cache writer, the Pub/Sub consumers and the revocation sweep.

Shutdown (SIGTERM, :meth:`StreamerService.begin_shutdown` then :meth:`stop`): every stream
is told ``retry:`` and closed at once, so the server's connections drain; then the inputs
stop, the upstream sockets close and the cache is flushed one last time. Each step has a
deadline so the whole stays under Cloud Run's 10 s.

Every piece is injected, so tests build the same service over fakes (unit) or the real
database, simulator and emulators (integration), and split mode builds it with only the
tracker half or only the fan-out half.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence

from streamer.auth import RevocationCheck, SessionVerifier
from streamer.books import BookFeeds
from streamer.cache import CacheStore, PositionCacheWriter
from streamer.fanout import FanOut
from streamer.inputs import PullConsumer
from streamer.tracker import PositionTracker
from streamer.upstream import UpstreamManager

__all__ = ["StreamerService"]

log = logging.getLogger(__name__)


class StreamerService:
    """Implements :class:`streamer.app.StreamerRuntime`."""

    def __init__(
        self,
        *,
        fanout: FanOut | None,
        verifier: SessionVerifier,
        revocations: RevocationCheck | None = None,
        tracker: PositionTracker | None = None,
        cache: CacheStore | None = None,
        upstream: UpstreamManager | None = None,
        known_accounts: Callable[[], Awaitable[Sequence[uuid.UUID]]] | None = None,
        consumers: Sequence[PullConsumer] = (),
        cache_interval_s: float = 1.0,
        snapshot_every_s: float | None = None,
        revocation_every_s: float = 30.0,
        stop_timeout_s: float = 8.0,
        books: BookFeeds | None = None,
    ) -> None:
        self._fanout = fanout
        self.books = books
        if books is not None and fanout is not None:
            fanout.on_markets = books.want
        self._verifier = verifier
        self._revocations = revocations
        self.tracker = tracker
        self._cache = cache
        self.upstream = upstream
        self._known_accounts = known_accounts
        self._consumers = list(consumers)
        self.cache_writer = (
            PositionCacheWriter(tracker, cache, interval_s=cache_interval_s)
            if tracker is not None and cache is not None
            else None
        )
        self._revocation_every_s = revocation_every_s
        self._snapshot_every_s = snapshot_every_s
        self._stop_timeout_s = stop_timeout_s
        self._ready = False
        self._tasks: list[asyncio.Task[None]] = []
        self.restored_accounts = 0

    @property
    def fanout(self) -> FanOut | None:
        return self._fanout

    @property
    def verifier(self) -> SessionVerifier:
        return self._verifier

    @property
    def ready(self) -> bool:
        return self._ready

    # ---- start -------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._boot(), name="streamer-boot"))

    async def _boot(self) -> None:
        if self.tracker is not None and self._cache is not None:
            while True:
                try:
                    cached = await asyncio.to_thread(self._cache.load_all)
                    break
                except Exception as exc:
                    log.warning("restoring the position cache failed (%s); retrying", exc)
                    await asyncio.sleep(2.0)
            for user_id, states in cached.items():
                self.tracker.restore(user_id, states)
            self.restored_accounts = len(cached)
            log.info("position cache restored: %d accounts", len(cached))
        self._ready = True
        if self.upstream is not None and self._known_accounts is not None:
            try:
                accounts = await self._known_accounts()
            except Exception:
                log.exception("could not list the signed-in accounts at start-up")
                accounts = []
            # Spread the start-up's connections: 20 accounts a second, at most 30 s.
            spread = min(30.0, len(accounts) / 20)
            for user_id in accounts:
                self.upstream.ensure(user_id, start_delay=random.random() * spread)
        if self.cache_writer is not None:
            self._spawn(self.cache_writer.run(), "cache-writer")
        for consumer in self._consumers:
            self._spawn(consumer.run(), f"consume-{consumer.subscription_path.rsplit('/', 1)[-1]}")
        if self._revocations is not None and self._fanout is not None:
            self._spawn(self._sweep_revocations(), "revocation-sweep")
        if self._snapshot_every_s is not None and self.tracker is not None:
            self._spawn(self._periodic_snapshots(self._snapshot_every_s), "snapshots")

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            await coro

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def _periodic_snapshots(self, every_s: float) -> None:
        """Split mode: every account's full state now and then, so fan-outs converge."""
        assert self.tracker is not None
        while True:
            await asyncio.sleep(every_s)
            self.tracker.publish_snapshots()

    async def _sweep_revocations(self) -> None:
        """End streams whose session was revoked since they connected (one query a round)."""
        assert self._revocations is not None and self._fanout is not None
        while True:
            await asyncio.sleep(self._revocation_every_s)
            clients = [c for c in self._fanout.clients() if c.jti is not None]
            if not clients:
                continue
            try:
                revoked = await self._revocations.revoked({c.jti for c in clients if c.jti})
            except Exception as exc:
                log.warning("revocation sweep failed: %s", exc)
                continue
            for client in clients:
                if client.jti in revoked:
                    self._fanout.end_client(
                        client, "session_revoked", "This session was signed out."
                    )

    def add_consumers(self, consumers: Sequence[PullConsumer]) -> None:
        """Inputs whose handlers need the service itself (``account-events``); before start."""
        self._consumers.extend(consumers)

    # ---- account lifecycle (account-events) --------------------------------------------

    def account_connected(self, user_id: uuid.UUID) -> None:
        if self.upstream is not None:
            self.upstream.ensure(user_id)

    async def account_disconnected(self, user_id: uuid.UUID) -> None:
        if self.upstream is not None:
            await self.upstream.stop(user_id)
        if self.tracker is not None:
            self.tracker.set_connection(user_id, "disconnected", "signed_out")
        if self._fanout is not None:
            self._fanout.end_user(user_id, "signed_out", "You signed out.")
        if self.tracker is not None:
            self.tracker.forget(user_id)

    # ---- stop --------------------------------------------------------------------------

    def begin_shutdown(self) -> None:
        """SIGTERM: tell every stream to reconnect elsewhere and close it, now."""
        self._ready = False
        if self._fanout is not None:
            self._fanout.shutdown()

    async def stop(self) -> None:
        self.begin_shutdown()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.books is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.books.close(), 1.0)
        if self.upstream is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.upstream.stop_all(), self._stop_timeout_s / 2)
        if self.cache_writer is not None:
            try:
                flushed = await asyncio.wait_for(
                    self.cache_writer.flush(), self._stop_timeout_s / 2
                )
            except TimeoutError:
                flushed = False
            if not flushed:
                log.warning("position cache not fully flushed at shutdown")
