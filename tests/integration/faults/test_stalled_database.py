"""A stalled Postgres (SIGSTOPped, not refusing) gets a 503 from every function within 2 s.

Before the database timeouts (docs/decisions/0081) each of these requests hung until the
kernel gave up on the TCP connection, minutes later. The functions run in process, as
functions-framework serves them, against a cluster of this package's own
(tests/integration/faults/conftest.py), with the sub-second timeouts a deployment would
set below its function timeout. Each function answers once before the freeze, so its pool
holds a live connection when the database stops: the realistic case, and the one where a
pre-ping without a socket timeout waits forever.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from devstack.postgres import LocalPostgres
from shared.db.migrate import upgrade
from tests.function_env import function_environment
from tests.integration.faults.conftest import frozen

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
QUEUE = "projects/ki-faults/locations/local/queues/backtests"
DEADLINE = 2.0
SUBMIT = {
    "strategy": "fade_large_moves",
    "params": {"lookback": 1, "threshold": 0.05, "contracts": 5},
    "markets": {"series": ["KXBT"]},
    "start": "2026-06-01T00:00:00Z",
    "end": "2026-06-01T03:00:00Z",
}


GIVE_UP = 15.0  # without timeouts a call never returns: report that, rather than hang


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """``call()``'s result (or the exception it raised) and how long it took; ``(None,
    inf)`` when it had not returned after ``GIVE_UP`` s (it finishes once Postgres thaws)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except Exception as error:  # a CloudEvent function raises to ask for redelivery
            outcome["result"] = error
        outcome["elapsed"] = time.monotonic() - started

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(GIVE_UP)
    if worker.is_alive():
        return None, float("inf")
    return outcome["result"], outcome["elapsed"]


def _load_module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def functions(stallable_postgres: LocalPostgres, simulator: Any) -> Iterator[dict[str, Any]]:
    import functions_framework

    upgrade(stallable_postgres.url)
    wanted = {
        "DATABASE_URL": stallable_postgres.url,
        # What a deployment sets below its function timeout, scaled down to the test.
        "DB_CONNECT_TIMEOUT": "0.5",
        "DB_STATEMENT_TIMEOUT": "0.5",
        "DB_SOCKET_TIMEOUT": "0.6",
        "DB_HEALTH_TIMEOUT": "1",
        "DB_POOL_TIMEOUT": "1",
        "APP_ENVIRONMENT": "local",
        "CLOUD_TASKS_QUEUE": QUEUE,
        "BACKTEST_WORKER_URL": "http://127.0.0.1:9/worker",
        # Runs have owners (0150); these calls are the local stack's anonymous client.
        "BACKTEST_ANONYMOUS_SUBMISSIONS": "true",
        # Every list call reaches the database (no page served from the per-poll cache,
        # 0215): what is under test is how a stalled database is answered.
        "MARKETS_LIST_REVALIDATE_SECONDS": "0",
        "KALSHI_BASE_URL": simulator.base_url,
        "POLL_PUBLISH": "false",
    }
    with function_environment(wanted):
        try:
            yield {
                "markets": functions_framework.create_app(
                    "markets", str(ROOT / "functions/markets/main.py"), "http"
                ).test_client(),
                "backtests": functions_framework.create_app(
                    "backtests", str(ROOT / "functions/backtests/main.py"), "http"
                ).test_client(),
                "worker": functions_framework.create_app(
                    "backtest_worker", str(ROOT / "functions/backtest_worker/main.py"), "http"
                ).test_client(),
                "poll_markets": _load_module(
                    "faults_poll_markets", ROOT / "functions/poll_markets/main.py"
                ).poll_markets,
            }
        finally:
            sys.modules.pop("faults_poll_markets", None)


def _worker_task(client: Any) -> Any:
    return client.post(
        "/",
        json={"run_id": str(uuid.uuid4())},
        headers={"X-CloudTasks-QueueName": QUEUE, "X-CloudTasks-TaskRetryCount": "0"},
    )


def _poll_trigger(key: str) -> CloudEvent:
    import base64

    from devstack.scheduler import tick_envelope
    from shared.messaging.envelope import encode

    envelope = tick_envelope(datetime.now(UTC))
    envelope = type(envelope)(
        type=envelope.type,
        version=1,
        idempotency_key=key,
        payload=envelope.payload,
        emitted_at=envelope.emitted_at,
    )
    return CloudEvent(
        {
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": "//pubsub.googleapis.com/projects/ki-faults/topics/poll-trigger",
            "id": key,
            "time": datetime.now(UTC).isoformat(),
        },
        {
            "message": {
                "data": base64.b64encode(encode(envelope)).decode(),
                "messageId": key,
                "attributes": {},
            },
            "subscription": "projects/ki-faults/subscriptions/poll-trigger-push",
        },
    )


