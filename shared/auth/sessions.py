"""Session tokens: EdDSA-signed JWTs under a ring of signing keys.

A signed-in browser holds one JWT in the ``ki_session`` cookie. Every deployable verifies
it locally (no call to the account function), so the token carries what verification
needs: ``iss``, ``aud``, ``sub`` (the user id), ``iat``, ``exp``, ``jti`` and the ``kid``
header naming the signing key. Verification is strict: the algorithm is pinned to EdDSA
(read from nowhere else, so ``alg: none``, HS256 keyed with the public key and RS256 are
all refused), every claim is required, and each failure has its own code
(:class:`InvalidSession`). Revocation is not a property of the token: it lives in
Postgres (:mod:`shared.auth.session_store`).

The ring comes from the ``session-signing-keys`` secret::

    {"active": "<kid>", "keys": [{"kid": "<kid>", "private_key_pem": "<Ed25519 PKCS#8>",
                                  "retired_at": "<ISO time, optional>"}]}

``active`` signs; every key in the ring verifies, so after a rotation tokens signed by a
retired key keep working until they expire (:func:`rotate_signing_keys` drops a retired
key only once every token it signed has expired). Why EdDSA JWTs:
docs/decisions/0142-session-jwts-eddsa-and-revocation.md.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ALGORITHM",
    "DEFAULT_LIFETIME",
    "RENEW_AFTER",
    "InvalidSession",
    "IssuedSession",
    "SessionClaims",
    "SessionTokens",
    "SigningKeyError",
    "SigningKeys",
    "needs_renewal",
    "rotate_signing_keys",
    "signing_keys_from_secret",
    "signing_keys_to_secret",
]

ALGORITHM = "EdDSA"
DEFAULT_LIFETIME = timedelta(hours=24)
RENEW_AFTER = timedelta(hours=20)
"""A session older than this is re-issued on its next request (the account function)."""
LEEWAY = timedelta(seconds=10)
"""Clock skew tolerated between instances on ``iat`` and ``exp``."""
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "jti")
MAX_TOKEN_CHARS = 4096
"""Ours are about 300 characters; anything far longer is not ours and is not parsed."""
_KID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_JTI = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class SigningKeyError(ValueError):
    """The signing-key secret is malformed. The message never quotes key material."""


class InvalidSession(Exception):
    """A session token was refused; ``code`` says why (``malformed``, ``expired``,
    ``bad_signature``, ``unknown_key``, ``missing_key_id``, ``bad_algorithm``,
    ``wrong_audience``, ``wrong_issuer``, ``not_yet_valid``)."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or code.replace("_", " "))
        self.code = code


@dataclass(frozen=True)
class _SigningKey:
    kid: str
    private_key: Ed25519PrivateKey = field(repr=False)
    retired_at: datetime | None = None
    public_key: Ed25519PublicKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_key", self.private_key.public_key())


@dataclass(frozen=True)
class SigningKeys:
    """The ring of Ed25519 keys: ``active`` signs, every key verifies."""

    keys: Mapping[str, _SigningKey] = field(repr=False)
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise SigningKeyError(f"the active signing key {self.active!r} is not in the ring")
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    @property
    def kids(self) -> list[str]:
        return list(self.keys)

    def signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        return self.active, self.keys[self.active].private_key

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        key = self.keys.get(kid)
        return key.public_key if key is not None else None

    @classmethod
    def generate(cls) -> SigningKeys:
        """A ring of one fresh key (tests, and the local stack's first start)."""
        kid = secrets.token_hex(8)
        return cls({kid: _SigningKey(kid, Ed25519PrivateKey.generate())}, kid)

    def __repr__(self) -> str:
        return f"SigningKeys(kids={self.kids!r}, active={self.active!r})"


