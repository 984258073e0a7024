"""The streamer end to end over loopback: real uvicorn, real SSE clients (httpx streaming),
real Postgres (as the streamer's role), the real simulator's WebSocket and REST, sessions
issued and revoked by the auth core, keys sealed in and loaded from the credential vault."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from shared.auth.session_store import revoke_user_sessions
from shared.kalshi.client import KalshiClient
from tests.integration.streamer.harness import SseClient
from tests.integration.streamer.stack import ALICE, BOB, Stack, eventually, shown

pytestmark = pytest.mark.integration


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
    account = stack.accounts[ALICE]
    with KalshiClient(base_url=stack.simulator.base_url, signer=account.signer) as client:
        rest = {f.fill_id: f for f in client.iter_fills()}
    streamed = {e.json()["fill_id"]: e.json() for e in alice.of("fill")}
    assert set(streamed) == set(rest)  # one fill, one id, on the stream and in the REST list
    for fill_id, body in streamed.items():
        assert body["order_id"] == rest[fill_id].order_id
        assert body["created_at"].endswith("Z")
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
