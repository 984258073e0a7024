"""The client against a scripted WebSocket server on loopback: handshake, commands, replies,
seq gaps and resync, unknown frames, clean close and server drops."""

from __future__ import annotations

import asyncio
import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from shared.kalshi.signing import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    load_public_key,
    public_key_pem,
    verify_signature,
)
from shared.kalshi.ws import (
    KalshiWebSocket,
    KalshiWSCommandError,
    KalshiWSConnectionClosed,
    KalshiWSHandshakeError,
    KalshiWSTimeout,
    Subscription,
    backoff_delays,
)
from shared.kalshi.ws.messages import (
    BookInvalidated,
    ErrorReply,
    FillMessage,
    OrderbookDelta,
    OrderbookSnapshot,
    SequenceGap,
    SubscriptionTerminated,
    TickerMessage,
    UnknownMessage,
    WsErrorCode,
)
from tests.unit.kalshi.ws.scripted_server import (
    WAIT,
    ScriptedServer,
    recv_json,
    run,
    send_json,
    test_signer,
)

M = "KXTEST-26JUN11-T1"
RECORDED = Path(__file__).resolve().parents[3] / "fixtures" / "kalshi_recorded"
D = Decimal


def snapshot_frame(sid: int, seq: int, yes: list[list[str]], no: list[list[str]]) -> dict[str, Any]:
    msg: dict[str, Any] = {"market_ticker": M, "market_id": "f5ed38e2-0991-4c8f-817e-08c4fd9cbfdb"}
    if yes:
        msg["yes_dollars_fp"] = yes
    if no:
        msg["no_dollars_fp"] = no
    return {"type": "orderbook_snapshot", "sid": sid, "seq": seq, "msg": msg}


def delta_frame(sid: int, seq: int, side: str, price: str, change: str) -> dict[str, Any]:
    return {
        "type": "orderbook_delta",
        "sid": sid,
        "seq": seq,
        "msg": {
            "market_ticker": M,
            "market_id": "f5ed38e2-0991-4c8f-817e-08c4fd9cbfdb",
            "price_dollars": price,
            "delta_fp": change,
            "side": side,
            "ts_ms": 1781159489957,
        },
    }


async def take(ws: KalshiWebSocket, n: int) -> list[Any]:
    return [await ws.next_message(WAIT) for _ in range(n)]


# ---- handshake -----------------------------------------------------------------------------


def test_handshake_is_signed_over_get_and_the_ws_path_without_origin() -> None:
    signer = test_signer()

    async def script(conn: ServerConnection) -> None:
        await conn.wait_closed()

    async def body() -> ScriptedServer:
        async with ScriptedServer(script) as server:
            ws = await KalshiWebSocket.connect(server.url, signer)
            assert not ws.closed
            await ws.close()
            await asyncio.wait_for(server.done.wait(), WAIT)
            return server

    server = run(body())
    headers = server.request_headers
    assert headers is not None
    assert server.request_path == "/trade-api/ws/v2"
    assert headers[HEADER_KEY] == signer.key_id
    assert "Origin" not in headers
    public = load_public_key(public_key_pem(signer.private_key))
    assert verify_signature(
        public, headers[HEADER_TIMESTAMP], "GET", "/trade-api/ws/v2", headers[HEADER_SIGNATURE]
    )
    assert not verify_signature(
        public, headers[HEADER_TIMESTAMP], "GET", "/trade-api/v2", headers[HEADER_SIGNATURE]
    )
    assert server.close_codes == [1000]


def test_refused_handshake_raises_with_status_and_kalshi_code_but_no_key() -> None:
    signer = test_signer()
    body_401 = (
        '{"error":{"code":"authentication_error","message":"authentication_error",'
        '"details":"INCORRECT_API_KEY_SIGNATURE"}}'
    )

    async def script(conn: ServerConnection) -> None:  # never reached
        raise AssertionError("handshake should have been refused")

    async def body() -> None:
        async with ScriptedServer(script, reject_status=401, reject_body=body_401) as server:
            with pytest.raises(KalshiWSHandshakeError) as caught:
                await KalshiWebSocket.connect(server.url, signer)
            error = caught.value
            assert error.status == 401
            assert error.error_code == "authentication_error/INCORRECT_API_KEY_SIGNATURE"
            text = str(error) + repr(error)
            assert "PRIVATE" not in text and signer.key_id not in text

    run(body())


# ---- commands and replies ------------------------------------------------------------------


