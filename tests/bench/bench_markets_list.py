"""The markets list under load: one ``markets`` instance, 8 concurrent clients, ``wrk``.

Run: ``.venv/bin/python -m tests.bench.bench_markets_list``
(needs ``wrk``: Debian's ``apt-get install -y wrk``; see ``--help`` for the sizes, the
serving layouts and wrk's threads).

A throwaway Postgres cluster (fsync off) holds ``--markets`` markets (default 100,000) in
``markets`` and ``market_latest`` shaped like production: ``--open`` open markets polled
now (default 10,000), ``--recent`` markets settled or closed in the last days (default
3,000: two thirds finalized, one third closed and still followed), and the rest settled
between 30 and 400 days ago, as they pile up on Kalshi. The real pruning job
(:func:`shared.history.maintenance.run_maintenance`, ADR 0226) then deletes the
long-settled ones from ``market_latest`` before the measurement; the bench prints how many
remain. The ``markets`` function runs as Cloud Run runs it (functions-framework: gunicorn,
``WORKERS`` processes of ``THREADS`` threads) on 127.0.0.1, and ``wrk`` drives
``GET /api/v1/markets`` (the first page by volume, and the open markets' page) from
``--connections`` connections: requests/s and p50/p95/p99 (wrk's own histogram).

Cases, all in one run:

- before pruning, page cache off: every request sorts all ``--markets`` rows (what a
  poll's first request paid before ADR 0226);
- after pruning, page cache off (baseline of the cache): every request runs the list
  query on the pruned read model;
- after pruning, the per-poll page cache (ADR 0215), under each ``--serving`` layout
  (``WORKERSxTHREADS``; functions-framework's default is 1 worker, 4 threads per CPU).

Where the tail comes from: the same cached request is also timed in process (the Flask
app through its test client, no sockets: the Python cost of one request), so wrk's p95
minus that is the serving stack's and the machine's share. Targets (issue "History at
Kalshi's scale"): p95 <= 20 ms and >= 1,000 requests/s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from devstack.functions_runner import FunctionServer
from devstack.postgres import free_port
from shared.history.maintenance import run_maintenance
from tests.bench.bench_marketdata import new_database
from tests.bench.cluster import throwaway_postgres

REPO = Path(__file__).resolve().parents[2]

# Market m: open for m < :open; recently settled (finalized) or closed (and followed)
# for :open <= m < :open + :recent; long settled after that.
_MARKETS = """
INSERT INTO markets (ticker, event_ticker, series_ticker, title, event_title, category,
                     market_type, status, open_time, close_time, result,
                     settlement_value_dollars, determined_at, settled_at)
SELECT 'KXL' || lpad(m::text, 6, '0'), 'KXLE' || (m / 10), 'KXLS' || (m / 100),
       'Bench market ' || m, 'Bench event ' || (m / 10), 'Bench', 'binary', k.status,
       k.seen - interval '30 days', k.seen - interval '1 hour',
       CASE WHEN k.status = 'finalized' THEN 'yes' END,
       CASE WHEN k.status = 'finalized' THEN 1.0 END,
       CASE WHEN k.status = 'finalized' THEN k.seen END,
       CASE WHEN k.status = 'finalized' THEN k.seen END
FROM (SELECT CAST(:open AS int) AS open, CAST(:open AS int) + CAST(:recent AS int) AS recent)
     AS p
CROSS JOIN generate_series(0, CAST(:n AS int) - 1) AS m
CROSS JOIN LATERAL (
    SELECT CASE WHEN m < p.open THEN 'active'
                WHEN m < p.recent AND mod(m, 3) = 0 THEN 'closed'
                ELSE 'finalized' END AS status,
           CASE WHEN m < p.open THEN now()
                WHEN m < p.recent THEN now() - mod(m, 5) * interval '1 day'
                ELSE now() - (30 + mod(m * 7919, 370)) * interval '1 day' END AS seen
) k
"""

_LATEST = """
INSERT INTO market_latest (ticker, ts, sequence, status, yes_bid_dollars, yes_ask_dollars,
    no_bid_dollars, no_ask_dollars, last_price_dollars, previous_price_dollars, volume_fp,
    volume_24h_fp, open_interest_fp)