def _parse_time(value: object, kid: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SigningKeyError(f"signing key {kid!r}: retired_at must be an ISO time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SigningKeyError(f"signing key {kid!r}: retired_at must be an ISO time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def signing_keys_from_secret(raw: bytes) -> SigningKeys:
    """Parse the ``session-signing-keys`` secret (format in the module docstring)."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SigningKeyError("the signing-key secret is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise SigningKeyError('the signing-key secret needs {"active": kid, "keys": [...]}')
    keys: dict[str, _SigningKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict):
            raise SigningKeyError("each signing key entry is an object")
        kid, pem = entry.get("kid"), entry.get("private_key_pem")
        if not isinstance(kid, str) or not _KID.match(kid) or not isinstance(pem, str):
            raise SigningKeyError('each signing key needs a "kid" and a "private_key_pem"')
        try:
            private = serialization.load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError):
            raise SigningKeyError(f"signing key {kid!r} is not a readable PEM key") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise SigningKeyError(f"signing key {kid!r} is not an Ed25519 key")
        keys[kid] = _SigningKey(kid, private, _parse_time(entry.get("retired_at"), kid))
    active = document.get("active")
    if not isinstance(active, str):
        raise SigningKeyError('the signing-key secret needs a string "active" kid')
    return SigningKeys(keys, active)


def signing_keys_to_secret(ring: SigningKeys) -> bytes:
    """The secret payload for ``ring`` (what rotation writes as a new secret version)."""
    entries: list[dict[str, Any]] = []
    for kid, key in ring.keys.items():
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        entry: dict[str, Any] = {"kid": kid, "private_key_pem": pem.decode()}
        if key.retired_at is not None:
            entry["retired_at"] = key.retired_at.isoformat()
        entries.append(entry)
    return json.dumps({"active": ring.active, "keys": entries}).encode()


def rotate_signing_keys(
    ring: SigningKeys, now: datetime | None = None, keep_for: timedelta = DEFAULT_LIFETIME
) -> SigningKeys:
    """A new active key; the old active one is marked retired (and keeps verifying); keys
    retired longer ago than ``keep_for`` + leeway (every token they signed has expired) are
    dropped."""
    now = now or datetime.now(UTC)
    cutoff = now - keep_for - LEEWAY
    kept: dict[str, _SigningKey] = {}
    for kid, key in ring.keys.items():
        if key.retired_at is not None and key.retired_at < cutoff:
            continue
        retired = now if kid == ring.active else key.retired_at
        kept[kid] = _SigningKey(kid, key.private_key, retired)
    kid = secrets.token_hex(8)
    kept[kid] = _SigningKey(kid, Ed25519PrivateKey.generate())
    return SigningKeys(kept, kid)


@dataclass(frozen=True)
class IssuedSession:
    """A freshly signed session; ``token`` goes into the cookie and nowhere else."""

    token: str = field(repr=False)
    jti: str
    user_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class SessionClaims:
    """What a verified session says."""

    user_id: uuid.UUID
    jti: str
    issued_at: datetime
    expires_at: datetime
    kid: str


def needs_renewal(
    claims: SessionClaims, now: datetime | None = None, renew_after: timedelta = RENEW_AFTER
) -> bool:
    """Whether the session is old enough (20 h by default) to be re-issued."""
    return (now or datetime.now(UTC)) - claims.issued_at >= renew_after


def _utc(now: datetime | None) -> datetime:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(UTC)


class SessionTokens:
    """Issues and verifies session JWTs for one issuer and audience."""

    def __init__(
        self,
        keys: SigningKeys,
        issuer: str,
        audience: str,
        lifetime: timedelta = DEFAULT_LIFETIME,
        renew_after: timedelta = RENEW_AFTER,
    ) -> None:
        if lifetime <= timedelta(0):
            raise ValueError("a session lifetime must be positive")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self.renew_after = renew_after

    def issue(self, user_id: uuid.UUID, now: datetime | None = None) -> IssuedSession:
        """A new session for ``user_id``, signed by the active key."""
        issued_at = _utc(now).replace(microsecond=0)
        expires_at = issued_at + self.lifetime
        jti = secrets.token_urlsafe(24)
        kid, private_key = self.keys.signing_key()
        token = jwt.encode(
            {
                "iss": self.issuer,
                "aud": self.audience,
                "sub": str(user_id),
                "iat": int(issued_at.timestamp()),
                "exp": int(expires_at.timestamp()),
                "jti": jti,
            },
            private_key,
            algorithm=ALGORITHM,
            headers={"kid": kid},
        )
        return IssuedSession(token, jti, user_id, issued_at, expires_at)

    def verify(self, token: str, now: datetime | None = None) -> SessionClaims:
        """The token's claims if it is ours, intact, for us and current; else
        :class:`InvalidSession` with the reason's code."""
        moment = _utc(now)
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidSession("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidSession("malformed") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidSession("bad_algorithm", "session tokens are signed with EdDSA only")
        kid = header.get("kid")
        if kid is None:
            raise InvalidSession("missing_key_id")
        public_key = self.keys.public_key(kid) if isinstance(kid, str) else None
        if public_key is None:
            raise InvalidSession("unknown_key")
        try:
            claims = jwt.decode(
                token,
                public_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    # Times are checked below against ``now`` (pyjwt only knows the clock).
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidSession("bad_signature") from None
        except jwt.InvalidAudienceError:
            raise InvalidSession("wrong_audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidSession("wrong_issuer") from None
        except jwt.InvalidAlgorithmError:
            raise InvalidSession("bad_algorithm") from None
        except jwt.PyJWTError:
            raise InvalidSession("malformed") from None
        return self._claims(claims, kid, moment)

    def _claims(self, claims: dict[str, Any], kid: str, now: datetime) -> SessionClaims:
        iat, exp, jti, sub = claims["iat"], claims["exp"], claims["jti"], claims["sub"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
            raise InvalidSession("malformed")
        if not isinstance(jti, str) or not _JTI.match(jti) or not isinstance(sub, str):
            raise InvalidSession("malformed")
        try:
            user_id = uuid.UUID(sub)
            issued_at = datetime.fromtimestamp(iat, UTC)
            expires_at = datetime.fromtimestamp(exp, UTC)
        except (ValueError, OverflowError, OSError):
            raise InvalidSession("malformed") from None
        if expires_at + LEEWAY <= now:
            raise InvalidSession("expired", "the session has expired")
        if issued_at - LEEWAY > now:
            raise InvalidSession("not_yet_valid")
        return SessionClaims(user_id, jti, issued_at, expires_at, kid)

    def needs_renewal(self, claims: SessionClaims, now: datetime | None = None) -> bool:
        return needs_renewal(claims, now, self.renew_after)

    def __repr__(self) -> str:
        return f"SessionTokens(issuer={self.issuer!r}, audience={self.audience!r}, {self.keys!r})"
