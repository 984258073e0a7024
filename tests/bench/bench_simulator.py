"""How fast the Kalshi exchange simulator serves REST and fans out WebSocket frames.

Run: ``.venv/bin/python -m tests.bench.bench_simulator``

Figures, each with a ratio against a baseline measured in this process:

1. ``GET /markets?limit=1000`` requests/s on a 5,000-market exchange, against the same
   server stack (uvicorn + Starlette, same thread layout) returning the very same bytes
   from memory. Ratio 1.0 = the simulator adds nothing over shipping the bytes.
2. WebSocket fan-out, in process (no sockets): frames/s the hub produces for 100
   subscribers of ``ticker`` + ``trade`` + ``orderbook_delta``, against a naive fan-out that
   JSON-encodes every frame once per subscriber.
3. WebSocket end to end: the simulator in its own process, 100 subscriber connections in
   this one; messages/s received, against a trivial ``websockets`` server (own process)
   that only blasts one pre-built frame, i.e. about the most this client side takes in.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import msgspec

N_SUBSCRIBERS = 100
ROUNDS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------- 1. REST


def _static_server(body: bytes) -> tuple[Any, threading.Thread, int]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def markets(request: Any) -> Response:
        return Response(body, media_type="application/json; charset=utf-8")

    app = Starlette(routes=[Route("/trade-api/v2/markets", markets)])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, port


def _rps(url: str, seconds: float = 3.0) -> float:
    with httpx.Client(timeout=30, trust_env=False) as client:
        for _ in range(3):
            client.get(url)
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            response = client.get(url)
            assert response.status_code == 200
            n += 1
        return n / (time.perf_counter() - start)


def bench_rest() -> dict[str, float]:
    from emulators.kalshi_sim.config import SimConfig
    from emulators.kalshi_sim.runner import SimulatorServer

    with SimulatorServer(SimConfig(seed=1, n_markets=5000, tick_interval_s=None)) as sim:
        sim.advance(10)
        url = sim.base_url + "/markets?limit=1000"
        body = httpx.get(url).content
        server, thread, port = _static_server(body)
        try:
            sim_best = base_best = 0.0
            for _ in range(ROUNDS):
                sim_best = max(sim_best, _rps(url))
                base_best = max(base_best, _rps(f"http://127.0.0.1:{port}/trade-api/v2/markets"))
        finally:
            server.should_exit = True
            thread.join(5)
    # The exchange ticking every 0.5 s, as under ``kalshi-insights sim``: each tick drops the
    # cached page and re-renders the markets that moved.
    with SimulatorServer(SimConfig(seed=1, n_markets=5000, tick_interval_s=0.5)) as sim:
        ticking = max(_rps(sim.base_url + "/markets?limit=1000") for _ in range(ROUNDS))
    # What one tick of a 5,000-market exchange costs (the budget is the 0.5 s interval).
    from emulators.kalshi_sim.exchange import Exchange

    exchange = Exchange(SimConfig(seed=1, n_markets=5000, tick_interval_s=None))
    start = time.perf_counter()
    exchange.tick(100)
    tick_ms = (time.perf_counter() - start) * 10
    return {
        "sim_rps": sim_best,
        "static_rps": base_best,
        "mb": len(body) / 1e6,
        "ticking_rps": ticking,
        "tick_ms": tick_ms,
    }


# ---------------------------------------------------------------------------- 2. fan-out in process


class _FakeConn:
    """Stands in for a socket: collects frames the hub would send."""

    def __init__(self, hub: Any, account: Any = None) -> None:
        self.hub = hub
        self.account = account
        self.subs: dict[int, Any] = {}
        self.outbox: list[str] = []
        self.closed = False

    def push(self, frame: str) -> None:
        self.outbox.append(frame)

    def push_to(self, sub: Any, frame: str) -> None:
        self.outbox.append(frame)


def bench_fanout() -> dict[str, float]:
    from emulators.kalshi_sim.config import SimConfig
    from emulators.kalshi_sim.frames import delta_msg, ticker_msg, trade_msg
    from emulators.kalshi_sim.hub import Subscription
    from emulators.kalshi_sim.model import BookDelta, TickerChange, TradePrint
    from emulators.kalshi_sim.state import SimState

    state = SimState(SimConfig(seed=1, n_markets=300, tick_interval_s=None))
    tickers = set(state.exchange.markets)
    conns = []
    for _ in range(N_SUBSCRIBERS):
        conn = _FakeConn(state.hub)
        for sid, channel in enumerate(("ticker", "trade", "orderbook_delta"), start=1):
            sub = Subscription(conn, sid, channel)  # type: ignore[arg-type]
            sub.tickers = None if channel != "orderbook_delta" else tickers
            conn.subs[sid] = sub
            state.hub.add(sub)
        conns.append(conn)
    state.hub.connections = set(conns)  # type: ignore[arg-type]
    batches = [state.exchange.tick(1) for _ in range(400)]

    def run_hub() -> tuple[int, float]:
        start = time.perf_counter()
        for batch in batches:
            state.hub.dispatch(batch)
        elapsed = time.perf_counter() - start
        total = sum(len(c.outbox) for c in conns)
        for c in conns:
            c.outbox.clear()
        return total, elapsed

    encode = msgspec.json.encode

    def run_naive() -> tuple[int, float]:
        start = time.perf_counter()
        total = 0
        for batch in batches:
            for h in batch:
                if isinstance(h, BookDelta):
                    msg, kind = delta_msg(h, False), "orderbook_delta"
                elif isinstance(h, TradePrint):
                    msg, kind = trade_msg(h), "trade"
                elif isinstance(h, TickerChange):
                    msg, kind = ticker_msg(h.market, h.ts_us), "ticker"
                else:
                    continue
                for i in range(N_SUBSCRIBERS):
                    encode({"type": kind, "sid": 1, "seq": i, "msg": msg}).decode()
                    total += 1
        return total, time.perf_counter() - start

    hub_best = naive_best = 0.0
    for _ in range(ROUNDS):
        n, t = run_hub()
        hub_best = max(hub_best, n / t)
        n, t = run_naive()
        naive_best = max(naive_best, n / t)
    return {"hub": hub_best, "naive": naive_best}


# ---------------------------------------------------------------------------- 3. end to end


_FRAME = json.dumps(
    {
        "type": "ticker",
        "sid": 1,
        "msg": {
            "market_ticker": "KXBENCH-26JUN11-T100",
            "market_id": "9755d4c1-3a90-4931-8d44-7e35b8b6d8fe",
            "price_dollars": "0.4700",
            "yes_bid_dollars": "0.4600",
            "yes_ask_dollars": "0.4800",
            "volume_fp": "1000.00",
            "open_interest_fp": "500.00",
            "ts_ms": 1781159489957,
        },
    }
)


def blast_server(port: int) -> None:
    """Baseline: the ``websockets`` library sending one pre-built frame forever."""
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        while True:
            for _ in range(50):
                await ws.send(_FRAME)
            await asyncio.sleep(0)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, ping_interval=None):
            await asyncio.Future()

    asyncio.run(main())


async def _count(
    url: str, headers_for: Any, subscribe: str | None, trigger: Any, seconds: float
) -> float:
    from websockets.asyncio.client import connect

    counts = [0] * N_SUBSCRIBERS
    conns = [
        await connect(url, additional_headers=headers_for(), max_queue=None)
        for _ in range(N_SUBSCRIBERS)
    ]
    if subscribe:
        for ws in conns:
            await ws.send(subscribe)
            await ws.recv()
            await ws.recv()
    stop = asyncio.Event()

    async def reader(i: int, ws: Any) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(ws.recv(), 0.5)
                counts[i] += 1
            except TimeoutError:
                continue
            except Exception:
                return

    tasks = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(conns)]
    start = time.perf_counter()
    driver = asyncio.create_task(trigger(conns, stop))
    await asyncio.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - start
    total = sum(counts)
    await driver
    for t in tasks:
        t.cancel()
    for ws in conns:
        await ws.close()
    return total / elapsed


def _spawn(args: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def bench_end_to_end(seconds: float = 5.0) -> dict[str, float]:
    from shared.kalshi.signing import KalshiSigner

    port = _free_port()
    sim = _spawn(
        [
            "-m",
            "emulators.kalshi_sim",
            "--port",
            str(port),
            "--tick-interval",
            "0",
            "--markets",
            "1000",
        ],
        port,
    )
    try:
        admin = f"http://127.0.0.1:{port}/_sim"
        created = httpx.post(admin + "/accounts", json={"balance_dollars": "100"}).json()
        signer = KalshiSigner.from_pem(created["key_id"], created["private_key_pem"])
        subscribe = json.dumps(
            {"id": 1, "cmd": "subscribe", "params": {"channels": ["ticker", "trade"]}}
        )

        async def tick(conns: Any, stop: asyncio.Event) -> None:
            async with httpx.AsyncClient(timeout=30) as client:
                while not stop.is_set():
                    await client.post(admin + "/tick", json={"steps": 20})

        sim_rate = asyncio.run(
            _count(
                f"ws://127.0.0.1:{port}/trade-api/ws/v2",
                lambda: signer.headers("GET", "/trade-api/ws/v2"),
                subscribe,
                tick,
                seconds,
            )
        )
    finally:
        sim.terminate()
        sim.wait(10)

    port = _free_port()
    blaster = _spawn(
        ["-c", (f"import tests.bench.bench_simulator as b; b.blast_server({port})")], port
    )
    try:

        async def go(conns: Any, stop: asyncio.Event) -> None:
            await stop.wait()

        base_rate = asyncio.run(
            _count(f"ws://127.0.0.1:{port}/trade-api/ws/v2", dict, None, go, seconds)
        )
    finally:
        blaster.kill()
        blaster.wait(10)
    return {"sim": sim_rate, "blast": base_rate}


def main() -> None:
    os.environ.setdefault("PYTHONHASHSEED", "0")
    rest = bench_rest()
    print(
        "REST GET /markets?limit=1000 (5,000-market exchange, {:.1f} MB per response)".format(
            rest["mb"]
        )
    )
    print(f"  static bytes baseline : {rest['static_rps']:8.1f} req/s   1.00")
    ratio = rest["sim_rps"] / rest["static_rps"]
    print(f"  simulator (cached)    : {rest['sim_rps']:8.1f} req/s   {ratio:.2f}x")
    print(
        f"  simulator ticking every 0.5 s: {rest['ticking_rps']:8.1f} req/s   "
        f"{rest['ticking_rps'] / rest['static_rps']:.2f}x"
    )
    print(f"  one exchange tick (5,000 markets): {rest['tick_ms']:.1f} ms of the 500 ms interval")
    fan = bench_fanout()
    print(f"WS fan-out in process, {N_SUBSCRIBERS} subscribers (ticker + trade + orderbook_delta)")
    print(f"  naive encode-per-subscriber baseline: {fan['naive']:10.0f} frames/s   1.00")
    ratio = fan["hub"] / fan["naive"]
    print(f"  simulator hub                      : {fan['hub']:10.0f} frames/s   {ratio:.2f}x")
    e2e = bench_end_to_end()
    print(
        f"WS end to end over loopback, {N_SUBSCRIBERS} connections (simulator in its own process)"
    )
    print(f"  blast-one-frame server baseline: {e2e['blast']:10.0f} msg/s   1.00")
    ratio = e2e["sim"] / e2e["blast"]
    print(f"  simulator (ticker + trade)     : {e2e['sim']:10.0f} msg/s   {ratio:.2f}x")


if __name__ == "__main__":
    main()
