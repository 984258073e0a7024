"""The fan-out side: every connected browser's stream, fed from the tracker's per-user events.

Per user the fan-out keeps

- a *mirror* of what a ``snapshot`` shows (positions by ticker, portfolio, connection
  status), updated from the state events as they pass, so a snapshot is always exactly the
  state after the last event id it carries, built without waiting on anything;
- a *replay buffer* of that user's recent encoded events (bounded in count and age), from
  which a browser reconnecting with ``Last-Event-ID`` gets what it missed (a fresh
  ``snapshot`` when the id is older than the buffer, from another tracker run, or not ours);
- the user's connected clients.

Each client has a bounded queue of encoded frames. A client too slow to keep up is not
allowed to grow memory or hold anyone up: when its queue is full it is emptied, further
events for it are dropped, and its writer sends one coalesced fresh ``snapshot`` (the mirror
at that moment, which includes everything dropped) before carrying on. Every event is
encoded once per user, not once per client.

Events for a user arrive in sequence order (in process by construction; from
``position-events`` with the user id as ordering key). A duplicate (seq already applied) is
ignored; a gap (a lost message) or a new tracker epoch without its opening snapshot makes
the fan-out reload the user's state from its :class:`~shared.streaming.events.SnapshotSource`
and send the result to the user's clients as a snapshot.

Relayed events (``market_update``, ``backtest_progress``) do not pass through the sequence:
they go only to the clients that asked for the market (``?markets=``) or hold it, and only
to the owner of a backtest run, and are never replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.domain.units import json_default
from shared.streaming.events import (
    STATE_TYPES,
    SnapshotSource,
    StreamEvent,
    format_event_id,
    parse_event_id,
)
from shared.streaming.sse import HEARTBEAT, encode_event, retry

__all__ = ["Client", "FanOut", "FanOutSettings"]

log = logging.getLogger(__name__)


def _json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, default=json_default, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class FanOutSettings:
    """Bounds and timers of the fan-out (the service builds them from its settings)."""

    replay_events: int = 256
    """Events kept per user for ``Last-Event-ID`` resumes (at most)..."""
    replay_max_age_s: float = 120.0
    """...and no older than this: a browser away longer gets a fresh snapshot, and the
    buffers stop growing within two minutes whatever the event rate."""
    client_queue: int = 256
    """Frames a client may have waiting before it is coalesced to one snapshot."""
    heartbeat_s: float = 15.0
    """Quiet time after which a stream gets a heartbeat comment."""
    shutdown_retry_ms: int = 1_000
    """The ``retry:`` a stream is told at shutdown before it is closed."""


class Client:
    """One browser's stream: its filter, its bounded queue and its end."""

    __slots__ = (
        "_frames",
        "_limit",
        "_wake",
        "closed",
        "coalesced",
        "coalescing",
        "expires_at",
        "jti",
        "markets",
        "needs_snapshot",
        "relayed",
        "user_id",
    )

    def __init__(
        self,
        user_id: uuid.UUID,
        markets: frozenset[str],
        limit: int,
        *,
        expires_at: float | None = None,
        jti: str | None = None,
    ) -> None:
        self.user_id = user_id
        self.markets = markets
        self.expires_at = expires_at
        self.jti = jti
        self.closed = False
        self.needs_snapshot = False
        self.coalesced = 0
        self.coalescing = False
        self.relayed = 0
        self._frames: deque[bytes] = deque()
        self._limit = limit
        self._wake = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Client user={self.user_id} queued={len(self._frames)} closed={self.closed}>"

    @property
    def queued(self) -> int:
        return len(self._frames)

    def offer(self, frame: bytes) -> None:
        """Queue a frame; on overflow drop the queue and ask for one coalesced snapshot."""
        if self.closed or self.needs_snapshot:
            return
        if len(self._frames) >= self._limit:
            self._frames.clear()
            self.needs_snapshot = True
            self.coalescing = True
            self.coalesced += 1
        else:
            self._frames.append(frame)
        self._wake.set()

    def request_snapshot(self) -> None:
        """Send a fresh snapshot after what is queued (the state was reloaded or rebased);
        events until then are dropped, the snapshot includes them."""
        if not self.closed:
            self.needs_snapshot = True
            self._wake.set()

    def end(self, final: bytes | None = None) -> None:
        """Close after what is queued, plus ``final`` (an error event, a ``retry:``)."""
        if self.closed:
            return
        if final is not None:
            self._frames.append(final)
        self.closed = True
        self._wake.set()

    def drain(self) -> bytes:
        if not self._frames:
            return b""
        chunk = b"".join(self._frames)
        self._frames.clear()
        return chunk

    async def wait(self, timeout: float) -> bool:
        """Wait for something to send; False on timeout."""
        if self._frames or self.closed or self.needs_snapshot:
            return True
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            return False
        return True


