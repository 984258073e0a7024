"""API tokens on a real Postgres: create, list, verify, revoke; as the deployables' roles."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from shared.auth.api_tokens import (
    MAX_TOKENS_PER_USER,
    InvalidToken,
    TokenError,
    create_token,
    hash_token,
    list_tokens,
    revoke_token,
    verify_token,
)
from tests.integration.auth.conftest import ALICE, BOB

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EngineAs = Callable[..., sa.Engine]


def test_create_verify_list_revoke(auth_database: str, engine_as: EngineAs) -> None:
    account = engine_as(auth_database, "account")
    backtests = engine_as(auth_database, "backtests")
    with account.begin() as conn:
        plaintext, info = create_token(conn, ALICE, " deploy script ", "trade", now=T0)
    assert plaintext.startswith("ki_") and len(plaintext) == 46
    assert info.name == "deploy script" and info.prefix == plaintext[:11]
    assert plaintext not in repr(info)

    # The backtests API authenticates with it as its own role, and stamps last_used_at.
    with backtests.begin() as conn:
        principal = verify_token(conn, plaintext, now=T0 + timedelta(minutes=1))
    assert (principal.user_id, principal.token_id, principal.scope) == (ALICE, info.id, "trade")
    with account.begin() as conn:
        [listed] = list_tokens(conn, ALICE)
        assert listed.last_used_at == T0 + timedelta(minutes=1)
        assert list_tokens(conn, BOB) == []
        # Only the hash is stored.
        stored = conn.execute(sa.text("SELECT token_hash, prefix FROM api_tokens")).one()
        assert bytes(stored.token_hash) == hash_token(plaintext)
        # Bob cannot revoke Alice's token: not found.
        assert revoke_token(conn, BOB, info.id) is False
        assert revoke_token(conn, ALICE, uuid.uuid4()) is False
        assert revoke_token(conn, ALICE, info.id) is True
        assert revoke_token(conn, ALICE, info.id) is False
        assert list_tokens(conn, ALICE) == []
    with backtests.begin() as conn, pytest.raises(InvalidToken) as caught:
        verify_token(conn, plaintext, now=T0 + timedelta(minutes=2))
    assert caught.value.code == "revoked" and plaintext not in str(caught.value)


def test_expiry_unknown_and_malformed(auth_database: str, engine_as: EngineAs) -> None:
    engine = engine_as(auth_database, "account")
    with engine.begin() as conn:
        plaintext, _ = create_token(conn, BOB, "short", "read", T0 + timedelta(hours=1), now=T0)
        assert verify_token(conn, plaintext, now=T0 + timedelta(minutes=59)).scope == "read"
        for token, code, at in (
            (plaintext, "expired", T0 + timedelta(hours=1)),
            ("ki_" + "A" * 43, "unknown", T0),
            (plaintext[:-1], "malformed", T0),
            ("Bearer " + plaintext, "malformed", T0),
            ("", "malformed", T0),
        ):
            with pytest.raises(InvalidToken) as caught:
                verify_token(conn, token, now=at)
            assert caught.value.code == code


def test_last_used_is_written_at_most_once_a_minute(
    auth_database: str, engine_as: EngineAs
) -> None:
    engine = engine_as(auth_database, "backtest_worker")
    with engine_as(auth_database, "account").begin() as conn:
        plaintext, info = create_token(conn, ALICE, "n", "read", now=T0)
    for seconds in (0, 10, 59, 60, 61):
        with engine.begin() as conn:
            verify_token(conn, plaintext, now=T0 + timedelta(seconds=seconds))
    with engine.begin() as conn:
        last = conn.execute(
            sa.text("SELECT last_used_at FROM api_tokens WHERE id = :id"), {"id": info.id}
        ).scalar_one()
    assert last == T0 + timedelta(seconds=60)


def test_validation_and_the_per_user_bound(auth_database: str, engine_as: EngineAs) -> None:
    engine = engine_as(auth_database, "account")
    with engine.begin() as conn:
        for name, scope, expires, code in (
            ("", "read", None, "invalid_name"),
            ("x" * 65, "read", None, "invalid_name"),
            ("bad\nname", "read", None, "invalid_name"),
            ("n", "admin", None, "invalid_scope"),
            ("n", "read", T0 - timedelta(seconds=1), "invalid_expiry"),
            ("n", "read", datetime(2027, 1, 1), "invalid_expiry"),
        ):
            with pytest.raises(TokenError) as caught:
                create_token(conn, ALICE, name, scope, expires, now=T0)
            assert caught.value.code == code
        for i in range(MAX_TOKENS_PER_USER):
            create_token(conn, ALICE, f"t{i}", "read", now=T0)
        with pytest.raises(TokenError) as caught:
            create_token(conn, ALICE, "one more", "read", now=T0)
        assert caught.value.code == "too_many_tokens"
        create_token(conn, BOB, "bob's first", "read", now=T0)


def test_markets_role_cannot_read_tokens(auth_database: str, engine_as: EngineAs) -> None:
    engine = engine_as(auth_database, "markets")
    with pytest.raises(sa.exc.ProgrammingError), engine.connect() as conn:
        conn.execute(sa.text("SELECT token_hash FROM api_tokens"))


def test_deleting_the_user_deletes_its_tokens(auth_database: str, engine_as: EngineAs) -> None:
    engine = engine_as(auth_database, "account")
    with engine.begin() as conn:
        plaintext, _ = create_token(conn, ALICE, "n", "read", now=T0)
        conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": ALICE})
        with pytest.raises(InvalidToken):
            verify_token(conn, plaintext, now=T0)
