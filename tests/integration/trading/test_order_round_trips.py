"""Postgres round trips of one order on the deployables' own engine (ADR 0220, ADR 0221).

Real Postgres through :func:`shared.db.engine.create_database` (the pool policy every
deployable runs), the real exchange simulator, the account router in process. Every message
exchange pg8000 has with the server is recorded at the driver (``execute_simple`` and
``execute_unnamed``: each ends at the server's ``ReadyForQuery``), over exactly one request.

Before ADR 0220/0221 an order cost 6: the pool's pre-ping (``BEGIN``, ``SELECT 1``), the
authentication, the audit insert, ``COMMIT``, the completion. Now: the three statements,
and a one-round-trip ping only when the connection sat idle.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pg8000.core
import pytest
import sqlalchemy as sa

import shared.db.engine as engine_module
from shared.account.http_api import AccountApi, build_router, respond
from shared.account.service import AccountService
from shared.account.settings import AccountSettings
from shared.auth.principal import AuthContext, parse_cookies
from shared.auth.settings import AuthSettings
from shared.config import DatabaseSettings
from shared.db.engine import create_database
from shared.kalshi.environments import custom_environment
from shared.trading import audit
from tests.integration.auth.test_statement_count import (
    ORIGIN,
    _cent_market,
    _request,
    _Secrets,
)

pytestmark = pytest.mark.integration


class _Trips:
    def __init__(self) -> None:
        self.on = False
        self.sent: list[str] = []


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> _Trips:
    seen = _Trips()
    for name in ("execute_simple", "execute_unnamed"):
        original = getattr(pg8000.core.CoreConnection, name)

        def recording(self: Any, statement: str, *args: Any, _o: Any = original, **kw: Any) -> Any:
            if seen.on:
                seen.sent.append(statement.split()[0].upper())
            return _o(self, statement, *args, **kw)

        monkeypatch.setattr(pg8000.core.CoreConnection, name, recording)
    return seen


@pytest.fixture
def placed(
    migrated_database: str, simulator: Any, sim_account: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, str, str]]:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 1.0)
    db = create_database(DatabaseSettings(database_url=migrated_database, pool_size=1))
    settings = AccountSettings(
        kalshi=custom_environment(simulator.base_url),
        auth=AuthSettings(cookie_secure=False, allowed_origins=(ORIGIN,)),
        local=True,
    )
    service = AccountService(db.engine, AuthContext(settings.auth, _Secrets()), settings)
    router = build_router(AccountApi(lambda: service))
    try:
        key = {"key_id": sim_account.key_id, "private_key_pem": sim_account.private_key_pem}
        body, status, headers = respond(
            router, _request("POST", "/api/v1/account/authenticate", json=key)
        )
        assert status == 200, body
        cookies = parse_cookies(
            "; ".join(v.split(";", 1)[0] for n, v in headers if n == "Set-Cookie")
        )
        principal = service.authenticate(
            _request("GET", "/", headers={"Cookie": f"ki_session={cookies['ki_session']}"})
        )
        service.save_preferences(principal, {"trading_enabled": True})
        token = service.create_token(principal, {"name": "trips", "scope": "trade"})["token"]
        yield router, token, _cent_market(simulator.base_url)
    finally:
        db.dispose()


def _order(router: Any, token: str, ticker: str, trips: _Trips) -> list[str]:
    ticket = {"ticker": ticker, "side": "yes", "action": "buy", "count": "1", "price": "0.01"}
    request = _request(
        "POST",
        "/api/v1/account/orders",
        json={**ticket, "client_order_id": str(uuid.uuid4())},
        headers={"Authorization": f"Bearer {token}"},
    )
    trips.sent.clear()
    trips.on = True
    try:
        body, status, _ = respond(router, request)
    finally:
        trips.on = False
    assert status == 201, body
    return list(trips.sent)


def test_an_order_is_three_round_trips_and_a_ping_only_after_idle(
    placed: tuple[Any, str, str], trips: _Trips, migrated_database: str
) -> None:
    router, token, ticker = placed
    _order(router, token, ticker, trips)  # the market's rules into the cache
    # Authentication (token, stamp, status), the audit insert reading the settings, the
    # completion: each committed as Postgres answers it; no BEGIN, no COMMIT, no ping.
    assert _order(router, token, ticker, trips) == ["WITH", "INSERT", "UPDATE"]
    time.sleep(1.1)  # idle past the window: one SELECT 1 first, sent alone
    assert _order(router, token, ticker, trips) == ["SELECT", "WITH", "INSERT", "UPDATE"]

    # Each statement committed on its own: the stamp and every row are durable.
    engine = sa.create_engine(migrated_database, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            stamped = conn.execute(sa.text("SELECT last_used_at FROM api_tokens")).scalar_one()
            user_id = conn.execute(sa.text("SELECT user_id FROM api_tokens")).scalar_one()
            rows = audit.list_audit(conn, user_id)
    finally:
        engine.dispose()
    assert stamped is not None
    assert [(r.status, r.http_status) for r in rows[:3]] == [("accepted", 201)] * 3
