"""The streamer under load: many SSE clients, many accounts, a ticking simulator.

Run: ``.venv/bin/python -m tests.bench.bench_streamer [--accounts 100] [--clients 1000]
[--seconds 120] [--warmup 20] [--procs 4] [--activity 0.1]``

Every piece runs in its own process, over loopback:

- the Kalshi simulator (``python -m emulators.kalshi_sim``) ticking 20 times a second;
- the server under test, in one of two modes:
  * ``streamer``: the real service (:mod:`streamer.service`: one signed Kalshi socket per
    account, the tracker valuing every held position on every ticker, the fan-out), with
    two bench stand-ins: sessions are ``u:<uuid>`` cookies (no database) and the position
    cache is kept in memory;
  * ``baseline``: what a competent engineer would write to forward the same upstream bytes
    without any P&L work: the same Kalshi client and sockets, the same uvicorn, each
    ``ticker`` frame sent as one SSE event to the account's clients through a queue;
- the SSE clients, ``--procs`` lean asyncio processes (raw sockets, no HTTP library), each
  also holding one direct socket to the simulator (the *probe*) subscribed to the held
  markets' ``ticker``: the moment the probe receives a quote is "the simulator emitted it".

Figures (measured after the warm-up, over ``--seconds``):

- upstream ticker updates/s on held markets (the probe's count) and SSE events/s delivered;
- latency from the probe's receipt of a quote to a client's receipt of the event carrying
  it (p50/p99; target p99 <= 50 ms);
- delivered vs expected: every probe quote on a client's held market must reach that
  client (a quote superseded within a coalesced snapshot counts as delivered);
- server RSS slope (MB/min, target < 1) and CPU seconds per 1,000 delivered events;
- the ratio of each to the baseline.

On a 2-core machine the simulator, the server and the clients share two cores: when the
clients cannot keep up, the figures say so (and the largest load held is what to report).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _slope_per_min(samples: list[tuple[float, float]]) -> float:
    if len(samples) < 2:
        return 0.0
    xs = [t for t, _ in samples]
    ys = [v for _, v in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


# ---------------------------------------------------------------------------- the servers


def _serve(args: argparse.Namespace) -> None:
    """``serve``: the server under test, in its own process."""
    from shared.kalshi.signing import KalshiSigner
    from streamer.auth import StreamAuthError, StreamPrincipal
    from streamer.server import server_for

    accounts = json.loads(Path(args.accounts_file).read_text())
    signers = {
        uuid.UUID(a["user_id"]): KalshiSigner.from_pem(a["key_id"], a["pem"]) for a in accounts
    }
    ws_url = f"ws://127.0.0.1:{args.sim}/trade-api/ws/v2"
    rest_url = f"http://127.0.0.1:{args.sim}/trade-api/v2"

    class Verifier:  # bench stand-in: "u:<uuid>" cookies, no database
        async def verify(self, cookie: str | None) -> StreamPrincipal:
            if not cookie or not cookie.startswith("u:"):
                raise StreamAuthError(401, "not_signed_in", "no session")
            return StreamPrincipal(uuid.UUID(cookie[2:]), cookie, time.time() + 86_400)

    if args.mode == "streamer":
        service = _streamer_service(signers, ws_url, rest_url, Verifier())
        server_for(service, "127.0.0.1", args.port).run()
    else:
        import uvicorn

        app = _baseline_app(signers, accounts, ws_url, Verifier())
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


def _streamer_service(
    signers: dict[uuid.UUID, Any], ws_url: str, rest_url: str, verifier: Any
) -> Any:
    from streamer.fanout import FanOut
    from streamer.service import StreamerService
    from streamer.tracker import MarketState, PositionTracker
    from streamer.upstream import UpstreamManager, UpstreamSettings

    class Forward:
        fanout: Any = None

        def publish(self, event: Any) -> None:
            self.fanout.publish(event)

    class MemoryCache:  # bench stand-in for position_cache
        def __init__(self) -> None:
            self.rows: dict[uuid.UUID, list[MarketState]] = {}

        def load_all(self) -> dict[uuid.UUID, list[MarketState]]:
            return dict(self.rows)

        def write(self, user_id: uuid.UUID, states: Any) -> None:
            self.rows[user_id] = list(states)

    class Signers:
        async def signer(self, user_id: uuid.UUID) -> Any:
            return signers[user_id]

    forward = Forward()
    tracker = PositionTracker(forward)
    forward.fanout = FanOut(tracker)
    upstream = UpstreamManager(
        tracker, Signers(), UpstreamSettings(ws_url=ws_url, rest_base_url=rest_url)
    )

    async def known() -> list[uuid.UUID]:
        return list(signers)

    return StreamerService(
        fanout=forward.fanout,
        verifier=verifier,
        tracker=tracker,
        cache=MemoryCache(),
        upstream=upstream,
        known_accounts=known,
    )


def _baseline_app(
    signers: dict[uuid.UUID, Any], accounts: list[dict[str, Any]], ws_url: str, verifier: Any
) -> Any:
    """Forward each account's ``ticker`` frames as SSE events: no tracker, no P&L."""
    import contextlib

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    from shared.kalshi.ws import KalshiWebSocket
    from shared.kalshi.ws.messages import TickerMessage
    from shared.streaming.sse import encode_event

    clients: dict[uuid.UUID, set[asyncio.Queue[bytes]]] = {u: set() for u in signers}
    held = {uuid.UUID(a["user_id"]): a["tickers"] for a in accounts}

    async def upstream(user_id: uuid.UUID) -> None:
        async with KalshiWebSocket.connect(ws_url, signers[user_id], track_books=False) as ws:
            await ws.subscribe(["ticker"], held[user_id])
            seq = 0
            async for message in ws:
                if not isinstance(message, TickerMessage):
                    continue
                seq += 1
                data = json.dumps(
                    {
                        "ticker": message.msg.market_ticker,
                        "yes_bid_dollars": str(message.msg.yes_bid_dollars),
                        "yes_ask_dollars": str(message.msg.yes_ask_dollars),
                    }
                )
                frame = encode_event("ticker", data, str(seq))
                for queue in clients[user_id]:
                    if queue.qsize() < 256:
                        queue.put_nowait(frame)

    async def stream(request: Request) -> Response:
        principal = await verifier.verify(request.cookies.get("ki_session"))
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        clients[principal.user_id].add(queue)

        async def body() -> Any:
            yield encode_event("snapshot", "{}", "0")  # the stream opens as ours does
            try:
                while True:
                    yield await queue.get()
            finally:
                clients[principal.user_id].discard(queue)

        return StreamingResponse(body(), media_type="text/event-stream")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        tasks = [asyncio.create_task(upstream(u)) for u in signers]
        yield
        for task in tasks:
            task.cancel()

    return Starlette(routes=[Route("/api/v1/stream", stream)], lifespan=lifespan)


