"""How fast the Kalshi WebSocket client turns frames into typed messages.

Run: ``.venv/bin/python -m tests.bench.bench_kalshi_ws``

Three figures, each as messages/s and as a ratio against ``json.loads`` of the very same
frames measured in this process (machine speed cancels out of the ratio):

1. ``parse_frame`` alone (msgspec into typed structs with exact Decimals);
2. parse + per-sid ``seq`` check + local order book update (what the client does per
   message besides the socket);
3. end to end: a loopback WebSocket server sends the frames, the real client iterates them.

The corpus mixes frame types roughly as a busy orderbook+ticker+trade session does; every
fifth delta is fractional so the Decimal path is exercised.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable
from decimal import Decimal

from shared.kalshi.ws import OrderBook, OrderBookError
from shared.kalshi.ws.messages import OrderbookDelta, OrderbookSnapshot, parse_frame
from shared.kalshi.ws.sequence import SequenceTracker

N_FRAMES = 60_000
N_MARKETS = 40
ROUNDS = 5


def build_corpus(n: int = N_FRAMES, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    tickers = [f"KXBENCH-26JUN11-T{i:03d}" for i in range(N_MARKETS)]
    sizes: dict[tuple[str, str, str], Decimal] = {}
    frames: list[str] = []
    seq = 0
    for ticker in tickers:
        seq += 1
        yes = [[f"0.{p:02d}00", "100.00"] for p in range(30, 45)]
        no = [[f"0.{p:02d}00", "100.00"] for p in range(40, 55)]
        for price, size in yes:
            sizes[(ticker, "yes", price)] = Decimal(size)
        for price, size in no:
            sizes[(ticker, "no", price)] = Decimal(size)
        frames.append(
            json.dumps(
                {
                    "type": "orderbook_snapshot",
                    "sid": 1,
                    "seq": seq,
                    "msg": {
                        "market_ticker": ticker,
                        "market_id": "f5ed38e2-0991-4c8f-817e-08c4fd9cbfdb",
                        "yes_dollars_fp": yes,
                        "no_dollars_fp": no,
                    },
                }
            )
        )
    while len(frames) < n:
        roll = rng.random()
        ticker = rng.choice(tickers)
        ts_ms = 1781159489957 + len(frames)
        if roll < 0.70:
            side = rng.choice(["yes", "no"])
            cents = rng.randrange(30, 45) if side == "yes" else rng.randrange(40, 55)
            price = f"0.{cents:02d}00"
            current = sizes.get((ticker, side, price), Decimal(0))
            change = Decimal(rng.randrange(1, 500)) / (100 if len(frames) % 5 == 0 else 1)
            if current >= change and rng.random() < 0.5:
                change = -change
            sizes[(ticker, side, price)] = current + change
            seq += 1
            frames.append(
                json.dumps(
                    {
                        "type": "orderbook_delta",
                        "sid": 1,
                        "seq": seq,
                        "msg": {
                            "market_ticker": ticker,
                            "market_id": "f5ed38e2-0991-4c8f-817e-08c4fd9cbfdb",
                            "price_dollars": price,
                            "delta_fp": f"{change:.2f}",
                            "side": side,
                            "ts": "2026-06-11T06:31:29.957081Z",
                            "ts_ms": ts_ms,
                        },
                    }
                )
            )
        elif roll < 0.85:
            frames.append(
                json.dumps(
                    {
                        "type": "ticker",
                        "sid": 2,
                        "msg": {
                            "market_ticker": ticker,
                            "market_id": "9b0f6b43-5b68-4f9f-9f02-a2a0d9a5d4c1",
                            "price_dollars": "0.4800",
                            "yes_bid_dollars": "0.4500",
                            "yes_ask_dollars": "0.5300",
                            "volume_fp": "33896.00",
                            "open_interest_fp": "20422.00",
                            "dollar_volume": 16948,
                            "dollar_open_interest": 10211,
                            "yes_bid_size_fp": "300.00",
                            "yes_ask_size_fp": "150.00",
                            "last_trade_size_fp": "25.00",
                            "ts": ts_ms // 1000,
                            "ts_ms": ts_ms,
                            "time": "2026-06-11T06:31:29.957Z",
                        },
                    }
                )
            )
        elif roll < 0.97:
            frames.append(
                json.dumps(
                    {
                        "type": "trade",
                        "sid": 3,
                        "msg": {
                            "trade_id": "d91bc706-ee49-470d-82d8-11418bda6fed",
                            "market_ticker": ticker,
                            "yes_price_dollars": "0.3600",
                            "no_price_dollars": "0.6400",
                            "count_fp": "136.00",
                            "taker_side": "no",
                            "taker_outcome_side": "no",
                            "taker_book_side": "ask",
                            "is_block_trade": False,
                            "ts": ts_ms // 1000,
                            "ts_ms": ts_ms,
                        },
                    }
                )
            )
        else:
            frames.append(
                json.dumps(
                    {
                        "type": "fill",
                        "sid": 4,
                        "msg": {
                            "trade_id": "d91bc706-ee49-470d-82d8-11418bda6fed",
                            "order_id": "ee587a1c-8b87-4dcf-b721-9f6f790619fa",
                            "market_ticker": ticker,
                            "exchange_index": 2,
                            "is_taker": True,
                            "side": "yes",
                            "yes_price_dollars": "0.7500",
                            "count_fp": "3.00",
                            "action": "buy",
                            "fee_cost": "0.017500",
                            "outcome_side": "yes",
                            "book_side": "bid",
                            "post_position_fp": "5.00",
                            "purchased_side": "yes",
                            "ts": ts_ms // 1000,
                            "ts_ms": ts_ms,
                        },
                    }
                )
            )
    return frames


def best_of(fn: Callable[[], None], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def baseline_json(frames: list[str]) -> None:
    loads = json.loads
    for frame in frames:
        loads(frame)


def parse_only(frames: list[str]) -> None:
    for frame in frames:
        parse_frame(frame)


def parse_and_apply(frames: list[str]) -> None:
    tracker = SequenceTracker()
    books: dict[str, OrderBook] = {}
    for frame in frames:
        message = parse_frame(frame)
        if isinstance(message, OrderbookDelta):
            if tracker.observe(message.sid, message.seq) is not None:
                raise AssertionError("corpus has a gap")
            try:
                books[message.msg.market_ticker].apply_delta(message.msg)
            except OrderBookError as exc:
                raise AssertionError(str(exc)) from exc
        elif isinstance(message, OrderbookSnapshot):
            tracker.reset(message.sid, message.seq)
            books[message.msg.market_ticker] = OrderBook.from_snapshot(message.msg)


def end_to_end(frames: list[str]) -> float:
    """Seconds for the real client to receive and iterate every frame over loopback."""
    from websockets.asyncio.server import ServerConnection, serve

    from shared.kalshi.signing import KalshiSigner, generate_private_key_pem
    from shared.kalshi.ws import KalshiWebSocket

    signer = KalshiSigner.from_pem("bench-key", generate_private_key_pem())

    async def handler(conn: ServerConnection) -> None:
        await conn.recv()  # "go"
        for frame in frames:
            await conn.send(frame)
        await conn.wait_closed()

    async def run() -> float:
        async with serve(handler, "127.0.0.1", 0, ping_interval=None, compression=None) as srv:
            port = next(iter(srv.sockets)).getsockname()[1]
            url = f"ws://127.0.0.1:{port}/trade-api/ws/v2"
            async with KalshiWebSocket.connect(url, signer, max_queue=100_000) as ws:
                start = time.perf_counter()
                await ws.send_raw("go")
                received = 0
                async for _ in ws:
                    received += 1
                    if received == len(frames):
                        break
                return time.perf_counter() - start

    return asyncio.run(run())


def main() -> None:
    frames = build_corpus()
    n = len(frames)
    base = best_of(lambda: baseline_json(frames))
    parse = best_of(lambda: parse_only(frames))
    apply = best_of(lambda: parse_and_apply(frames))
    e2e_runs = [end_to_end(frames) for _ in range(3)]
    e2e = min(e2e_runs)
    print(f"frames: {n} (deltas ~70%, ticker 15%, trade 12%, fill 3%), best of {ROUNDS}")
    print(f"json.loads baseline        : {n / base:>10,.0f} msg/s  (ratio 1.00)")
    print(f"parse_frame (typed)        : {n / parse:>10,.0f} msg/s  (ratio {base / parse:.2f})")
    print(f"parse + seq + book apply   : {n / apply:>10,.0f} msg/s  (ratio {base / apply:.2f})")
    print(
        f"client end to end loopback : {n / e2e:>10,.0f} msg/s  (ratio {base / e2e:.2f}; "
        f"runs spread {statistics.pstdev(e2e_runs) / statistics.mean(e2e_runs):.0%})"
    )


if __name__ == "__main__":
    main()