def _http_calls(functions: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    markets, backtests, worker = functions["markets"], functions["backtests"], functions["worker"]
    return {
        "markets list": lambda: markets.get("/api/v1/markets"),
        "health": lambda: markets.get("/api/v1/health"),
        "backtests list": lambda: backtests.get("/api/v1/backtests"),
        "backtests submit": lambda: backtests.post("/api/v1/backtests", json=SUBMIT),
        "backtest worker": lambda: _worker_task(worker),
    }


def test_every_function_answers_503_within_2s_while_postgres_is_stalled(
    stallable_postgres: LocalPostgres, functions: dict[str, Any]
) -> None:
    calls = _http_calls(functions)
    # Warm: every pool holds a live connection when the database stops.
    for name in ("markets list", "health", "backtests list", "backtest worker"):
        response = calls[name]()
        assert response.status_code == 200, (name, response.status_code, response.get_data())

    outcomes: dict[str, tuple[Any, Any, float]] = {}
    with frozen(stallable_postgres):
        for name, call in calls.items():
            response, elapsed = _timed(call)
            if response is None or isinstance(response, Exception):
                outcomes[name] = ("no answer", response, elapsed)
            else:
                outcomes[name] = (response.status_code, response.get_json(silent=True), elapsed)
        trigger = _poll_trigger(f"fault-{uuid.uuid4().hex[:8]}")
        raised, elapsed = _timed(lambda: functions["poll_markets"](trigger))
        outcomes["poll_markets"] = (type(raised).__name__, None, elapsed)

    for name, (status, body, elapsed) in outcomes.items():
        assert elapsed < DEADLINE, (name, outcomes)
        if name == "poll_markets":
            # Raising (not returning) is how it asks Pub/Sub to redeliver the trigger.
            assert status not in ("NoneType", "no answer"), outcomes
            continue
        assert status == 503, (name, outcomes)
        assert isinstance(body, dict), (name, outcomes)
        assert body.get("error") or body.get("status") == "unavailable", (name, outcomes)

    # Thawed, every function serves again (the broken connections left the pools).
    deadline = time.monotonic() + 30
    while True:
        statuses = {n: calls[n]().status_code for n in ("markets list", "health", "backtests list")}
        if set(statuses.values()) == {200} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert set(statuses.values()) == {200}, statuses


@pytest.fixture
def slow_socket_markets(stallable_postgres: LocalPostgres) -> Iterator[Any]:
    """The markets function with socket timeouts far longer than the health deadline."""
    import functions_framework

    upgrade(stallable_postgres.url)
    wanted = {
        "DATABASE_URL": stallable_postgres.url,
        "DB_CONNECT_TIMEOUT": "8",
        "DB_STATEMENT_TIMEOUT": "8",
        "DB_SOCKET_TIMEOUT": "8",
        "DB_HEALTH_TIMEOUT": "1",
    }
    with function_environment(wanted):
        yield functions_framework.create_app(
            "markets", str(ROOT / "functions/markets/main.py"), "http"
        ).test_client()


def test_health_keeps_its_own_deadline_when_socket_timeouts_are_longer(
    stallable_postgres: LocalPostgres, slow_socket_markets: Any
) -> None:
    assert slow_socket_markets.get("/api/v1/health").status_code == 200
    with frozen(stallable_postgres):
        response, elapsed = _timed(lambda: slow_socket_markets.get("/api/v1/health"))
    assert response is not None and not isinstance(response, Exception), elapsed
    assert (response.status_code, elapsed < DEADLINE) == (503, True), elapsed
    assert response.get_json()["status"] == "unavailable"


def test_cloud_sql_connector_path_is_bounded_too(stallable_postgres: LocalPostgres) -> None:
    """Through the connector's creator: a stalled query and a stalled connect both end as
    DBAPI errors within the deadline, and the pool serves again after the thaw."""
    import sqlalchemy as sa

    from shared.config import DatabaseSettings, Secret
    from shared.db.engine import create_database
    from tests.integration.faults.connector import SocketHandingConnector

    upgrade(stallable_postgres.url)
    settings = DatabaseSettings(
        instance_connection_name="proj:region:instance",
        db_user="postgres",
        db_name=stallable_postgres.database,
        db_pass=Secret("unused-with-trust-auth"),
        connect_timeout=0.5,
        statement_timeout=0.5,
        socket_timeout=0.6,
    )
    database = create_database(
        settings,
        connector_factory=lambda **kw: SocketHandingConnector(stallable_postgres.port, **kw),
        pool_size=1,
        max_overflow=0,
    )

    def query() -> Any:
        with database.engine.connect() as connection:
            return connection.execute(sa.text("SHOW statement_timeout")).scalar_one()

    try:
        assert query() == "500ms"
        with frozen(stallable_postgres):
            stalled_query, query_seconds = _timed(query)
            stalled_connect, connect_seconds = _timed(query)  # the pool was invalidated
        assert isinstance(stalled_query, sa.exc.DBAPIError), stalled_query
        assert isinstance(stalled_connect, sa.exc.DBAPIError), stalled_connect
        assert query_seconds < DEADLINE and connect_seconds < DEADLINE
        deadline = time.monotonic() + 30
        while not isinstance(result := _timed(query)[0], str) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert result == "500ms"
    finally:
        database.dispose()