def test_subscribe_gets_one_sid_per_channel_and_ids_increment() -> None:
    seen: list[dict[str, Any]] = []

    async def script(conn: ServerConnection) -> None:
        cmd = await recv_json(conn)
        seen.append(cmd)
        # recorded shape: one `subscribed` per channel, same id
        await send_json(
            conn,
            {
                "type": "subscribed",
                "id": cmd["id"],
                "msg": {"channel": "orderbook_delta", "sid": 1},
            },
        )
        await send_json(
            conn, {"type": "subscribed", "id": cmd["id"], "msg": {"channel": "trade", "sid": 2}}
        )
        cmd = await recv_json(conn)
        seen.append(cmd)
        await send_json(
            conn, {"type": "subscribed", "id": cmd["id"], "msg": {"channel": "fill", "sid": 3}}
        )
        cmd = await recv_json(conn)
        seen.append(cmd)
        await send_json(
            conn,
            {
                "id": cmd["id"],
                "type": "ok",
                "msg": [
                    {"channel": "orderbook_delta", "sid": 1},
                    {"channel": "trade", "sid": 2},
                    {"channel": "fill", "sid": 3},
                ],
            },
        )
        await conn.wait_closed()

    async def body() -> None:
        async with (
            ScriptedServer(script) as server,
            KalshiWebSocket.connect(server.url, test_signer()) as ws,
        ):
            subs = await ws.subscribe(["orderbook_delta", "trade"], [M], use_yes_price=False)
            assert subs == [Subscription("orderbook_delta", 1), Subscription("trade", 2)]
            assert await ws.subscribe(["fill"]) == [Subscription("fill", 3)]
            listed = await ws.list_subscriptions()
            assert [s.sid for s in listed] == [1, 2, 3]

    run(body())
    assert [c["id"] for c in seen] == [1, 2, 3]
    assert seen[0] == {
        "id": 1,
        "cmd": "subscribe",
        "params": {
            "channels": ["orderbook_delta", "trade"],
            "market_tickers": [M],
            "use_yes_price": False,
        },
    }
    assert seen[1]["params"] == {"channels": ["fill"]}
    assert seen[2] == {"id": 3, "cmd": "list_subscriptions"}


def test_concurrent_commands_are_matched_by_id_even_when_answered_out_of_order() -> None:
    async def script(conn: ServerConnection) -> None:
        first = await recv_json(conn)
        second = await recv_json(conn)
        assert first["cmd"] == second["cmd"] == "update_subscription"
        # answer the second first, with a data message in between
        await send_json(
            conn,
            {
                "id": second["id"],
                "sid": 8,
                "seq": 1,
                "type": "ok",
                "msg": {"market_tickers": ["B", "C"]},
            },
        )
        await send_json(
            conn,
            {"type": "ticker", "sid": 5, "msg": {"market_ticker": "B", "price_dollars": "0.5100"}},
        )
        await send_json(
            conn,
            {"id": first["id"], "sid": 7, "seq": 1, "type": "ok", "msg": {"market_tickers": ["A"]}},
        )
        await conn.wait_closed()

    async def body() -> None:
        async with (
            ScriptedServer(script) as server,
            KalshiWebSocket.connect(server.url, test_signer()) as ws,
        ):
            a, b = await asyncio.gather(
                ws.add_markets(7, ["A"]), ws.update_subscription(8, "add_markets", ["C"])
            )
            assert (a, b) == (["A"], ["B", "C"])
            ticker = await ws.next_message(WAIT)
            assert isinstance(ticker, TickerMessage)
            assert ticker.msg.price_dollars == D("0.5100")

    run(body())


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (8, "UNKNOWN_CHANNEL_NAME"),
        (7, "UNKNOWN_SUBSCRIPTION_ID"),
        (6, "ALREADY_SUBSCRIBED"),
        (99, "UNKNOWN_99"),
    ],
)
def test_error_reply_raises_command_error_with_code_and_name(code: int, name: str) -> None:
    async def script(conn: ServerConnection) -> None:
        cmd = await recv_json(conn)
        await send_json(
            conn, {"id": cmd["id"], "type": "error", "msg": {"code": code, "msg": "nope"}}
        )
        await conn.wait_closed()

    async def body() -> None:
        async with (
            ScriptedServer(script) as server,
            KalshiWebSocket.connect(server.url, test_signer()) as ws,
        ):
            with pytest.raises(KalshiWSCommandError) as caught:
                await ws.subscribe(["bogus_channel"])
            assert caught.value.code == code
            assert caught.value.name == name
            assert caught.value.command_id == 1
            assert caught.value.cmd == "subscribe"

    run(body())