@dataclass
class _User:
    """One user's mirror, replay buffer and clients."""

    user_id: uuid.UUID
    replay: deque[tuple[int, bytes]]
    replay_times: deque[float]
    epoch: int = 0
    seq: int = 0
    ready: bool = False
    positions: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    portfolio: Mapping[str, Any] = field(default_factory=dict)
    connection: Mapping[str, Any] | None = None
    clients: set[Client] = field(default_factory=set)
    loading: asyncio.Future[None] | None = None
    pending: list[StreamEvent] = field(default_factory=list)

    def snapshot_data(self) -> dict[str, Any]:
        return {
            "positions": [self.positions[t] for t in sorted(self.positions)],
            "portfolio": dict(self.portfolio),
            "connection": dict(self.connection) if self.connection is not None else None,
        }

    def snapshot_frame(self, *, coalesced: bool = False) -> bytes:
        data = self.snapshot_data()
        if coalesced:
            data["coalesced"] = True  # events were dropped for this client; this replaces them
        return encode_event("snapshot", _json(data), format_event_id(self.epoch, self.seq))

    def rebase(self, event: StreamEvent) -> None:
        """Replace the mirror with a snapshot event's state; the replay starts over."""
        data = event.data
        self.epoch, self.seq = event.epoch, event.seq
        raw_positions = data.get("positions") or []
        self.positions = {
            str(p["ticker"]): p for p in raw_positions if isinstance(p, Mapping) and "ticker" in p
        }
        portfolio = data.get("portfolio")
        self.portfolio = portfolio if isinstance(portfolio, Mapping) else {}
        connection = data.get("connection")
        self.connection = connection if isinstance(connection, Mapping) else None
        self.replay.clear()
        self.replay_times.clear()
        self.ready = True

    def apply(self, event: StreamEvent) -> None:
        kind, data = event.type, event.data
        if kind == "position_update":
            self.positions[str(data["ticker"])] = data
        elif kind == "position_removed":
            self.positions.pop(str(data.get("ticker")), None)
        elif kind == "portfolio_update":
            self.portfolio = data
        elif kind == "connection_status":
            self.connection = data
        self.seq = event.seq

    def covers(self, resume: tuple[int, int] | None) -> bool:
        """Whether the replay holds every event after ``resume`` (epoch, seq)."""
        if resume is None or resume[0] != self.epoch or resume[1] > self.seq:
            return False
        if resume[1] == self.seq:
            return True
        return bool(self.replay) and self.replay[0][0] <= resume[1] + 1


