"""The account service on real Postgres and the real exchange simulator, in process.

Covers what the end-to-end test cannot arrange through the gateway: Kalshi starting to
reject a stored key (the key is replaced under the service, as a key revoked at Kalshi
looks: its signatures stop verifying), the events each step announces, re-signing in, the
day-boundary job's idempotency, and a token whose user signed out. Secrets come from an
in-memory store in Secret Manager's formats; events go to a list (Pub/Sub is outside the
unit; the end-to-end test reads the real topic).
"""

from __future__ import annotations

import ssl
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from werkzeug.test import EnvironBuilder

from shared.account.events import decode_account_event
from shared.account.service import AccountError, AccountService
from shared.account.settings import AccountSettings
from shared.auth import credentials
from shared.auth.principal import AuthContext, AuthError, Principal
from shared.auth.settings import AuthSettings
from shared.kalshi.environments import custom_environment
from shared.kalshi.signing import generate_private_key_pem
from shared.messaging.envelope import Envelope

pytestmark = pytest.mark.integration


class _Secrets:
    def __init__(self) -> None:
        from devstack.services.secret_manager import SEEDED_SECRETS

        self._values = {name: make() for name, make in SEEDED_SECRETS.items()}

    def get(self, name: str, version: str = "latest") -> bytes:
        return self._values[name]


class _Events:
    def __init__(self) -> None:
        self.sent: list[Envelope] = []

    def publish(self, envelope: Envelope) -> None:
        self.sent.append(envelope)

    def kinds(self) -> list[tuple[str, str]]:
        return [(e.type, decode_account_event(e).reason) for e in self.sent]


@pytest.fixture
def service(migrated_database: str, simulator: Any) -> Iterator[tuple[AccountService, _Events]]:
    engine = sa.create_engine(migrated_database, poolclass=NullPool)
    settings = AccountSettings(
        kalshi=custom_environment(simulator.base_url), auth=AuthSettings(), local=True
    )
    events = _Events()
    service = AccountService(
        engine, AuthContext(settings.auth, _Secrets()), settings, events=events
    )
    try:
        yield service, events
    finally:
        engine.dispose()


def _cookie_request(session: str, method: str = "GET") -> Any:
    return EnvironBuilder(
        method=method, path="/api/v1/account/me", headers={"Cookie": f"ki_session={session}"}
    ).get_request()


def test_sign_in_stores_the_user_once_and_announces_it(
    service: tuple[AccountService, _Events], sim_account: Any
) -> None:
    svc, events = service
    first = svc.sign_in(sim_account.key_id, sim_account.private_key_pem, "203.0.113.5")
    again = svc.sign_in(sim_account.key_id, sim_account.private_key_pem, "203.0.113.5")
    assert first.user["id"] == again.user["id"]
    assert first.session.jti != again.session.jti
    assert events.kinds() == [("account.connected", "sign_in")] * 2
    with svc.engine.begin() as conn:
        users = conn.execute(sa.text("SELECT count(*) FROM users")).scalar_one()
        baselines = conn.execute(
            sa.text("SELECT source, value_dollars FROM account_baselines")
        ).all()
        stored = conn.execute(sa.text("SELECT ciphertext FROM user_credentials")).scalar_one()
    assert users == 1
    assert [(b.source, str(b.value_dollars)) for b in baselines] == [("sign_in", "1000.000000")]
    assert b"PRIVATE KEY" not in bytes(stored)
    principal = svc.authenticate(_cookie_request(again.session.token))
    assert svc.me(principal)["credential_status"] == "valid"


