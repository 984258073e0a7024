"""The ``backfill`` function through the real Cloud Tasks emulator, triggered as the daily
schedule triggers it.

functions-framework serves ``functions/backfill/main.py`` on loopback; the session's Cloud
Tasks emulator (a queue of this test's own) dispatches to it through a relay that records
every delivery; Kalshi is the simulator, behind a proxy with a fault switch. The daily job
(``POST /_jobs/backfill``, as Cloud Scheduler and the local ``DailyJob`` call it) queues
one fan-out task; the emulator delivers it, the fan-out enqueues one task per series, and
the emulator delivers each. One market's trades answer 500 on the first attempt: the
series' task answers 503, the emulator retries it, and the retry resumes from the
checkpoints (only that market's trades are fetched again). Then every settled market of
the window is loaded (results, candles, trades), a second trigger the same day queues
nothing, a redelivered fan-out and a redelivered batch add no row and ask Kalshi for no
history, and bodies that can never run answer 400 JSON.
"""

from __future__ import annotations

import datetime as dt
import http.server
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from devstack.functions_runner import FunctionServer
from devstack.postgres import free_port
from emulators.kalshi_sim.catalog import _TEMPLATES
from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.exchange import Exchange
from emulators.kalshi_sim.history import History
from emulators.kalshi_sim.runner import SimulatorServer
from shared.messaging.tasks import TaskQueue
from tests.task_relay import Delivery, TaskRelay

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DAY = dt.date(2026, 11, 1)  # the job's day: the window is the day before it
UNTIL = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
SINCE = UNTIL - dt.timedelta(days=1)
START = UNTIL + dt.timedelta(hours=6)  # the simulator's "now"
POISONED_SERIES = "KXHIGHNY"
SERIES = (POISONED_SERIES, "KXCPI", "KXMLBGAME")  # the job's (in the cloud: all of Kalshi's)


def _config() -> SimConfig:
    return SimConfig(seed=4242, n_markets=40, tick_interval_s=None, start_time_s=START.timestamp())


