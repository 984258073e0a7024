"""authenticate() decisions that need no database, AuthContext's key-ring caching, and the
auth settings."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.auth.principal import (
    AuthContext,
    AuthError,
    Principal,
    authenticate,
    parse_cookies,
    require_scope,
)
from shared.auth.sessions import SessionTokens, SigningKeys, signing_keys_to_secret
from shared.auth.settings import AuthSettings
from shared.auth.vault import KeyRing, key_ring_to_secret
from shared.config import ConfigError

USER = uuid.UUID("2f1e0c9a-5b7d-4c3e-9a8b-0d1e2f3a4b5c")
SETTINGS = AuthSettings()
KEYS = SigningKeys.generate()
TOKENS = SessionTokens(KEYS, SETTINGS.issuer, SETTINGS.audience)


class NoDatabase:
    """A connection that fails the test if authenticate() reaches the database."""

    def execute(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("the database was queried for a request refusable without it")


class FakeRequest:
    def __init__(self, method: str = "GET", **headers: str) -> None:
        self.method = method
        self.path = "/api/v1/backtests"
        self.headers = {k.replace("_", "-"): v for k, v in headers.items()}


def refused(request: FakeRequest, status: int, code: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        authenticate(request, tokens=TOKENS, settings=SETTINGS, conn=NoDatabase())  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.body() == {"error": code, "message": caught.value.message}
    assert caught.value.headers["Cache-Control"] == "no-store"
    return caught.value


def test_refusals_that_need_no_database() -> None:
    error = refused(FakeRequest(), 401, "not_signed_in")
    assert "WWW-Authenticate" in error.headers
    refused(FakeRequest(Cookie="other=1"), 401, "not_signed_in")
    refused(FakeRequest(Cookie="ki_session=not.a.jwt"), 401, "invalid_session")
    stranger = SessionTokens(SigningKeys.generate(), SETTINGS.issuer, SETTINGS.audience)
    refused(FakeRequest(Cookie=f"ki_session={stranger.issue(USER).token}"), 401, "invalid_session")
    expired = TOKENS.issue(USER, now=datetime(2020, 1, 1, tzinfo=UTC))
    refused(FakeRequest(Cookie=f"ki_session={expired.token}"), 401, "session_expired")
    refused(FakeRequest(Authorization="Basic dXNlcjpwdw=="), 401, "invalid_token")
    refused(FakeRequest(Authorization="Bearer not-ours"), 401, "invalid_token")
    # A valid session on an unsafe method without CSRF proof: 403 before any query.
    token = TOKENS.issue(USER).token
    error = refused(
        FakeRequest("POST", Cookie=f"ki_session={token}", Origin="https://evil.example"),
        403,
        "csrf_rejected",
    )
    assert "WWW-Authenticate" not in error.headers and token not in error.message


def test_exactly_one_of_engine_and_conn() -> None:
    with pytest.raises(ValueError):
        authenticate(FakeRequest(), tokens=TOKENS, settings=SETTINGS)


def test_scopes() -> None:
    reader = Principal(USER, "token", "read", token_id=uuid.uuid4())
    trader = Principal(USER, "token", "trade", token_id=uuid.uuid4())
    assert require_scope(trader, "read") is trader and require_scope(trader, "trade") is trader
    with pytest.raises(AuthError) as caught:
        require_scope(reader, "trade")
    assert (caught.value.status, caught.value.code) == (403, "insufficient_scope")
    assert not trader.allows("admin") and reader.jti is None


def test_split_cookie_headers_are_joined() -> None:
    from werkzeug.datastructures import Headers

    request = FakeRequest("POST")
    request.headers = Headers(  # type: ignore[assignment]
        [("Cookie", "ki_csrf=abc"), ("Cookie", "ki_session=not.a.jwt"), ("Origin", "x")]
    )
    refused(request, 401, "invalid_session")  # the session cookie in the second header is seen


def test_parse_cookies() -> None:
    assert parse_cookies('a=1; ki_session=x.y.z; b="q"; a=2; junk; =v') == {
        "a": "1",
        "ki_session": "x.y.z",
        "b": "q",
    }
    assert parse_cookies(None) == {} and parse_cookies("x=" + "a" * 9000) == {}


class Store:
    """A SecretStore over a dict (Secret Manager itself is exercised in the integration
    tests); counts reads."""

    def __init__(self, values: dict[str, bytes]) -> None:
        self.values = values
        self.reads = 0

    def get(self, name: str, version: str = "latest") -> bytes:
        self.reads += 1
        return self.values[name]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_auth_context_caches_and_refreshes_rings() -> None:
    store = Store(
        {
            "session-signing-keys": signing_keys_to_secret(KEYS),
            "credential-key-ring": key_ring_to_secret(KeyRing({"1": bytes(32)}, "1")),
        }
    )
    clock = Clock()
    ctx = AuthContext(AuthSettings(keys_refresh_s=60), store, clock=clock)
    assert store.reads == 0  # nothing read before first use
    assert ctx.tokens.keys.active == KEYS.active and ctx.vault.ring.newest == "1"
    ctx.tokens, ctx.vault  # noqa: B018
    assert store.reads == 2
    clock.now += 61
    ctx.tokens  # noqa: B018
    assert store.reads == 3
    ctx.refresh()
    ctx.vault  # noqa: B018
    assert store.reads == 4
    assert "aes256_key" not in repr(ctx.vault) and KEYS.active in repr(ctx.tokens)


def test_auth_context_rereads_the_ring_for_an_unknown_kid_once() -> None:
    rotated = SigningKeys.generate()
    store = Store({"session-signing-keys": signing_keys_to_secret(KEYS)})
    clock = Clock()
    ctx = AuthContext(AuthSettings(keys_refresh_s=3600), store, clock=clock)
    ctx.tokens  # noqa: B018
    newer = SessionTokens(rotated, SETTINGS.issuer, SETTINGS.audience).issue(USER).token
    store.values["session-signing-keys"] = signing_keys_to_secret(rotated)
    request = FakeRequest(Cookie=f"ki_session={newer}")
    # Just read: no re-read storm for kids it does not know.
    with pytest.raises(AuthError):
        ctx.authenticate(request, conn=NoDatabase())  # type: ignore[arg-type]
    assert store.reads == 1
    clock.now += 10
    with pytest.raises(AssertionError, match="database was queried"):
        ctx.authenticate(request, conn=NoDatabase())  # type: ignore[arg-type]
    assert store.reads == 2 and ctx.tokens.keys.active == rotated.active


def test_settings_from_env() -> None:
    settings = AuthSettings.from_env({})
    assert settings.cookie_secure and settings.trusted_hops == 2
    assert settings.session_lifetime.total_seconds() == 86400
    local = AuthSettings.from_env(
        {
            "APP_ENVIRONMENT": "local",
            "AUTH_COOKIE_SECURE": "false",
            "AUTH_ALLOWED_ORIGINS": "http://127.0.0.1:8080, https://x.example ,",
            "AUTH_SIGNIN_MAX_PER_KEY": "3",
        }
    )
    assert not local.cookie_secure and local.trusted_hops == 1
    assert local.allowed_origins == ("http://127.0.0.1:8080", "https://x.example")
    assert local.signin.per_key == 3
    with pytest.raises(ConfigError, match="AUTH_COOKIE_SECURE"):
        AuthSettings.from_env({"AUTH_COOKIE_SECURE": "false"})
    with pytest.raises(ConfigError, match="AUTH_TRUSTED_PROXY_HOPS"):
        AuthSettings.from_env({"AUTH_TRUSTED_PROXY_HOPS": "-1"})


def test_seeded_local_key_ring_parses() -> None:
    from devstack.services.secret_manager import credential_key_ring
    from shared.auth.vault import CredentialVault, key_ring_from_secret

    raw = credential_key_ring()
    vault = CredentialVault(key_ring_from_secret(raw))
    assert vault.open(USER, vault.seal(USER, b"pem")) == b"pem"
    assert json.loads(raw)["active"] == "1"