def test_command_timeout() -> None:
    async def script(conn: ServerConnection) -> None:
        await recv_json(conn)  # never answers
        await conn.wait_closed()

    async def body() -> None:
        async with (
            ScriptedServer(script) as server,
            KalshiWebSocket.connect(server.url, test_signer(), command_timeout=0.2) as ws,
        ):
            with pytest.raises(KalshiWSTimeout, match="unsubscribe #1"):
                await ws.unsubscribe([4])
            assert isinstance(KalshiWSTimeout("x"), TimeoutError)

    run(body())


def test_unsolicited_errors_reach_the_stream_and_terminal_ones_become_events() -> None:
    async def script(conn: ServerConnection) -> None:
        text = await asyncio.wait_for(conn.recv(), WAIT)
        assert text == "{not json"
        await send_json(
            conn, {"type": "error", "msg": {"code": 1, "msg": "Unable to process message"}}
        )
        await send_json(
            conn,
            {"type": "error", "sid": 4, "msg": {"code": 25, "msg": "Subscription buffer overflow"}},
        )
        await conn.wait_closed()

    async def body() -> None:
        async with (
            ScriptedServer(script) as server,
            KalshiWebSocket.connect(server.url, test_signer()) as ws,
        ):
            await ws.send_raw("{not json")
            error, terminated = await take(ws, 2)
            assert isinstance(error, ErrorReply)
            assert error.code == WsErrorCode.UNABLE_TO_PROCESS_MESSAGE
            assert isinstance(terminated, SubscriptionTerminated)
            assert (terminated.code, terminated.sid) == (25, 4)

    run(body())


# ---- data, seq, books ----------------------------------------------------------------------


def test_gap_is_reported_book_invalidated_and_resync_recovers() -> None:
    commands: list[dict[str, Any]] = []

    async def script(conn: ServerConnection) -> None:
        cmd = await recv_json(conn)
        await send_json(
            conn,
            {
                "type": "subscribed",
                "id": cmd["id"],
                "msg": {"channel": "orderbook_delta", "sid": 1},
            },
        )
        await send_json(conn, snapshot_frame(1, 1, [["0.4700", "3.00"]], [["0.4800", "2.00"]]))
        await send_json(conn, delta_frame(1, 2, "yes", "0.4700", "-1.00"))
        await send_json(conn, delta_frame(1, 3, "yes", "0.4600", "2.50"))
        # seq 4 is lost
        await send_json(conn, delta_frame(1, 5, "no", "0.4800", "1.00"))
        await send_json(conn, delta_frame(1, 6, "no", "0.4800", "1.00"))
        cmd = await recv_json(conn)
        commands.append(cmd)
        await send_json(conn, snapshot_frame(1, 7, [["0.4600", "2.50"]], [["0.4800", "4.00"]]))
        await send_json(
            conn,
            {"id": cmd["id"], "sid": 1, "seq": 8, "type": "ok", "msg": {"market_tickers": [M]}},
        )
        await send_json(conn, delta_frame(1, 8, "no", "0.4800", "-4.00"))
        await conn.wait_closed()

    async def body() -> None:
        async with (
            ScriptedServer(script) as server,
            KalshiWebSocket.connect(server.url, test_signer()) as ws,
        ):
            [sub] = await ws.subscribe(["orderbook_delta"], [M])
            events = await take(ws, 3)
            assert [type(e) for e in events] == [
                OrderbookSnapshot,
                OrderbookDelta,
                OrderbookDelta,
            ]
            book = ws.order_book(M)
            assert book is not None and book.valid
            assert book.yes_levels() == [(D("0.4600"), D("2.50")), (D("0.4700"), D("2.00"))]
            gap, skipped, after = await take(ws, 3)
            assert gap == SequenceGap(sid=1, expected=4, got=5, market_tickers=(M,))
            assert isinstance(skipped, OrderbookDelta) and skipped.seq == 5
            assert isinstance(after, OrderbookDelta) and after.seq == 6  # no second gap
            assert not book.valid
            assert book.no_levels() == [(D("0.4800"), D("2.00"))]  # deltas not applied
            assert await ws.resync(sub.sid) == [M]
            snap = await ws.next_message(WAIT)
            assert isinstance(snap, OrderbookSnapshot) and snap.seq == 7
            assert book.valid
            assert book.to_rest_orderbook() == {
                "yes_dollars": [["0.4600", "2.50"]],
                "no_dollars": [["0.4800", "4.00"]],
            }
            last = await ws.next_message(WAIT)
            assert isinstance(last, OrderbookDelta) and last.seq == 8
            assert book.no_levels() == [] and ws.last_seq(1) == 8

    run(body())
    assert commands == [
        {
            "id": 2,
            "cmd": "update_subscription",
            "params": {"sids": [1], "market_tickers": [M], "action": "get_snapshot"},
        }
    ]


