"""The stream's session check after ``rotate-keys --sessions``.

A sign-in right after a rotation carries a session signed by the new key. The account API
(``AuthContext.authenticate``) re-reads the signing-key ring when it meets a ``kid`` it has
not seen; the stream must do the same instead of answering 401 ``invalid_session`` until
``AUTH_KEYS_REFRESH_S`` has passed, and it must do it through the same rate-limited
mechanism (no re-read storm for forged kids). The database is outside this unit: the
session-state lookup is replaced by a stub answering "live, valid key".
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from shared.auth.principal import AuthContext
from shared.auth.sessions import SessionTokens, SigningKeys, signing_keys_to_secret
from shared.auth.settings import AuthSettings
from streamer.auth import StreamAuthError
from streamer.sessions import AuthSessionVerifier

USER = uuid.UUID("7a3c1e0b-2d4f-4a6b-8c9d-0e1f2a3b4c5d")
SECRET = AuthSettings().session_keys_secret


class Store:
    """A Secret Manager stand-in that counts reads."""

    def __init__(self, values: dict[str, bytes]) -> None:
        self.values = values
        self.reads = 0

    def get(self, name: str) -> bytes:
        self.reads += 1
        return self.values[name]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _verifier(source: Any) -> AuthSessionVerifier:
    verifier = AuthSessionVerifier(source, engine=None)  # type: ignore[arg-type]
    verifier._lookup = lambda jti, user_id: (False, "valid")  # type: ignore[method-assign]
    return verifier


def _rotated_world() -> tuple[AuthContext, Store, Clock, str]:
    """A context that read the old ring, then a rotation and a sign-in with the new key."""
    old, new = SigningKeys.generate(), SigningKeys.generate()
    store = Store({SECRET: signing_keys_to_secret(old)})
    clock = Clock()
    ctx = AuthContext(AuthSettings(keys_refresh_s=300), store, clock=clock)  # type: ignore[arg-type]
    ctx.tokens  # noqa: B018  (the ring as it was before the rotation)
    store.values[SECRET] = signing_keys_to_secret(new)
    settings = ctx.settings
    cookie = SessionTokens(new, settings.issuer, settings.audience).issue(USER).token
    return ctx, store, clock, cookie


def test_a_session_signed_by_a_rotated_in_key_opens_a_stream_at_once() -> None:
    ctx, store, clock, cookie = _rotated_world()
    clock.now += 10  # well inside AUTH_KEYS_REFRESH_S
    principal = asyncio.run(_verifier(ctx).verify(cookie))
    assert principal.user_id == USER
    assert store.reads == 2  # one re-read, not one per request
    asyncio.run(_verifier(ctx).verify(cookie))
    assert store.reads == 2


def test_unknown_kids_right_after_a_read_do_not_re_read_the_ring() -> None:
    ctx, store, _clock, cookie = _rotated_world()
    verifier = _verifier(ctx)
    for _ in range(3):
        with pytest.raises(StreamAuthError) as caught:
            asyncio.run(verifier.verify(cookie))
        assert (caught.value.status, caught.value.code) == (401, "invalid_session")
    assert store.reads == 1


def test_a_forged_kid_is_still_refused_after_the_re_read() -> None:
    ctx, store, clock, _cookie = _rotated_world()
    clock.now += 10
    settings = ctx.settings
    forged = SessionTokens(SigningKeys.generate(), settings.issuer, settings.audience)
    with pytest.raises(StreamAuthError) as caught:
        asyncio.run(_verifier(ctx).verify(forged.issue(USER).token))
    assert caught.value.code == "invalid_session"
    assert store.reads == 2


def test_the_deployed_streamer_verifies_through_the_auth_context() -> None:
    """``streamer.main.build_service`` wires the verifier to the AuthContext itself, so the
    process (not only this class) follows a rotation at once. No Google Cloud project: it
    consumes nothing and touches no database while being built."""
    from streamer.main import build_service
    from streamer.settings import StreamerSettings

    ctx, store, clock, cookie = _rotated_world()
    clock.now += 10
    service = build_service(StreamerSettings(role="fanout"), None, ctx)  # type: ignore[arg-type]
    verifier = service.verifier
    assert isinstance(verifier, AuthSessionVerifier)
    verifier._lookup = lambda jti, user_id: (False, "valid")  # type: ignore[method-assign]
    assert asyncio.run(verifier.verify(cookie)).user_id == USER
    assert store.reads == 2
