"""The credential vault: users' Kalshi private keys sealed with AES-256-GCM.

A Kalshi key lets its holder trade the user's money, so only ciphertext is stored
(``user_credentials``). The keys that seal it live in Secret Manager as a *key ring*
(the ``credential-key-ring`` secret)::

    {"active": "2", "keys": [{"id": "1", "aes256_key": "<base64>"},
                             {"id": "2", "aes256_key": "<base64>"}]}

The active (newest) key seals; every key in the ring opens, so adding a key version and
then re-sealing rows (:func:`shared.auth.credentials.rotate_all`) never makes a stored
credential unreadable in between. Each row records the key version that sealed it beside
its nonce and ciphertext. The associated data binds the ciphertext to its user and key
version: a row copied onto another user, or relabelled with another version, fails to open.
Why AES-256-GCM rather than Fernet: docs/decisions/0141-credential-vault-aes-gcm.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "CredentialUnreadable",
    "CredentialVault",
    "KeyRing",
    "KeyRingError",
    "SealedCredential",
    "key_ring_from_secret",
    "key_ring_to_secret",
    "new_key_version",
]

KEY_BYTES = 32
"""AES-256."""
NONCE_BYTES = 12
"""GCM's 96-bit nonce, random per seal: at well under 2**32 seals per key the chance of a
repeat is negligible, and rotation resets the count."""
_AAD_PREFIX = b"kalshi-insights/user-credential/v1\x00"


class KeyRingError(ValueError):
    """The key ring secret is malformed. The message never quotes key material."""


class CredentialUnreadable(Exception):
    """A sealed credential cannot be opened (tampered, wrong user, unknown key version).

    Deliberately without detail: which check failed is of no use to a caller and of some
    use to an attacker.
    """

    def __init__(self) -> None:
        super().__init__("the stored credential cannot be read")


@dataclass(frozen=True)
class KeyRing:
    """Key version id -> 32-byte AES key; ``newest`` is the version that seals."""

    keys: Mapping[str, bytes] = field(repr=False)
    newest: str

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyRingError("the key ring has no keys")
        if self.newest not in self.keys:
            raise KeyRingError(f"the key ring's active version {self.newest!r} is not in it")
        for version, key in self.keys.items():
            if not version or len(key) != KEY_BYTES:
                raise KeyRingError(f"key version {version!r} is not a {KEY_BYTES}-byte key")
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    @property
    def versions(self) -> list[str]:
        return list(self.keys)

    def with_new_key(self, version: str | None = None, key: bytes | None = None) -> KeyRing:
        """This ring plus one fresh key, which becomes the newest (the rotation step)."""
        version = version or new_key_version(self)
        if version in self.keys:
            raise KeyRingError(f"key version {version!r} already exists")
        return KeyRing({**self.keys, version: key or os.urandom(KEY_BYTES)}, version)

    def __repr__(self) -> str:
        return f"KeyRing(versions={self.versions!r}, newest={self.newest!r})"


def new_key_version(ring: KeyRing) -> str:
    """The next numeric version id (``"1"`` -> ``"2"``); non-numeric ids are skipped."""
    numbers = [int(v) for v in ring.keys if v.isdigit()]
    return str(max(numbers, default=0) + 1)


def key_ring_from_secret(raw: bytes) -> KeyRing:
    """Parse the ``credential-key-ring`` secret (format in the module docstring)."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise KeyRingError("the key ring secret is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyRingError('the key ring secret needs {"active": id, "keys": [...]}')
    keys: dict[str, bytes] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict):
            raise KeyRingError("each key ring entry is an object")
        version, encoded = entry.get("id"), entry.get("aes256_key")
        if not isinstance(version, str) or not isinstance(encoded, str):
            raise KeyRingError('each key ring entry needs string "id" and "aes256_key"')
        try:
            keys[version] = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KeyRingError(f"key version {version!r} is not base64") from None
    active = document.get("active")
    if not isinstance(active, str):
        raise KeyRingError('the key ring secret needs a string "active" version')
    return KeyRing(keys, active)


def key_ring_to_secret(ring: KeyRing) -> bytes:
    """The secret payload for ``ring`` (what rotation writes as a new secret version)."""
    return json.dumps(
        {
            "active": ring.newest,
            "keys": [
                {"id": version, "aes256_key": base64.b64encode(key).decode()}
                for version, key in ring.keys.items()
            ],
        }
    ).encode()


@dataclass(frozen=True)
class SealedCredential:
    """What is stored: the sealing key's version, the nonce and the ciphertext (+ GCM tag)."""

    key_version: str
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)


def _associated_data(user_id: UUID, key_version: str) -> bytes:
    return _AAD_PREFIX + user_id.bytes + key_version.encode()


class CredentialVault:
    """Seals and opens credentials with a :class:`KeyRing`. Thread-safe (no mutable state)."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._ciphers = {version: AESGCM(key) for version, key in ring.keys.items()}

    def seal(self, user_id: UUID, plaintext: bytes) -> SealedCredential:
        """Encrypt under the newest key with a fresh random nonce, bound to ``user_id``."""
        version = self.ring.newest
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = self._ciphers[version].encrypt(
            nonce, plaintext, _associated_data(user_id, version)
        )
        return SealedCredential(version, nonce, ciphertext)

    def open(self, user_id: UUID, sealed: SealedCredential) -> bytes:
        """The plaintext, or :class:`CredentialUnreadable` (no detail) if it cannot be had."""
        cipher = self._ciphers.get(sealed.key_version)
        if cipher is None or len(sealed.nonce) != NONCE_BYTES:
            raise CredentialUnreadable
        try:
            return cipher.decrypt(
                bytes(sealed.nonce),
                bytes(sealed.ciphertext),
                _associated_data(user_id, sealed.key_version),
            )
        except InvalidTag:
            raise CredentialUnreadable from None

    def needs_rewrap(self, sealed: SealedCredential) -> bool:
        """Whether ``sealed`` was sealed by an older key than the newest."""
        return sealed.key_version != self.ring.newest

    def __repr__(self) -> str:
        return f"CredentialVault({self.ring!r})"