def test_a_sign_in_checks_the_key_once_and_builds_no_tls_context(
    service: tuple[AccountService, _Events], sim_account: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenSSL's RSA consistency check (~35 ms) runs once per sign-in, not again inside the
    transaction that stores the key, and the Kalshi client it checks the key with reuses
    the process's TLS context (building one loads the CA bundle: ~20 ms)."""
    from shared.auth import pem

    svc, _ = service
    svc.sign_in(sim_account.key_id, sim_account.private_key_pem, "203.0.113.11")  # warm
    checks: list[bool] = []
    load = pem.serialization.load_pem_private_key

    def counting_load(data: bytes, password: Any, **options: Any) -> Any:
        checks.append(not options.get("unsafe_skip_rsa_key_validation", False))
        return load(data, password, **options)

    contexts: list[object] = []
    create = ssl.create_default_context

    def counting_create(*args: Any, **kwargs: Any) -> Any:
        # pg8000 builds one per new connection (NullPool here); the clients' are counted.
        if any("httpx" in frame.filename for frame in traceback.extract_stack()):
            contexts.append(object())
        return create(*args, **kwargs)

    monkeypatch.setattr(pem.serialization, "load_pem_private_key", counting_load)
    monkeypatch.setattr(ssl, "create_default_context", counting_create)
    svc.sign_in(sim_account.key_id, sim_account.private_key_pem, "203.0.113.11")
    assert checks.count(True) == 1
    assert contexts == []


def test_a_key_kalshi_stops_accepting_is_revoked_on_the_next_read(
    service: tuple[AccountService, _Events], sim_account: Any
) -> None:
    svc, events = service
    signed_in = svc.sign_in(sim_account.key_id, sim_account.private_key_pem, "203.0.113.6")
    principal = svc.authenticate(_cookie_request(signed_in.session.token))
    assert svc.positions(principal)["positions"] == []
    user_id = uuid.UUID(signed_in.user["id"])
    # Kalshi no longer accepts what is stored: its signatures stop verifying.
    with svc.engine.begin() as conn:
        credentials.save_credential(
            conn, svc.auth.vault, user_id, sim_account.key_id, generate_private_key_pem()
        )
    svc._forget(user_id)  # another instance, or this one after its pool let the client go
    with pytest.raises(AccountError) as revoked:
        svc.portfolio(principal)
    assert (revoked.value.status, revoked.value.code) == (401, "kalshi_key_revoked")
    assert events.kinds()[-1] == ("account.disconnected", "key_revoked")
    with svc.engine.begin() as conn:
        status = credentials.credential_status(conn, user_id)
    assert status is not None and status.status == "invalid"
    assert status.invalid_reason and "BEGIN" not in status.invalid_reason
    # Every later request of the session is refused until the user signs in again.
    with pytest.raises(AuthError) as refused:
        svc.authenticate(_cookie_request(signed_in.session.token))
    assert refused.value.code == "kalshi_key_revoked"
    fresh = svc.sign_in(sim_account.key_id, sim_account.private_key_pem, "203.0.113.6")
    assert svc.me(svc.authenticate(_cookie_request(fresh.session.token)))["id"] == str(user_id)


def test_a_token_of_a_user_who_signed_out_reads_nothing(
    service: tuple[AccountService, _Events], sim_account: Any
) -> None:
    svc, events = service
    signed_in = svc.sign_in(sim_account.key_id, sim_account.private_key_pem, "203.0.113.7")
    session = svc.authenticate(_cookie_request(signed_in.session.token))
    token = svc.create_token(session, {"name": "cron", "scope": "read"})["token"]
    script = Principal(session.user_id, "token", "read", token_id=uuid.uuid4())
    assert "positions" in svc.positions(script)
    svc.sign_out(session)
    assert events.kinds()[-1] == ("account.disconnected", "logout")
    with pytest.raises(AccountError) as refused:
        svc.positions(script)
    assert (refused.value.status, refused.value.code) == (401, "kalshi_not_connected")
    assert token.startswith("ki_")


def test_the_day_boundary_job_records_each_user_once(
    service: tuple[AccountService, _Events], sim_account: Any, simulator: Any
) -> None:
    svc, _ = service
    other_key, other_pem = simulator.create_account(balance_dollars=250)
    svc.sign_in(sim_account.key_id, sim_account.private_key_pem, "203.0.113.8")
    svc.sign_in(other_key, other_pem, "203.0.113.8")
    day = svc.trading_day()
    with svc.engine.begin() as conn:  # the sign-in baselines of today: the job fills tomorrow
        conn.execute(sa.text("DELETE FROM account_baselines"))
    first = svc.record_day_boundary(day)
    second = svc.record_day_boundary(day)
    assert (first["users"], first["recorded"], first["failed"]) == (2, 2, 0)
    assert (second["recorded"], second["already"]) == (0, 2)
    with svc.engine.begin() as conn:
        rows = conn.execute(
            sa.text("SELECT source, value_dollars FROM account_baselines ORDER BY value_dollars")
        ).all()
    assert [(r.source, str(r.value_dollars)) for r in rows] == [
        ("day_boundary", "250.000000"),
        ("day_boundary", "1000.000000"),
    ]


def test_the_daily_job_purges_expired_sessions_revocations_and_counters(
    service: tuple[AccountService, _Events], sim_account: Any
) -> None:
    svc, _ = service
    live = svc.sign_in(sim_account.key_id, sim_account.private_key_pem, "203.0.113.12")
    with svc.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO user_sessions (jti, user_id, issued_at, expires_at) "
                "SELECT 'expired-jti', user_id, now() - interval '3 days', "
                "now() - interval '1 day' FROM user_sessions LIMIT 1"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO revoked_tokens (jti, expires_at) "
                "VALUES ('expired-revocation', now() - interval '1 hour')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO rate_limit_counters (bucket, window_start, hits, expires_at) "
                "VALUES ('signin:addr:old', now() - interval '1 hour', 3, "
                "now() - interval '1 minute')"
            )
        )
    report = svc.record_day_boundary(svc.trading_day())
    assert report["purged"]["sessions"] == 1
    assert report["purged"]["revoked"] == 1
    assert report["purged"]["counters"] >= 1
    with svc.engine.begin() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM user_sessions")).scalar_one()
    assert left == 1  # the live session stays, and still authenticates
    assert svc.authenticate(_cookie_request(live.session.token)).user_id