def _settled_in_window() -> list[Any]:
    """The simulator's past markets the job must load: settled, overlapping the window."""
    config = _config()
    exchange = Exchange(config)
    history = History(config.seed, exchange.start_us, list(_TEMPLATES), set(exchange.events))
    history.live_days = 1
    since_us, until_us = int(SINCE.timestamp() * 1e6), int(UNTIL.timestamp() * 1e6)
    return [m for m in history.markets if m.close_us > since_us and m.open_us < until_us]


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server:
    """A loopback HTTP server in a daemon thread."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FaultyKalshi:
    """A proxy to the simulator that answers 500 to one market's trade requests until
    ``healed`` is set, and logs every request it passes (path and ticker)."""

    def __init__(self, upstream: str, ticker: str, healed: threading.Event) -> None:
        proxy = self
        self.log: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        client = httpx.Client(timeout=30)

        class Handler(_Handler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                asked = parse_qs(parts.query).get("ticker", [""])[0]
                with proxy._lock:
                    proxy.log.append((parts.path, asked))
                if parts.path.endswith("/trades") and asked == ticker and not healed.is_set():
                    self._reply(500, b'{"error":{"code":"internal","message":"fault"}}')
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = client.get(upstream + self.path, headers=headers)
                self._reply(
                    answer.status_code,
                    answer.content,
                    answer.headers.get("content-type", "application/json"),
                )

        self._server = _Server(Handler)
        self.origin = self._server.url

    def requests_for(self, ticker: str) -> list[str]:
        with self._lock:
            return [path for path, asked in self.log if asked == ticker or ticker in path]

    def history_requests(self) -> int:
        with self._lock:
            return sum(1 for path, _ in self.log if "candlesticks" in path or "trades" in path)

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def sim() -> Iterator[tuple[SimulatorServer, str, str]]:
    with SimulatorServer(_config()) as server:
        key_id, pem = server.create_account()
        httpx.post(server.admin_url + "/history", json={"live_days": 1}).raise_for_status()
        # A generous key: the test is about the queue, not the pacing (tests/.../test_backfill.py).
        budget = {"refill_rate": 4000, "bucket_capacity": 4000, "enforce": False}
        httpx.post(server.admin_url + "/budget", json=budget).raise_for_status()
        yield server, key_id, pem


def _totals(engine: sa.Engine) -> tuple[int, int, int]:
    with engine.connect() as c:
        return (
            c.execute(sa.text("SELECT count(*) FROM market_candles")).scalar_one(),
            c.execute(sa.text("SELECT count(*) FROM market_trades")).scalar_one(),
            c.execute(sa.text("SELECT count(*) FROM markets")).scalar_one(),
        )


def test_the_daily_job_fans_out_through_the_emulator_retries_and_changes_nothing_twice(
    sim: tuple[SimulatorServer, str, str],
    migrated_database: str,
    tasks_emulator: Any,
    tmp_path: Path,
) -> None:
    server, key_id, pem = sim
    wanted = [m for m in _settled_in_window() if m.series_ticker in SERIES]
    series = sorted(SERIES)
    poisoned = next(m for m in wanted if m.series_ticker == POISONED_SERIES)
    in_poisoned_series = [m for m in wanted if m.series_ticker == POISONED_SERIES]
    assert len(wanted) >= 10 and len(in_poisoned_series) >= 3

    # A queue of this test's own on the session emulator.
    project = tasks_emulator.queue_path.split("/queues/")[0]
    queue_path = f"{project}/queues/backfill-{uuid.uuid4().hex[:10]}"
    queue = TaskQueue(queue_path, emulator_host=tasks_emulator.host)
    queue.client.create_queue(parent=project, queue={"name": queue_path})

    healed = threading.Event()
    kalshi = FaultyKalshi(server.origin, poisoned.ticker, healed)
    port = free_port()
    relay = TaskRelay(
        f"http://127.0.0.1:{port}/",
        on_answer=lambda status: healed.set() if status == 503 else None,
    )
    function = FunctionServer(
        "backfill",
        ROOT / "functions" / "backfill" / "main.py",
        port,
        env={
            "DATABASE_URL": migrated_database,
            "DB_POOL_SIZE": "2",
            "APP_ENVIRONMENT": "local",  # the emulator sends no OIDC token
            "CLOUD_TASKS_EMULATOR_HOST": tasks_emulator.host,
            "BACKFILL_QUEUE": queue_path,
            "BACKFILL_URL": relay.url,
            "BACKFILL_DAYS": "1",
            "BACKFILL_BUDGET_SHARE": "1",
            "BACKFILL_MAX_ATTEMPTS": "5",
            "KALSHI_BASE_URL": kalshi.origin + server.base_url.removeprefix(server.origin),
            "KALSHI_KEY_ID": key_id,
            "KALSHI_PRIVATE_KEY": pem,
            "KALSHI_PRIVATE_KEY_PATH": None,
        },
        log_path=tmp_path / "backfill.log",
    )
    engine = sa.create_engine(migrated_database, poolclass=NullPool)
    function.start(timeout=60)
    try:
        # Only the queue may post tasks; bodies that can never run answer 400 JSON.
        header = {"X-CloudTasks-QueueName": queue_path}
        refused = httpx.post(function.url, json={"series": [POISONED_SERIES]})
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        for bad in (b"{not json", b"[1]", b'{"since": "2026-10-31"}', b'{"fan_out": 3}'):
            answer = httpx.post(function.url, content=bad, headers=header)
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.json()["error"] == "bad_request" and "Traceback" not in answer.text
        bad_day = httpx.post(function.url + "/_jobs/backfill", json={"day": "soon"})
        assert bad_day.status_code == 400 and bad_day.json()["error"] == "bad_request"

        # The daily trigger, as Cloud Scheduler sends it.
        trigger = {"day": DAY.isoformat(), "series": list(SERIES)}
        job = httpx.post(function.url + "/_jobs/backfill", json=trigger)
        assert job.status_code == 200, job.text
        daily = job.json()["task"]
        assert daily.startswith("backfill-daily-20261101-")
        assert job.json()["since"] == SINCE.isoformat()

        def all_done(ds: list[Delivery]) -> bool:
            return len({d.task for d in ds if d.status == 200}) >= 1 + len(series)

        deliveries = relay.wait(all_done, timeout=120, what="the fan-out and one task a series")
        fan_out = [d for d in deliveries if d.task == daily]
        assert [d.status for d in fan_out] == [200]
        assert fan_out[0].body == {"status": "fanned_out", "tasks": len(series)}
        batches = {d.task for d in deliveries if d.task != daily}
        assert len(batches) == len(series)
        assert all(t.startswith("backfill-202610310000-202611010000-settled-") for t in batches)

        # The poisoned series failed once (503, the queue retried) and its retry resumed.
        failed = [d for d in deliveries if d.status == 503]
        assert len(failed) == 1, failed
        retried = [d for d in deliveries if d.task == failed[0].task and d.status == 200]
        assert len(retried) == 1 and retried[0].retry >= 1
        first, second = failed[0].body["report"], retried[0].body
        assert first["failures"] == 1 and first["markets_done"] == len(in_poisoned_series) - 1
        assert second["markets_skipped"] == len(in_poisoned_series) - 1
        assert second["markets_done"] == 1 and second["failures"] == 0
        asked = kalshi.requests_for(poisoned.ticker)
        # Its candles were stored before the failure: asked once each, never again.
        assert sum("candlesticks" in p for p in asked) == 3, asked
        assert sum(p.endswith("/trades") for p in asked) >= 2

        # Everything settled in the window, once.
        with engine.connect() as c:
            results = dict(c.execute(sa.text("SELECT ticker, result FROM markets")).all())
            minutes = dict(
                c.execute(
                    sa.text(
                        "SELECT ticker, count(*) FROM market_candles "
                        "WHERE source = 'kalshi_candles' AND resolution_s = 60 GROUP BY 1"
                    )
                ).all()
            )
            trades = dict(
                c.execute(sa.text("SELECT ticker, count(*) FROM market_trades GROUP BY 1")).all()
            )
            completed = c.execute(
                sa.text("SELECT count(*) FROM backfill_checkpoints WHERE completed_at IS NOT NULL")
            ).scalar_one()
        settled = [m for m in wanted if m.ticker in results]
        assert completed == len(settled) == len(wanted)
        since_us, until_us = int(SINCE.timestamp() * 1e6), int(UNTIL.timestamp() * 1e6)
        for m in wanted:
            assert results[m.ticker] in ("yes", "no"), m.ticker
            start_us, end_us = max(m.open_us, since_us), min(m.close_us, until_us)
            assert minutes[m.ticker] == (end_us - start_us) // 60_000_000, m.ticker
        assert sum(trades.values()) > 0 and trades.get(poisoned.ticker, 0) > 0
        before = _totals(engine)
        history_before = kalshi.history_requests()

        # A second trigger the same day queues nothing (the fan-out's name is taken).
        again = httpx.post(function.url + "/_jobs/backfill", json=trigger)
        assert again.status_code == 200 and again.json()["task"] == daily
        # A redelivered fan-out (Cloud Tasks delivers at least once) enqueues no new task ...
        fan_body = {
            "fan_out": {
                "since": SINCE.isoformat(),
                "until": UNTIL.isoformat(),
                "series": sorted(SERIES),
                "settled_only": True,
            }
        }
        queue.enqueue_http(
            relay.url, fan_body, task_id="redelivered-fan-out",
            oidc_service_account=None, audience=None,
        )  # fmt: skip
        relay.wait(
            lambda ds: any(d.task == "redelivered-fan-out" for d in ds), timeout=30, what="fan-out"
        )
        # ... and a redelivered batch loads nothing and asks Kalshi for no history.
        batch_body = {
            "since": SINCE.isoformat(),
            "until": UNTIL.isoformat(),
            "series": [POISONED_SERIES],
            "settled_only": True,
        }
        queue.enqueue_http(
            relay.url, batch_body, task_id="redelivered-batch",
            oidc_service_account=None, audience=None,
        )  # fmt: skip
        deliveries = relay.wait(
            lambda ds: any(d.task == "redelivered-batch" for d in ds), timeout=30, what="batch"
        )
        redelivered = next(d for d in deliveries if d.task == "redelivered-batch")
        assert redelivered.status == 200
        assert redelivered.body["markets_skipped"] == len(in_poisoned_series)
        assert redelivered.body["candles"] == redelivered.body["trades"] == 0
        ran = [d.task for d in deliveries if d.status == 200]
        assert len(ran) == len(set(ran)), "a task ran twice"
        assert len(ran) == 1 + len(series) + 2
        assert _totals(engine) == before
        assert kalshi.history_requests() == history_before
    finally:
        engine.dispose()
        function.stop()
        relay.close()
        kalshi.close()
