"""The project's Kalshi WebSocket client (``wss://…/trade-api/ws/v2``).

One connection multiplexes every channel. The client

- signs the HTTP upgrade like a REST request (``timestamp + "GET" + "/trade-api/ws/v2"``) and
  sends no ``Origin`` header (Kalshi's CloudFront edge answers 403 to one);
- numbers commands from 1, matches replies to them by ``id`` with a timeout, and turns
  ``error`` replies into :class:`KalshiWSCommandError` carrying Kalshi's numeric code;
- parses every data frame into the typed messages of :mod:`shared.kalshi.ws.messages`;
- checks ``seq`` per ``sid`` and reports a loss as a :class:`SequenceGap` in the message
  stream, keeping local order books (:mod:`shared.kalshi.ws.book`) that are marked invalid
  until a fresh snapshot arrives (:meth:`KalshiWebSocket.resync` asks for one);
- answers Kalshi's heartbeat pings (``websockets`` does this itself) and pings the server too;
- closes with code 1000 and fails commands still waiting with a clear error.

Everything it raises is in :mod:`shared.kalshi.ws.errors`.

A single reader task owns the socket's receive side; it resolves command replies at once and
queues everything else, so ``await ws.subscribe(...)`` works whether or not anyone is iterating
yet. ``seq`` checks and book updates happen as the consumer takes each message from the
iterator, so ``ws.order_book(t)`` always matches the last message the caller has seen (a book
is never ahead of the stream). The queue is bounded: a consumer that stops reading eventually
stops the reader, which stops reading from TCP (Kalshi then reports error 25 rather than the
process growing without limit).

Reconnecting is the caller's job: the server assigns new ``sid`` values and restarts ``seq``
after a reconnect, so only the caller knows what to resubscribe. :func:`backoff_delays` gives
the waits::

    delays = backoff_delays()
    while True:
        try:
            async with KalshiWebSocket.connect(url, signer) as ws:
                await ws.subscribe(["ticker", "fill"])
                delays = backoff_delays()          # connected: start the backoff over
                async for msg in ws:
                    handle(msg)
        except (KalshiWSError, OSError) as exc:
            log.warning("kalshi ws dropped: %s", exc)
        await asyncio.sleep(next(delays))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import deque
from collections.abc import Callable, Coroutine, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

import msgspec
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from shared.kalshi.environments import WS_PATH
from shared.kalshi.signing import KalshiSigner, signing_path
from shared.kalshi.ws.book import OrderBook
from shared.kalshi.ws.errors import (
    KalshiWSCommandError,
    KalshiWSConnectionClosed,
    KalshiWSError,
    KalshiWSHandshakeError,
    KalshiWSTimeout,
    OrderBookError,
)
from shared.kalshi.ws.messages import (
    BookInvalidated,
    CommandReply,
    ErrorReply,
    OkReply,
    OrderbookDelta,
    OrderbookSnapshot,
    OrderGroupUpdateMessage,
    SequenceGap,
    SubscribedReply,
    SubscriptionInfo,
    SubscriptionTerminated,
    UnknownMessage,
    UnsubscribedReply,
    WireMessage,
    WsEvent,
    parse_frame,
)
from shared.kalshi.ws.sequence import SequenceTracker

__all__ = [
    "WS_PATH",
    "KalshiWebSocket",
    "Subscription",
    "UpdateAction",
    "backoff_delays",
]

log = logging.getLogger(__name__)

Subscription = SubscriptionInfo
UpdateAction = Literal["add_markets", "delete_markets", "get_snapshot"]
_BOOK_TYPES = ("orderbook_snapshot", "orderbook_delta")


# --------------------------------------------------------------------------------------------
# Backoff


def backoff_delays(
    initial: float = 0.5,
    maximum: float = 30.0,
    factor: float = 2.0,
    jitter: float = 0.5,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Endless reconnect waits: exponential, capped, each shortened by up to ``jitter``.

    Jitter keeps many sessions that dropped together (Thursday maintenance) from reconnecting
    in lockstep. With the defaults: ~0.25-0.5 s, 0.5-1 s, 1-2 s, ... up to 15-30 s.
    """
    if initial <= 0 or maximum < initial or factor < 1 or not 0 <= jitter <= 1:
        raise ValueError("backoff_delays: need 0 < initial <= maximum, factor >= 1, 0<=jitter<=1")
    delay = initial
    while True:
        yield delay * (1.0 - jitter * rng())
        delay = min(maximum, delay * factor)


