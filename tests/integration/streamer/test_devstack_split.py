"""``kalshi-insights up``'s streamer in both modes, as real processes behind the real gateway:
one ``python -m streamer`` (``--streamer-split 0``), or one tracker and two fan-outs
(``--streamer-split 2``) with the gateway spreading ``/api/v1/stream`` across the fan-outs.
The same scenario passes on both: fills for two accounts while the simulator drops the
sockets, every browser ends equal to Kalshi and no browser sees another user's markets."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from devstack.secret_manager_emulator import SecretManagerEmulator
from devstack.services.base import StackContext
from shared.auth.credentials import save_credential
from shared.auth.principal import AuthContext
from shared.auth.session_store import record_session
from shared.auth.settings import AuthSettings
from shared.db.roles import ensure_local_logins
from shared.kalshi.client import KalshiClient
from shared.kalshi.signing import KalshiSigner
from tests.integration.streamer.harness import SseClient
from tests.integration.streamer.stack import ALICE, BOB, eventually, free_port, shown

pytestmark = pytest.mark.integration


@pytest.fixture
def secrets(tmp_path: Path) -> Iterator[SecretManagerEmulator]:
    harness = SecretManagerEmulator(
        free_port(), data_dir=tmp_path / "sm", log_path=tmp_path / "sm.log"
    )
    with harness:
        yield harness


@pytest.mark.parametrize("split", [0, 2])
def test_the_local_stacks_streamer_in_both_modes_ends_equal_to_kalshi(
    split: int,
    migrated_database: str,
    simulator: Any,
    pubsub_emulator: Any,
    pubsub_project: str,
    secrets: SecretManagerEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from devstack.pubsub_admin import ensure_topology
    from devstack.services.gateway import GatewayService
    from devstack.services.secret_manager import seed_secrets
    from devstack.services.streamer import StreamerService
    from shared.secrets import SecretManagerStore, secret_manager_client

    client = secret_manager_client(secrets.host)
    seed_secrets(client, pubsub_project)
    auth = AuthContext(AuthSettings(), SecretManagerStore(pubsub_project, client=client))
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    ensure_topology(pubsub_project)
    owner = sa.create_engine(migrated_database, poolclass=NullPool)
    keys: dict[Any, tuple[str, KalshiSigner]] = {}
    with owner.begin() as conn:
        ensure_local_logins(conn)
        for user in (ALICE, BOB):
            key_id, pem = simulator.create_account(balance_dollars=500)
            keys[user] = (key_id, KalshiSigner.from_pem(key_id, pem))
            conn.execute(
                sa.text("INSERT INTO users (id, kalshi_key_id, environment) VALUES (:i, :k, 'c')"),
                {"i": user, "k": key_id},
            )
            save_credential(conn, auth.vault, user, key_id, pem)
        sessions = {user: auth.tokens.issue(user) for user in (ALICE, BOB, ALICE, BOB)}
        for issued in sessions.values():
            record_session(conn, issued)
    owner.dispose()

    ctx = StackContext(
        state_dir=tmp_path / "state",
        options=argparse.Namespace(
            streamer_split=split, port=free_port(), frontend_dist=str(tmp_path)
        ),
        env={
            "DATABASE_URL": migrated_database,
            "KALSHI_BASE_URL": simulator.base_url,
            "KALSHI_WS_URL": simulator.ws_url,
            "PUBSUB_EMULATOR_HOST": pubsub_emulator.host,
            "PUBSUB_PROJECT_ID": pubsub_project,
            "SECRET_MANAGER_EMULATOR_HOST": secrets.host,
        },
    )
    streamer, gateway = StreamerService(), GatewayService()
    try:
        streamer.start(ctx)
        upstreams = ctx.gateway_routes["/api/v1/stream"].split(",")
        assert len(upstreams) == max(split, 1)
        if split:
            assert streamer.tracker is not None and len(streamer.fanouts) == split
        gateway.start(ctx)
        origin = ctx.dashboard_url
        assert origin is not None
        clients = {
            (user, n): SseClient(origin, sessions[user].token).start()
            for user in (ALICE, BOB)
            for n in range(2)  # round-robin: with two fan-outs, one on each
        }
        for c in clients.values():
            c.wait_for(lambda c: c.connection() == "connected", timeout=60)
        try:
            simulator.set_faults(ws_delay_ms=20)
            for round_ in range(12):
                simulator.fill(keys[ALICE][0])
                if round_ % 2:
                    simulator.fill(keys[BOB][0])
                if round_ % 5 == 4:
                    simulator.set_faults(ws_drop=True)
                time.sleep(0.15)
        finally:
            simulator.set_faults()
        simulator.advance(1)

        def kalshi(user: Any) -> dict[str, Any]:
            signer = keys[user][1]
            with KalshiClient(base_url=simulator.base_url, signer=signer) as rest:
                positions = rest.get_all_positions().market_positions
            return {p.ticker: (p.position_fp, p.market_exposure_dollars) for p in positions}

        for (user, _), c in clients.items():
            eventually(lambda c=c, u=user: shown(c) == kalshi(u), timeout=60)
        alice_only = set(kalshi(ALICE)) - set(kalshi(BOB))
        for n in range(2):
            raw = bytes(clients[(BOB, n)].raw).decode()
            assert not any(f'"ticker":"{t}"' in raw for t in alice_only)
        assert streamer.check() is None
    finally:
        gateway.stop()
        streamer.stop()