def test_kalshi_down_is_503_with_retry_after_and_a_cached_view_is_served_stale(
    service: tuple[AccountService, _Events], sim_account: Any, simulator: Any
) -> None:
    from shared.account.cache import AccountCache

    svc, _ = service
    clock = [0.0]
    svc.cache = AccountCache(3.0, clock=lambda: clock[0])
    signed_in = svc.sign_in(sim_account.key_id, sim_account.private_key_pem, "203.0.113.9")
    principal = svc.authenticate(_cookie_request(signed_in.session.token))
    fresh = svc.positions(principal)
    assert fresh["stale"] is False
    other_key, other_pem = simulator.create_account(balance_dollars=10)
    simulator.set_faults(rest_503_rate=1.0)
    try:
        with pytest.raises(AccountError) as down:
            svc.sign_in(other_key, other_pem, "203.0.113.9")
        assert (down.value.status, down.value.code) == (503, "kalshi_unavailable")
        assert down.value.retry_after and down.value.retry_after > 0
        clock[0] += 10.0  # every entry is past its TTL: a read must go to Kalshi
        stale = svc.positions(principal)
        assert stale["stale"] is True and stale["positions"] == fresh["positions"]
        with pytest.raises(AccountError) as no_copy:
            svc.fills(principal, None, 7)  # never read before: nothing to fall back on
        assert no_copy.value.status == 503
    finally:
        simulator.set_faults()


def test_a_session_older_than_20_hours_gets_a_new_cookie_and_the_old_one_ends(
    service: tuple[AccountService, _Events], sim_account: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from shared.account.http_api import AccountApi, build_router, respond
    from shared.auth import session_store

    svc, _ = service
    router = build_router(AccountApi(lambda: svc))
    signed_in = svc.sign_in(sim_account.key_id, sim_account.private_key_pem, "203.0.113.10")
    user_id = uuid.UUID(signed_in.user["id"])
    old = svc.auth.tokens.issue(user_id, datetime.now(UTC) - timedelta(hours=21))
    with svc.engine.begin() as conn:
        session_store.record_session(conn, old)

    _, status, headers = respond(router, _cookie_request(old.token))
    assert status == 200
    renewed = [v for k, v in headers if k == "Set-Cookie" and v.startswith("ki_session=")]
    assert len(renewed) == 1 and "HttpOnly" in renewed[0]
    new_token = renewed[0].split(";", 1)[0].split("=", 1)[1]
    assert new_token != old.token
    assert respond(router, _cookie_request(new_token))[1] == 200
    assert respond(router, _cookie_request(old.token))[1] == 401
    # A fresh session is left alone.
    _, _, quiet = respond(router, _cookie_request(signed_in.session.token))
    assert not [v for k, v in quiet if k == "Set-Cookie"]
