"""After the Pub/Sub emulator restarts, the next poll trigger is written, not a duplicate.

The emulator numbers messages from 1 again after a restart, so a trigger published after
``make up`` carries a message id some trigger before the restart already had. Real parts:
an emulator of this test's own (it is restarted, so not the session one), the
``poll_markets`` function served by functions-framework behind a push subscription, the
exchange simulator and Postgres.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from devstack.functions_runner import FunctionServer
from devstack.postgres import free_port
from devstack.pubsub_admin import ensure_topology, push_url
from devstack.pubsub_emulator import PubSubEmulator
from devstack.scheduler import tick_envelope
from shared.messaging.pubsub import Publisher
from shared.messaging.topics import MARKET_SNAPSHOTS, POLL_TRIGGER

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
PROJECT = "restart-test"


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, *logs: Callable[[], str]
) -> Any:
    """``condition()`` once true; a timeout fails with the tail of each of ``logs``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    tails = "\n".join(f"--- {log.__name__}:\n{log()[-3000:]}" for log in logs)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[PubSubEmulator]:
    emulator = PubSubEmulator(
        free_port(), PROJECT, data_dir=tmp_path / "pubsub", log_path=tmp_path / "pubsub.log"
    )
    previous = {k: os.environ.get(k) for k in emulator.env}
    emulator.start(timeout=180)
    os.environ.update(emulator.env)
    try:
        yield emulator
    finally:
        emulator.stop()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_the_first_trigger_after_an_emulator_restart_is_written(
    emulator: PubSubEmulator, migrated_url: str, engine: sa.Engine, simulator, tmp_path: Path
) -> None:
    function = FunctionServer(
        "poll_markets",
        REPO / "functions" / "poll_markets" / "main.py",
        free_port(),
        signature_type="cloudevent",
        env={
            **emulator.env,
            "DATABASE_URL": migrated_url,
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "KALSHI_BASE_URL": simulator.base_url,
        },
        log_path=tmp_path / "poll_markets.log",
    ).start(timeout=90)

    def function_log() -> str:
        return function.log_text()

    def emulator_log() -> str:
        return emulator.log_text()

    def polls() -> list[str]:
        with engine.connect() as c:
            return list(
                c.execute(sa.text("SELECT message_id FROM market_polls ORDER BY id")).scalars()
            )

    def trigger() -> str:
        ensure_topology(
            PROJECT,
            push_endpoints={POLL_TRIGGER: push_url(function.url, PROJECT, POLL_TRIGGER)},
            topics=(POLL_TRIGGER, MARKET_SNAPSHOTS),
        )
        return Publisher(PROJECT).publish(POLL_TRIGGER, tick_envelope(datetime.now(UTC)))

    try:
        before = trigger()
        wait_for(
            lambda: len(polls()) == 1, 90, "the poll before the restart", function_log, emulator_log
        )

        emulator.stop()
        emulator.start(timeout=180)
        after = trigger()
        assert after == before, "the restarted emulator reuses message ids (the premise)"

        wait_for(
            lambda: function_log().count('"outcome"') >= 2,
            90,
            "the trigger after the restart",
            function_log,
            emulator_log,
        )
        assert '"outcome": "duplicate"' not in function.log_text()
        first, second = polls()
        assert first != second and first.startswith(f"{before}@")
        with engine.connect() as c:
            counts = c.execute(
                # Markets observed per poll: change-only storage (ADR 0170) may store none
                # of an unchanged poll's snapshots.
                sa.text("SELECT message_id, market_count FROM market_polls")
            ).all()
        assert len(counts) == 2 and all(n > 0 for _, n in counts)
    finally:
        function.stop()