# ---------------------------------------------------------------------------- the clients


async def _client(port: int, cookie: str, record: Any, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            "GET /api/v1/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
            f"Cookie: ki_session={cookie}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    buffer = b""
    while not stop.is_set():
        chunk = await reader.read(65536)
        if not chunk:
            break
        now = time.monotonic()
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            record(block, now)
    writer.close()


def _chunked_payload(block: bytes) -> tuple[str, str] | None:
    """(event, data) of an SSE block inside an HTTP/1.1 chunked body (sizes stripped)."""
    event = data = None
    for line in block.split(b"\n"):
        line = line.strip(b"\r")
        if line.startswith(b"event: "):
            event = line[7:].decode()
        elif line.startswith(b"data: "):
            data = line[6:].decode()
    return (event, data) if event and data is not None else None


def _quote_key(event: str, body: dict[str, Any]) -> tuple[str, str, str] | None:
    """(ticker, YES bid, YES ask) a client's event carries, to match the probe's quotes.

    A position shows its own side's bid and ask; for NO they are 1 - YES ask and 1 - YES bid.
    """
    from decimal import Decimal

    if event == "ticker":
        return body["ticker"], body["yes_bid_dollars"], body["yes_ask_dollars"]
    bid, ask = body.get("best_bid"), body.get("best_ask")
    if event != "position_update" or bid is None or ask is None:
        return None
    if body.get("side") == "yes":
        return body["ticker"], bid, ask
    if body.get("side") == "no":
        return body["ticker"], str(1 - Decimal(ask)), str(1 - Decimal(bid))
    return None


async def _probe_main(args: argparse.Namespace) -> list[list[Any]]:
    """``probe``: one direct socket to the simulator; each held market's quote changes with
    the (system-wide monotonic) time they arrived, during the window."""
    from shared.kalshi.signing import KalshiSigner
    from shared.kalshi.ws import KalshiWebSocket
    from shared.kalshi.ws.messages import TickerMessage

    accounts = json.loads(Path(args.accounts_file).read_text())
    held = sorted({t for a in accounts for t in a["tickers"]})
    signer = KalshiSigner.from_pem(accounts[0]["key_id"], accounts[0]["pem"])
    last: dict[str, tuple[str, str]] = {}
    seen: list[list[Any]] = []
    async with KalshiWebSocket.connect(
        f"ws://127.0.0.1:{args.sim}/trade-api/ws/v2", signer, track_books=False
    ) as ws:
        await ws.subscribe(["ticker"], held)
        while time.monotonic() < args.stop_at:
            try:
                message = await ws.next_message(0.5)
            except TimeoutError:
                continue
            now = time.monotonic()
            if not isinstance(message, TickerMessage):
                continue
            m = message.msg
            quote = (str(m.yes_bid_dollars), str(m.yes_ask_dollars))
            if last.get(m.market_ticker) == quote:
                continue  # moved neither bid nor ask (the last price, the volume)
            last[m.market_ticker] = quote
            if args.start_at <= now:
                seen.append([m.market_ticker, *quote, now])
    return seen


async def _clients_main(args: argparse.Namespace) -> dict[str, Any]:
    """``clients``: this process's share of the SSE clients; what each received, when."""
    accounts = json.loads(Path(args.accounts_file).read_text())
    mine = [
        (accounts[n % len(accounts)], n) for n in range(args.clients) if n % args.of == args.index
    ]
    stop = asyncio.Event()
    arrivals: list[list[Any]] = []
    counts = {"events": 0, "snapshots": 0}

    connected: dict[int, float] = {}

    def record(client_no: int, block: bytes, now: float) -> None:
        if now >= args.stop_at:
            return
        parsed = _chunked_payload(block)
        if parsed is None:
            return
        event, data = parsed
        if event == "snapshot" and client_no not in connected:
            connected[client_no] = now  # the stream's opening snapshot
            return
        if now < args.start_at:
            return
        counts["events"] += 1
        if event == "snapshot":
            counts["snapshots"] += 1
            arrivals.append([client_no, "*", "", "", now])
            return
        if event in ("position_update", "ticker"):
            key = _quote_key(event, json.loads(data))
            if key is not None:
                arrivals.append([client_no, *key, now])

    tasks = [
        asyncio.create_task(
            _client(args.port, f"u:{account['user_id']}", functools.partial(record, n), stop)
        )
        for account, n in mine
    ]
    await asyncio.sleep(max(0.0, args.stop_at - time.monotonic()))
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "clients": [[n, account["tickers"]] for account, n in mine],
        "connected": connected,
        "events": counts["events"],
        "snapshots": counts["snapshots"],
        "arrivals": arrivals,
    }


