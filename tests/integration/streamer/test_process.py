"""``python -m streamer`` as a real process, configured only by its environment: keys from
the Secret Manager emulator, the database as ``fn_streamer``, inputs from the Pub/Sub
emulator, Kalshi from the simulator. Accounts come and go through ``account-events``, and
SIGTERM tells the open stream to reconnect (``retry:``) and exits within 10 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from devstack.secret_manager_emulator import SecretManagerEmulator
from shared.account.events import account_envelope
from shared.auth.credentials import save_credential
from shared.auth.principal import AuthContext
from shared.auth.session_store import record_session
from shared.auth.settings import AuthSettings
from shared.db.roles import deployable_url, ensure_local_logins
from shared.messaging.pubsub import Publisher
from shared.messaging.topics import ACCOUNT_EVENTS, BACKTEST_EVENTS, MARKET_SNAPSHOTS, topic_path
from tests.integration.streamer.harness import SseClient
from tests.integration.streamer.stack import ALICE, BOB, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def secrets(tmp_path: Path) -> Iterator[SecretManagerEmulator]:
    harness = SecretManagerEmulator(
        free_port(), data_dir=tmp_path / "sm", log_path=tmp_path / "sm.log"
    )
    with harness:
        yield harness


def test_the_process_follows_account_events_and_exits_on_sigterm(
    migrated_database: str,
    simulator: Any,
    pubsub_emulator: Any,
    pubsub_project: str,
    secrets: SecretManagerEmulator,
    tmp_path: Path,
) -> None:
    from google.cloud import pubsub_v1

    from devstack.services.secret_manager import seed_secrets
    from shared.secrets import SecretManagerStore, secret_manager_client

    client = secret_manager_client(secrets.host)
    seed_secrets(client, pubsub_project)
    auth = AuthContext(AuthSettings(), SecretManagerStore(pubsub_project, client=client))
    publisher_client = pubsub_v1.PublisherClient()
    for topic in (MARKET_SNAPSHOTS, BACKTEST_EVENTS, ACCOUNT_EVENTS):
        publisher_client.create_topic(name=topic_path(pubsub_project, topic))

    owner = sa.create_engine(migrated_database, poolclass=NullPool)
    keys = {}
    with owner.begin() as conn:
        ensure_local_logins(conn)
        for user in (ALICE, BOB):
            key_id, pem = simulator.create_account(balance_dollars=500)
            keys[user] = key_id
            conn.execute(
                sa.text("INSERT INTO users (id, kalshi_key_id, environment) VALUES (:i, :k, 'c')"),
                {"i": user, "k": key_id},
            )
            save_credential(conn, auth.vault, user, key_id, pem)
        conn.execute(  # Bob signed out before the start: not connected until he signs in
            sa.text("UPDATE user_credentials SET status = 'invalid' WHERE user_id = :u"),
            {"u": BOB},
        )
        sessions = {user: auth.tokens.issue(user) for user in (ALICE, BOB)}
        for issued in sessions.values():
            record_session(conn, issued)

    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "STREAMER_HOST": "127.0.0.1",
        "STREAMER_HEARTBEAT_S": "1",
        "STREAMER_CREATE_SUBSCRIPTIONS": "true",
        "DATABASE_URL": deployable_url(migrated_database, "streamer"),
        "GOOGLE_CLOUD_PROJECT": pubsub_project,
        "SECRET_MANAGER_EMULATOR_HOST": secrets.host,
        "PUBSUB_EMULATOR_HOST": pubsub_emulator.host,
        "KALSHI_BASE_URL": simulator.base_url,
        "KALSHI_WS_URL": simulator.ws_url,
        "APP_ENVIRONMENT": "local",
    }
    log = (tmp_path / "streamer.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamer"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(origin + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / "streamer.log").read_text()
            time.sleep(0.2)
        alice = SseClient(origin, sessions[ALICE].token).start()
        alice.wait_for(lambda c: c.connection() == "connected", timeout=30)
        simulator.fill(keys[ALICE])
        alice.wait_for(lambda c: bool(c.of("fill")))

        publisher = Publisher(pubsub_project)
        with owner.begin() as conn:  # Bob signs in again (the account function's part)
            conn.execute(
                sa.text("UPDATE user_credentials SET status = 'valid' WHERE user_id = :u"),
                {"u": BOB},
            )
        publisher.publish(
            ACCOUNT_EVENTS,
            account_envelope("connected", BOB, "custom", "sign_in", event_id=uuid.uuid4().hex),
        )
        bob = SseClient(origin, sessions[BOB].token).start()
        bob.wait_for(lambda c: c.connection() == "connected", timeout=30)
        simulator.fill(keys[BOB])
        bob.wait_for(lambda c: bool(c.of("fill")))
        assert not [e for e in alice.of("fill") if e in bob.of("fill")]

        publisher.publish(ACCOUNT_EVENTS, account_envelope("disconnected", BOB, "custom", "logout"))
        bob.wait_for(lambda c: c.ended.is_set(), timeout=30)
        assert bob.of("error")[-1].json()["error"] == "signed_out"
        assert not alice.ended.is_set()

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught (exit -15).
        assert process.wait(15) in (0, -signal.SIGTERM)
        took = time.monotonic() - started
        assert took < 10
        assert alice.ended.wait(5) and bytes(alice.raw).endswith(b"retry: 1000\n\n")
        logged = (tmp_path / "streamer.log").read_text()
        assert "closing streams" in logged and "Application shutdown complete" in logged
        for secret in (sessions[ALICE].token, "PRIVATE KEY"):
            assert secret not in logged
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()
        owner.dispose()
