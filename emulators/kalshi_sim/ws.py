"""The ``/trade-api/ws/v2`` endpoint: signed handshake, commands, channels, sids and seqs.

Subscriptions and fan-out live in :mod:`~emulators.kalshi_sim.hub`, frames and ``msg``
bodies in :mod:`~emulators.kalshi_sim.frames`; this module reads a socket's commands and
answers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from starlette.websockets import WebSocket

from emulators.kalshi_sim.accounts import Account
from emulators.kalshi_sim.auth import AuthFailure, authenticate, has_any_auth_header
from emulators.kalshi_sim.frames import (
    ERROR_TEXT,
    encode,
    error_frame,
    snapshot_msg,
    ticker_msg,
    ws_frame,
)
from emulators.kalshi_sim.hub import (
    GLOBAL_CHANNELS,
    KNOWN_CHANNELS,
    MARKET_CHANNELS,
    PRIVATE_CHANNELS,
    Connection,
    Subscription,
)
from emulators.kalshi_sim.state import SimState

log = logging.getLogger("kalshi_sim.ws")


class CommandError(Exception):
    def __init__(self, code: int, **extra: Any) -> None:
        super().__init__(ERROR_TEXT.get(code, "error"))
        self.code = code
        self.extra = extra


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
            conn.push(ws_frame("ok", encode(listing), cmd_id=cmd_id))
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
                body = encode(ticker_msg(state.exchange.markets[t], now))
                conn.push(ws_frame("ticker", body, sid=sub.sid))


def _subscribed(cmd_id: int | None, channel: str, sid: int) -> str:
    return ws_frame("subscribed", encode({"channel": channel, "sid": sid}), cmd_id=cmd_id or None)


def _send_snapshots(
    conn: Connection, state: SimState, sub: Subscription, tickers: Iterable[str]
) -> None:
    for t in tickers:
        sub.seq += 1
        body = encode(snapshot_msg(state.exchange.markets[t], sub.use_yes_price))
        conn.push(ws_frame("orderbook_snapshot", body, sid=sub.sid, seq=sub.seq))


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
        conn.push(ws_frame("unsubscribed", cmd_id=cmd_id or None, sid=sid, seq=sub.seq))


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
    ack = None if sub.skip_ticker_ack else encode({"market_tickers": sorted(sub.tickers or ())})
    conn.push(ws_frame("ok", ack, cmd_id=cmd_id, sid=sid, seq=sub.seq))
