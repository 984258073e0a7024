"""The project's Kalshi WebSocket client against the real exchange simulator over loopback.

The session simulator runs a manual clock: nothing happens until ``simulator.advance(n)``.
After each advance the test sends ``list_subscriptions`` as a barrier: the simulator answers
on the same ordered socket after every frame the advance produced, so once the reply is in,
everything before it has been received and can be drained from the client.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.kalshi.signing import KalshiSigner, generate_private_key_pem
from shared.kalshi.ws import (
    KalshiWebSocket,
    KalshiWSCommandError,
    KalshiWSConnectionClosed,
    KalshiWSHandshakeError,
    backoff_delays,
)
from shared.kalshi.ws.messages import (
    BookInvalidated,
    ErrorReply,
    FillMessage,
    MarketPositionMessage,
    OrderbookDelta,
    OrderbookSnapshot,
    SequenceGap,
    TickerMessage,
    UnknownMessage,
    WsErrorCode,
    WsEvent,
)

pytestmark = pytest.mark.integration

WAIT = 10.0
REST_PREFIX = "/trade-api/v2"


def run(coro: Any, timeout: float = 90.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def rest_get(simulator: Any, signer: KalshiSigner, path: str, **params: Any) -> Any:
    headers = signer.headers("GET", REST_PREFIX + path)
    async with httpx.AsyncClient(timeout=WAIT, trust_env=False) as client:
        response = await client.get(simulator.base_url + path, params=params, headers=headers)
    response.raise_for_status()
    return response.json()


async def open_tickers(simulator: Any, signer: KalshiSigner, n: int) -> list[str]:
    data = await rest_get(simulator, signer, "/markets", status="open", limit=n)
    tickers = [m["ticker"] for m in data["markets"]]
    assert len(tickers) == n
    return tickers


async def advance(simulator: Any, steps: int) -> None:
    await asyncio.to_thread(simulator.advance, steps)


async def set_faults(simulator: Any, **faults: Any) -> None:
    await asyncio.to_thread(simulator.set_faults, **faults)


async def drain(ws: KalshiWebSocket) -> list[WsEvent]:
    """Everything the server sent before now: barrier with a command, then empty the queue."""
    await ws.list_subscriptions()
    return ws.take_received()


def assert_all_typed(events: list[WsEvent]) -> None:
    """No frame from the simulator may fall through to UnknownMessage with a shape error."""
    broken = [e for e in events if isinstance(e, UnknownMessage) and e.error is not None]
    assert broken == []


def rest_levels(book: dict[str, Any]) -> dict[str, list[list[str]]]:
    return {side: book.get(side) or [] for side in ("yes_dollars", "no_dollars")}


async def assert_books_match_rest(
    ws: KalshiWebSocket, simulator: Any, signer: KalshiSigner, tickers: list[str]
) -> None:
    for ticker in tickers:
        book = ws.order_book(ticker)
        assert book is not None and book.valid, ticker
        rest = await rest_get(simulator, signer, f"/markets/{ticker}/orderbook")
        assert rest_levels(book.to_rest_orderbook()) == rest_levels(rest["orderbook_fp"]), ticker


# ---- orderbook: snapshot, consecutive deltas, a skipped seq, get_snapshot recovery ----------


def test_orderbook_snapshot_then_consecutive_deltas_match_rest(
    simulator: Any, sim_account: Any
) -> None:
    async def body() -> None:
        tickers = await open_tickers(simulator, sim_account.signer, 40)
        async with KalshiWebSocket.connect(simulator.ws_url, sim_account.signer) as ws:
            [sub] = await ws.subscribe(["orderbook_delta"], tickers)
            assert sub.channel == "orderbook_delta"
            events = await drain(ws)
            snapshots = [e for e in events if isinstance(e, OrderbookSnapshot)]
            assert sorted(s.market_ticker for s in snapshots) == sorted(tickers)
            assert [s.seq for s in snapshots] == list(range(1, len(tickers) + 1))
            await assert_books_match_rest(ws, simulator, sim_account.signer, tickers)

            deltas: list[OrderbookDelta] = []
            for _ in range(10):
                await advance(simulator, 10)
                events = await drain(ws)
                assert_all_typed(events)
                assert not [e for e in events if isinstance(e, (SequenceGap, BookInvalidated))]
                deltas += [e for e in events if isinstance(e, OrderbookDelta)]
                if len(deltas) >= 20:
                    break
            assert len(deltas) >= 20, "the simulator produced too few book changes"
            seqs = [d.seq for d in deltas]
            assert seqs == list(range(len(tickers) + 1, len(tickers) + 1 + len(deltas)))
            assert all(d.sid == sub.sid for d in deltas)
            assert ws.last_seq(sub.sid) == seqs[-1]
            await assert_books_match_rest(ws, simulator, sim_account.signer, tickers)

    run(body())


def test_skipped_seq_is_detected_and_get_snapshot_recovers(
    simulator: Any, sim_account: Any
) -> None:
    async def body() -> None:
        tickers = await open_tickers(simulator, sim_account.signer, 40)
        async with KalshiWebSocket.connect(simulator.ws_url, sim_account.signer) as ws:
            [sub] = await ws.subscribe(["orderbook_delta"], tickers)
            await drain(ws)
            await set_faults(simulator, ws_skip_seq=1)
            try:
                gaps: list[SequenceGap] = []
                for _ in range(20):
                    await advance(simulator, 5)
                    events = await drain(ws)
                    assert_all_typed(events)
                    gaps += [e for e in events if isinstance(e, SequenceGap)]
                    if gaps:
                        break
            finally:
                await set_faults(simulator)
            assert len(gaps) == 1, gaps
            gap = gaps[0]
            assert gap.sid == sub.sid
            assert gap.got == gap.expected + 1  # exactly one frame swallowed
            assert sorted(gap.market_tickers) == sorted(tickers)
            assert all(not ws.order_book(t).valid for t in tickers)  # type: ignore[union-attr]

            asked = await ws.resync(sub.sid)
            assert asked == sorted(tickers)
            events = await drain(ws)
            assert sorted(e.market_ticker for e in events if isinstance(e, OrderbookSnapshot)) == (
                sorted(tickers)
            )
            await assert_books_match_rest(ws, simulator, sim_account.signer, tickers)

            # the stream continues consecutively after the resync snapshots
            for _ in range(10):
                await advance(simulator, 10)
                events = await drain(ws)
                assert not [e for e in events if isinstance(e, (SequenceGap, BookInvalidated))]
                if any(isinstance(e, OrderbookDelta) for e in events):
                    break
            assert any(isinstance(e, OrderbookDelta) for e in events)
            await assert_books_match_rest(ws, simulator, sim_account.signer, tickers)

    run(body())


def test_yes_price_books_convert_back_to_the_rest_no_leg_book(
    simulator: Any, sim_account: Any
) -> None:
    async def body() -> None:
        tickers = await open_tickers(simulator, sim_account.signer, 20)
        async with KalshiWebSocket.connect(simulator.ws_url, sim_account.signer) as ws:
            [sub] = await ws.subscribe(["orderbook_delta"], tickers, use_yes_price=True)
            await drain(ws)
            for _ in range(5):
                await advance(simulator, 10)
                events = await drain(ws)
                assert not [e for e in events if isinstance(e, (SequenceGap, BookInvalidated))]
            book = ws.order_book(tickers[0], sid=sub.sid)
            assert book is not None and book.use_yes_price
            await assert_books_match_rest(ws, simulator, sim_account.signer, tickers)

    run(body())


# ---- fills and market_position vs GET /portfolio/positions ----------------------------------


def test_fills_and_market_positions_agree_with_rest_positions(
    simulator: Any, sim_account: Any
) -> None:
    async def body() -> None:
        signer = sim_account.signer
        tickers = await open_tickers(simulator, signer, 10)
        traded = tickers[:2]
        async with KalshiWebSocket.connect(simulator.ws_url, signer) as ws:
            subs = await ws.subscribe(["fill", "market_positions"])
            assert sorted(s.channel for s in subs) == ["fill", "market_positions"]
            await ws.subscribe(["orderbook_delta"], traded)
            await drain(ws)
            forced = 0
            for i in range(12):
                try:  # the simulator takes liquidity for the account, like a taker order
                    await asyncio.to_thread(simulator.fill, sim_account.key_id, traded[i % 2])
                    forced += 1
                except RuntimeError:
                    pass  # that side of the book was empty at that moment
            await advance(simulator, 40)  # plus whatever the account trades on its own
            events = await drain(ws)
            assert_all_typed(events)
            assert not [e for e in events if isinstance(e, (SequenceGap, BookInvalidated))]
            fills = [e for e in events if isinstance(e, FillMessage)]
            positions: dict[str, MarketPositionMessage] = {}
            for e in events:
                if isinstance(e, MarketPositionMessage):
                    positions[e.market_ticker] = e
            assert forced >= 3, "the simulator could not trade for the account"
            assert len(fills) >= forced
            assert set(positions) == {f.market_ticker for f in fills}
            # taker fills consumed resting size: the local books followed the deltas exactly
            await assert_books_match_rest(ws, simulator, signer, traded)

        rest = await rest_get(simulator, signer, "/portfolio/positions", limit=1000)
        rest_by_ticker = {p["ticker"]: p for p in rest["market_positions"]}
        last_fill = {f.market_ticker: f for f in fills}
        fees_by_ticker: dict[str, Decimal] = defaultdict(Decimal)
        for f in fills:
            assert f.msg.fee_cost is not None
            fees_by_ticker[f.market_ticker] += f.msg.fee_cost
        for ticker, message in positions.items():
            ws_pos = message.msg
            assert ws_pos.position_fp == last_fill[ticker].msg.post_position_fp
            assert ws_pos.fees_paid_dollars == fees_by_ticker[ticker]
            if ws_pos.position_fp == 0 and ticker not in rest_by_ticker:
                continue  # flat positions may be left out of the REST list
            row = rest_by_ticker[ticker]
            assert Decimal(row["position_fp"]) == ws_pos.position_fp
            assert Decimal(row["fees_paid_dollars"]) == ws_pos.fees_paid_dollars
            assert Decimal(row["realized_pnl_dollars"]) == ws_pos.realized_pnl_dollars
            assert Decimal(row["market_exposure_dollars"]) == ws_pos.position_cost_dollars
        assert set(rest_by_ticker) <= set(positions)

    run(body())


# ---- other channels are typed ---------------------------------------------------------------


def test_ticker_trade_lifecycle_and_subscription_management(
    simulator: Any, sim_account: Any
) -> None:
    async def body() -> None:
        tickers = await open_tickers(simulator, sim_account.signer, 40)
        async with KalshiWebSocket.connect(simulator.ws_url, sim_account.signer) as ws:
            subs = await ws.subscribe(["ticker", "trade"], tickers[:30])
            by_channel = {s.channel: s.sid for s in subs}
            assert set(by_channel) == {"ticker", "trade"}
            [life] = await ws.subscribe(["market_lifecycle_v2"])
            listed = await ws.list_subscriptions()
            assert {(s.channel, s.sid) for s in listed} == {
                ("ticker", by_channel["ticker"]),
                ("trade", by_channel["trade"]),
                ("market_lifecycle_v2", life.sid),
            }
            full = await ws.add_markets(by_channel["ticker"], tickers[30:])
            assert full == sorted(tickers)
            full = await ws.delete_markets(by_channel["ticker"], tickers[:10])
            assert full == sorted(tickers[10:])

            seen: list[WsEvent] = []
            for _ in range(10):
                await advance(simulator, 10)
                seen += await drain(ws)
                if any(isinstance(e, TickerMessage) for e in seen):
                    break
            assert_all_typed(seen)
            ticker_msgs = [e for e in seen if isinstance(e, TickerMessage)]
            assert ticker_msgs
            assert {m.market_ticker for m in ticker_msgs} <= set(tickers[10:])
            assert all(m.sid == by_channel["ticker"] for m in ticker_msgs)
            assert all(m.msg.yes_bid_dollars is not None for m in ticker_msgs)

            assert await ws.unsubscribe([by_channel["trade"]]) == [by_channel["trade"]]
            remaining = {s.sid for s in await ws.list_subscriptions()}
            assert by_channel["trade"] not in remaining

    run(body())


# ---- error codes -----------------------------------------------------------------------------


def test_bad_commands_get_kalshis_error_codes(simulator: Any, sim_account: Any) -> None:
    async def body() -> None:
        tickers = await open_tickers(simulator, sim_account.signer, 2)
        async with KalshiWebSocket.connect(simulator.ws_url, sim_account.signer) as ws:
            await ws.send_raw("{this is not json")
            error = await ws.next_message(WAIT)
            assert isinstance(error, ErrorReply)
            assert error.code == WsErrorCode.UNABLE_TO_PROCESS_MESSAGE

            async def code_of(coro: Any) -> tuple[int, str]:
                with pytest.raises(KalshiWSCommandError) as caught:
                    await coro
                return caught.value.code, caught.value.name

            assert await code_of(ws.subscribe(["ticker_v2"])) == (8, "UNKNOWN_CHANNEL_NAME")
            assert await code_of(ws.subscribe(["no_such_channel", "ticker"])) == (
                8,
                "UNKNOWN_CHANNEL_NAME",
            )
            assert await code_of(ws.unsubscribe([987654])) == (7, "UNKNOWN_SUBSCRIPTION_ID")
            assert await code_of(ws.get_snapshot(987654, tickers)) == (
                7,
                "UNKNOWN_SUBSCRIPTION_ID",
            )
            assert await code_of(ws.add_markets(987654, tickers)) == (7, "UNKNOWN_SUBSCRIPTION_ID")
            assert await code_of(ws.request("frobnicate", {})) == (5, "UNKNOWN_COMMAND")
            assert await code_of(ws.request("subscribe")) == (2, "PARAMS_REQUIRED")
            assert await code_of(ws.request("subscribe", {"channels": []})) == (
                3,
                "CHANNELS_REQUIRED",
            )
            assert await code_of(ws.subscribe(["orderbook_delta"])) == (
                14,
                "MARKET_TICKER_REQUIRED",
            )
            with pytest.raises(KalshiWSCommandError) as caught:
                await ws.subscribe(["orderbook_delta"], ["NOT-A-MARKET"])
            assert caught.value.code == WsErrorCode.MARKET_NOT_FOUND
            assert caught.value.market_ticker == "NOT-A-MARKET"
            # nothing above created a subscription, and the session still works
            assert await ws.list_subscriptions() == []
            [sub] = await ws.subscribe(["orderbook_delta"], tickers)
            assert sub.sid >= 1

    run(body())


# ---- handshake and connection loss ----------------------------------------------------------


def test_handshake_with_wrong_key_is_refused(simulator: Any, sim_account: Any) -> None:
    async def body() -> None:
        impostor = KalshiSigner.from_pem(sim_account.key_id, generate_private_key_pem())
        with pytest.raises(KalshiWSHandshakeError) as caught:
            await KalshiWebSocket.connect(simulator.ws_url, impostor)
        assert caught.value.status == 401
        unknown = KalshiSigner.from_pem(
            "00000000-0000-4000-8000-000000000000", generate_private_key_pem()
        )
        with pytest.raises(KalshiWSHandshakeError) as caught:
            await KalshiWebSocket.connect(simulator.ws_url, unknown)
        assert caught.value.status == 401
        assert "PRIVATE" not in str(caught.value)

    run(body())


def test_server_drop_surfaces_and_a_reconnect_gets_fresh_sids(
    simulator: Any, sim_account: Any
) -> None:
    async def body() -> None:
        tickers = await open_tickers(simulator, sim_account.signer, 5)
        ws = await KalshiWebSocket.connect(simulator.ws_url, sim_account.signer)
        [sub] = await ws.subscribe(["orderbook_delta"], tickers)
        await drain(ws)
        await set_faults(simulator, ws_drop=True)
        try:
            await advance(simulator, 1)  # the drop happens on the next dispatch
            with pytest.raises(KalshiWSConnectionClosed) as caught:
                while True:
                    await ws.next_message(WAIT)
            assert not caught.value.by_client
            with pytest.raises(KalshiWSConnectionClosed):
                await ws.list_subscriptions()
        finally:
            await set_faults(simulator)
            await ws.close()

        delays = backoff_delays(initial=0.05, maximum=0.5)
        for _attempt in range(5):
            try:
                async with KalshiWebSocket.connect(simulator.ws_url, sim_account.signer) as again:
                    [fresh] = await again.subscribe(["orderbook_delta"], tickers)
                    events = await drain(again)
                    snaps = [e for e in events if isinstance(e, OrderbookSnapshot)]
                    assert [s.seq for s in snaps] == list(range(1, len(tickers) + 1))
                    assert fresh.sid >= 1 and again.last_seq(fresh.sid) == len(tickers)
                    break
            except (KalshiWSConnectionClosed, OSError):
                await asyncio.sleep(next(delays))
        else:
            pytest.fail("could not reconnect after the drop")
        assert sub.sid >= 1

    run(body())