SELECT m.ticker, coalesce(m.settled_at, CASE WHEN m.status = 'active' THEN now()
                                             ELSE now() - interval '1 day' END),
       1, m.status, b.bid, b.bid + 0.02, 0.98 - b.bid,
       1 - b.bid, b.bid + 0.01, 0.5, (mod(i * 7919, 100000))::numeric, 0, i::numeric
FROM (SELECT ticker, status, settled_at, row_number() OVER (ORDER BY ticker) AS i
      FROM markets) m
CROSS JOIN LATERAL (SELECT round(0.05 + mod(i * 31, 90) / 100.0, 2) AS bid) AS b
"""

_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("KI p50=%d p95=%d p99=%d requests=%d errors=%d non2xx=%d\\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    summary.errors.status))
end
"""

PATHS = {
    "first page by volume": "/api/v1/markets",
    "open markets, 100 by volume": "/api/v1/markets?status=open&limit=100",
}


def _wrk(url: str, seconds: int, connections: int, threads: int, script: Path) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = re.search(
        r"KI p50=(\d+) p95=(\d+) p99=(\d+) requests=(\d+) errors=(\d+) non2xx=(\d+)", out
    )
    rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not found or not rate:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    p50, p95, p99, requests, errors, non2xx = (int(v) for v in found.groups())
    return {
        "p50_ms": p50 / 1000,
        "p95_ms": p95 / 1000,
        "p99_ms": p99 / 1000,
        "rps": float(rate.group(1)),
        "requests": requests,
        "errors": errors + non2xx,
    }


def _load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def _seed(engine: sa.Engine, n: int, open_: int, recent: int) -> None:
    with engine.begin() as c:
        c.execute(sa.text(_MARKETS), {"n": n, "open": open_, "recent": recent})
        c.execute(sa.text(_LATEST))
        c.execute(
            sa.text(
                "INSERT INTO market_polls (message_id, polled_at, market_count) "
                "VALUES ('bench-1', now(), :n)"
            ),
            {"n": open_},
        )
    _analyze(engine)


def _analyze(engine: sa.Engine) -> None:
    with engine.connect() as c:
        c.execute(sa.text("ANALYZE markets"))
        c.execute(sa.text("ANALYZE market_latest"))
        c.commit()


def _in_process(url: str, path: str, requests: int) -> dict[str, float]:
    """The cached request's Python cost: the function's Flask app through its test
    client, one thread, no sockets (p50/p95 in ms)."""
    import functions_framework

    from tests.function_env import function_environment

    env = {"DATABASE_URL": url, "APP_ENVIRONMENT": "local", "GOOGLE_CLOUD_PROJECT": "bench"}
    with function_environment(env):
        client = functions_framework.create_app(
            "markets", str(REPO / "functions" / "markets" / "main.py"), "http"
        ).test_client()
        for _ in range(50):
            assert client.get(path).status_code == 200
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
    times.sort()
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": times[int(len(times) * 0.95)] * 1000,
    }


def _serve_and_measure(
    base: Path,
    url: str,
    *,
    revalidate: str,
    workers: int,
    threads: int,
    args: argparse.Namespace,
    script: Path,
) -> dict[str, dict[str, float]]:
    function = FunctionServer(
        "markets",
        REPO / "functions" / "markets" / "main.py",
        free_port(),
        env={
            "DATABASE_URL": url,
            "APP_ENVIRONMENT": "local",
            "GOOGLE_CLOUD_PROJECT": "bench",
            "MARKETS_LIST_REVALIDATE_SECONDS": revalidate,
            "LOG_LEVEL": "WARNING",
            "WORKERS": str(workers),
            "THREADS": str(threads),
        },
        log_path=base / f"markets-{revalidate}-{workers}x{threads}.log",
    ).start(timeout=90)
    try:
        out = {}
        for name, path in PATHS.items():
            target = f"{function.url}{path}"
            with urllib.request.urlopen(target, timeout=30) as response:
                assert response.status == 200
            out[name] = _wrk(target, args.seconds, args.connections, args.wrk_threads, script)
            out[name]["load"] = os.getloadavg()[0]
        return out
    finally:
        function.stop()