# --------------------------------------------------------------------------------------------
# Internals


_T = TypeVar("_T")


class _EventBuffer(Generic[_T]):
    """A bounded FIFO whose end (clean or with an error) is delivered after the items."""

    def __init__(self, limit: int) -> None:
        self._items: deque[_T] = deque()
        self._limit = limit
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._ended = False
        self._end_error: BaseException | None = None

    async def put(self, item: _T) -> None:
        while len(self._items) >= self._limit and not self._ended:
            self._writable.clear()
            await self._writable.wait()
        if self._ended:
            return
        self._items.append(item)
        self._readable.set()

    def end(self, error: BaseException | None) -> None:
        if not self._ended:
            self._ended = True
            self._end_error = error
        self._readable.set()
        self._writable.set()

    async def get(self) -> _T:
        while not self._items:
            if self._ended:
                if self._end_error is not None:
                    raise self._end_error
                raise StopAsyncIteration
            self._readable.clear()
            await self._readable.wait()
        return self._take()

    def pop_nowait(self) -> _T | None:
        return self._take() if self._items else None

    def _take(self) -> _T:
        """Pop the oldest item and wake a producer waiting for room."""
        item = self._items.popleft()
        if len(self._items) < self._limit:
            self._writable.set()
        return item

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _Pending:
    """A command waiting for its replies (one per channel for subscribe, per sid for
    unsubscribe) or, for get_snapshot, for the snapshots it asked for."""

    command_id: int
    cmd: str
    expected: int
    future: asyncio.Future[list[CommandReply]]
    replies: list[CommandReply] = field(default_factory=list)
    snapshot_sid: int | None = None
    awaiting_snapshots: set[str] = field(default_factory=set)

    def finish(self) -> None:
        if not self.future.done():
            self.future.set_result(self.replies)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


@dataclass
class _SubscriptionState:
    channel: str
    market_tickers: set[str] = field(default_factory=set)
    use_yes_price: bool = False


def _handshake_error_code(body: bytes | bytearray | None) -> str | None:
    """Kalshi's 401 body names the problem (``authentication_error``...); keep only that."""
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code, details = error.get("code"), error.get("details")
        parts = [str(x) for x in (code, details) if isinstance(x, str) and x]
        return "/".join(parts)[:80] or None
    return None


# --------------------------------------------------------------------------------------------
# The client


