"""How many statements and pool checkouts one authenticated request costs (ADR 0205).

Real Postgres (an engine with the pool's pre-ping on, as every deployable's), the real
exchange simulator, the account router in process. Statements are counted with
SQLAlchemy's ``before_cursor_execute``, checkouts with the pool's ``checkout`` event (each
one is a pre-ping: pg8000's ``BEGIN`` and ``SELECT 1``), over exactly one request.

Before ADR 0205 placing an order with an API token cost 5 statements on 3 checkouts (the
token lookup and its ``last_used_at`` stamp, the credential status re-read, the audit
insert, the completion) and a token's read 2 on 2; these tests fail on those counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from werkzeug.test import EnvironBuilder

from shared.account.http_api import AccountApi, build_router, respond
from shared.account.service import AccountService
from shared.account.settings import AccountSettings
from shared.auth.principal import AuthContext, parse_cookies
from shared.auth.settings import AuthSettings
from shared.kalshi.environments import custom_environment
from shared.trading import audit

pytestmark = pytest.mark.integration

ORIGIN = "http://localhost:8080"


class _Secrets:
    def __init__(self) -> None:
        from devstack.services.secret_manager import SEEDED_SECRETS

        self._values = {name: make() for name, make in SEEDED_SECRETS.items()}

    def get(self, name: str, version: str = "latest") -> bytes:
        return self._values[name]


@dataclass
class _Counter:
    statements: list[str] = field(default_factory=list)
    checkouts: int = 0
    on: bool = False

    def reset(self) -> None:
        self.statements.clear()
        self.checkouts = 0


@dataclass
class _Stack:
    service: AccountService
    router: Any
    counter: _Counter
    session: str
    csrf: str
    token: str
    ticker: str


def _request(method: str, path: str, **kwargs: Any) -> Any:
    return EnvironBuilder(method=method, path=path, **kwargs).get_request()


def _cent_market(base_url: str) -> str:
    markets = httpx.get(
        f"{base_url}/markets", params={"status": "open", "limit": 1000}, timeout=30
    ).json()["markets"]
    for market in markets:
        steps = [r["step"] for r in market.get("price_ranges") or []]
        if steps == ["0.0100"]:
            return str(market["ticker"])
    raise RuntimeError("no open cent market on the simulator")


@pytest.fixture
def stack(migrated_database: str, simulator: Any, sim_account: Any) -> Iterator[_Stack]:
    engine = sa.create_engine(migrated_database, pool_pre_ping=True, pool_size=2)
    counter = _Counter()

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _statement(*args: Any) -> None:
        if counter.on:
            counter.statements.append(str(args[2]).split()[0].upper())

    @sa.event.listens_for(engine.pool, "checkout")
    def _checkout(*_: Any) -> None:
        if counter.on:
            counter.checkouts += 1

    settings = AccountSettings(
        kalshi=custom_environment(simulator.base_url),
        auth=AuthSettings(cookie_secure=False, allowed_origins=(ORIGIN,)),
        local=True,
    )
    service = AccountService(engine, AuthContext(settings.auth, _Secrets()), settings)
    router = build_router(AccountApi(lambda: service))
    try:
        body, status, headers = respond(
            router,
            _request(
                "POST",
                "/api/v1/account/authenticate",
                json={"key_id": sim_account.key_id, "private_key_pem": sim_account.private_key_pem},
            ),
        )
        assert status == 200, body
        cookies = parse_cookies(
            "; ".join(v.split(";", 1)[0] for n, v in headers if n == "Set-Cookie")
        )
        principal = service.authenticate(
            _request("GET", "/", headers={"Cookie": f"ki_session={cookies['ki_session']}"})
        )
        service.save_preferences(principal, {"trading_enabled": True})
        token = service.create_token(principal, {"name": "count", "scope": "trade"})["token"]
        yield _Stack(
            service,
            router,
            counter,
            cookies["ki_session"],
            cookies["ki_csrf"],
            token,
            _cent_market(simulator.base_url),
        )
    finally:
        engine.dispose()


def _counted(stack: _Stack, request: Any) -> tuple[int, list[str], int]:
    stack.counter.reset()
    stack.counter.on = True
    try:
        _, status, _ = respond(stack.router, request)
    finally:
        stack.counter.on = False
    return status, list(stack.counter.statements), stack.counter.checkouts


def _order(stack: _Stack, headers: dict[str, str]) -> Any:
    ticket = {
        "ticker": stack.ticker,
        "side": "yes",
        "action": "buy",
        "count": "1",
        "price": "0.01",
        "client_order_id": str(uuid.uuid4()),
    }
    return _request("POST", "/api/v1/account/orders", json=ticket, headers=headers)


def test_an_order_with_a_token_is_three_statements_on_one_checkout(stack: _Stack) -> None:
    bearer = {"Authorization": f"Bearer {stack.token}"}
    # The first order of the token also stamps last_used_at: still the same one statement.
    for _ in range(2):
        status, statements, checkouts = _counted(stack, _order(stack, bearer))
        assert status == 201
        # Authentication (token, stamp, credential status), the audit insert that reads
        # the settings, the completion.
        assert statements == ["WITH", "INSERT", "UPDATE"]
        assert checkouts == 1
    with stack.service.engine.begin() as conn:
        rows = audit.list_audit(conn, stack.service.authenticate(
            _request("GET", "/", headers=bearer)
        ).user_id)  # fmt: skip
        stamped = conn.execute(sa.text("SELECT last_used_at FROM api_tokens")).scalar_one()
    # Both rows committed and completed: the shared transaction and the lone completion.
    assert [(r.status, r.http_status, r.via) for r in rows[:2]] == [("accepted", 201, "token")] * 2
    assert stamped is not None


def test_an_order_with_a_session_is_three_statements_on_one_checkout(stack: _Stack) -> None:
    headers = {
        "Cookie": f"ki_session={stack.session}; ki_csrf={stack.csrf}",
        "Origin": ORIGIN,
        "X-CSRF-Token": stack.csrf,
    }
    status, statements, checkouts = _counted(stack, _order(stack, headers))
    assert status == 201
    assert statements == ["SELECT", "INSERT", "UPDATE"]
    assert checkouts == 1


def test_a_read_is_one_statement_whichever_credential(stack: _Stack) -> None:
    for headers in (
        {"Cookie": f"ki_session={stack.session}"},
        {"Authorization": f"Bearer {stack.token}"},
    ):
        path = "/api/v1/account/positions"
        assert respond(stack.router, _request("GET", path, headers=headers))[1] == 200  # cached
        status, statements, checkouts = _counted(stack, _request("GET", path, headers=headers))
        assert status == 200
        assert len(statements) == 1 and checkouts == 1


def test_a_refused_token_order_writes_nothing(stack: _Stack) -> None:
    """A token that is not live is refused by the one statement, before any audit row."""
    bearer = {"Authorization": "Bearer ki_" + "A" * 43}
    status, statements, checkouts = _counted(stack, _order(stack, bearer))
    assert status == 401
    assert statements == ["WITH"] and checkouts == 1
    with stack.service.engine.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM order_audit")).scalar_one() == 0
