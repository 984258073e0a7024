"""Session JWTs: what is accepted, and each forgery or mistake refused with its own code."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth.sessions import (
    InvalidSession,
    SessionTokens,
    SigningKeyError,
    SigningKeys,
    needs_renewal,
    rotate_signing_keys,
    signing_keys_from_secret,
    signing_keys_to_secret,
)

USER = uuid.UUID("2f1e0c9a-5b7d-4c3e-9a8b-0d1e2f3a4b5c")
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ISS, AUD = "kalshi-insights", "kalshi-insights-api"


@pytest.fixture(scope="module")
def keys() -> SigningKeys:
    return SigningKeys.generate()


@pytest.fixture
def tokens(keys: SigningKeys) -> SessionTokens:
    return SessionTokens(keys, ISS, AUD)


def claims(**override: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": ISS,
        "aud": AUD,
        "sub": str(USER),
        "iat": int(T0.timestamp()),
        "exp": int((T0 + timedelta(hours=24)).timestamp()),
        "jti": "abcdefghijklmnopqrstuvwx",
    }
    base.update(override)
    return {k: v for k, v in base.items() if v is not None}


def signed(keys: SigningKeys, headers: dict[str, object] | None = None, **override: object) -> str:
    kid, private = keys.signing_key()
    return jwt.encode(
        claims(**override), private, algorithm="EdDSA", headers=headers or {"kid": kid}
    )


def refused(tokens: SessionTokens, token: str, code: str, now: datetime = T0) -> None:
    with pytest.raises(InvalidSession) as caught:
        tokens.verify(token, now=now)
    assert caught.value.code == code
    assert not token or token not in str(caught.value)


def test_issue_then_verify(tokens: SessionTokens, keys: SigningKeys) -> None:
    issued = tokens.issue(USER, now=T0)
    assert issued.expires_at - issued.issued_at == timedelta(hours=24)
    assert issued.token not in repr(issued)
    verified = tokens.verify(issued.token, now=T0 + timedelta(hours=23))
    assert verified.user_id == USER and verified.jti == issued.jti
    assert verified.kid == keys.active and verified.issued_at == T0
    header = jwt.get_unverified_header(issued.token)
    assert header == {"alg": "EdDSA", "kid": keys.active, "typ": "JWT"}
    assert tokens.issue(USER, now=T0).jti != issued.jti


def test_hand_built_token_with_our_key_verifies(tokens: SessionTokens, keys: SigningKeys) -> None:
    assert tokens.verify(signed(keys), now=T0).user_id == USER


def test_expired(tokens: SessionTokens) -> None:
    issued = tokens.issue(USER, now=T0)
    refused(tokens, issued.token, "expired", now=T0 + timedelta(hours=24, minutes=1))


def test_not_yet_valid(tokens: SessionTokens, keys: SigningKeys) -> None:
    refused(tokens, signed(keys, iat=int((T0 + timedelta(hours=1)).timestamp())), "not_yet_valid")


def test_tampered_payload_and_signature(tokens: SessionTokens) -> None:
    token = tokens.issue(USER, now=T0).token
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["sub"] = str(uuid.uuid4())
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    refused(tokens, f"{header}.{forged}.{signature}", "bad_signature")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    refused(tokens, f"{header}.{payload}.{flipped}", "bad_signature")


def test_signed_by_another_ed25519_key_with_our_kid(
    tokens: SessionTokens, keys: SigningKeys
) -> None:
    other = Ed25519PrivateKey.generate()
    token = jwt.encode(claims(), other, algorithm="EdDSA", headers={"kid": keys.active})
    refused(tokens, token, "bad_signature")


def test_alg_none(tokens: SessionTokens, keys: SigningKeys) -> None:
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "none", "kid": keys.active, "typ": "JWT"}).encode()
    ).rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    refused(tokens, f"{header.decode()}.{payload.decode()}.", "bad_algorithm")


def test_hs256_keyed_with_the_public_key_bytes(tokens: SessionTokens, keys: SigningKeys) -> None:
    public = keys.keys[keys.active].public_key
    for encoding, form in (
        (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        (serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    ):
        secret = public.public_bytes(encoding, form)
        header = base64.urlsafe_b64encode(
            json.dumps({"alg": "HS256", "kid": keys.active}).encode()
        ).rstrip(b"=")
        payload = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
        import hashlib
        import hmac

        signing_input = header + b"." + payload
        mac = base64.urlsafe_b64encode(
            hmac.new(secret, signing_input, hashlib.sha256).digest()
        ).rstrip(b"=")
        refused(tokens, (signing_input + b"." + mac).decode(), "bad_algorithm")


def test_rs256(tokens: SessionTokens, keys: SigningKeys) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": keys.active})
    refused(tokens, token, "bad_algorithm")


def test_missing_and_unknown_kid(tokens: SessionTokens, keys: SigningKeys) -> None:
    _, private = keys.signing_key()
    refused(tokens, jwt.encode(claims(), private, algorithm="EdDSA"), "missing_key_id")
    refused(tokens, signed(keys, headers={"kid": "retired-long-ago"}), "unknown_key")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "EdDSA", "kid": 7}).encode())
    refused(tokens, header.rstrip(b"=").decode() + ".e30.AAAA", "malformed")


def test_wrong_audience_and_issuer(tokens: SessionTokens, keys: SigningKeys) -> None:
    refused(tokens, signed(keys, aud="someone-else"), "wrong_audience")
    refused(tokens, signed(keys, iss="https://evil.example"), "wrong_issuer")


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "iat", "exp", "jti"])
def test_every_claim_is_required(tokens: SessionTokens, keys: SigningKeys, missing: str) -> None:
    with pytest.raises(InvalidSession) as caught:
        tokens.verify(signed(keys, **{missing: None}), now=T0)
    assert caught.value.code in {"malformed", "wrong_audience", "wrong_issuer"}


@pytest.mark.parametrize(
    "override",
    [{"sub": "not-a-uuid"}, {"jti": "short"}, {"iat": "yesterday"}, {"exp": 1.5}, {"sub": 5}],
)
def test_malformed_claims(
    tokens: SessionTokens, keys: SigningKeys, override: dict[str, object]
) -> None:
    refused(tokens, signed(keys, **override), "malformed")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 5000])
def test_garbage(tokens: SessionTokens, garbage: str) -> None:
    refused(tokens, garbage, "malformed")


def test_no_algorithm_at_all(tokens: SessionTokens) -> None:
    refused(tokens, "e30.e30.e30", "bad_algorithm")  # header {}


def test_retired_key_keeps_verifying_until_dropped(keys: SigningKeys) -> None:
    old = SessionTokens(keys, ISS, AUD)
    session = old.issue(USER, now=T0)
    rotated = rotate_signing_keys(keys, now=T0 + timedelta(minutes=5))
    assert rotated.active != keys.active and set(rotated.kids) == {keys.active, rotated.active}
    reloaded = signing_keys_from_secret(signing_keys_to_secret(rotated))
    new = SessionTokens(reloaded, ISS, AUD)
    assert new.verify(session.token, now=T0 + timedelta(hours=1)).kid == keys.active
    fresh = new.issue(USER, now=T0 + timedelta(hours=1))
    assert new.verify(fresh.token, now=T0 + timedelta(hours=1)).kid == rotated.active
    # The old tokens expire; a later rotation drops the key, and its tokens stop verifying.
    later = rotate_signing_keys(reloaded, now=T0 + timedelta(hours=30))
    assert keys.active not in later.kids and rotated.active in later.kids
    refused(
        SessionTokens(later, ISS, AUD), session.token, "unknown_key", now=T0 + timedelta(hours=1)
    )


def test_needs_renewal_after_twenty_hours(tokens: SessionTokens) -> None:
    verified = tokens.verify(tokens.issue(USER, now=T0).token, now=T0)
    assert not needs_renewal(verified, T0 + timedelta(hours=19, minutes=59))
    assert needs_renewal(verified, T0 + timedelta(hours=20))
    assert tokens.needs_renewal(verified, T0 + timedelta(hours=21))


def test_secret_format_round_trip_and_errors(keys: SigningKeys) -> None:
    raw = signing_keys_to_secret(keys)
    assert signing_keys_from_secret(raw).kids == keys.kids
    pem = json.loads(raw)["keys"][0]["private_key_pem"]
    assert pem[40:80] not in repr(keys) and pem[40:80] not in repr(SessionTokens(keys, ISS, AUD))
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for bad in (
        b"nope",
        b'{"active": "a", "keys": []}',
        json.dumps({"active": "a", "keys": [{"kid": "a", "private_key_pem": "x"}]}).encode(),
        json.dumps(
            {"active": "a", "keys": [{"kid": "a", "private_key_pem": rsa_pem.decode()}]}
        ).encode(),
    ):
        with pytest.raises(SigningKeyError) as caught:
            signing_keys_from_secret(bad)
        assert "BEGIN" not in str(caught.value)


def test_the_seeded_local_secret_parses() -> None:
    from devstack.services.secret_manager import session_signing_keys

    ring = signing_keys_from_secret(session_signing_keys())
    tokens = SessionTokens(ring, ISS, AUD)
    assert tokens.verify(tokens.issue(USER).token).user_id == USER
