"""``kalshi-insights backtest``: run a backtest against the local database, in-process.

The same validation, engine and storage as the API and the worker, without the queue:

    kalshi-insights backtest run momentum --start 2026-06-01 --end 2026-06-08 \\
        --param lookback=20 --grid threshold=0.03,0.05 --series KXHIGHNY
    kalshi-insights backtest strategies

The run is stored in ``backtest_runs`` like any other, owned by the client address
``--owner-address`` (default 127.0.0.1, so the local dashboard used without signing in lists
it), and its metrics are printed; a progress bar on stderr follows the worker's progress reports.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

NAME = "backtest"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="run a strategy backtest against the local database",
        description="Run backtests from the command line (same engine as the API).",
    )
    actions = parser.add_subparsers(dest="backtest_action", metavar="ACTION")
    listing = actions.add_parser("strategies", help="list strategies and their parameters")
    listing.set_defaults(handler=run_strategies)

    runner = actions.add_parser("run", help="run one backtest (or a parameter sweep)")
    runner.add_argument("strategy", help="strategy name (see 'backtest strategies')")
    runner.add_argument("--start", required=True, help="ISO 8601 start (UTC if no offset)")
    runner.add_argument("--end", required=True, help="ISO 8601 end")
    runner.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a parameter"
    )
    runner.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="sweep a parameter over values (repeat for a grid)",
    )
    runner.add_argument("--rank-by", default=None, help="metric ranking a sweep (default sharpe)")
    runner.add_argument("--ticker", action="append", default=[], help="market ticker filter")
    runner.add_argument("--series", action="append", default=[], help="series filter")
    runner.add_argument("--event", action="append", default=[], help="event filter")
    runner.add_argument("--slippage", default=None, help="slippage per fill, dollars")
    runner.add_argument("--fee-quantum", default=None, help="fee rounding, e.g. 0.01 or 0.0001")
    runner.add_argument(
        "--database-url",
        help="Postgres URL (default: $DATABASE_URL, else the local stack's in --state-dir)",
    )
    runner.add_argument(
        "--state-dir",
        default=".local",
        help="state directory of 'kalshi-insights up' (default: .local)",
    )
    runner.add_argument(
        "--owner-address",
        default="127.0.0.1",
        help=(
            "client address that owns the run (default 127.0.0.1: the local dashboard, used "
            "without signing in from this machine, lists it)"
        ),
    )
    runner.add_argument("--json", action="store_true", help="print the full result as JSON")
    runner.set_defaults(handler=run_backtest)
    parser.set_defaults(handler=lambda _args: (parser.print_help(), 2)[1])


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _body(args: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in args.param:
        name, _, value = item.partition("=")
        params[name.strip()] = _value(value)
    grid: dict[str, list[Any]] = {}
    for item in args.grid:
        name, _, values = item.partition("=")
        grid[name.strip()] = [_value(v) for v in values.split(",") if v != ""]
    markets: dict[str, list[str]] = {}
    if args.ticker:
        markets["tickers"] = args.ticker
    if args.series:
        markets["series"] = args.series
    if args.event:
        markets["events"] = args.event
    body: dict[str, Any] = {
        "strategy": args.strategy,
        "params": params,
        "start": args.start,
        "end": args.end,
    }
    if grid:
        body["grid"] = grid
    if markets:
        body["markets"] = markets
    if args.rank_by:
        body["rank_by"] = args.rank_by
    if args.slippage:
        body["slippage"] = args.slippage
    if args.fee_quantum:
        body["fees"] = {"quantum": args.fee_quantum}
    return body


class ProgressBar:
    """A one-line bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, width: int = 30) -> None:
        self.width = width
        self.tty = sys.stderr.isatty()
        self.last = -1

    def __call__(self, fraction: float, stage: str) -> None:
        percent = round(fraction * 100)
        if percent == self.last:
            return
        self.last = percent
        filled = int(self.width * fraction)
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}% {stage}"
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if fraction >= 1.0 else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def run_strategies(_args: Any) -> int:
    from shared.backtest.adapters import load_strategy_modules
    from shared.backtest.service import BacktestService

    load_strategy_modules()
    for entry in BacktestService.strategies()["strategies"]:
        print(f"{entry['name']} (version {entry['version']}): {entry['description']}")
        for name, spec in entry["params"]["properties"].items():
            bounds = ""
            if "minimum" in spec or "maximum" in spec:
                bounds = f" [{spec.get('minimum', '')}..{spec.get('maximum', '')}]"
            if "enum" in spec:
                bounds = f" {spec['enum']}"
            print(f"  {name}: default {spec['default']!r}{bounds}  {spec.get('description', '')}")
    return 0


def run_backtest(args: Any) -> int:
    import os
    from pathlib import Path

    from devstack.state import local_database_url
    from shared.backtest.adapters import load_strategy_modules
    from shared.backtest.errors import BacktestError
    from shared.backtest.runs import RunOwner
    from shared.backtest.service import BacktestService
    from shared.config import ConfigError

    url = args.database_url
    if (
        not url
        and not os.environ.get("DATABASE_URL")
        and not os.environ.get("INSTANCE_CONNECTION_NAME")
    ):
        url = local_database_url(Path(args.state_dir))
    if url:
        os.environ["DATABASE_URL"] = url
    # A command-line run is local tooling: the trade cursor it may print is never checked by
    # a server, so the local cursor key serves unless the caller brought a real one.
    if not os.environ.get("API_CURSOR_KEY"):
        os.environ.setdefault("APP_ENVIRONMENT", "local")
    load_strategy_modules()
    try:
        from shared.db.engine import get_database

        service = BacktestService(get_database())
        # Owned by a client address, as the local stack's anonymous submissions are: a run
        # with no owner at all would be listed to nobody (ADR 0150).
        created = service.submit(_body(args), owner=RunOwner(address=args.owner_address))
        run_id = created["id"]
        print(f"backtest {run_id}", file=sys.stderr)
        import uuid

        outcome = service.execute(uuid.UUID(run_id), final_attempt=True, on_progress=ProgressBar())
        run = service.get_run(uuid.UUID(run_id), trades_limit=20)
    except (BacktestError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(run, indent=2, default=str))
    else:
        print(f"status: {run['status']}" + (f" ({run['error']})" if run["error"] else ""))
        for name, value in (run["metrics"] or {}).items():
            print(f"  {name}: {value}")
        if len(run["variants"]) > 1:
            print(f"variants ranked by {run['rank_by']}:")
            for v in run["variants"]:
                metric = run["rank_by"]
                value = v["metrics"].get(metric, v["metrics"].get(f"{metric}_dollars"))
                print(f"  #{v['rank']} {v['params']}  {metric}={value}")
    return 0 if outcome.status == "completed" else 1