def test_delta_that_would_go_negative_and_delta_before_snapshot_invalidate() -> None:
    async def script(conn: ServerConnection) -> None:
        await send_json(conn, delta_frame(3, 1, "yes", "0.1000", "1.00"))  # no snapshot yet
        await send_json(conn, snapshot_frame(3, 2, [["0.1000", "1.00"]], []))
        await send_json(conn, delta_frame(3, 3, "yes", "0.1000", "-2.00"))
        await conn.wait_closed()

    async def body() -> None:
        async with (
            ScriptedServer(script) as server,
            KalshiWebSocket.connect(server.url, test_signer()) as ws,
        ):
            events = await take(ws, 5)
            kinds = [type(e) for e in events]
            assert kinds == [
                BookInvalidated,
                OrderbookDelta,
                OrderbookSnapshot,
                BookInvalidated,
                OrderbookDelta,
            ]
            assert "before any snapshot" in events[0].reason
            assert "negative" in events[3].reason
            book = ws.order_book(M, sid=3)
            assert book is not None and not book.valid

    run(body())


def test_unknown_and_malformed_frames_do_not_stop_the_stream() -> None:
    async def script(conn: ServerConnection) -> None:
        await send_json(conn, snapshot_frame(2, 1, [["0.3000", "1.00"]], []))
        await send_json(conn, {"type": "rfq_created", "sid": 9, "msg": {"id": "r1"}})
        await conn.send("definitely not json")
        await send_json(
            conn,
            {
                "type": "orderbook_delta",
                "sid": 2,
                "seq": 2,
                "msg": {"market_ticker": M, "price_dollars": "x", "delta_fp": "1", "side": "yes"},
            },
        )
        await send_json(conn, delta_frame(2, 3, "yes", "0.3000", "1.00"))  # not a gap
        await send_json(
            conn,
            {
                "type": "fill",
                "sid": 4,
                "msg": {
                    "trade_id": "t",
                    "order_id": "o",
                    "market_ticker": M,
                    "yes_price_dollars": "0.3000",
                    "count_fp": "1.00",
                    "fee_cost": "0.0150",
                    "post_position_fp": "1.00",
                },
            },
        )
        await conn.wait_closed()

    async def body() -> None:
        async with (
            ScriptedServer(script) as server,
            KalshiWebSocket.connect(server.url, test_signer()) as ws,
        ):
            events = await take(ws, 7)
            assert [type(e) for e in events] == [
                OrderbookSnapshot,
                UnknownMessage,
                UnknownMessage,
                BookInvalidated,
                UnknownMessage,
                OrderbookDelta,
                FillMessage,
            ]
            assert events[1].type == "rfq_created" and events[1].error is None
            assert events[2].error is not None
            book = ws.order_book(M)
            assert book is not None and not book.valid
            assert events[6].msg.fee_cost == D("0.0150")

    run(body())


# ---- closing -------------------------------------------------------------------------------


def test_close_sends_1000_and_fails_waiting_commands() -> None:
    async def script(conn: ServerConnection) -> None:
        await recv_json(conn)  # the subscribe is never answered
        await send_json(conn, {"type": "ticker", "sid": 1, "msg": {"market_ticker": M}})
        await conn.wait_closed()

    async def body() -> ScriptedServer:
        async with ScriptedServer(script) as server:
            ws = await KalshiWebSocket.connect(server.url, test_signer())
            pending = asyncio.create_task(ws.subscribe(["ticker"]))
            buffered = await ws.next_message(WAIT)
            assert isinstance(buffered, TickerMessage)
            await ws.close()
            with pytest.raises(KalshiWSConnectionClosed) as caught:
                await pending
            assert caught.value.by_client and caught.value.code == 1000
            assert [m async for m in ws] == []  # iteration simply ends
            with pytest.raises(KalshiWSConnectionClosed):
                await ws.list_subscriptions()
            await ws.close()  # idempotent
            await asyncio.wait_for(server.done.wait(), WAIT)
            return server

    server = run(body())
    assert server.close_codes == [1000]


def test_server_drop_surfaces_after_buffered_messages_and_fails_commands() -> None:
    async def script(conn: ServerConnection) -> None:
        await send_json(conn, {"type": "ticker", "sid": 1, "msg": {"market_ticker": M}})
        await recv_json(conn)
        await conn.close(code=1011, reason="maintenance")

    async def body() -> None:
        async with ScriptedServer(script) as server:
            ws = await KalshiWebSocket.connect(server.url, test_signer())
            with pytest.raises(KalshiWSConnectionClosed) as caught:
                await ws.subscribe(["ticker"])
            assert not caught.value.by_client
            received = []
            with pytest.raises(KalshiWSConnectionClosed) as dropped:
                async for message in ws:
                    received.append(message)
            assert [type(m) for m in received] == [TickerMessage]
            assert (dropped.value.code, dropped.value.reason) == (1011, "maintenance")
            await ws.close()

    run(body())