class FanOut:
    """Every user's stream state and clients; the in-process :class:`EventSink`."""

    def __init__(
        self,
        snapshots: SnapshotSource,
        settings: FanOutSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = snapshots
        self._monotonic = monotonic
        self.settings = settings or FanOutSettings()
        self._clock = clock
        self._users: dict[uuid.UUID, _User] = {}
        self._closing = False
        self._tasks: set[asyncio.Future[None]] = set()
        self.events_published = 0
        self.frames_offered = 0
        self.on_markets: Callable[[uuid.UUID, frozenset[str]], None] | None = None
        """Told the union of a user's streams' ``?markets=`` whenever it may have changed
        (the order-book feeds, :mod:`streamer.books`)."""

    # ---- the tracker's side ------------------------------------------------------------

    def publish(self, event: StreamEvent) -> None:
        """Apply one tracker event and offer it to the user's clients (EventSink)."""
        self.events_published += 1
        user = self._users.get(event.user_id)
        if user is None:
            if event.type != "snapshot":
                return  # nobody has watched this user yet: the first client loads a snapshot
            user = self._user(event.user_id)
        if user.loading is not None:
            user.pending.append(event)
            return
        self._accept(user, event)

    def _accept(self, user: _User, event: StreamEvent) -> None:
        if event.type == "snapshot":
            if user.ready and event.epoch == user.epoch and event.seq == user.seq + 1:
                # A periodic snapshot in sequence: the clients already have this state.
                replay, times = list(user.replay), list(user.replay_times)
                user.rebase(event)
                user.replay.extend(replay)
                user.replay_times.extend(times)
                frame = encode_event("snapshot", _json(event.data), event.event_id)
                self._remember(user, event.seq, frame)
                return
            if user.ready and (event.epoch, event.seq) <= (user.epoch, user.seq):
                return  # an older or repeated snapshot
            user.rebase(event)
            for client in user.clients:
                client.request_snapshot()
            return
        if not user.ready:
            return
        if event.epoch != user.epoch:
            if event.epoch < user.epoch:
                return
            if user.epoch == 0:
                # The state came from the cache (no tracker id): build on it, take the id.
                user.epoch, user.seq = event.epoch, event.seq - 1
                user.replay.clear()
                user.replay_times.clear()
            else:
                log.warning(
                    "user %s: a new tracker run's events before its snapshot", event.user_id
                )
                self._reload(user)
                return
        if event.seq <= user.seq:
            return  # duplicate or redelivery
        if event.seq != user.seq + 1:
            log.warning(
                "user %s: event %s after %s (lost events); reloading",
                event.user_id,
                event.seq,
                user.seq,
            )
            self._reload(user)
            return
        if event.type in STATE_TYPES:
            user.apply(event)
        else:
            user.seq = event.seq
        frame = encode_event(event.type, _json(event.data), event.event_id)
        self._remember(user, event.seq, frame)
        if event.type == "error":
            for client in list(user.clients):
                client.end(frame)  # even past a full queue: the stream's last word
            return
        for client in user.clients:
            self.frames_offered += 1
            client.offer(frame)

    def _remember(self, user: _User, seq: int, frame: bytes) -> None:
        """Append to the user's replay buffer, dropping what is older than the age bound."""
        now = self._monotonic()
        user.replay.append((seq, frame))
        user.replay_times.append(now)
        oldest = now - self.settings.replay_max_age_s
        while user.replay_times and user.replay_times[0] < oldest:
            user.replay_times.popleft()
            user.replay.popleft()

    def _user(self, user_id: uuid.UUID) -> _User:
        user = self._users.get(user_id)
        if user is None:
            limit = self.settings.replay_events
            user = _User(user_id, deque(maxlen=limit), deque(maxlen=limit))
            self._users[user_id] = user
        return user

    def _reload(self, user: _User) -> None:
        user.ready = False
        self._start_load(user)

    def _start_load(self, user: _User) -> asyncio.Future[None]:
        """The user's load in progress, or a new one: fetch the state from the source, then
        apply what arrived meanwhile, then send every client the result."""
        if user.loading is not None:
            return user.loading
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        user.loading = done

        async def load() -> None:
            try:
                snapshot = await self._source.snapshot(user.user_id)
            except Exception as exc:
                user.loading = None
                done.set_exception(exc)
                done.exception()  # retrieved here; each waiter re-raises it itself
                if user.clients:
                    log.error("user %s: could not load the stream state", user.user_id)
                    for client in list(user.clients):
                        self.end_client(client, "unavailable", "Live positions are unavailable.")
                return
            if snapshot is not None:
                user.rebase(snapshot)
            elif not user.ready:
                user.rebase(StreamEvent(user.user_id, 0, 0, "snapshot", {}))
            pending, user.pending = user.pending, []
            user.loading = None
            for event in pending:
                self._accept(user, event)
            for client in user.clients:
                client.request_snapshot()
            done.set_result(None)

        task = asyncio.ensure_future(load())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return done

    # ---- relays ------------------------------------------------------------------------

    def relay_markets(self, markets: Sequence[Mapping[str, Any]]) -> int:
        """One ``market_update`` per market to each client wanting it (asked for with
        ``?markets=`` or holding it). ``markets`` are JSON-ready entries with a ``ticker``;
        returns the events queued."""
        by_ticker = {str(m["ticker"]): m for m in markets}
        encoded: dict[str, str] = {}
        sent = 0
        for user in self._users.values():
            if not user.clients:
                continue
            held = user.positions.keys()
            for client in user.clients:
                for ticker in sorted(client.markets | held):
                    market = by_ticker.get(ticker)
                    if market is None:
                        continue
                    body = encoded.get(ticker)
                    if body is None:
                        body = encoded[ticker] = _json(market)
                    client.relayed += 1
                    client.offer(
                        encode_event(
                            "market_update",
                            body,
                            format_event_id(user.epoch, user.seq, client.relayed),
                        )
                    )
                    sent += 1
        return sent

    def relay_to_user(self, user_id: uuid.UUID, event_type: str, data: Mapping[str, Any]) -> int:
        """Send a relayed event (``backtest_progress``) to one user's clients only."""
        user = self._users.get(user_id)
        if user is None or not user.clients:
            return 0
        body = _json(data)
        for client in user.clients:
            client.relayed += 1
            client.offer(
                encode_event(
                    event_type, body, format_event_id(user.epoch, user.seq, client.relayed)
                )
            )
        return len(user.clients)

    def relay_book(self, user_id: uuid.UUID, ticker: str, data: Mapping[str, Any]) -> int:
        """An ``orderbook`` event to the user's streams that asked for ``ticker`` only."""
        user = self._users.get(user_id)
        if user is None:
            return 0
        body: str | None = None
        sent = 0
        for client in user.clients:
            if ticker not in client.markets:
                continue
            if body is None:
                body = _json(data)
            client.relayed += 1
            client.offer(
                encode_event(
                    "orderbook", body, format_event_id(user.epoch, user.seq, client.relayed)
                )
            )
            sent += 1
        return sent

    def _markets_changed(self, user: _User) -> None:
        if self.on_markets is not None:
            wanted: frozenset[str] = frozenset().union(*(c.markets for c in user.clients))
            self.on_markets(user.user_id, wanted)

    def holders(self) -> Iterable[tuple[uuid.UUID, frozenset[str]]]:
        """Each watched user's held tickers (for diagnostics and tests)."""
        for user in self._users.values():
            yield user.user_id, frozenset(user.positions)

    # ---- the browsers' side ------------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self._closing

    def client_count(self) -> int:
        return sum(len(u.clients) for u in self._users.values())

    async def connect(
        self,
        user_id: uuid.UUID,
        markets: Iterable[str] = (),
        last_event_id: str | None = None,
        *,
        expires_at: float | None = None,
        jti: str | None = None,
    ) -> Client:
        """A new stream for ``user_id``: what it missed since ``last_event_id`` if the
        replay still holds it, else a fresh snapshot, then everything live."""
        user = self._user(user_id)
        if not user.ready or user.loading is not None:
            await asyncio.shield(self._start_load(user))
        client = Client(
            user_id,
            frozenset(markets),
            self.settings.client_queue,
            expires_at=expires_at,
            jti=jti,
        )
        resume = parse_event_id(last_event_id)
        if user.covers(resume):
            assert resume is not None
            for seq, frame in user.replay:
                if seq > resume[1]:
                    client.offer(frame)
        else:
            client.offer(user.snapshot_frame())
        user.clients.add(client)
        if client.markets:
            self._markets_changed(user)
        return client

    def disconnect(self, client: Client) -> None:
        client.closed = True
        user = self._users.get(client.user_id)
        if user is not None and client in user.clients:
            user.clients.discard(client)
            if client.markets:
                self._markets_changed(user)

    def clients(self) -> list[Client]:
        return [c for u in self._users.values() for c in u.clients]

    def end_client(self, client: Client, code: str, message: str) -> None:
        """Send ``error`` to one stream and close it (its session ended)."""
        user = self._users.get(client.user_id)
        epoch, seq = (user.epoch, user.seq) if user is not None else (0, 0)
        client.relayed += 1
        client.end(
            encode_event(
                "error",
                _json({"error": code, "message": message}),
                format_event_id(epoch, seq, client.relayed),
            )
        )

    async def frames(self, client: Client) -> AsyncIterator[bytes]:
        """The bytes of one stream until it ends: events, coalesced snapshots, heartbeats,
        an ``error`` when the session expires."""
        heartbeat = self.settings.heartbeat_s
        try:
            while True:
                chunk = client.drain()
                if chunk:
                    yield chunk
                    continue
                if client.needs_snapshot:
                    user = self._users.get(client.user_id)
                    if user is not None and user.loading is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.shield(user.loading)
                        continue
                    client.needs_snapshot = False
                    coalesced, client.coalescing = client.coalescing, False
                    if user is not None and user.ready:
                        yield user.snapshot_frame(coalesced=coalesced)
                    continue
                if client.closed:
                    return
                timeout = heartbeat
                if client.expires_at is not None:
                    left = client.expires_at - self._clock()
                    if left <= 0:
                        self.end_client(client, "session_expired", "Your session has expired.")
                        continue
                    timeout = min(timeout, left)
                quiet = not await client.wait(timeout)
                if quiet and (client.expires_at is None or client.expires_at > self._clock()):
                    yield HEARTBEAT
        finally:
            self.disconnect(client)

    def shutdown(self) -> None:
        """Tell every stream to reconnect soon (``retry:``) and close it; refuse new ones."""
        self._closing = True
        frame = retry(self.settings.shutdown_retry_ms)
        for client in self.clients():
            client.end(frame)

    def end_user(self, user_id: uuid.UUID, code: str, message: str) -> None:
        """Close every stream of one user with an ``error`` (signed out, key rejected)."""
        user = self._users.get(user_id)
        if user is None:
            return
        for client in list(user.clients):
            self.end_client(client, code, message)