def _match(
    probe: list[list[Any]], parts: list[dict[str, Any]], until: float
) -> tuple[int, int, list[float]]:
    """(expected, delivered, latencies): every probe quote of a client's held market must
    reach it, by an event with that quote or a coalesced snapshot after it, within 2 s.
    Quotes in the window's last ``2 s`` (after ``until``) are not counted."""
    import bisect
    from collections import defaultdict

    by_client: dict[int, dict[tuple[str, str, str], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    snapshots: dict[int, list[float]] = defaultdict(list)
    for part in parts:
        for client_no, ticker, bid, ask, t in part["arrivals"]:
            if ticker == "*":
                snapshots[client_no].append(t)
            else:
                by_client[client_no][(ticker, bid, ask)].append(t)
    holders: dict[str, list[int]] = defaultdict(list)
    connected: dict[int, float] = {}
    for part in parts:
        connected.update({int(k): v for k, v in part["connected"].items()})
        for client_no, tickers in part["clients"]:
            for ticker in tickers:
                holders[ticker].append(client_no)
    expected = delivered = 0
    latencies: list[float] = []
    from decimal import Decimal

    for ticker, bid, ask, tp in probe:
        if tp > until:
            continue  # too close to the end for its events to be in the window
        if not (0 < Decimal(bid) < 1 and 0 < Decimal(ask) < 1):
            continue  # an empty side: a position shows no bid/ask to match (not counted)
        for client_no in holders.get(ticker, ()):
            if client_no not in connected or tp < connected[client_no]:
                continue  # not streaming yet (counted apart: see "connected")
            expected += 1
            times = by_client[client_no].get((ticker, bid, ask), [])
            k = bisect.bisect_left(times, tp - 0.005)
            if k < len(times) and times[k] < tp + 2.0:
                delivered += 1
                latencies.append(max(0.0, times[k] - tp))
                continue
            snaps = snapshots.get(client_no, [])
            k = bisect.bisect_left(snaps, tp)
            if k < len(snaps) and snaps[k] < tp + 2.0:
                delivered += 1
    return expected, delivered, latencies


# ---------------------------------------------------------------------------- the run


def _setup_accounts(sim: int, accounts: int, path: Path) -> list[str]:
    admin = f"http://127.0.0.1:{sim}/_sim"
    client = httpx.Client(timeout=60)
    markets = client.get(
        f"http://127.0.0.1:{sim}/trade-api/v2/markets", params={"status": "open", "limit": 1000}
    ).json()["markets"]
    tickers = [m["ticker"] for m in markets][: max(accounts, 2)]
    rows = []
    from shared.kalshi.client import KalshiClient
    from shared.kalshi.signing import KalshiSigner

    for n in range(accounts):
        created = client.post(admin + "/accounts", json={"balance_dollars": "100000"}).json()
        held = [tickers[n % len(tickers)], tickers[(n + 1) % len(tickers)]]
        signer = KalshiSigner.from_pem(created["key_id"], created["private_key_pem"])
        with KalshiClient(base_url=f"http://127.0.0.1:{sim}/trade-api/v2", signer=signer) as api:
            for _ in range(20):  # fills pick a side: go on until both markets are held
                positions = {
                    p.ticker: p.position_fp for p in api.get_all_positions().market_positions
                }
                flat = [t for t in held if not positions.get(t)]
                if not flat:
                    break
                for ticker in flat:
                    client.post(
                        admin + f"/accounts/{created['key_id']}/fill", json={"ticker": ticker}
                    )
        rows.append(
            {
                "user_id": str(uuid.uuid4()),
                "key_id": created["key_id"],
                "pem": created["private_key_pem"],
                "tickers": held,
            }
        )
    path.write_text(json.dumps(rows))
    client.close()
    return tickers


def run(
    mode: str,
    *,
    accounts: int,
    clients: int,
    seconds: float,
    warmup: float,
    procs: int,
    activity: float,
) -> dict[str, Any]:
    """One measured run of ``mode``; every process started here is stopped here."""
    work = Path(tempfile.mkdtemp(prefix="ki-bench-streamer-"))
    sim_port, port = _free_port(), _free_port()
    started: list[subprocess.Popen[bytes]] = []

    def spawn(*argv: str) -> subprocess.Popen[bytes]:
        log = (work / f"{argv[1].rsplit('.', 1)[-1]}-{len(started)}.log").open("wb")
        proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=log, stderr=log)
        started.append(proc)
        return proc

    try:
        spawn(
            "-m",
            "emulators.kalshi_sim",
            "--port",
            str(sim_port),
            "--tick-interval",
            "0.05",
            "--markets",
            "300",
            "--fill-rate",
            "0",
        )
        _wait_port(sim_port)
        accounts_file = work / "accounts.json"
        _setup_accounts(sim_port, accounts, accounts_file)
        httpx.post(
            f"http://127.0.0.1:{sim_port}/_sim/settings",
            json={"market_activity": activity, "account_fill_rate": 0},
        )
        server = spawn(
            "-m",
            "tests.bench.bench_streamer",
            "serve",
            "--mode",
            mode,
            "--sim",
            str(sim_port),
            "--port",
            str(port),
            "--accounts-file",
            str(accounts_file),
        )
        _wait_port(port)
        start_at = time.monotonic() + 3.0 + warmup
        stop_at = start_at + seconds
        window = ["--start-at", repr(start_at), "--stop-at", repr(stop_at)]
        common = ["--sim", str(sim_port), "--accounts-file", str(accounts_file), *window]
        probe_out = work / "probe.json"
        probe = spawn("-m", "tests.bench.bench_streamer", "probe", *common, "--out", str(probe_out))
        outputs = [work / f"clients-{i}.json" for i in range(procs)]
        client_procs = [
            spawn(
                "-m",
                "tests.bench.bench_streamer",
                "clients",
                *common,
                "--port",
                str(port),
                "--clients",
                str(clients),
                "--index",
                str(i),
                "--of",
                str(procs),
                "--out",
                str(out),
            )
            for i, out in enumerate(outputs)
        ]
        time.sleep(max(0.0, start_at - time.monotonic()))
        cpu0 = _proc_cpu_s(server.pid)
        rss: list[tuple[float, float]] = []
        while time.monotonic() < stop_at:
            rss.append((time.monotonic() - start_at, _proc_rss_mb(server.pid)))
            time.sleep(min(5.0, max(0.5, seconds / 24)))
        cpu = _proc_cpu_s(server.pid) - cpu0
        for proc in [probe, *client_procs]:
            proc.wait(120)
        parts = [json.loads(out.read_text()) for out in outputs if out.exists()]
        observed = json.loads(probe_out.read_text()) if probe_out.exists() else []
    finally:
        for proc in reversed(started):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    expected, delivered, found = _match(observed, parts, stop_at - 2.0)
    latencies = sorted(found)
    events = sum(p["events"] for p in parts)
    elapsed = seconds

    def pct(q: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
            if latencies
            else float("nan")
        )

    return {
        "mode": mode,
        "clients": sum(len(p["clients"]) for p in parts),
        "ticker_updates_per_s": len(observed) / elapsed,
        "events_per_s": events / elapsed,
        "matched": delivered,
        "expected": expected,
        "snapshots": sum(p["snapshots"] for p in parts),
        "connected": sum(len(p["connected"]) for p in parts),
        "connect_s": max(
            (t - start_at for p in parts for t in p["connected"].values()), default=float("nan")
        ),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "cpu_s_per_1000_events": 1000 * cpu / events if events else float("nan"),
        "server_cpu_share": cpu / elapsed,
        "rss_mb_end": rss[-1][1] if rss else 0.0,
        "rss_slope_mb_per_min": _slope_per_min(rss),
        "rss_late_slope_mb_per_min": _slope_per_min([r for r in rss if r[0] >= seconds / 2]),
    }


def _report(result: dict[str, Any]) -> None:
    delivered = result["matched"] / result["expected"] if result["expected"] else float("nan")
    print(
        f"  {result['mode']:>8}: {result['connected']}/{result['clients']} clients streaming "
        f"(last connected {result['connect_s']:+.1f} s from the window's start), upstream "
        f"{result['ticker_updates_per_s']:.0f} ticker updates/s on held markets, "
        f"{result['events_per_s']:.0f} SSE events/s delivered; latency p50 "
        f"{result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms; quotes delivered "
        f"{result['matched']}/{result['expected']} ({delivered:.3f}), coalesced snapshots "
        f"{result['snapshots']}; CPU {result['cpu_s_per_1000_events']:.3f} s/1000 events "
        f"({result['server_cpu_share']:.2f} cores); RSS {result['rss_mb_end']:.0f} MB, "
        f"slope {result['rss_slope_mb_per_min']:+.2f} MB/min "
        f"({result['rss_late_slope_mb_per_min']:+.2f} over the window's second half)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench_streamer")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve")
    serve.add_argument("--mode", choices=("streamer", "baseline"), required=True)
    serve.add_argument("--sim", type=int, required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--accounts-file", required=True)
    cl = sub.add_parser("clients")
    for name in ("--port", "--clients", "--index", "--of"):
        cl.add_argument(name, type=int, required=True)
    pr = sub.add_parser("probe")
    for p in (cl, pr):
        p.add_argument("--sim", type=int, required=True)
        p.add_argument("--accounts-file", required=True)
        p.add_argument("--start-at", type=float, required=True)
        p.add_argument("--stop-at", type=float, required=True)
        p.add_argument("--out", required=True)
    for p in (parser,):
        p.add_argument("--accounts", type=int, default=100)
        p.add_argument("--clients-total", dest="clients_total", type=int, default=1000)
        p.add_argument("--seconds-total", dest="seconds_total", type=float, default=120)
        p.add_argument("--warmup-total", dest="warmup_total", type=float, default=20)
        p.add_argument("--procs", type=int, default=4)
        p.add_argument("--activity", type=float, default=0.1)
    args = parser.parse_args()
    if args.command == "serve":
        _serve(args)
        return
    if args.command in ("clients", "probe"):
        runner = _clients_main if args.command == "clients" else _probe_main
        Path(args.out).write_text(json.dumps(asyncio.run(runner(args))))
        return
    results = {}
    for mode in ("baseline", "streamer"):
        results[mode] = run(
            mode,
            accounts=args.accounts,
            clients=args.clients_total,
            seconds=args.seconds_total,
            warmup=args.warmup_total,
            procs=args.procs,
            activity=args.activity,
        )
        _report(results[mode])
    base, ours = results["baseline"], results["streamer"]
    print(
        f"  ratio streamer/baseline: CPU per 1000 events "
        f"{ours['cpu_s_per_1000_events'] / base['cpu_s_per_1000_events']:.2f}x, "
        f"p99 latency {ours['p99_ms'] / base['p99_ms']:.2f}x",
        flush=True,
    )


if __name__ == "__main__":
    main()