def test_server_pings_are_answered() -> None:
    async def script(conn: ServerConnection) -> None:
        waiter = await conn.ping(b"heartbeat")
        latency = await asyncio.wait_for(waiter, WAIT)
        assert latency >= 0
        await send_json(conn, {"type": "ticker", "sid": 1, "msg": {"market_ticker": "PONGED"}})
        await conn.wait_closed()

    async def body() -> None:
        async with (
            ScriptedServer(script) as server,
            KalshiWebSocket.connect(server.url, test_signer()) as ws,
        ):
            message = await ws.next_message(WAIT)
            assert isinstance(message, TickerMessage) and message.market_ticker == "PONGED"

    run(body())


def test_repr_has_no_key_material() -> None:
    signer = test_signer()

    async def script(conn: ServerConnection) -> None:
        await conn.wait_closed()

    async def body() -> None:
        async with (
            ScriptedServer(script) as server,
            KalshiWebSocket.connect(server.url, signer) as ws,
        ):
            text = repr(ws)
            assert "PRIVATE" not in text and signer.key_id not in text

    run(body())
    assert "PRIVATE" not in repr(signer)


# ---- backoff -------------------------------------------------------------------------------


def test_backoff_grows_caps_and_jitters_down() -> None:
    no_jitter = list(itertools.islice(backoff_delays(0.5, 4.0, 2.0, jitter=0.0), 6))
    assert no_jitter == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    full = list(itertools.islice(backoff_delays(1.0, 8.0, 2.0, jitter=0.5, rng=lambda: 1.0), 4))
    assert full == [0.5, 1.0, 2.0, 4.0]
    rolled = list(itertools.islice(backoff_delays(), 50))
    assert all(0 < d <= 30.0 for d in rolled)
    with pytest.raises(ValueError):
        next(backoff_delays(initial=0))


def test_subscribe_frame_equals_the_one_recorded_against_kalshi_demo() -> None:
    meta_path = RECORDED / "ws__orderbook_trade_noleg.meta.json"
    recorded = json.loads(meta_path.read_text())["subscribe_cmd"]
    frames: list[dict[str, Any]] = []

    async def script(conn: ServerConnection) -> None:
        cmd = await recv_json(conn)
        frames.append(cmd)
        for line in (RECORDED / "ws__orderbook_trade_noleg.jsonl").read_text().splitlines():
            if line.strip():
                await conn.send(line)  # replay the demo session verbatim
        await conn.wait_closed()

    async def body() -> None:
        async with (
            ScriptedServer(script) as server,
            KalshiWebSocket.connect(server.url, test_signer()) as ws,
        ):
            subs = await ws.subscribe(
                ["orderbook_delta", "trade"],
                recorded["params"]["market_tickers"],
                use_yes_price=False,
            )
            assert subs == [Subscription("orderbook_delta", 1), Subscription("trade", 2)]
            events = await take(ws, 5)
            assert [type(e) for e in events] == [OrderbookSnapshot] + [OrderbookDelta] * 4
            book = ws.order_book(recorded["params"]["market_tickers"][0])
            assert book is not None and book.valid
            assert book.to_rest_orderbook() == {
                "yes_dollars": [["0.4700", "3.00"]],
                "no_dollars": [["0.4800", "1.00"]],
            }
            assert ws.take_received() == []

    run(body())
    assert frames == [recorded]


def test_close_is_prompt_even_when_nobody_reads_and_the_queue_is_full() -> None:
    async def script(conn: ServerConnection) -> None:
        for i in range(200):
            await send_json(conn, {"type": "ticker", "sid": 1, "msg": {"market_ticker": f"M{i}"}})
        await conn.wait_closed()

    async def body() -> float:
        async with ScriptedServer(script) as server:
            ws = await KalshiWebSocket.connect(server.url, test_signer(), max_queue=2)
            await asyncio.sleep(0.3)  # the reader fills the queue and blocks
            started = asyncio.get_running_loop().time()
            await ws.close()
            elapsed = asyncio.get_running_loop().time() - started
            first = [m async for m in ws]
            assert [m.market_ticker for m in first] == ["M0", "M1"]  # type: ignore[union-attr]
            await asyncio.wait_for(server.done.wait(), WAIT)
            assert server.close_codes == [1000]
            return elapsed

    assert run(body()) < 2.0
