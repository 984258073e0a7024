"""authenticate() end to end on a real Postgres, as the backtests role (a deployable that
authenticates requests itself): sessions, revocation, CSRF, API tokens, key status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from shared.auth.api_tokens import create_token, revoke_token
from shared.auth.credentials import (
    CredentialMissing,
    credential_status,
    delete_credential,
    load_signer,
    mark_invalid,
    save_credential,
)
from shared.auth.csrf import new_csrf_token
from shared.auth.principal import AuthError, authenticate, require_scope
from shared.auth.session_store import (
    is_revoked,
    purge_expired,
    record_session,
    revoke_session,
    revoke_user_sessions,
)
from shared.auth.sessions import SessionTokens, SigningKeys
from shared.auth.settings import AuthSettings
from shared.auth.vault import CredentialUnreadable, CredentialVault, KeyRing
from shared.kalshi.signing import generate_private_key_pem
from tests.integration.auth.conftest import ALICE, BOB

pytestmark = pytest.mark.integration

SETTINGS = AuthSettings(allowed_origins=("https://insights.example.com",))
TOKENS = SessionTokens(SigningKeys.generate(), SETTINGS.issuer, SETTINGS.audience)
VAULT = CredentialVault(KeyRing({"1": bytes(range(32))}, "1"))
EngineAs = Callable[..., sa.Engine]
PEM = generate_private_key_pem()
CSRF = new_csrf_token()


def request(
    method: str = "GET",
    session: str | None = None,
    bearer: str | None = None,
    csrf: str | None = CSRF,
    origin: str | None = "https://insights.example.com",
) -> Request:
    headers: dict[str, str] = {}
    cookies = []
    if session is not None:
        cookies.append(f"ki_session={session}")
        cookies.append(f"ki_csrf={CSRF}")
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    if origin is not None:
        headers["Origin"] = origin
    return Request(
        EnvironBuilder(
            method=method, path="/api/v1/backtests", headers=headers, base_url="http://fn"
        ).get_environ()
    )


def signed_in(engine: sa.Engine, user: object = ALICE, now: datetime | None = None) -> str:
    """What the account function does at sign-in: store the key, record the session."""
    with engine.begin() as conn:
        save_credential(conn, VAULT, user, f"key-{user}", PEM)  # type: ignore[arg-type]
        issued = TOKENS.issue(user, now=now)  # type: ignore[arg-type]
        record_session(conn, issued)
    return issued.token


def refused(engine: sa.Engine, req: Request, status: int, code: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        authenticate(req, tokens=TOKENS, settings=SETTINGS, engine=engine)
    assert (caught.value.status, caught.value.code) == (status, code)
    for secret in (PEM[40:80], req.headers.get("Cookie", "")[11:60] or "-"):
        assert secret not in caught.value.message
    return caught.value


def test_session_lifecycle(auth_database: str, engine_as: EngineAs) -> None:
    account = engine_as(auth_database, "account")
    backtests = engine_as(auth_database, "backtests")
    token = signed_in(account)

    principal = authenticate(
        request(session=token), tokens=TOKENS, settings=SETTINGS, engine=backtests
    )
    assert (principal.user_id, principal.via, principal.scope) == (ALICE, "session", "trade")
    assert principal.jti and require_scope(principal, "trade") is principal
    posted = authenticate(
        request("POST", session=token), tokens=TOKENS, settings=SETTINGS, engine=backtests
    )
    assert posted.user_id == ALICE

    # CSRF on unsafe methods only; each refusal before any database work.
    refused(backtests, request("POST", session=token, csrf=None), 403, "csrf_rejected")
    refused(backtests, request("POST", session=token, csrf="wrong"), 403, "csrf_rejected")
    refused(
        backtests,
        request("DELETE", session=token, origin="https://evil.example"),
        403,
        "csrf_rejected",
    )
    refused(backtests, request("POST", session=token, origin=None), 403, "csrf_rejected")

    # Logout revokes every session of the user, and only theirs.
    second = signed_in(account)
    bob = signed_in(account, BOB)
    with account.begin() as conn:
        assert revoke_user_sessions(conn, ALICE) == 2
        assert revoke_user_sessions(conn, ALICE) == 0
    for revoked in (token, second):
        error = refused(backtests, request(session=revoked), 401, "session_revoked")
        assert error.headers["WWW-Authenticate"].startswith("Bearer")
    assert (
        authenticate(
            request(session=bob), tokens=TOKENS, settings=SETTINGS, engine=backtests
        ).user_id
        == BOB
    )


def test_revoke_one_session_and_purge(auth_database: str, engine_as: EngineAs) -> None:
    account = engine_as(auth_database, "account")
    t0 = datetime.now(UTC).replace(microsecond=0)
    old = signed_in(account, now=t0 - timedelta(hours=30))
    live = signed_in(account, now=t0)
    with account.begin() as conn:
        jti_live = TOKENS.verify(live, now=t0).jti
        assert not is_revoked(conn, jti_live)
        assert revoke_session(conn, jti_live) is True
        assert revoke_session(conn, jti_live) is False
        assert is_revoked(conn, jti_live)
        assert is_revoked(conn, "never-issued-session-id")
        report = purge_expired(conn, now=t0)
        assert (report.sessions, report.revoked) == (1, 0)  # the 30-hour-old one
        report = purge_expired(conn, now=t0 + timedelta(days=2))
        assert (report.sessions, report.revoked) == (0, 1)
    refused(engine_as(auth_database, "backtests"), request(session=old), 401, "session_expired")


def test_unrecorded_tampered_and_missing(auth_database: str, engine_as: EngineAs) -> None:
    backtests = engine_as(auth_database, "backtests")
    signed_in(engine_as(auth_database, "account"))
    unrecorded = TOKENS.issue(ALICE).token  # signed, but never recorded: not a live session
    refused(backtests, request(session=unrecorded), 401, "session_revoked")
    other = SessionTokens(SigningKeys.generate(), SETTINGS.issuer, SETTINGS.audience)
    refused(backtests, request(session=other.issue(ALICE).token), 401, "invalid_session")
    refused(backtests, request(session="garbage"), 401, "invalid_session")
    refused(backtests, request(), 401, "not_signed_in")


def test_kalshi_key_revoked_and_logged_out_key(auth_database: str, engine_as: EngineAs) -> None:
    account = engine_as(auth_database, "account")
    backtests = engine_as(auth_database, "backtests")
    token = signed_in(account)
    with account.begin() as conn:
        assert mark_invalid(conn, ALICE, "INVALID_KEY: key revoked " + "x" * 900)
        status = credential_status(conn, ALICE)
        assert status is not None and status.status == "invalid"
        assert status.invalid_reason is not None and len(status.invalid_reason) == 500
        assert not mark_invalid(conn, BOB, "no row")
    refused(backtests, request(session=token), 401, "kalshi_key_revoked")
    # Signing in again with a working key restores it.
    token = signed_in(account)
    assert authenticate(request(session=token), tokens=TOKENS, settings=SETTINGS, engine=backtests)
    with account.begin() as conn:
        assert delete_credential(conn, ALICE)
    refused(backtests, request(session=token), 401, "session_revoked")


def test_api_tokens_through_authenticate(auth_database: str, engine_as: EngineAs) -> None:
    account = engine_as(auth_database, "account")
    backtests = engine_as(auth_database, "backtests")
    with account.begin() as conn:
        read_token, _ = create_token(conn, ALICE, "reader", "read")
        trade_token, trade_info = create_token(conn, ALICE, "trader", "trade")
    # A bearer token needs no CSRF token or Origin, even for POST.
    reader = authenticate(
        request("POST", bearer=read_token, csrf=None, origin=None),
        tokens=TOKENS,
        settings=SETTINGS,
        engine=backtests,
    )
    assert (reader.via, reader.scope, reader.jti) == ("token", "read", None)
    with pytest.raises(AuthError) as caught:
        require_scope(reader, "trade")
    assert (caught.value.status, caught.value.code) == (403, "insufficient_scope")
    trader = authenticate(
        request(bearer=trade_token), tokens=TOKENS, settings=SETTINGS, engine=backtests
    )
    assert trader.allows("read") and trader.token_id == trade_info.id
    with account.begin() as conn:
        revoke_token(conn, ALICE, trade_info.id)
    refused(backtests, request(bearer=trade_token), 401, "invalid_token")
    refused(backtests, request(bearer="ki_" + "x" * 43), 401, "invalid_token")
    bad_scheme = request()
    bad_scheme.headers = {"Authorization": f"Basic {read_token}"}  # type: ignore[assignment]
    refused(backtests, bad_scheme, 401, "invalid_token")


def test_credentials_round_trip_and_binding(auth_database: str, engine_as: EngineAs) -> None:
    account = engine_as(auth_database, "account")
    with account.begin() as conn:
        save_credential(conn, VAULT, ALICE, "key-alice", PEM)
        signer = load_signer(conn, VAULT, ALICE)
        assert signer.key_id == "key-alice" and PEM[40:80] not in repr(signer)
        stored = conn.execute(
            sa.text("SELECT nonce, ciphertext FROM user_credentials WHERE user_id = :u"),
            {"u": ALICE},
        ).one()
        assert b"PRIVATE KEY" not in bytes(stored.ciphertext)
        # A row copied onto another user does not open.
        conn.execute(
            sa.text(
                "INSERT INTO user_credentials (user_id, kalshi_key_id, key_version, nonce, "
                "ciphertext) SELECT :bob, kalshi_key_id, key_version, nonce, ciphertext "
                "FROM user_credentials WHERE user_id = :alice"
            ),
            {"bob": BOB, "alice": ALICE},
        )
        with pytest.raises(CredentialUnreadable):
            load_signer(conn, VAULT, BOB)
        conn.execute(sa.text("DELETE FROM user_credentials WHERE user_id = :u"), {"u": BOB})
        with pytest.raises(CredentialMissing):
            load_signer(conn, VAULT, BOB)


def test_backtests_role_sees_credential_status_never_ciphertext(
    auth_database: str, engine_as: EngineAs
) -> None:
    signed_in(engine_as(auth_database, "account"))
    backtests = engine_as(auth_database, "backtests")
    with backtests.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM user_credentials")).scalar_one() == "valid"
    for column in ("ciphertext", "nonce", "kalshi_key_id", "*"):
        with pytest.raises(sa.exc.ProgrammingError), backtests.connect() as conn:
            conn.execute(sa.text(f"SELECT {column} FROM user_credentials"))
    with pytest.raises(sa.exc.ProgrammingError), backtests.begin() as conn:
        conn.execute(sa.text("UPDATE api_tokens SET scope = 'trade'"))
    with pytest.raises(sa.exc.ProgrammingError), backtests.begin() as conn:
        conn.execute(sa.text("DELETE FROM revoked_tokens"))
