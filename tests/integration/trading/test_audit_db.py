"""``order_audit`` in real Postgres, as the deployables' own roles: the account function
records and completes rows; no other deployable reads them; rows go with their user."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from shared.auth.principal import Principal
from shared.db.roles import deployable_url, ensure_local_logins
from shared.trading import audit
from shared.trading.audit import AuditAnswer

pytestmark = pytest.mark.integration


@pytest.fixture
def database(migrated_database: str) -> Iterator[str]:
    owner = sa.create_engine(migrated_database, poolclass=NullPool)
    with owner.begin() as conn:
        ensure_local_logins(conn)
    owner.dispose()
    yield migrated_database


def _user(url: str) -> uuid.UUID:
    owner = sa.create_engine(url, poolclass=NullPool)
    user_id = uuid.uuid4()
    with owner.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, kalshi_key_id, environment) VALUES (:id, :k, 'custom')"
            ),
            {"id": user_id, "k": f"key-{user_id.hex[:8]}"},
        )
    owner.dispose()
    return user_id


def test_the_account_role_records_completes_and_reads_its_rows(database: str) -> None:
    alice, bob = _user(database), _user(database)
    engine = sa.create_engine(deployable_url(database, "account"), poolclass=NullPool)
    try:
        me = Principal(alice, "session", "trade")
        with engine.begin() as conn:
            sent = audit.record_request(
                conn, me, "place", {"side": "no", "price": "0.5500"}, ticker="KX-A",
                client_order_id="c-1",
            )  # fmt: skip
            refused = audit.record_request(
                conn, me, "place", {"side": "yes"}, ticker="KX-A",
                answer=AuditAnswer("rejected", 403, error_code="trading_disabled"),
            )  # fmt: skip
        with engine.begin() as conn:
            audit.record_answer(
                conn, alice, sent, AuditAnswer("accepted", 201, "ord-1", {"order_id": "ord-1"})
            )
            # Another user's id never completes Alice's row.
            audit.record_answer(conn, bob, refused, AuditAnswer("accepted", 200, "ord-x"))
        with engine.begin() as conn:
            rows = audit.list_audit(conn, alice)
            assert [(r.id, r.status, r.order_id) for r in rows] == [
                (refused, "rejected", None),
                (sent, "accepted", "ord-1"),
            ]
            assert rows[1].response == {"order_id": "ord-1"} and rows[1].answered_at
            assert rows[0].answered_at is not None and rows[0].error_code == "trading_disabled"
            assert audit.order_sides(conn, alice, ["ord-1", "ord-2"]) == {"ord-1": "no"}
            assert audit.order_sides(conn, bob, ["ord-1"]) == {}
            assert audit.list_audit(conn, bob) == []
    finally:
        engine.dispose()

    owner = sa.create_engine(database, poolclass=NullPool)
    with owner.begin() as conn:
        conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": alice})
        left = conn.execute(sa.text("SELECT count(*) FROM order_audit")).scalar_one()
    owner.dispose()
    assert left == 0


@pytest.mark.parametrize("deployable", ["markets", "backtests", "poll_markets", "streamer"])
def test_no_other_deployable_reads_the_audit(database: str, deployable: str) -> None:
    engine = sa.create_engine(deployable_url(database, deployable), poolclass=NullPool)
    try:
        with (
            pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
            engine.connect() as conn,
        ):
            conn.execute(sa.text("SELECT 1 FROM order_audit"))
    finally:
        engine.dispose()


def test_the_account_role_cannot_delete_audit_rows(database: str) -> None:
    engine = sa.create_engine(deployable_url(database, "account"), poolclass=NullPool)
    try:
        with (
            pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
            engine.begin() as conn,
        ):
            conn.execute(sa.text("DELETE FROM order_audit"))
    finally:
        engine.dispose()


def test_one_statement_records_the_order_and_reads_the_settings(database: str) -> None:
    alice = _user(database)
    owner = sa.create_engine(database, poolclass=NullPool)
    with owner.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO user_settings (user_id, settings) "
                "VALUES (:u, CAST('{\"trading_enabled\": true}' AS jsonb))"
            ),
            {"u": alice},
        )
    owner.dispose()
    engine = sa.create_engine(deployable_url(database, "account"), poolclass=NullPool)
    me = Principal(alice, "token", "trade", token_id=uuid.uuid4())
    try:
        with engine.begin() as conn:
            sent, settings = audit.record_sent_reading_settings(
                conn, me, "place", {"side": "yes", "kalshi": {"side": "bid"}}, ticker="KX-A",
                client_order_id="c-2",
            )  # fmt: skip
            assert settings == {"trading_enabled": True}
            refused, _ = audit.record_sent_reading_settings(
                conn, me, "place", {"side": "yes", "kalshi": {"side": "bid"}}, ticker="KX-A",
                client_order_id="c-3",
            )  # fmt: skip
            audit.record_answer(
                conn, alice, refused, AuditAnswer("rejected", 403, error_code="x"), unsent=True
            )
        with engine.begin() as conn:
            rows = {r.id: r for r in audit.list_audit(conn, alice)}
        assert rows[sent].status == "sent" and rows[sent].request["kalshi"] == {"side": "bid"}
        assert rows[sent].via == "token" and rows[sent].answered_at is None
        assert rows[refused].status == "rejected" and "kalshi" not in rows[refused].request
    finally:
        engine.dispose()