def _layouts(text: str) -> list[tuple[int, int]]:
    layouts = []
    for item in text.split(","):
        workers, threads = item.lower().split("x")
        layouts.append((int(workers), int(threads)))
    return layouts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--markets", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=10_000, help="open markets, polled now")
    parser.add_argument("--recent", type=int, default=3_000, help="settled/closed lately")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--serving",
        default=f"1x{(os.cpu_count() or 1) * 4},1x2,2x4",
        help="WORKERSxTHREADS layouts measured with the page cache (first: the default)",
    )
    parser.add_argument("--in-process-requests", type=int, default=3_000)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk); skipped")
        return
    layouts = _layouts(args.serving)
    default_layout = layouts[0]
    with throwaway_postgres("ki-bench-list-") as (server, base):
        script = base / "report.lua"
        script.write_text(_LUA)
        engine = new_database(server, "bench_list_wrk")
        url = server.url_for("bench_list_wrk")
        _seed(engine, args.markets, args.open, args.recent)
        print(
            f"Markets list, {args.markets:,} markets known ({args.open:,} open, {args.recent:,} "
            f"settled or closed lately, the rest settled 30-400 days ago), one instance, "
            f"{args.connections} connections x {args.seconds} s (wrk -t{args.wrk_threads}); "
            f"load average at start {_load_average()}",
            flush=True,
        )
        results: dict[str, dict[str, dict[str, float]]] = {}
        w, t = default_layout
        results["before pruning, no page cache"] = _serve_and_measure(
            base, url, revalidate="0", workers=w, threads=t, args=args, script=script
        )

        started = time.perf_counter()
        report = run_maintenance(engine, now=datetime.now(UTC))
        prune_seconds = time.perf_counter() - started
        # What autovacuum does within a minute or so in production (far more than its 20 %
        # of the rows are dead); the job's role may not VACUUM a table it does not own.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("VACUUM ANALYZE market_latest"))
            c.execute(sa.text("VACUUM ANALYZE markets"))
        with engine.connect() as c:
            remaining = int(c.execute(sa.text("SELECT count(*) FROM market_latest")).scalar_one())
        print(
            f"   pruning (run_maintenance, window 7 days): {report.markets_pruned:,} markets "
            f"pruned in {prune_seconds:.2f} s; {remaining:,} remain in market_latest",
            flush=True,
        )

        results["after pruning, no page cache"] = _serve_and_measure(
            base, url, revalidate="0", workers=w, threads=t, args=args, script=script
        )
        for workers, threads in layouts:
            results[f"page cache, {workers}x{threads}"] = _serve_and_measure(
                base,
                url,
                revalidate="1",
                workers=workers,
                threads=threads,
                args=args,
                script=script,
            )
        in_process = {
            name: _in_process(url, path, args.in_process_requests) for name, path in PATHS.items()
        }
        engine.dispose()

        cached = f"page cache, {w}x{t}"
        for name in PATHS:
            print(f"   {name}")
            for label in results:
                r = results[label][name]
                print(
                    f"     {label:34s} p50 {r['p50_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms  "
                    f"p99 {r['p99_ms']:7.2f} ms  {r['rps']:8.0f} req/s  errors "
                    f"{int(r['errors'])}  load {r['load']:.1f}"
                )
            ip = in_process[name]
            print(
                f"     {'in process (Flask test client)':34s} p50 {ip['p50_ms']:7.3f} ms  "
                f"p95 {ip['p95_ms']:7.3f} ms  (one thread, no sockets)"
            )
            before = results["before pruning, no page cache"][name]
            after = results["after pruning, no page cache"][name]
            ours = results[cached][name]
            print(
                f"     => pruning: an uncached request {before['p50_ms'] / after['p50_ms']:.1f}x "
                f"faster at p50 ({before['rps']:.0f} -> {after['rps']:.0f} req/s); "
                f"page cache vs none: {ours['rps'] / after['rps']:.1f}x the requests/s, p95 "
                f"{after['p95_ms'] / max(ours['p95_ms'], 1e-9):.1f}x lower"
            )
        print(f"   load average at end {_load_average()}")


if __name__ == "__main__":
    main()
    sys.exit(0)