class KalshiWebSocket:
    """One authenticated Kalshi WebSocket session. Create with :meth:`connect`."""

    def __init__(
        self,
        connection: ClientConnection,
        *,
        command_timeout: float = 10.0,
        max_queue: int = 10_000,
        track_books: bool = True,
    ) -> None:
        self._conn = connection
        self._command_timeout = command_timeout
        self._track_books = track_books
        self._next_id = 1
        self._pending: dict[int, _Pending] = {}
        self._events: _EventBuffer[_Queued] = _EventBuffer(max_queue)
        self._ready: deque[WsEvent] = deque()
        self._seq = SequenceTracker()
        self._subs: dict[int, _SubscriptionState] = {}
        self._books: dict[tuple[int, str], OrderBook] = {}
        self._subscribe_params: dict[int, dict[str, Any]] = {}
        self._closing = False
        self._closed_error: KalshiWSConnectionClosed | None = None
        self._reader = asyncio.create_task(self._read_loop(), name="kalshi-ws-reader")

    # ---- connecting ------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        url: str,
        signer: KalshiSigner,
        *,
        command_timeout: float = 10.0,
        open_timeout: float = 10.0,
        ping_interval: float | None = 10.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 5.0,
        max_size: int | None = 16 * 1024 * 1024,
        max_queue: int = 10_000,
        track_books: bool = True,
        proxy: str | None = None,
    ) -> _Connect:
        """``async with KalshiWebSocket.connect(url, signer) as ws:`` (or ``await`` it).

        ``url`` is the full WebSocket URL (``wss://external-api-ws.kalshi.com/trade-api/ws/v2``
        or the simulator's ``ws_url``); its path is what gets signed. ``proxy`` is off by
        default so environment proxy variables cannot reroute the signed handshake.
        """

        async def open_connection() -> KalshiWebSocket:
            headers = signer.headers("GET", signing_path(url) or WS_PATH)
            try:
                conn = await ws_connect(
                    url,
                    additional_headers=headers,
                    open_timeout=open_timeout,
                    ping_interval=ping_interval,
                    ping_timeout=ping_timeout,
                    close_timeout=close_timeout,
                    max_size=max_size,
                    proxy=proxy,
                )
            except InvalidStatus as exc:
                response = exc.response
                raise KalshiWSHandshakeError(
                    response.status_code, _handshake_error_code(response.body)
                ) from None
            return cls(
                conn,
                command_timeout=command_timeout,
                max_queue=max_queue,
                track_books=track_books,
            )

        return _Connect(open_connection)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<KalshiWebSocket {state} subscriptions={sorted(self._subs)}>"

    @property
    def closed(self) -> bool:
        return self._closing or self._closed_error is not None

    # ---- commands --------------------------------------------------------------------------

    async def subscribe(
        self,
        channels: Sequence[str],
        market_tickers: Sequence[str] | None = None,
        *,
        market_ticker: str | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> list[Subscription]:
        """Subscribe; returns one :class:`Subscription` (channel, sid) per channel.

        Extra keyword arguments go into ``params`` unchanged (``use_yes_price=True``,
        ``send_initial_snapshot=True``, ``skip_ticker_ack=True``...).
        """
        if isinstance(channels, str):
            raise TypeError("channels must be a list of channel names, not a string")
        body: dict[str, Any] = {"channels": list(channels)}
        if market_tickers is not None:
            body["market_tickers"] = list(market_tickers)
        if market_ticker is not None:
            body["market_ticker"] = market_ticker
        body.update(params)  # the key order of the recorded demo command
        expected = max(1, len(set(channels)))
        replies = await self._command("subscribe", body, expected, timeout=timeout)
        result: list[Subscription] = []
        for reply in replies:
            if isinstance(reply, SubscribedReply) and reply.msg is not None:
                result.append(Subscription(channel=reply.msg.channel, sid=reply.msg.sid))
        return result

    async def unsubscribe(self, sids: Iterable[int], *, timeout: float | None = None) -> list[int]:
        """Cancel subscriptions; returns the sids Kalshi confirmed."""
        sid_list = list(sids)
        replies = await self._command(
            "unsubscribe", {"sids": sid_list}, max(1, len(sid_list)), timeout=timeout
        )
        return [r.sid for r in replies if isinstance(r, UnsubscribedReply) and r.sid is not None]

    async def update_subscription(
        self,
        sid: int,
        action: UpdateAction,
        market_tickers: Sequence[str],
        *,
        timeout: float | None = None,
    ) -> list[str] | None:
        """``add_markets`` / ``delete_markets``: returns the full ticker list after the update
        (``None`` when the subscription was made with ``skip_ticker_ack``)."""
        if action == "get_snapshot":
            await self.get_snapshot(sid, market_tickers, timeout=timeout)
            return None
        params = {"sids": [sid], "market_tickers": list(market_tickers), "action": action}
        replies = await self._command("update_subscription", params, 1, timeout=timeout)
        for reply in replies:
            if isinstance(reply, OkReply):
                return reply.tickers
        return None

    async def add_markets(self, sid: int, market_tickers: Sequence[str]) -> list[str] | None:
        return await self.update_subscription(sid, "add_markets", market_tickers)

    async def delete_markets(self, sid: int, market_tickers: Sequence[str]) -> list[str] | None:
        return await self.update_subscription(sid, "delete_markets", market_tickers)

    async def get_snapshot(
        self, sid: int, market_tickers: Sequence[str], *, timeout: float | None = None
    ) -> None:
        """Ask for fresh ``orderbook_snapshot`` frames on ``sid`` without changing it.

        Returns once Kalshi acknowledged (``ok``) or every requested snapshot arrived,
        whichever comes first; the snapshots themselves come through the message stream and
        re-validate the local books.
        """
        tickers = list(market_tickers)
        params = {"sids": [sid], "market_tickers": tickers, "action": "get_snapshot"}
        await self._command(
            "update_subscription",
            params,
            1,
            timeout=timeout,
            snapshot_sid=sid,
            awaiting_snapshots=set(tickers),
        )

    async def resync(self, sid: int, *, timeout: float | None = None) -> list[str]:
        """Request snapshots for the sid's invalid books (all its markets if none is known).

        Returns the tickers asked for. Use after a :class:`SequenceGap`.
        """
        tickers = sorted(
            ticker
            for (book_sid, ticker), book in self._books.items()
            if book_sid == sid and not book.valid
        )
        if not tickers:
            state = self._subs.get(sid)
            tickers = sorted(state.market_tickers) if state else []
        if not tickers:
            raise KalshiWSError(f"resync: no markets known for sid {sid}")
        await self.get_snapshot(sid, tickers, timeout=timeout)
        return tickers

    async def list_subscriptions(self, *, timeout: float | None = None) -> list[Subscription]:
        replies = await self._command("list_subscriptions", None, 1, timeout=timeout)
        for reply in replies:
            if isinstance(reply, OkReply):
                return list(reply.subscription_list or [])
        return []

    async def request(
        self,
        cmd: str,
        params: dict[str, Any] | None = None,
        *,
        expected_replies: int = 1,
        timeout: float | None = None,
    ) -> list[CommandReply]:
        """Send any command with the next id and return its raw replies (errors raise)."""
        return await self._command(cmd, params, expected_replies, timeout=timeout)

    async def send_raw(self, text: str) -> None:
        """Send a text frame as is (for protocol tests: bad JSON, missing ids). Any reply
        without a known id comes through the message stream as :class:`ErrorReply`."""
        self._ensure_open()
        await self._conn.send(text)

    # ---- reading ---------------------------------------------------------------------------

    def __aiter__(self) -> KalshiWebSocket:
        return self

    async def __anext__(self) -> WsEvent:
        """The next message or event. Ends after :meth:`close`; raises
        :class:`KalshiWSConnectionClosed` (after the messages already received) when the
        server or network dropped the connection."""
        while not self._ready:
            self._ready.extend(self._apply(await self._events.get()))
        return self._ready.popleft()

    async def next_message(self, timeout: float) -> WsEvent:
        """The next message, waiting at most ``timeout`` seconds (``TimeoutError``)."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    def order_book(self, market_ticker: str, sid: int | None = None) -> OrderBook | None:
        """The local book for a market (from any orderbook subscription unless ``sid``)."""
        if sid is not None:
            return self._books.get((sid, market_ticker))
        for (_, ticker), book in self._books.items():
            if ticker == market_ticker:
                return book
        return None

    def take_received(self) -> list[WsEvent]:
        """Every message already received, without waiting (state applied as usual).

        Awaiting any command first makes this "everything the server sent before it": Kalshi
        answers on the same ordered socket, and the reader queues frames in arrival order.
        """
        events = list(self._ready)
        self._ready.clear()
        while (item := self._events.pop_nowait()) is not None:
            events.extend(self._apply(item))
        return events

    def last_seq(self, sid: int) -> int | None:
        return self._seq.last(sid)

    # ---- closing ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close with code 1000. Commands still waiting fail with KalshiWSConnectionClosed;
        iteration ends after the messages already received."""
        if self._closing:
            return
        self._closing = True
        error = KalshiWSConnectionClosed(1000, "closed by client", by_client=True)
        self._fail_pending(error)
        # End the queue first: a reader blocked on a full queue must not hold up the close.
        self._events.end(None)
        with contextlib.suppress(Exception):
            await self._conn.close(code=1000)
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout=5.0)
        except (TimeoutError, asyncio.CancelledError):
            self._reader.cancel()

    async def __aenter__(self) -> KalshiWebSocket:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- internals -------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._closed_error is not None:
            raise self._closed_error
        if self._closing:
            raise KalshiWSConnectionClosed(1000, "closed by client", by_client=True)

    async def _command(
        self,
        cmd: str,
        params: dict[str, Any] | None,
        expected: int,
        *,
        timeout: float | None,
        snapshot_sid: int | None = None,
        awaiting_snapshots: set[str] | None = None,
    ) -> list[CommandReply]:
        self._ensure_open()
        command_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[list[CommandReply]] = asyncio.get_running_loop().create_future()
        pending = _Pending(
            command_id,
            cmd,
            expected,
            future,
            snapshot_sid=snapshot_sid,
            awaiting_snapshots=awaiting_snapshots or set(),
        )
        self._pending[command_id] = pending
        frame: dict[str, Any] = {"id": command_id, "cmd": cmd}
        if params is not None:
            frame["params"] = params
            if cmd == "subscribe":  # the reader registers the sid with these params
                self._subscribe_params[command_id] = params
        limit = self._command_timeout if timeout is None else timeout
        try:
            await self._conn.send(msgspec.json.encode(frame).decode())
            return await asyncio.wait_for(future, limit)
        except TimeoutError:
            raise KalshiWSTimeout(
                f"no complete reply to {cmd} #{command_id} within {limit:g}s"
            ) from None
        except ConnectionClosed as exc:
            raise self._closed_error or KalshiWSConnectionClosed(
                exc.rcvd.code if exc.rcvd else None, "connection lost while sending"
            ) from None
        finally:
            self._pending.pop(command_id, None)
            self._subscribe_params.pop(command_id, None)

    def _fail_pending(self, error: BaseException) -> None:
        for pending in list(self._pending.values()):
            pending.fail(error)

    async def _read_loop(self) -> None:
        """Receive side: resolve replies at once, queue everything else in arrival order."""
        error: KalshiWSConnectionClosed | None = None
        try:
            async for frame in self._conn:
                for item in self._route(parse_frame(frame)):
                    await self._events.put(item)
        except ConnectionClosed:
            pass
        except Exception:  # a bug here must not leave callers hanging
            log.exception("kalshi ws reader failed")
            with contextlib.suppress(Exception):
                await self._conn.close(code=1011)
        finally:
            if not self._closing:
                code = self._conn.close_code
                reason = self._conn.close_reason or ""
                error = KalshiWSConnectionClosed(code, reason)
                self._closed_error = error
                log.warning("kalshi ws connection dropped: code=%s reason=%s", code, reason)
                self._fail_pending(error)
                self._events.end(error)
            else:
                self._events.end(None)

    def _route(self, message: WireMessage | UnknownMessage) -> list[_Queued]:
        if isinstance(message, (SubscribedReply, UnsubscribedReply, OkReply, ErrorReply)):
            return self._on_reply(message)
        if isinstance(message, OrderbookSnapshot):
            self._note_snapshot_for_commands(message)
        return [message]

    # replies (reader side)

    def _on_reply(self, reply: CommandReply) -> list[_Queued]:
        command_id = reply.id or None
        pending = self._pending.get(command_id) if command_id is not None else None
        queued: list[_Queued] = []
        if isinstance(reply, SubscribedReply):
            if reply.msg is not None:
                params = self._subscribe_params.get(command_id or -1, {})
                self._register_subscription(reply.msg.sid, reply.msg.channel, params)
        elif isinstance(reply, UnsubscribedReply):
            if reply.sid is not None:
                self._subs.pop(reply.sid, None)
                queued.append(_SubscriptionDropped(reply.sid))
        elif isinstance(reply, OkReply):
            if reply.sid is not None and reply.seq is not None:
                queued.append(_ReplySeq(reply.sid, reply.seq))
            if reply.sid is not None and reply.tickers is not None and reply.sid in self._subs:
                self._subs[reply.sid].market_tickers = set(reply.tickers)
        elif isinstance(reply, ErrorReply):
            if pending is None:
                return [reply]  # unsolicited: goes to the stream (terminal ones as an event)
            pending.fail(
                KalshiWSCommandError(
                    reply.msg.code,
                    reply.msg.msg,
                    command_id=command_id,
                    cmd=pending.cmd,
                    market_ticker=reply.msg.market_ticker,
                )
            )
            return queued
        if pending is None:
            log.debug("kalshi ws reply %s for no waiting command", command_id)
            return queued
        pending.replies.append(reply)
        done = len(pending.replies) >= pending.expected
        # An idempotent re-subscribe may be acknowledged with ``ok`` rather than ``subscribed``.
        if isinstance(reply, OkReply) and pending.cmd in ("subscribe", "update_subscription"):
            done = True
        if done:
            pending.finish()
        return queued

    def _note_snapshot_for_commands(self, message: OrderbookSnapshot) -> None:
        ticker = message.msg.market_ticker
        for pending in self._pending.values():
            if pending.snapshot_sid == message.sid and ticker in pending.awaiting_snapshots:
                pending.awaiting_snapshots.discard(ticker)
                if not pending.awaiting_snapshots:
                    pending.finish()

    def _register_subscription(self, sid: int, channel: str, params: dict[str, Any]) -> None:
        tickers: set[str] = set()
        if isinstance(params.get("market_tickers"), list):
            tickers.update(str(t) for t in params["market_tickers"])
        if isinstance(params.get("market_ticker"), str):
            tickers.add(params["market_ticker"])
        existing = self._subs.get(sid)
        if existing is not None:
            existing.market_tickers |= tickers
            return
        self._subs[sid] = _SubscriptionState(
            channel=channel,
            market_tickers=tickers,
            use_yes_price=bool(params.get("use_yes_price", False)),
        )

    # state (consumer side, in stream order)

    def _apply(self, item: _Queued) -> list[WsEvent]:
        if isinstance(item, OrderbookDelta):
            return self._on_delta(item)
        if isinstance(item, OrderbookSnapshot):
            return self._on_snapshot(item)
        if isinstance(item, _ReplySeq):
            self._seq.observe_reply(item.sid, item.seq)
            return []
        if isinstance(item, _SubscriptionDropped):
            self._seq.forget(item.sid)
            for key in [key for key in self._books if key[0] == item.sid]:
                del self._books[key]
            return []
        if isinstance(item, ErrorReply):
            if not item.terminal:
                return [item]
            if item.sid is not None:
                self._invalidate_sid(item.sid)
            return [
                SubscriptionTerminated(
                    code=item.msg.code, message=item.msg.msg, sid=item.sid, command_id=item.id
                )
            ]
        if isinstance(item, OrderGroupUpdateMessage):
            gap = self._seq.observe(item.sid, item.seq)
            if gap is not None:
                return [SequenceGap(gap.sid, gap.expected, gap.got), item]
            return [item]
        if isinstance(item, UnknownMessage):
            return self._on_unknown(item)
        if isinstance(item, (SubscribedReply, UnsubscribedReply, OkReply)):
            return []  # pragma: no cover - replies are never queued
        return [item]

    def _invalidate_sid(self, sid: int) -> tuple[str, ...]:
        tickers = {ticker for (book_sid, ticker) in self._books if book_sid == sid}
        for (book_sid, _), book in self._books.items():
            if book_sid == sid:
                book.invalidate()
        state = self._subs.get(sid)
        if state is not None:
            tickers |= state.market_tickers
        return tuple(sorted(tickers))

    def _book(self, sid: int, ticker: str) -> OrderBook:
        book = self._books.get((sid, ticker))
        if book is None:
            state = self._subs.get(sid)
            book = OrderBook(ticker, use_yes_price=state.use_yes_price if state else False)
            self._books[(sid, ticker)] = book
        return book

    def _on_snapshot(self, message: OrderbookSnapshot) -> list[WsEvent]:
        self._seq.reset(message.sid, message.seq)
        if not self._track_books:
            return [message]
        ticker = message.msg.market_ticker
        book = self._book(message.sid, ticker)
        try:
            book.apply_snapshot(message.msg)
        except OrderBookError as exc:
            book.invalidate()
            return [BookInvalidated(message.sid, ticker, str(exc)), message]
        return [message]

    def _on_delta(self, message: OrderbookDelta) -> list[WsEvent]:
        events: list[WsEvent] = []
        gap = self._seq.observe(message.sid, message.seq)
        if gap is not None:
            tickers = self._invalidate_sid(message.sid)
            log.warning(
                "kalshi ws seq gap on sid %s: expected %s got %s", gap.sid, gap.expected, gap.got
            )
            events.append(SequenceGap(gap.sid, gap.expected, gap.got, tickers))
        if self._track_books:
            ticker = message.msg.market_ticker
            book = self._books.get((message.sid, ticker))
            if book is None:
                self._book(message.sid, ticker)  # invalid until a snapshot arrives
                events.append(BookInvalidated(message.sid, ticker, "delta before any snapshot"))
            elif book.valid:
                try:
                    book.apply_delta(message.msg)
                except OrderBookError as exc:
                    events.append(BookInvalidated(message.sid, ticker, str(exc)))
        events.append(message)
        return events

    def _on_unknown(self, message: UnknownMessage) -> list[WsEvent]:
        if message.error is not None:
            log.warning("kalshi ws frame not understood (type %r): %s", message.type, message.error)
        if message.type not in _BOOK_TYPES or message.sid is None:
            return [message]
        # A book frame we could not read: the book can no longer be trusted, but the counter
        # still moves so the next good delta is not reported as a gap.
        if message.seq is not None:
            if message.type == "orderbook_snapshot":
                self._seq.reset(message.sid, message.seq)
            else:
                self._seq.observe(message.sid, message.seq)
        raw_msg = message.raw.get("msg") if isinstance(message.raw, dict) else None
        ticker = raw_msg.get("market_ticker") if isinstance(raw_msg, dict) else None
        if isinstance(ticker, str):
            self._book(message.sid, ticker).invalidate()
        else:
            ticker = None
            self._invalidate_sid(message.sid)
        return [BookInvalidated(message.sid, ticker, message.error or "unreadable frame"), message]


@dataclass(frozen=True)
class _ReplySeq:
    """A command reply's ``seq``, applied in stream order (see shared.kalshi.ws.sequence)."""

    sid: int
    seq: int


@dataclass(frozen=True)
class _SubscriptionDropped:
    sid: int


_Queued = WireMessage | UnknownMessage | _ReplySeq | _SubscriptionDropped


class _Connect:
    """What :meth:`KalshiWebSocket.connect` returns: awaitable and an async context manager."""

    def __init__(self, opener: Callable[[], Coroutine[Any, Any, KalshiWebSocket]]) -> None:
        self._opener = opener
        self._ws: KalshiWebSocket | None = None

    def __await__(self) -> Generator[Any, None, KalshiWebSocket]:
        return self._opener().__await__()

    async def __aenter__(self) -> KalshiWebSocket:
        self._ws = await self._opener()
        return self._ws

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ws is not None:
            await self._ws.close()
