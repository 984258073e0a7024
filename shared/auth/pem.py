"""Validating a user's Kalshi private key before anything is done with it.

Sign-in receives a PEM from the browser; before it signs a request with it or seals it in
the vault, the key is checked here so a bad upload gets a 400 that says *what* is wrong
(``not_pem``, ``public_key``, ``not_rsa``, ``key_too_short``, ``encrypted_key``,
``too_large``) instead of a generic failure deep in the Kalshi client. Kalshi hands out
RSA keys as PKCS#1 (the RSA-specific armour); tools re-export them as PKCS#8 (the
generic private-key armour): both are accepted. Messages never quote the input: it may be a
real private key, and errors end up in logs and responses.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["MAX_PEM_BYTES", "MIN_RSA_BITS", "InvalidPrivateKey", "load_rsa_private_key"]

MAX_PEM_BYTES = 16 * 1024
"""A 4096-bit RSA key is about 3.3 KB of PEM; 16 KB bounds the parser's work with room."""
MIN_RSA_BITS = 2048
"""Below 2048 bits RSA is considered breakable (NIST SP 800-131A); Kalshi issues 2048+."""

# The armour lines are assembled, so no private-key block appears in the source itself.
_KEY_LINE = b"PRIVATE KEY-----"
_PRIVATE_MARKERS = (b"-----BEGIN " + _KEY_LINE, b"-----BEGIN RSA " + _KEY_LINE)
_ENCRYPTED_MARKERS = (b"-----BEGIN ENCRYPTED " + _KEY_LINE, b"Proc-Type: 4,ENCRYPTED")
_PUBLIC_MARKERS = (
    b"-----BEGIN PUBLIC KEY-----",
    b"-----BEGIN RSA PUBLIC KEY-----",
    b"-----BEGIN CERTIFICATE-----",
)


class InvalidPrivateKey(ValueError):
    """The submitted key cannot be used; ``code`` says why, ``message`` says it to a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _as_bytes(pem: str | bytes) -> bytes:
    if isinstance(pem, bytes):
        return pem
    try:
        return pem.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidPrivateKey("not_pem", "the private key must be a PEM text file") from None


def load_rsa_private_key(pem: str | bytes, *, validated: bool = False) -> rsa.RSAPrivateKey:
    """The RSA private key in ``pem`` (PKCS#1 or PKCS#8, unencrypted, at least 2048 bits).

    Raises :class:`InvalidPrivateKey` with a code for each way an upload goes wrong. The
    size is checked before any parsing, so an oversized body costs nothing.

    ``validated=True`` skips OpenSSL's RSA consistency check (about 50 ms of CPU per load),
    and only that: for a key this system validated when it was uploaded and has kept
    sealed since (the vault's AEAD proves it is the same bytes), as
    :func:`shared.auth.credentials.load_signer` does on every use.
    """
    if len(pem) > MAX_PEM_BYTES:
        raise InvalidPrivateKey(
            "too_large", f"the private key file is larger than {MAX_PEM_BYTES // 1024} KB"
        )
    data = _as_bytes(pem).strip()
    if not data:
        raise InvalidPrivateKey("not_pem", "the private key is empty")
    if any(marker in data for marker in _ENCRYPTED_MARKERS):
        raise InvalidPrivateKey(
            "encrypted_key",
            "the private key is protected by a passphrase; upload the unencrypted key",
        )
    if any(marker in data for marker in _PUBLIC_MARKERS) and not any(
        marker in data for marker in _PRIVATE_MARKERS
    ):
        raise InvalidPrivateKey(
            "public_key", "this is a public key or certificate; upload the private key"
        )
    if b"-----BEGIN " not in data or _KEY_LINE not in data:
        raise InvalidPrivateKey("not_pem", "the private key is not a PEM private key")
    try:
        key = serialization.load_pem_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=validated
        )
    except TypeError:
        # cryptography raises TypeError for an encrypted key without a password.
        raise InvalidPrivateKey(
            "encrypted_key",
            "the private key is protected by a passphrase; upload the unencrypted key",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidPrivateKey("not_pem", "the private key is not a readable PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidPrivateKey("not_rsa", "the private key is not an RSA key (Kalshi uses RSA)")
    if key.key_size < MIN_RSA_BITS:
        raise InvalidPrivateKey(
            "key_too_short",
            f"the RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are required",
        )
    return key
