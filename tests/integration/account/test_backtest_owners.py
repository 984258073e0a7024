"""Backtest runs belong to their owner (migration 0006): a user, or a client address for
anonymous local runs. Reads, deletes and the anonymous quota are scoped in SQL, on a real
Postgres; deleting a user deletes their runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from shared.backtest.errors import BacktestNotFound, InvalidBacktestRequest
from shared.backtest.runs import RunOwner
from shared.backtest.service import BacktestService, parse_request
from shared.config import DatabaseSettings
from shared.db.engine import Database, create_database

pytestmark = pytest.mark.integration

BODY = {
    "strategy": "momentum",
    "markets": {"series": ["KXOWN"]},
    "start": "2026-06-01T00:00:00Z",
    "end": "2026-06-02T00:00:00Z",
}


@pytest.fixture
def database(migrated_database: str) -> Iterator[Database]:
    db = create_database(DatabaseSettings(database_url=migrated_database))
    try:
        yield db
    finally:
        db.dispose()


def _user(db: Database, key_id: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, kalshi_key_id, environment) VALUES (:id, :key, 'demo')"
            ),
            {"id": user_id, "key": key_id},
        )
    return user_id


def test_each_owner_sees_gets_and_deletes_only_its_own_runs(database: Database) -> None:
    service = BacktestService(database)
    alice = RunOwner(user_id=_user(database, "alice"))
    bob = RunOwner(user_id=_user(database, "bob"))
    here = RunOwner(address="203.0.113.7")
    request = parse_request(BODY)
    runs = {
        name: service.create_run(request, owner=owner)
        for name, owner in (("alice", alice), ("bob", bob), ("here", here), ("nobody", None))
    }

    def listed(owner: RunOwner) -> set[str]:
        return {r["id"] for r in service.list_runs(owner=owner)["items"]}

    assert listed(alice) == {str(runs["alice"])}
    assert listed(bob) == {str(runs["bob"])}
    assert listed(here) == {str(runs["here"])}
    # A run from before owners existed is listed to nobody, anonymous callers included.
    assert all(str(runs["nobody"]) not in listed(o) for o in (alice, bob, here))
    assert service.get_run(runs["alice"], owner=alice)["id"] == str(runs["alice"])
    for intruder in (bob, here, RunOwner(address="198.51.100.1")):
        with pytest.raises(BacktestNotFound):
            service.get_run(runs["alice"], owner=intruder)
        with pytest.raises(BacktestNotFound):
            service.delete_run(runs["alice"], owner=intruder)
    # Another user's run answers exactly like a run that does not exist.
    with pytest.raises(BacktestNotFound) as missing:
        service.get_run(uuid.uuid4(), owner=bob)
    with pytest.raises(BacktestNotFound) as foreign:
        service.get_run(runs["alice"], owner=bob)
    assert str(missing.value).split()[:2] == str(foreign.value).split()[:2]
    service.delete_run(runs["alice"], owner=alice)
    assert listed(alice) == set()


def test_the_anonymous_quota_counts_per_client_address(database: Database) -> None:
    service = BacktestService(database)
    here, elsewhere = RunOwner(address="203.0.113.8"), RunOwner(address="203.0.113.9")
    request = parse_request(BODY)
    for _ in range(2):
        service.create_run(request, owner=here)
    with pytest.raises(InvalidBacktestRequest) as limited:
        service.submit(BODY, owner=here, address_quota=2)
    assert limited.value.code == "quota_exceeded"
    # Below the quota the request goes on to the usual checks (no such markets here).
    with pytest.raises(InvalidBacktestRequest) as next_check:
        service.submit(BODY, owner=elsewhere, address_quota=2)
    assert next_check.value.code == "no_markets"


def test_deleting_a_user_deletes_their_runs(database: Database) -> None:
    service = BacktestService(database)
    owner = RunOwner(user_id=_user(database, "leaving"))
    run_id = service.create_run(parse_request(BODY), owner=owner)
    with database.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": owner.user_id})
        left = conn.execute(
            sa.text("SELECT count(*) FROM backtest_runs WHERE id = :id"), {"id": run_id}
        ).scalar_one()
    assert left == 0


def test_a_run_has_at_most_one_owner(database: Database) -> None:
    with pytest.raises(ValueError):
        RunOwner()
    with pytest.raises(ValueError):
        RunOwner(user_id=uuid.uuid4(), address="203.0.113.1")
    user_id = _user(database, "both")
    refused = pytest.raises(sa.exc.DBAPIError, match="ck_backtest_runs_one_owner")
    with refused, database.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO backtest_runs (id, status, strategy, strategy_version, start_ts, "
                "end_ts, owner_id, owner_address) VALUES (:id, 'queued', 'm', '1', now(), "
                "now(), :user, '203.0.113.1')"
            ),
            {"id": uuid.uuid4(), "user": user_id},
        )
