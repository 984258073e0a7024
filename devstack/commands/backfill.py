"""``kalshi-insights backfill``: load Kalshi's history into the local stack's database.

    kalshi-insights backfill --since 2026-10-01 --series KXHIGHNY
    kalshi-insights backfill --markets KXHIGHNY-26NOV27-B85.5 --state-dir .local

Reads from the Kalshi the stack talks to: ``KALSHI_BASE_URL`` (and the key in
``KALSHI_KEY_ID``/``KALSHI_PRIVATE_KEY_PATH``) when set, else the simulator that
``kalshi-insights up`` runs from ``--state-dir`` with its demo account. Writes to
``--database-url``, ``$DATABASE_URL``, or the stack's Postgres. Interrupted (Ctrl-C, a
kill), it resumes where it stopped on the next run; a re-run of a finished window sends no
request. A progress bar with an ETA goes to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

NAME = "backfill"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="load Kalshi's candles, trades and settled markets into the local database",
        description="Backfill history from Kalshi (resumable, idempotent, rate-limited).",
    )
    parser.add_argument("--state-dir", default=".local", help="state directory (default .local)")
    parser.add_argument(
        "--since", default=None, help="first day (ISO 8601 date or time; default 30 days ago)"
    )
    parser.add_argument("--until", default=None, help="last instant (default now)")
    parser.add_argument("--series", nargs="+", action="extend", default=[], help="series")
    parser.add_argument("--markets", nargs="+", action="extend", default=[], help="tickers")
    parser.add_argument("--workers", type=int, default=4, help="requests in flight (default 4)")
    parser.add_argument(
        "--budget-share",
        type=float,
        default=1.0,
        help="share of the key's Read budget to use, (0, 1] (default 1: leave room with "
        "a lower value when a poller shares the key)",
    )
    parser.add_argument("--database-url", help="Postgres URL (default: $DATABASE_URL or stack)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=run_backfill)


def parse_instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class ProgressBar:
    """One line on stderr: the bar, markets done, requests, elapsed time and the ETA.

    On a terminal the line redraws in place; otherwise (a log, a pipe) a line is written
    when the whole percentage changes or every 10 seconds, so a long run logs a few hundred
    lines, not one per step.
    """

    def __init__(self, width: int = 30) -> None:
        self.width = width
        self.tty = sys.stderr.isatty()
        self.last_percent = -1
        self.last_at = 0.0

    def __call__(self, p: Any) -> None:
        percent = int(p.fraction * 100)
        now = time.monotonic()
        if not self.tty and percent == self.last_percent and now - self.last_at < 10:
            return
        self.last_percent, self.last_at = percent, now
        filled = int(self.width * p.fraction)
        eta = "--" if p.eta_s is None else _duration(p.eta_s)
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}% "
            f"{p.markets_done}/{p.markets_total} markets, {p.requests} requests, "
            f"{_duration(p.elapsed_s)} elapsed, ETA {eta}"
        )
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _kalshi_target(args: Any) -> tuple[str, Any]:
    """The stack's Kalshi: its REST base URL and the signer of its key (None: no key)."""
    import os

    from devstack.services.simulator import DEMO_ACCOUNT_FILE
    from devstack.state import _saved_ports
    from shared.kalshi.client import signer_from_env
    from shared.kalshi.environments import environment_from_env
    from shared.kalshi.signing import KalshiSigner

    if os.environ.get("KALSHI_BASE_URL") or os.environ.get("KALSHI_ENV"):
        return environment_from_env().rest_base_url, signer_from_env()
    state_dir = Path(args.state_dir)
    port = _saved_ports(state_dir).get("simulator")
    if not isinstance(port, int):
        raise SystemExit(
            f"no Kalshi to read: set KALSHI_BASE_URL or run 'kalshi-insights up' in {state_dir}"
        )
    account = state_dir / DEMO_ACCOUNT_FILE
    signer = None
    if account.is_file():
        data = json.loads(account.read_text())
        signer = KalshiSigner.from_pem(data["key_id"], data["private_key_pem"])
    return f"http://127.0.0.1:{port}/trade-api/v2", signer


def run_backfill(args: Any) -> int:
    import os

    from devstack.state import local_database_url
    from shared.config import ConfigError
    from shared.db.engine import create_database
    from shared.history.backfill import Backfill, BackfillRequest, limiter_for
    from shared.history.backfill_kalshi import KalshiHistory, read_budget
    from shared.kalshi.client import KalshiClient

    url = (
        args.database_url
        or os.environ.get("DATABASE_URL")
        or local_database_url(Path(args.state_dir))
    )
    if not url:
        print(
            "error: no database: pass --database-url or run 'kalshi-insights up'", file=sys.stderr
        )
        return 2
    now = dt.datetime.now(dt.UTC)
    try:
        until = parse_instant(args.until) if args.until else now
        since = parse_instant(args.since) if args.since else until - dt.timedelta(days=30)
        request = BackfillRequest(
            since=since, until=until, series=tuple(args.series), markets=tuple(args.markets)
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base_url, signer = _kalshi_target(args)
    with KalshiClient(base_url=base_url, signer=signer, rate_limit=False) as probe:
        budget = read_budget(probe, signed=signer is not None)
    # Every request from here on is paced by one limiter the workers share; the probe's
    # own requests came out of the same budget.
    limiter = limiter_for(budget, args.budget_share)
    for _ in range(probe.stats.requests_sent):
        limiter.read.reserve()
    client = KalshiClient(base_url=base_url, signer=signer, rate_limiter=limiter)
    print(
        f"budget: {budget.tokens_per_s:g} tokens/s ({budget.origin}), cost {budget.cost} "
        f"per request, using {args.budget_share:g} of it: "
        f"{budget.requests_per_s * args.budget_share:.1f} requests/s",
        file=sys.stderr,
    )
    from shared.config import DatabaseSettings

    try:
        database = create_database(DatabaseSettings(database_url=url), pool_size=args.workers + 1)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = ProgressBar()
    try:
        report = Backfill(
            KalshiHistory(client), database, workers=args.workers, on_progress=bar
        ).run(request)
    finally:
        if bar.tty:
            sys.stderr.write("\n")
        client.close()
        database.dispose()
    summary = {
        "markets_planned": report.markets_planned,
        "markets_skipped": report.markets_skipped,
        "markets_done": report.markets_done,
        "candles": report.candles,
        "trades": report.trades,
        "markets_written": report.markets_written,
        "requests": report.requests,
        "elapsed_s": round(report.elapsed_s, 2),
        "failures": report.failures,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{report.markets_done} markets loaded ({report.markets_skipped} already done): "
            f"{report.candles} candles, {report.trades} trades, {report.requests} requests "
            f"in {report.elapsed_s:.1f} s"
        )
        for ticker, error in report.failures.items():
            print(f"  failed {ticker}: {error}")
    return 1 if report.failures else 0
