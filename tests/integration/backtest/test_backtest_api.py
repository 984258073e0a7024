"""POST a backtest; the real Cloud Tasks emulator runs it on the worker; results and
``backtest-events`` arrive; duplicates change nothing; bad requests answer 4xx JSON."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pg8000.dbapi
import pytest
from sqlalchemy.engine import make_url

from devstack.functions_runner import FunctionServer
from devstack.postgres import free_port
from devstack.pubsub_admin import ensure_topology
from shared.db import migrate
from shared.messaging.tasks import TaskQueue
from shared.messaging.topics import BACKTEST_EVENTS, subscription_path
from tests.plugins.gcp_emulators import pull_envelopes
from tests.task_relay import TaskRelay

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 6, 1, tzinfo=UTC)
N_MARKETS, PER_MARKET = 4, 120


def _connect(url: str) -> Any:
    parsed = make_url(url)
    return pg8000.dbapi.connect(
        user=parsed.username or "postgres",
        host=parsed.host or "127.0.0.1",
        port=parsed.port,
        database=parsed.database,
    )


def _seed(url: str) -> None:
    """Four markets, 120 one-minute snapshots each, prices zig-zagging by 3 cents."""
    conn = _connect(url)
    cur = conn.cursor()
    markets, snaps = [], []
    for m in range(N_MARKETS):
        ticker = f"KXBT-{m}"
        result = ("yes", "no", "void", "yes")[m]
        close = (T0 + timedelta(minutes=PER_MARKET + 5)).isoformat()
        markets.append(f"{ticker}\tKXBT-EV\tKXBT\tt\tfinalized\t{close}\t{result}\n")
        for i in range(PER_MARKET):
            mid = 4000 + ((i * 7 + m * 13) % 11) * 300
            ts = (T0 + timedelta(minutes=i)).isoformat()
            snaps.append(f"{ticker}\t{ts}\tpoll\t0.{mid - 100:04d}\t0.{mid + 100:04d}\n")
    cur.execute(
        "COPY markets (ticker, event_ticker, series_ticker, title, status, close_time, result) "
        "FROM STDIN",
        stream=io.BytesIO("".join(markets).encode()),
    )
    cur.execute(
        "COPY market_snapshots (ticker, ts, source, yes_bid_dollars, yes_ask_dollars) FROM STDIN",
        stream=io.BytesIO("".join(snaps).encode()),
    )
    conn.commit()
    conn.close()
    # The hourly rollups the ingest would have kept: submissions are sized from them.
    from sqlalchemy import create_engine

    from shared.db.engine import pg8000_url
    from shared.marketdata.ingest import rebuild_candles

    engine = create_engine(pg8000_url(url))
    with engine.begin() as connection:
        rebuild_candles(connection)
    engine.dispose()


@pytest.fixture(scope="module")
def module_database(postgres: Any) -> Iterator[str]:
    import pg8000.native

    name = "t_backtest_api_" + uuid.uuid4().hex[:8]
    admin = pg8000.native.Connection("postgres", host="127.0.0.1", port=postgres.port)
    admin.run(f'CREATE DATABASE "{name}"')
    admin.close()
    yield postgres.url_for(name)
    admin = pg8000.native.Connection("postgres", host="127.0.0.1", port=postgres.port)
    admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="module")
def stack(
    module_database: str,
    pubsub_emulator: Any,
    tasks_emulator: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    fresh_database = module_database
    pubsub_project = f"test-{uuid.uuid4().hex[:12]}"
    tmp_path = tmp_path_factory.mktemp("backtest-api")
    migrate.upgrade(fresh_database)
    _seed(fresh_database)
    subscription = "backtest-events-test"
    ensure_topology(pubsub_project, pull_subscriptions=[(BACKTEST_EVENTS, subscription)])
    api_port, worker_port = free_port(), free_port()
    worker_url = f"http://127.0.0.1:{worker_port}"
    import os

    env = {
        "DATABASE_URL": fresh_database,
        "CLOUD_TASKS_EMULATOR_HOST": tasks_emulator.host,
        "CLOUD_TASKS_QUEUE": tasks_emulator.queue_path,
        "BACKTEST_WORKER_URL": worker_url,
        "PUBSUB_EMULATOR_HOST": os.environ["PUBSUB_EMULATOR_HOST"],
        "PUBSUB_PROJECT_ID": pubsub_project,
        "DB_POOL_SIZE": "2",
        "APP_ENVIRONMENT": "local",  # the emulator sends no OIDC token
        # These tests submit without signing in: runs belong to the client address (the
        # ownership rules themselves: tests/integration/account/test_backtest_owners.py).
        "BACKTEST_ANONYMOUS_SUBMISSIONS": "true",
    }
    api = FunctionServer(
        "backtests", ROOT / "functions" / "backtests" / "main.py", api_port, env=env,
        log_path=tmp_path / "backtests.log",
    )  # fmt: skip
    worker = FunctionServer(
        "backtest_worker", ROOT / "functions" / "backtest_worker" / "main.py", worker_port, env=env,
        log_path=tmp_path / "worker.log",
    )  # fmt: skip
    api.start(timeout=60)
    worker.start(timeout=60)
    try:
        yield {
            "api": api.url + "/api/v1/backtests",
            "worker": worker_url,
            "queue": tasks_emulator.queue_path,
            "subscription": subscription_path(pubsub_project, subscription),
            "db": fresh_database,
            "logs": (api, worker),
        }
    finally:
        worker.stop()
        api.stop()


def _wait_for(url: str, status: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = httpx.get(url, timeout=10).json()
        if body.get("status") == status:
            return body
        if body.get("status") == "failed" and status != "failed":
            raise AssertionError(f"run failed: {body.get('error')}")
        time.sleep(0.3)
    raise AssertionError(f"run never reached {status}: {body.get('status')}")


def _count_trades(db: str, run_id: str) -> int:
    conn = _connect(db)
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM backtest_trades WHERE run_id = %s", (run_id,))
    (count,) = cur.fetchone()
    conn.close()
    return int(count)


REQUEST = {
    "strategy": "fade_large_moves",
    "params": {"lookback": 1, "threshold": 0.05, "contracts": 5},
    "markets": {"series": ["KXBT"]},
    "start": T0.isoformat(),
    "end": (T0 + timedelta(hours=3)).isoformat(),
}


def test_post_runs_through_the_queue_stores_results_and_announces_them(
    stack: dict[str, Any],
) -> None:
    strategies = httpx.get(stack["api"] + "/strategies", timeout=10).json()["strategies"]
    fade = next(s for s in strategies if s["name"] == "fade_large_moves")
    assert fade["params"]["properties"]["lookback"]["default"] == 5

    answer = httpx.post(stack["api"], json=REQUEST, timeout=30)
    assert answer.status_code == 202, answer.text
    created = answer.json()
    assert created["status"] == "queued"
    run_url = f"{stack['api']}/{created['id']}"

    run = _wait_for(run_url, "completed")
    assert run["strategy_version"] == "1.0.0"
    assert run["progress"] == 1.0
    assert run["attempts"] == 1
    metrics = run["metrics"]
    assert metrics["trades"] > 0 and metrics["trades"] == len(run["trades"])
    assert run["equity_curve"][-1]["pnl_dollars"] == metrics["total_pnl_dollars"]
    trade = run["trades"][0]
    assert trade["entry_snapshot_id"] and trade["entry_reason"].startswith("mid moved")
    assert {t["ticker"] for t in run["trades"]} <= {f"KXBT-{m}" for m in range(N_MARKETS)}

    events = pull_envelopes(stack["subscription"], expect=3, timeout=60)
    types = [e.type for e in events]
    assert "backtest.progress" in types
    completed = [e for e in events if e.type == "backtest.completed"]
    if not completed:  # progress messages may fill the first pulls
        completed = [
            e
            for e in pull_envelopes(stack["subscription"], expect=1, timeout=30)
            if e.type == "backtest.completed"
        ]
    assert completed and completed[0].payload["run_id"] == created["id"]
    assert completed[0].payload["metrics"]["total_pnl_dollars"] == metrics["total_pnl_dollars"]

    listed = httpx.get(stack["api"], params={"limit": 5}, timeout=10).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]

    # A duplicated task (a second task for the same run, through the real emulator) and a
    # direct redelivery change nothing. The duplicate goes through a counting relay in
    # front of the worker, so the test knows it was delivered and what the worker said.
    trades_before = _count_trades(stack["db"], created["id"])
    with TaskRelay(stack["worker"], timeout=60) as relay:
        TaskQueue(stack["queue"]).enqueue_http(
            relay.url,
            {"run_id": created["id"]},
            task_id=f"dup-{uuid.uuid4().hex}",
            oidc_service_account=None,
            audience=None,
        )
        delivered = relay.wait(lambda ds: len(ds) >= 1, timeout=60)
    assert (delivered[0].status, delivered[0].body.get("status")) == (200, "already_completed")
    again = httpx.post(
        stack["worker"],
        json={"run_id": created["id"]},
        headers={"X-CloudTasks-QueueName": stack["queue"]},
        timeout=30,
    )
    assert again.status_code == 200 and again.json()["status"] == "already_completed"
    after = httpx.get(run_url, timeout=10).json()
    assert after["metrics"] == metrics and after["attempts"] == 1
    assert _count_trades(stack["db"], created["id"]) == trades_before

    # A retried attempt after a crash (the run left "running") recomputes and replaces:
    # the same result, no duplicate trades.
    conn = _connect(stack["db"])
    conn.cursor().execute(
        "UPDATE backtest_runs SET status = 'running' WHERE id = %s", (created["id"],)
    )
    conn.cursor().execute(  # the crashed attempt's heartbeat stopped a while ago
        "UPDATE backtest_run_details SET updated_at = now() - interval '5 minutes' "
        "WHERE run_id = %s",
        (created["id"],),
    )
    conn.commit()
    conn.close()
    retried = httpx.post(
        stack["worker"],
        json={"run_id": created["id"]},
        headers={"X-CloudTasks-QueueName": stack["queue"], "X-CloudTasks-TaskRetryCount": "1"},
        timeout=60,
    )
    assert retried.json()["status"] == "completed"
    final = httpx.get(run_url, timeout=10).json()
    assert final["metrics"] == metrics and final["attempts"] == 2
    assert _count_trades(stack["db"], created["id"]) == trades_before

    # The worker refuses callers that are not the queue.
    refused = httpx.post(stack["worker"], json={"run_id": created["id"]}, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    # A body that can never run is a 400 JSON error, not a 200 the queue would count done.
    for bad in (b"not json", b"{}", b'{"run_id": "not-a-uuid"}', b"[1]"):
        answer = httpx.post(
            stack["worker"],
            content=bad,
            headers={"X-CloudTasks-QueueName": stack["queue"]},
            timeout=10,
        )
        assert answer.status_code == 400 and answer.json()["error"] == "bad_request", bad

    assert httpx.delete(run_url, timeout=10).status_code == 204
    gone = httpx.get(run_url, timeout=10)
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"


def test_the_worker_retries_then_fails_on_the_last_attempt_and_stands_down_for_a_live_one(
    stack: dict[str, Any],
) -> None:
    from shared.backtest.runs import RunOwner
    from shared.backtest.service import BacktestService, parse_request
    from shared.config import DatabaseSettings
    from shared.db.engine import create_database

    database = create_database(DatabaseSettings(database_url=stack["db"]))
    # The anonymous owner this test's API calls are (they come straight from loopback).
    me = RunOwner(address="127.0.0.1")
    try:
        service = BacktestService(database)  # no dispatcher: the test delivers the task
        failing = service.create_run(parse_request(REQUEST), owner=me)
        live = service.create_run(parse_request(REQUEST), owner=me)
    finally:
        database.dispose()
    conn = _connect(stack["db"])
    cur = conn.cursor()
    cur.execute(  # a real database failure while this run's trades are stored
        "CREATE FUNCTION refuse_run_trades() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.run_id = '{failing}' THEN RAISE EXCEPTION 'disk full (test)'; END IF; "
        "RETURN NEW; END $$"
    )
    cur.execute(
        "CREATE TRIGGER refuse_run_trades BEFORE INSERT ON backtest_trades "
        "FOR EACH ROW EXECUTE FUNCTION refuse_run_trades()"
    )
    cur.execute(
        "UPDATE backtest_runs SET status = 'running', started_at = now() WHERE id = %s",
        (str(live),),
    )
    cur.execute(
        "UPDATE backtest_run_details SET attempts = 1, updated_at = now() WHERE run_id = %s",
        (str(live),),
    )
    conn.commit()
    try:

        def deliver(run_id: uuid.UUID, retries: int) -> httpx.Response:
            return httpx.post(
                stack["worker"],
                json={"run_id": str(run_id)},
                headers={
                    "X-CloudTasks-QueueName": stack["queue"],
                    "X-CloudTasks-TaskRetryCount": str(retries),
                },
                timeout=120,
            )

        # Attempt 4 of 5 (BACKTEST_MAX_ATTEMPTS): a transient error, 503 so the queue retries.
        fourth = deliver(failing, 3)
        assert fourth.status_code == 503 and fourth.json()["error"] == "retry"
        state = httpx.get(f"{stack['api']}/{failing}", timeout=10).json()
        assert (state["status"], state["stage"]) == ("running", "retrying")
        # Attempt 5 of 5: the same error fails the run for good (2xx, the queue stops).
        fifth = deliver(failing, 4)
        assert fifth.status_code == 200 and fifth.json()["status"] == "failed"
        state = httpx.get(f"{stack['api']}/{failing}", timeout=10).json()
        assert state["status"] == "failed" and "after its last attempt" in state["error"]
        assert state["attempts"] == 2

        # A duplicate delivery while another attempt's heartbeat is fresh: 200, no work.
        duplicate = deliver(live, 0)
        assert duplicate.status_code == 200 and duplicate.json()["status"] == "already_running"
        state = httpx.get(f"{stack['api']}/{live}", timeout=10).json()
        assert (state["status"], state["attempts"]) == ("running", 1)
    finally:
        cur.execute("DROP TRIGGER refuse_run_trades ON backtest_trades")
        cur.execute("DROP FUNCTION refuse_run_trades()")
        conn.commit()
        conn.close()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        ({**REQUEST, "strategy": "astrology"}, 400, "unknown_strategy"),
        ({**REQUEST, "params": {"lookback": 0}}, 400, "invalid_params"),
        ({**REQUEST, "params": {"nope": 1}}, 400, "invalid_params"),
        ({**REQUEST, "start": REQUEST["end"], "end": REQUEST["start"]}, 400, "invalid_range"),
        ({**REQUEST, "start": "yesterday"}, 400, "invalid_request"),
        ({**REQUEST, "markets": {"series": ["NOPE"]}}, 422, "no_markets"),
        (
            {**REQUEST, "start": "2020-01-01T00:00:00Z", "end": "2020-02-01T00:00:00Z"},
            422,
            "no_data",
        ),
        ({**REQUEST, "grid": {"lookback": list(range(1, 100))}}, 413, "too_large"),
        ({**REQUEST, "rank_by": "vibes"}, 400, "invalid_rank_by"),
        ({**REQUEST, "fees": {"taker_rate": "lots"}}, 400, "invalid_fees"),
        ({**REQUEST, "fees": {"taker_rate": "1e-1000000"}}, 400, "invalid_fees"),
        ({**REQUEST, "capital": "1e-1000000"}, 400, "invalid_request"),
        ({**REQUEST, "start": "0001-01-01T00:00:00+05:00"}, 400, "invalid_range"),
        ({**REQUEST, "end": "9999-12-31T23:59:59-05:00"}, 400, "invalid_range"),
        ({**REQUEST, "end": "2028-01-01T00:00:00Z"}, 413, "too_large"),
    ],
)
def test_malformed_requests_answer_4xx_json(
    stack: dict[str, Any], body: Any, status: int, code: str
) -> None:
    if isinstance(body, str):
        answer = httpx.post(
            stack["api"], content=body, headers={"Content-Type": "application/json"}, timeout=30
        )
    else:
        answer = httpx.post(stack["api"], json=body, timeout=30)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == code
    assert answer.json()["message"]


def test_cli_runs_a_sweep_against_the_local_database(stack: dict[str, Any]) -> None:
    import os
    import subprocess
    import sys

    command = [
        str(Path(sys.prefix) / "bin" / "kalshi-insights"),
        "backtest",
        "run",
        "momentum",
        "--start", REQUEST["start"],
        "--end", REQUEST["end"],
        "--series", "KXBT",
        "--param", "lookback=2",
        "--grid", "threshold=0.02,0.05",
        "--rank-by", "total_pnl",
        "--database-url", stack["db"],
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUD_TASKS", "PUBSUB"))}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "100% done" in done.stderr  # the progress bar reached the end
    assert "status: completed" in done.stdout
    assert "variants ranked by total_pnl" in done.stdout
    ranked = done.stdout.split("variants ranked by total_pnl:")[1]
    assert ranked.count("  #") == 2  # two variants, best first
    assert "'threshold': 0.02" in ranked and "'threshold': 0.05" in ranked


def test_stack_service_starts_both_functions_and_routes_the_api(
    stack: dict[str, Any], tasks_emulator: Any, tmp_path: Path
) -> None:
    import argparse

    from devstack.services.backtests import BacktestsService
    from devstack.services.base import StackContext

    ctx = StackContext(state_dir=tmp_path, options=argparse.Namespace())
    ctx.env.update({"DATABASE_URL": stack["db"], **tasks_emulator.env})
    service = BacktestsService()
    try:
        service.start(ctx)
        api = ctx.gateway_routes["/api/v1/backtests"]
        answer = httpx.get(api + "/api/v1/backtests/strategies", timeout=10)
        assert answer.status_code == 200 and len(answer.json()["strategies"]) >= 4
        doc_origin = ctx.gateway_routes["/api/v1/openapi/backtests.json"]
        doc = httpx.get(doc_origin + "/api/v1/openapi/backtests.json", timeout=10)
        assert doc.status_code == 200 and "/api/v1/backtests" in doc.json()["paths"]
        assert service.check() is None
        assert any("worker" in line for line in service.describe())
    finally:
        service.stop()


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "W10"}, "invalid_cursor"),  # base64 of "[]": no MAC, not ours
        ({"cursor": "trades"}, "invalid_cursor"),  # decodes to bytes, not a position
        ({"limit": "many"}, "invalid_request"),
    ],
)
def test_malformed_queries_answer_400_json(
    stack: dict[str, Any], params: dict[str, str], code: str
) -> None:
    from shared.api.cursor import encode_cursor

    answer = httpx.get(stack["api"], params=params, timeout=10)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == code and answer.json()["message"]
    # A genuine cursor of the wrong shape (a trades cursor used for the run list) too.
    wrong_shape = httpx.get(
        stack["api"], params={"cursor": encode_cursor({"after": 1})}, timeout=10
    )
    assert wrong_shape.status_code == 400 and wrong_shape.json()["error"] == "invalid_cursor"


def test_requests_flask_refuses_still_get_json_errors(stack: dict[str, Any]) -> None:
    """Paths and methods refused before our handler runs answer JSON, not Flask's HTML."""
    origin = stack["api"].split("/api/v1/")[0]
    odd_path = httpx.get(origin + "/api/v1/backtests/%0Aabc", timeout=10)
    odd_method = httpx.request("TRACE", stack["api"], timeout=10)
    for answer in (odd_path, odd_method):
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.headers["content-type"].startswith("application/json"), answer.text
        assert set(answer.json()) == {"error", "message"}
