"""Who listens to what over WebSocket, and fan-out of exchange happenings into frames.

Each happening's ``msg`` body is serialized once and wrapped per subscriber by
:func:`~emulators.kalshi_sim.frames.ws_frame`. Every connection has one writer task
draining its outbox, so a slow client never blocks the exchange; one that falls too far
behind loses the subscription (error 25). The hub knows only the config and the fault
switches, not the simulator's state, so ``state`` can own a hub without an import loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.websockets import WebSocket

from emulators.kalshi_sim.accounts import Account
from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.faults import Faults
from emulators.kalshi_sim.frames import (
    delta_msg,
    encode,
    error_frame,
    event_lifecycle_msg,
    fill_msg,
    position_msg,
    ticker_msg,
    trade_msg,
    user_order_msg,
    ws_frame,
)
from emulators.kalshi_sim.model import (
    BookDelta,
    EventCreated,
    FillNotice,
    Happening,
    Lifecycle,
    Market,
    OrderNotice,
    PositionNotice,
    TickerChange,
    TradePrint,
)

__all__ = [
    "ACCOUNT_CHANNELS",
    "GLOBAL_CHANNELS",
    "KNOWN_CHANNELS",
    "MARKET_CHANNELS",
    "PRIVATE_CHANNELS",
    "Connection",
    "Hub",
    "Subscription",
]

MARKET_CHANNELS = ("orderbook_delta", "ticker", "trade")
ACCOUNT_CHANNELS = ("fill", "market_positions", "user_orders")
GLOBAL_CHANNELS = ("market_lifecycle_v2",)
KNOWN_CHANNELS = frozenset(MARKET_CHANNELS + ACCOUNT_CHANNELS + GLOBAL_CHANNELS)
PRIVATE_CHANNELS = frozenset({"orderbook_delta", "fill", "market_positions", "user_orders"})


class Subscription:
    __slots__ = ("channel", "conn", "seq", "sid", "skip_ticker_ack", "tickers", "use_yes_price")

    def __init__(self, conn: Connection, sid: int, channel: str) -> None:
        self.conn = conn
        self.sid = sid
        self.channel = channel
        self.tickers: set[str] | None = None  # None: every market
        self.seq = 0
        self.use_yes_price = False
        self.skip_ticker_ack = False


class Connection:
    """One client socket: its subscriptions, outbox and writer."""

    def __init__(self, ws: WebSocket, account: Account | None, hub: Hub) -> None:
        self.ws = ws
        self.account = account
        self.hub = hub
        raw = ws.scope.get("sim.raw_send")
        self.raw_send: Callable[[dict[str, Any]], Awaitable[None]] = raw or ws.send
        self.protocol = getattr(raw, "__self__", None)
        self.subs: dict[int, Subscription] = {}
        self.next_sid = 1
        self.outbox: list[str] = []
        self.wakeup = asyncio.Event()
        self.closed = False

    def push(self, frame: str) -> None:
        if self.closed:
            return
        self.outbox.append(frame)
        self.wakeup.set()

    def push_to(self, sub: Subscription, frame: str) -> None:
        if len(self.outbox) >= self.hub.config.ws_queue_limit:
            self.hub.remove(sub)
            self.outbox.append(error_frame(None, 25, sid=sub.sid))
            self.wakeup.set()
            return
        # push() inlined: this runs once per subscriber per happening.
        if self.closed:
            return
        self.outbox.append(frame)
        self.wakeup.set()

    async def writer(self) -> None:
        faults = self.hub.faults
        while not self.closed:
            await self.wakeup.wait()
            self.wakeup.clear()
            if faults.ws_delay_ms:
                await asyncio.sleep(faults.ws_delay_ms / 1000)
            writable = getattr(self.protocol, "writable", None)
            if writable is not None and not writable.is_set():
                await writable.wait()
            batch, self.outbox = self.outbox, []
            if self._fast_write(batch):
                continue
            for frame in batch:
                await self.raw_send({"type": "websocket.send", "text": frame})

    def _fast_write(self, batch: list[str]) -> bool:
        """Frame a whole batch and hand it to the transport in one write.

        Going through ASGI costs one await and one transport write per frame, which is what
        limits fan-out; uvicorn's sans-I/O protocol lets us frame many at once. The
        transport buffers and applies back-pressure through pause/resume_writing (the
        next batch waits for ``writable``)."""
        proto = self.protocol
        conn = getattr(proto, "conn", None)
        transport = getattr(proto, "transport", None)
        if conn is None or transport is None or not hasattr(conn, "send_text"):
            return False
        if transport.is_closing():
            self.closed = True
            return True
        for frame in batch:
            conn.send_text(frame.encode())
        transport.write(b"".join(conn.data_to_send()))
        return True

    def ping(self) -> None:
        """A Ping control frame with payload ``heartbeat``, as Kalshi sends every 10 s."""
        proto = self.protocol
        conn = getattr(proto, "conn", None)
        transport = getattr(proto, "transport", None)
        if conn is not None and transport is not None and hasattr(conn, "send_ping"):
            conn.send_ping(b"heartbeat")
            transport.write(b"".join(conn.data_to_send()))

    def abort(self) -> None:
        """Cut the TCP connection without a closing handshake (fault injection)."""
        self.closed = True
        transport = getattr(self.protocol, "transport", None)
        if transport is not None:
            transport.abort()


class Hub:
    """Who listens to what, and rendering of exchange happenings into frames."""

    def __init__(self, config: SimConfig, faults: Faults) -> None:
        self.config = config
        self.faults = faults
        self.connections: set[Connection] = set()
        self.by_ticker: dict[str, dict[str, set[Subscription]]] = {c: {} for c in MARKET_CHANNELS}
        self.all_markets: dict[str, set[Subscription]] = {
            c: set() for c in MARKET_CHANNELS + GLOBAL_CHANNELS
        }
        self.by_account: dict[str, dict[str, set[Subscription]]] = {c: {} for c in ACCOUNT_CHANNELS}

    # -------------------------------------------------------------- index upkeep

    def add(self, sub: Subscription) -> None:
        ch = sub.channel
        if ch in ACCOUNT_CHANNELS:
            assert sub.conn.account is not None
            self.by_account[ch].setdefault(sub.conn.account.key_id, set()).add(sub)
        elif sub.tickers is None:
            self.all_markets[ch].add(sub)
        else:
            for t in sub.tickers:
                self.by_ticker[ch].setdefault(t, set()).add(sub)

    def remove(self, sub: Subscription) -> None:
        ch = sub.channel
        sub.conn.subs.pop(sub.sid, None)
        if ch in ACCOUNT_CHANNELS:
            if sub.conn.account is not None:
                self.by_account[ch].get(sub.conn.account.key_id, set()).discard(sub)
        elif sub.tickers is None:
            self.all_markets[ch].discard(sub)
        else:
            for t in sub.tickers:
                self.by_ticker[ch].get(t, set()).discard(sub)

    def set_tickers(self, sub: Subscription, tickers: set[str]) -> None:
        self.remove(sub)
        sub.tickers = tickers
        sub.conn.subs[sub.sid] = sub
        self.add(sub)

    def market_subs(self, channel: str, ticker: str) -> Iterable[Subscription]:
        specific = self.by_ticker[channel].get(ticker)
        every = self.all_markets[channel]
        if specific and every:
            return [*specific, *every]
        return specific or every

    # -------------------------------------------------------------- fan-out

    def drop_all(self) -> None:
        for conn in list(self.connections):
            conn.abort()

    def dispatch(self, happenings: list[Happening]) -> None:
        if self.faults.ws_drop:
            self.faults.ws_drop = False
            self.drop_all()
        if not self.connections:
            return
        tickers_changed: dict[str, tuple[Market, int]] = {}
        for h in happenings:
            if isinstance(h, BookDelta):
                self._book_delta(h)
            elif isinstance(h, TickerChange):
                tickers_changed[h.market.ticker] = (h.market, h.ts_us)
            elif isinstance(h, TradePrint):
                subs = self.market_subs("trade", h.market.ticker)
                if subs:
                    body = encode(trade_msg(h))
                    for sub in subs:
                        sub.conn.push_to(sub, ws_frame("trade", body, sub.sid))
            elif isinstance(h, Lifecycle):
                self._global("market_lifecycle_v2", encode(h.payload))
            elif isinstance(h, EventCreated):
                self._global("event_lifecycle", encode(event_lifecycle_msg(h)))
            elif isinstance(h, FillNotice):
                self._account(
                    "fill", "fill", h.account, h.fill.ticker, functools.partial(fill_msg, h)
                )
            elif isinstance(h, OrderNotice):
                self._account(
                    "user_orders",
                    "user_order",
                    h.order.account,
                    h.order.ticker,
                    functools.partial(user_order_msg, h.order),
                )
            elif isinstance(h, PositionNotice):
                self._account(
                    "market_positions",
                    "market_position",
                    h.account,
                    h.position.ticker,
                    functools.partial(position_msg, h.account, h.position),
                )
        for market, ts in tickers_changed.values():
            subs = self.market_subs("ticker", market.ticker)
            if subs:
                body = encode(ticker_msg(market, ts))
                for sub in subs:
                    sub.conn.push_to(sub, ws_frame("ticker", body, sub.sid))

    def _book_delta(self, h: BookDelta) -> None:
        subs = self.market_subs("orderbook_delta", h.market.ticker)
        if not subs:
            return
        faults = self.faults
        bodies: dict[bool, str] = {}
        for sub in subs:
            sub.seq += 1
            # The attribute test first: no method call per frame unless a skip is armed.
            if faults.ws_skip_seq > 0 and faults.take_skip():
                continue
            body = bodies.get(sub.use_yes_price)
            if body is None:
                body = encode(delta_msg(h, sub.use_yes_price))
                bodies[sub.use_yes_price] = body
            sub.conn.push_to(sub, ws_frame("orderbook_delta", body, sub.sid, sub.seq))

    def _global(self, msg_type: str, body: str) -> None:
        for sub in self.all_markets["market_lifecycle_v2"]:
            sub.conn.push_to(sub, ws_frame(msg_type, body, sub.sid))

    def _account(
        self,
        channel: str,
        msg_type: str,
        account: Account,
        ticker: str,
        make: Callable[[], dict[str, Any]],
    ) -> None:
        subs = self.by_account[channel].get(account.key_id)
        if not subs:
            return
        faults = self.faults
        if (
            channel != "user_orders"
            and (faults.ws_drop_fill or faults.ws_drop_position)
            and faults.take_private_drop(channel)
        ):
            return  # lost on the way: private channels have no seq to show it
        body: str | None = None
        for sub in subs:
            if sub.tickers is not None and ticker not in sub.tickers:
                continue
            if body is None:
                body = encode(make())
            sub.conn.push_to(sub, ws_frame(msg_type, body, sub.sid))
