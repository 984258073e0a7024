"""The ``/trade-api/ws/v2`` endpoint: signed handshake, commands, channels, sids and seqs.

Fan-out is cheap by construction: each happening's ``msg`` body is serialized once, and
each subscriber only gets a short envelope (type, sid, seq) formatted around the same
string. Every connection has one writer task draining its outbox, so a slow client never
blocks the exchange; one that falls too far behind loses the subscription (error 25).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.websockets import WebSocket

from emulators.kalshi_sim import wire
from emulators.kalshi_sim.auth import AuthFailure, authenticate, has_any_auth_header
from emulators.kalshi_sim.model import (
    SECOND_US,
    BookDelta,
    EventCreated,
    FillNotice,
    Happening,
    Lifecycle,
    Market,
    PositionNotice,
    TickerChange,
    TradePrint,
)
from emulators.kalshi_sim.wire import MICRO_PER_CENTI, PRICE_ONE

if TYPE_CHECKING:
    from emulators.kalshi_sim.accounts import Account, Position
    from emulators.kalshi_sim.app import SimState

log = logging.getLogger("kalshi_sim.ws")

MARKET_CHANNELS = ("orderbook_delta", "ticker", "trade")
ACCOUNT_CHANNELS = ("fill", "market_positions")
GLOBAL_CHANNELS = ("market_lifecycle_v2",)
KNOWN_CHANNELS = frozenset(MARKET_CHANNELS + ACCOUNT_CHANNELS + GLOBAL_CHANNELS)
PRIVATE_CHANNELS = frozenset({"orderbook_delta", "fill", "market_positions"})

ERROR_TEXT = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    6: "Already subscribed",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    9: "Authentication required",
    10: "Channel error",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market Ticker required",
    15: "Action required",
    16: "Market not found",
    17: "Internal error",
    18: "Command timeout",
    25: "Subscription buffer overflow",
    26: "Subscription market limit exceeded",
    27: "Too many requests",
}

_json = msgspec.json.Encoder()  # insertion order: WS frames are not key-sorted on the wire


class CommandError(Exception):
    def __init__(self, code: int, **extra: Any) -> None:
        super().__init__(ERROR_TEXT.get(code, "error"))
        self.code = code
        self.extra = extra


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
        if len(self.outbox) >= self.hub.state.config.ws_queue_limit:
            self.hub.remove(sub)
            self.outbox.append(error_frame(None, 25, sid=sub.sid))
            self.wakeup.set()
            return
        self.push(frame)

    async def writer(self) -> None:
        faults = self.hub.state.faults
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


def error_frame(cmd_id: int | None, code: int, **extra: Any) -> str:
    msg: dict[str, Any] = {"code": code, "msg": ERROR_TEXT.get(code, "error")}
    sid = extra.pop("sid", None)
    msg.update(extra)
    frame: dict[str, Any] = {}
    if cmd_id:
        frame["id"] = cmd_id
    if sid is not None:
        frame["sid"] = sid
    frame["type"] = "error"
    frame["msg"] = msg
    return _json.encode(frame).decode()


class Hub:
    """Who listens to what, and rendering of exchange happenings into frames."""

    def __init__(self, state: SimState) -> None:
        self.state = state
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
        if self.state.faults.ws_drop:
            self.state.faults.ws_drop = False
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
                    body = _json.encode(trade_msg(h)).decode()
                    for sub in subs:
                        sub.conn.push_to(sub, f'{{"type":"trade","sid":{sub.sid},"msg":{body}}}')
            elif isinstance(h, Lifecycle):
                self._global("market_lifecycle_v2", _json.encode(h.payload).decode())
            elif isinstance(h, EventCreated):
                self._global("event_lifecycle", _json.encode(event_lifecycle_msg(h)).decode())
            elif isinstance(h, FillNotice):
                self._account(
                    "fill", "fill", h.account, h.fill.ticker, functools.partial(fill_msg, h)
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
                body = _json.encode(ticker_msg(market, ts)).decode()
                for sub in subs:
                    sub.conn.push_to(sub, f'{{"type":"ticker","sid":{sub.sid},"msg":{body}}}')

    def _book_delta(self, h: BookDelta) -> None:
        subs = self.market_subs("orderbook_delta", h.market.ticker)
        if not subs:
            return
        faults = self.state.faults
        bodies: dict[bool, str] = {}
        for sub in subs:
            sub.seq += 1
            if faults.take_skip():
                continue
            body = bodies.get(sub.use_yes_price)
            if body is None:
                body = _json.encode(delta_msg(h, sub.use_yes_price)).decode()
                bodies[sub.use_yes_price] = body
            sub.conn.push_to(
                sub, f'{{"type":"orderbook_delta","sid":{sub.sid},"seq":{sub.seq},"msg":{body}}}'
            )

    def _global(self, msg_type: str, body: str) -> None:
        for sub in self.all_markets["market_lifecycle_v2"]:
            sub.conn.push_to(sub, f'{{"type":"{msg_type}","sid":{sub.sid},"msg":{body}}}')

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
        body: str | None = None
        for sub in subs:
            if sub.tickers is not None and ticker not in sub.tickers:
                continue
            if body is None:
                body = _json.encode(make()).decode()
            sub.conn.push_to(sub, f'{{"type":"{msg_type}","sid":{sub.sid},"msg":{body}}}')


# ------------------------------------------------------------------ message bodies


def snapshot_msg(market: Market, use_yes_price: bool) -> dict[str, Any]:
    msg: dict[str, Any] = {"market_ticker": market.ticker, "market_id": market.market_id}
    if market.yes:
        msg["yes_dollars_fp"] = [
            [wire.price(p), wire.count(c)] for p, c in sorted(market.yes.items())
        ]
    if market.no:
        if use_yes_price:
            levels = sorted((PRICE_ONE - p, c) for p, c in market.no.items())
        else:
            levels = sorted(market.no.items())
        msg["no_dollars_fp"] = [[wire.price(p), wire.count(c)] for p, c in levels]
    return msg


def delta_msg(h: BookDelta, use_yes_price: bool) -> dict[str, Any]:
    price = PRICE_ONE - h.price if (use_yes_price and h.side == "no") else h.price
    return {
        "market_ticker": h.market.ticker,
        "market_id": h.market.market_id,
        "price_dollars": wire.price(price),
        "delta_fp": wire.count(h.delta),
        "side": h.side,
        "ts": wire.rfc3339_us(h.ts_us),
        "ts_ms": h.ts_us // 1000,
    }


def ticker_msg(m: Market, ts_us: int) -> dict[str, Any]:
    yes_bid, yes_ask, bid_size, ask_size = m.quotes()
    return {
        "market_ticker": m.ticker,
        "market_id": m.market_id,
        "price_dollars": wire.price(m.last_price),
        "yes_bid_dollars": wire.price(yes_bid),
        "yes_ask_dollars": wire.price(yes_ask),
        "volume_fp": wire.count(m.volume),
        "open_interest_fp": wire.count(m.open_interest),
        "dollar_volume": m.dollar_volume_micro // 1_000_000,
        "dollar_open_interest": m.open_interest * m.last_price // 1_000_000,
        "yes_bid_size_fp": wire.count(bid_size),
        "yes_ask_size_fp": wire.count(ask_size),
        "last_trade_size_fp": wire.count(m.last_trade_size),
        "ts": ts_us // SECOND_US,
        "ts_ms": ts_us // 1000,
        "time": wire.rfc3339_us(ts_us),
    }


def trade_msg(h: TradePrint) -> dict[str, Any]:
    t = h.trade
    outcome = t.taker_outcome_side
    return {
        "trade_id": t.trade_id,
        "market_ticker": t.ticker,
        "yes_price_dollars": wire.price(t.yes_price),
        "no_price_dollars": wire.price(PRICE_ONE - t.yes_price),
        "count_fp": wire.count(t.count),
        "taker_side": outcome,
        "taker_outcome_side": outcome,
        "taker_book_side": "bid" if outcome == "yes" else "ask",
        "is_block_trade": False,
        "ts": t.created_us // SECOND_US,
        "ts_ms": t.created_us // 1000,
    }


def fill_msg(h: FillNotice) -> dict[str, Any]:
    f = h.fill
    return {
        "trade_id": f.fill_id,
        "order_id": f.order_id,
        "market_ticker": f.ticker,
        "exchange_index": 0,
        "is_taker": f.is_taker,
        "side": f.side,
        "yes_price_dollars": wire.price(f.yes_price),
        "count_fp": wire.count(f.count),
        "fee_cost": wire.micro(f.fee_centi * MICRO_PER_CENTI),
        "action": f.action,
        "outcome_side": f.outcome_side,
        "book_side": f.book_side,
        "ts": f.created_us // SECOND_US,
        "ts_ms": f.created_us // 1000,
        "post_position_fp": wire.count(f.post_position),
        "purchased_side": f.side,
        "client_order_id": f.client_order_id,
        "subaccount": 0,
    }


def position_msg(account: Account, p: Position) -> dict[str, Any]:
    return {
        "user_id": account.user_id,
        "market_ticker": p.ticker,
        "position_fp": wire.count(p.position),
        "position_cost_dollars": wire.micro(p.cost_micro),
        "realized_pnl_dollars": wire.micro(p.realized_pnl_micro),
        "fees_paid_dollars": wire.micro(p.fees_micro),
        "position_fee_cost_dollars": wire.micro(p.position_fee_micro),
        "volume_fp": wire.count(p.volume),
        "subaccount": 0,
    }


def event_lifecycle_msg(h: EventCreated) -> dict[str, Any]:
    e = h.event
    msg: dict[str, Any] = {
        "event_ticker": e.event_ticker,
        "exchange_index": 0,
        "title": e.title,
        "subtitle": e.sub_title,
        "collateral_return_type": "MECNET" if e.mutually_exclusive else "",
        "series_ticker": e.series.ticker,
    }
    if e.strike_date_us is not None:
        msg["strike_date"] = e.strike_date_us // SECOND_US
    return msg


# ------------------------------------------------------------------ the endpoint


async def websocket_endpoint(ws: WebSocket) -> None:
    state: SimState = ws.app.state.sim
    account: Account | None = None
    if state.config.ws_require_auth or has_any_auth_header(ws.headers):
        result = authenticate(
            ws.headers,
            "GET",
            ws.url.path,
            state.exchange.accounts,
            state.wall_ms(),
            state.config.skew_past_ms,
            state.config.skew_future_ms,
        )
        if isinstance(result, AuthFailure):
            await ws.send_denial_response(result.response())
            return
        account = result
    await ws.accept()
    hub = state.hub
    conn = Connection(ws, account, hub)
    hub.connections.add(conn)
    writer = asyncio.create_task(conn.writer())
    pinger = asyncio.create_task(_pinger(conn, state.config.ws_ping_interval_s))
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                raw = message.get("bytes") or b""
                text = raw.decode("utf-8", "replace")
            _handle_command(conn, state, text)
    except Exception:  # a broken socket must never take the simulator down
        log.debug("websocket closed with an error", exc_info=True)
    finally:
        conn.closed = True
        conn.wakeup.set()
        hub.connections.discard(conn)
        for sub in list(conn.subs.values()):
            hub.remove(sub)
        pinger.cancel()
        writer.cancel()
        for task in (pinger, writer):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _pinger(conn: Connection, interval: float) -> None:
    while not conn.closed:
        await asyncio.sleep(interval)
        with contextlib.suppress(Exception):
            conn.ping()


def _handle_command(conn: Connection, state: SimState, text: str) -> None:
    cmd_id: int | None = None
    try:
        try:
            command = json.loads(text)
        except ValueError:
            raise CommandError(1) from None
        if not isinstance(command, dict):
            raise CommandError(1)
        raw_id = command.get("id")
        if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, int)):
            raise CommandError(1)
        cmd_id = raw_id or None
        name = command.get("cmd")
        params = command.get("params")
        if name == "list_subscriptions":
            listing = [{"channel": s.channel, "sid": s.sid} for s in conn.subs.values()]
            conn.push(_json.encode({"id": cmd_id, "type": "ok", "msg": listing}).decode())
            return
        if name not in ("subscribe", "unsubscribe", "update_subscription"):
            raise CommandError(5)
        if params is None:
            raise CommandError(2)
        if not isinstance(params, dict):
            raise CommandError(1)
        if name == "subscribe":
            _subscribe(conn, state, cmd_id, params)
        elif name == "unsubscribe":
            _unsubscribe(conn, cmd_id, params)
        else:
            _update(conn, state, cmd_id, params)
    except CommandError as exc:
        conn.push(error_frame(cmd_id, exc.code, **exc.extra))


def _market_list(state: SimState, params: dict[str, Any]) -> list[str] | None:
    single = params.get("market_ticker")
    many = params.get("market_tickers")
    if single is not None and many is not None:
        raise CommandError(11)
    if single is not None:
        if not isinstance(single, str) or not single:
            raise CommandError(11)
        tickers = [single]
    elif many is not None:
        if not isinstance(many, list) or not all(isinstance(t, str) for t in many):
            raise CommandError(11)
        tickers = list(dict.fromkeys(many))
    else:
        return None
    for t in tickers:
        if t not in state.exchange.markets:
            raise CommandError(16, market_ticker=t)
    return tickers


def _subscribe(
    conn: Connection, state: SimState, cmd_id: int | None, params: dict[str, Any]
) -> None:
    channels = params.get("channels")
    if channels is None or channels == []:
        raise CommandError(3)
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise CommandError(1)
    for channel in channels:
        if channel not in KNOWN_CHANNELS:
            raise CommandError(8)
        if conn.account is None and channel in PRIVATE_CHANNELS:
            raise CommandError(9)
    tickers = _market_list(state, params)
    if "orderbook_delta" in channels and not tickers:
        raise CommandError(14)
    use_yes = params.get("use_yes_price", False)
    if not isinstance(use_yes, bool):
        raise CommandError(11)
    for channel in channels:
        scoped = None if channel in GLOBAL_CHANNELS or tickers is None else set(tickers)
        existing = next((s for s in conn.subs.values() if s.channel == channel), None)
        if existing is not None:
            # Subscribing again is idempotent; new markets join the existing subscription.
            added = (
                set() if scoped is None or existing.tickers is None else scoped - existing.tickers
            )
            if added:
                assert existing.tickers is not None
                conn.hub.set_tickers(existing, existing.tickers | added)
            conn.push(_subscribed(cmd_id, channel, existing.sid))
            if channel == "orderbook_delta":
                _send_snapshots(conn, state, existing, sorted(added))
            continue
        sub = Subscription(conn, conn.next_sid, channel)
        conn.next_sid += 1
        sub.tickers = scoped
        sub.use_yes_price = use_yes
        sub.skip_ticker_ack = bool(params.get("skip_ticker_ack", False))
        conn.subs[sub.sid] = sub
        conn.hub.add(sub)
        conn.push(_subscribed(cmd_id, channel, sub.sid))
        if channel == "orderbook_delta" and tickers:
            _send_snapshots(conn, state, sub, tickers)
        elif channel == "ticker" and tickers and params.get("send_initial_snapshot"):
            now = state.exchange.now_us
            for t in tickers:
                body = _json.encode(ticker_msg(state.exchange.markets[t], now)).decode()
                conn.push(f'{{"type":"ticker","sid":{sub.sid},"msg":{body}}}')


def _subscribed(cmd_id: int | None, channel: str, sid: int) -> str:
    frame: dict[str, Any] = {"type": "subscribed"}
    if cmd_id:
        frame["id"] = cmd_id
    frame["msg"] = {"channel": channel, "sid": sid}
    return _json.encode(frame).decode()


def _send_snapshots(
    conn: Connection, state: SimState, sub: Subscription, tickers: Iterable[str]
) -> None:
    for t in tickers:
        sub.seq += 1
        body = _json.encode(snapshot_msg(state.exchange.markets[t], sub.use_yes_price)).decode()
        conn.push(f'{{"type":"orderbook_snapshot","sid":{sub.sid},"seq":{sub.seq},"msg":{body}}}')


def _unsubscribe(conn: Connection, cmd_id: int | None, params: dict[str, Any]) -> None:
    sids = params.get("sids")
    if sids is None or sids == []:
        raise CommandError(4)
    if not isinstance(sids, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in sids
    ):
        raise CommandError(1)
    for sid in sids:
        if sid not in conn.subs:
            raise CommandError(7, sid=sid)
    for sid in sids:
        sub = conn.subs[sid]
        conn.hub.remove(sub)
        frame: dict[str, Any] = {}
        if cmd_id:
            frame["id"] = cmd_id
        frame.update(sid=sid, seq=sub.seq, type="unsubscribed")
        conn.push(_json.encode(frame).decode())


def _update(conn: Connection, state: SimState, cmd_id: int | None, params: dict[str, Any]) -> None:
    sid = params.get("sid")
    sids = params.get("sids")
    if (sid is None) == (sids is None):
        raise CommandError(12)
    if sids is not None:
        if not isinstance(sids, list) or len(sids) != 1:
            raise CommandError(12)
        sid = sids[0]
    if not isinstance(sid, int) or isinstance(sid, bool):
        raise CommandError(1)
    action = params.get("action")
    if action is None:
        raise CommandError(15)
    if action not in ("add_markets", "delete_markets", "get_snapshot"):
        raise CommandError(13)
    sub = conn.subs.get(sid)
    if sub is None:
        raise CommandError(7, sid=sid)
    if sub.channel not in MARKET_CHANNELS or (
        action == "get_snapshot" and sub.channel != "orderbook_delta"
    ):
        raise CommandError(13)
    tickers = _market_list(state, params)
    if not tickers:
        raise CommandError(14)
    if action == "get_snapshot":
        _send_snapshots(conn, state, sub, tickers)
        return
    current = set(sub.tickers or ())
    if action == "add_markets":
        added = [t for t in tickers if t not in current]
        conn.hub.set_tickers(sub, current | set(added))
        if sub.channel == "orderbook_delta":
            _send_snapshots(conn, state, sub, added)
    else:
        conn.hub.set_tickers(sub, current - set(tickers))
    frame: dict[str, Any] = {"id": cmd_id, "sid": sid, "seq": sub.seq, "type": "ok"}
    if not sub.skip_ticker_ack:
        frame["msg"] = {"market_tickers": sorted(sub.tickers or ())}
    conn.push(_json.encode(frame).decode())
