"""The markets list under load: one ``markets`` instance, 8 concurrent clients, ``wrk``.

Run: ``.venv/bin/python -m tests.bench.bench_markets_list`` (needs ``wrk``: Debian's
``apt-get install -y wrk``; ``--markets``, ``--seconds``, ``--connections`` are flags).

A throwaway Postgres cluster (fsync off) holds ``--markets`` markets (default 100,000) in
``markets`` and ``market_latest`` as the ingest leaves them, and one poll. The ``markets``
function runs as Cloud Run runs it (functions-framework: gunicorn, one worker, its
threads) on 127.0.0.1, and ``wrk`` drives ``GET /api/v1/markets`` (the first page by
volume, and the open markets' page) from ``--connections`` connections for ``--seconds``:
requests/s and the latency p50/p95/p99 (wrk's own histogram, from a Lua ``done`` hook).

Baseline: the same instance with the per-poll page cache off
(``MARKETS_LIST_REVALIDATE_SECONDS=0``): every request runs the list query, the best a
read-model query does. Targets (issue "History at Kalshi's scale"): p95 <= 20 ms and
>= 1,000 requests/s.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from devstack.functions_runner import FunctionServer
from devstack.postgres import LocalPostgres, free_port
from tests.bench.bench_marketdata import new_database

REPO = Path(__file__).resolve().parents[2]

_MARKETS = """
INSERT INTO markets (ticker, event_ticker, series_ticker, title, event_title, category,
                     market_type, status, open_time, close_time)
SELECT 'KXL' || lpad(m::text, 6, '0'), 'KXLE' || (m / 10), 'KXLS' || (m / 100),
       'Bench market ' || m, 'Bench event ' || (m / 10), 'Bench', 'binary',
       CASE WHEN mod(m, 10) = 0 THEN 'closed' ELSE 'active' END,
       timestamptz '2026-05-01', timestamptz '2026-07-01' + m * interval '1 minute'
FROM generate_series(0, :n - 1) AS m
"""

_LATEST = """
INSERT INTO market_latest (ticker, ts, sequence, status, yes_bid_dollars, yes_ask_dollars,
    no_bid_dollars, no_ask_dollars, last_price_dollars, previous_price_dollars, volume_fp,
    volume_24h_fp, open_interest_fp)
SELECT m.ticker, timestamptz '2026-06-01', 1, m.status, b.bid, b.bid + 0.02, 0.98 - b.bid,
       1 - b.bid, b.bid + 0.01, 0.5, (mod(i * 7919, 100000))::numeric, 0, i::numeric
FROM (SELECT ticker, status, row_number() OVER (ORDER BY ticker) AS i FROM markets) m
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


def _wrk(url: str, seconds: int, connections: int, script: Path) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk); skipped")
        return
    base = Path(tempfile.mkdtemp(prefix="ki-bench-list-"))
    base.chmod(0o755)
    server = LocalPostgres(data_dir=base / "data", port=free_port(), log_file=base / "pg.log")
    server.start()
    script = base / "report.lua"
    script.write_text(_LUA)
    try:
        engine = new_database(server, "bench_list_wrk")
        with engine.begin() as c:
            c.execute(sa.text(_MARKETS), {"n": args.markets})
            c.execute(sa.text(_LATEST))
            c.execute(
                sa.text(
                    "INSERT INTO market_polls (message_id, polled_at, market_count) "
                    "VALUES ('bench-1', now(), :n)"
                ),
                {"n": args.markets},
            )
        with engine.connect() as c:
            c.execute(sa.text("ANALYZE markets"))
            c.execute(sa.text("ANALYZE market_latest"))
            c.commit()
        engine.dispose()
        print(
            f"Markets list, {args.markets:,} markets known, one instance, "
            f"{args.connections} connections x {args.seconds} s (wrk)"
        )
        results: dict[str, dict[str, dict[str, float]]] = {}
        for label, revalidate in (("no page cache (baseline)", "0"), ("per-poll page cache", "1")):
            port = free_port()
            function = FunctionServer(
                "markets",
                REPO / "functions" / "markets" / "main.py",
                port,
                env={
                    "DATABASE_URL": server.url_for("bench_list_wrk"),
                    "APP_ENVIRONMENT": "local",
                    "GOOGLE_CLOUD_PROJECT": "bench",
                    "MARKETS_LIST_REVALIDATE_SECONDS": revalidate,
                    "LOG_LEVEL": "WARNING",
                },
                log_path=base / f"markets-{revalidate}.log",
            ).start(timeout=90)
            try:
                results[label] = {}
                for name, path in PATHS.items():
                    url = f"{function.url}{path}"
                    with urllib.request.urlopen(url, timeout=30) as response:
                        assert response.status == 200
                    results[label][name] = _wrk(url, args.seconds, args.connections, script)
            finally:
                function.stop()
        for name in PATHS:
            print(f"   {name}")
            for label in results:
                r = results[label][name]
                print(
                    f"     {label:26s} p50 {r['p50_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms  "
                    f"p99 {r['p99_ms']:7.2f} ms  {r['rps']:8.0f} req/s  errors {r['errors']}"
                )
            ours, base_r = (
                results["per-poll page cache"][name],
                results["no page cache (baseline)"][name],
            )
            print(
                f"     => {ours['rps'] / base_r['rps']:.1f}x the requests/s, p95 "
                f"{base_r['p95_ms'] / max(ours['p95_ms'], 1e-9):.1f}x lower"
            )
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
