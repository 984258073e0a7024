"""The streamer end to end over loopback: real uvicorn, real SSE clients (httpx streaming),
real Postgres (as the streamer's role), the real simulator's WebSocket and REST, sessions
issued and revoked by the auth core, keys sealed in and loaded from the credential vault."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from shared.auth.credentials import save_credential
from shared.auth.session_store import record_session, revoke_user_sessions
from shared.auth.sessions import SessionTokens, SigningKeys
from shared.auth.vault import CredentialVault, KeyRing
from shared.db.roles import deployable_url, ensure_local_logins
from shared.kalshi.client import KalshiClient
from shared.kalshi.signing import KalshiSigner
from streamer.cache import SqlPositionCache
from streamer.credentials import VaultSigners
from streamer.fanout import FanOut, FanOutSettings
from streamer.service import StreamerService
from streamer.sessions import AuthSessionVerifier
from streamer.tracker import PositionTracker
from streamer.upstream import UpstreamManager, UpstreamSettings
from tests.integration.streamer.harness import RunningServer, SseClient

pytestmark = pytest.mark.integration

ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
BOB = uuid.UUID("00000000-0000-4000-8000-000000000b0b")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    def __init__(
        self, url: str, simulator: Any, accounts: dict[uuid.UUID, Any], vault: CredentialVault
    ) -> None:
        self.url = url
        self.vault = vault
        self.simulator = simulator
        self.accounts = accounts
        self.tokens = SessionTokens(SigningKeys.generate(), "kalshi-insights", "kalshi-insights")
        self.owner = sa.create_engine(url, poolclass=NullPool)
        self.engine = sa.create_engine(deployable_url(url, "streamer"), poolclass=NullPool)
        self.servers: list[RunningServer] = []

    def session(self, user_id: uuid.UUID) -> str:
        issued = self.tokens.issue(user_id)
        with self.owner.begin() as conn:
            record_session(conn, issued)
        return issued.token

    def service(self) -> StreamerService:
        fanout_holder: list[FanOut] = []

        class Sink:
            def publish(self, event: Any) -> None:
                fanout_holder[0].publish(event)

        tracker = PositionTracker(Sink())
        fanout = FanOut(tracker, FanOutSettings(heartbeat_s=1.0))
        fanout_holder.append(fanout)
        verifier = AuthSessionVerifier(self.tokens, self.engine)
        signers = VaultSigners(self.engine, lambda: self.vault)
        upstream = UpstreamManager(
            tracker,
            signers,
            UpstreamSettings(
                ws_url=self.simulator.ws_url,
                rest_base_url=self.simulator.base_url,
                backoff_initial_s=0.2,
                backoff_max_s=1.0,
                reconcile_every_s=60,
            ),
            on_key_rejected=signers.mark_rejected,
        )

        async def known() -> list[uuid.UUID]:
            return list(self.accounts)

        return StreamerService(
            fanout=fanout,
            verifier=verifier,
            revocations=verifier,
            tracker=tracker,
            cache=SqlPositionCache(self.engine),
            upstream=upstream,
            known_accounts=known,
            revocation_every_s=0.3,
        )

    def start(self) -> RunningServer:
        server = RunningServer(self.service(), free_port()).start()
        self.servers.append(server)
        return server

    def kalshi_positions(self, user_id: uuid.UUID) -> dict[str, tuple[Decimal, Decimal]]:
        account = self.accounts[user_id]
        with KalshiClient(base_url=self.simulator.base_url, signer=account.signer) as client:
            positions = client.get_all_positions().market_positions
        return {p.ticker: (p.position_fp, p.market_exposure_dollars) for p in positions}

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.engine.dispose()
        self.owner.dispose()


@pytest.fixture
def stack(migrated_database: str, simulator: Any) -> Iterator[Stack]:
    from tests.plugins.kalshi_sim import SimAccount

    accounts = {}
    vault = CredentialVault(KeyRing({"1": os.urandom(32)}, "1"))
    owner = sa.create_engine(migrated_database, poolclass=NullPool)
    with owner.begin() as conn:
        ensure_local_logins(conn)
        for user_id in (ALICE, BOB):
            key_id, pem = simulator.create_account(balance_dollars=1000)
            accounts[user_id] = SimAccount(key_id, pem, KalshiSigner.from_pem(key_id, pem))
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, kalshi_key_id, environment) VALUES (:id, :k, 'custom')"
                ),
                {"id": user_id, "k": key_id},
            )
            save_credential(conn, vault, user_id, key_id, pem)  # the account function's part
    owner.dispose()
    built = Stack(migrated_database, simulator, accounts, vault)
    yield built
    built.close()


def shown(client: SseClient) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        t: (Decimal(p["position_fp"]), Decimal(p["cost_basis"]))
        for t, p in client.positions().items()
    }


def eventually(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_fills_reach_only_their_owner_and_equal_kalshi(stack: Stack) -> None:
    server = stack.start()
    alice = SseClient(server.origin, stack.session(ALICE)).start()
    bob = SseClient(server.origin, stack.session(BOB)).start()
    alice.wait_for(lambda c: bool(c.of("snapshot")))
    bob.wait_for(lambda c: bool(c.of("snapshot")))
    alice.wait_for(lambda c: c.connection() == "connected")
    assert alice.status == 200
    for _ in range(4):
        stack.simulator.fill(stack.accounts[ALICE].key_id)
    alice.wait_for(lambda c: len(c.of("fill")) >= 4)
    eventually(lambda: shown(alice) == stack.kalshi_positions(ALICE))
    assert alice.of("portfolio_update")
    assert not bob.of("fill") and not bob.of("position_update")
    assert shown(bob) == {}
    ids = [e.id for e in alice.events]
    assert all(ids) and len(set(ids)) == len(ids)


def test_no_expired_or_revoked_session_gets_401_json(stack: Stack) -> None:
    server = stack.start()
    cookie = stack.session(ALICE)
    unrecorded = stack.tokens.issue(ALICE)  # never recorded: not a live session
    expired = stack.tokens.issue(ALICE, now=datetime(2020, 1, 1, tzinfo=UTC))

    def get(session: str | None = None, **params: str) -> httpx.Response:
        headers = {"Cookie": f"ki_session={session}"} if session else {}
        return httpx.get(
            server.origin + "/api/v1/stream", headers=headers, params=params, timeout=10
        )

    for response, status, code in (
        (get(), 401, "not_signed_in"),
        (get(cookie + "x"), 401, "invalid_session"),
        (get(expired.token), 401, "session_expired"),
        (get(unrecorded.token), 401, "session_revoked"),
        (get(cookie, token=cookie), 400, "credentials_in_query"),
        (get(cookie, markets="BAD TICKER"), 400, "invalid_markets"),
        (get(cookie, other="1"), 400, "unknown_parameter"),
    ):
        assert response.status_code == status
        assert response.json()["error"] == code
        assert cookie not in response.text
    assert httpx.get(server.origin + "/healthz").status_code == 200
    assert httpx.get(server.origin + "/readyz").json() == {"status": "ready"}
    missing = httpx.post(server.origin + "/api/v1/stream")
    assert missing.status_code == 405 and missing.json()["error"] == "method_not_allowed"
    live = SseClient(server.origin, cookie).start()
    live.wait_for(lambda c: bool(c.of("snapshot")))
    with stack.owner.begin() as conn:
        revoke_user_sessions(conn, ALICE)
    live.wait_for(lambda c: c.ended.is_set())
    assert live.of("error")[-1].json()["error"] == "session_revoked"


def test_restart_restores_the_cache_and_a_resumed_client_ends_equal(stack: Stack) -> None:
    first = stack.start()
    cookie = stack.session(ALICE)
    watcher = SseClient(first.origin, cookie).start()
    watcher.wait_for(lambda c: c.connection() == "connected")
    for _ in range(3):
        stack.simulator.fill(stack.accounts[ALICE].key_id)
    eventually(lambda: shown(watcher) == stack.kalshi_positions(ALICE))
    time.sleep(1.5)  # one cache round
    took = first.sigterm()
    assert took < 10
    assert watcher.ended.wait(5) and watcher.raw.endswith(b"retry: 1000\n\n")
    with stack.owner.connect() as conn:
        cached = conn.execute(
            sa.text("SELECT count(*) FROM position_cache WHERE user_id = :u"), {"u": ALICE}
        ).scalar()
    assert cached == len(stack.kalshi_positions(ALICE))
    second = stack.start()
    assert second.service.restored_accounts >= 1
    stack.simulator.fill(stack.accounts[ALICE].key_id)
    resumed = SseClient(second.origin, cookie, last_event_id=watcher.last_id).start()
    fresh = SseClient(second.origin, cookie).start()
    eventually(lambda: shown(resumed) == stack.kalshi_positions(ALICE) == shown(fresh))
    assert resumed.events[0].event == "snapshot"  # another tracker run: a fresh snapshot


def test_under_socket_drops_and_delays_every_client_ends_equal_to_kalshi(
    stack: Stack, simulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="streamer.upstream")
    server = stack.start()
    clients = {
        user: SseClient(server.origin, stack.session(user)).start() for user in stack.accounts
    }
    for client in clients.values():
        client.wait_for(lambda c: c.connection() == "connected")
    drops = 0
    try:
        simulator.set_faults(ws_delay_ms=30)
        for round_ in range(24):
            for user, account in stack.accounts.items():
                if (round_ + hash(user)) % 2 == 0:
                    simulator.fill(account.key_id)
            if round_ % 6 == 5:
                simulator.set_faults(ws_drop=True)  # cut at the next dispatch
                drops += 1
            time.sleep(0.15)
    finally:
        simulator.set_faults()
    simulator.advance(1)  # a dispatch, so an armed drop is not left behind
    for user, client in clients.items():
        eventually(lambda c=client, u=user: shown(c) == stack.kalshi_positions(u), timeout=30)
        client.wait_for(lambda c: c.connection() == "connected", timeout=30)
        assert not client.ended.is_set()
    sessions = server.call(lambda: dict(server.service.upstream.sessions))
    for session in sessions.values():
        reasons = [reason for reason, _ in session.reconciliations]
        assert reasons.count("reconnect") >= drops - 1
    logged = [r.getMessage() for r in caplog.records if "reconciliation (" in r.getMessage()]
    assert len(logged) >= sum(len(s.reconciliations) for s in sessions.values())
