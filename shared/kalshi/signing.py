"""RSA-PSS request signing exactly as Kalshi specifies, and its verifying twin.

The signed message is ``timestamp_ms + METHOD + path`` where the path starts at the root
(``/trade-api/v2/...``) and excludes the query string. PSS uses SHA-256, MGF1-SHA-256 and
a salt as long as the digest. PSS signatures are randomised, so a verifier (the exchange
simulator) must verify with the public key rather than recompute and compare.

Key material never appears in ``repr`` or in error messages.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "HEADER_KEY",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "KalshiSigner",
    "KeyFormatError",
    "generate_private_key_pem",
    "load_private_key",
    "load_public_key",
    "public_key_pem",
    "signed_message",
    "signing_path",
    "verify_signature",
]

HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"

_PSS_SIGN = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
# Kalshi's own verifier accepts the digest-length salt; AUTO also accepts other salt lengths
# on verification, which is what a lenient exchange does.
_PSS_VERIFY = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)


class KeyFormatError(ValueError):
    """The key is not an RSA key in PEM form. The message never quotes the key."""


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """Load an unencrypted PEM RSA private key (Kalshi's download format)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError("private key is not a readable unencrypted PEM key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("private key is not an RSA key")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """Load a PEM RSA public key (SubjectPublicKeyInfo)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError("public key is not a readable PEM key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("public key is not an RSA key")
    return key


def generate_private_key_pem(bits: int = 2048) -> str:
    """A fresh RSA key as PKCS#8 PEM: for the simulator's demo accounts and for tests."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(private_key: rsa.RSAPrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def signing_path(url_or_path: str) -> str:
    """The part of a URL that Kalshi signs: the path from the root, no host, no query."""
    if url_or_path.startswith(("http://", "https://", "ws://", "wss://")):
        return urlsplit(url_or_path).path
    return url_or_path.split("?", 1)[0]


def signed_message(timestamp_ms: int | str, method: str, path: str) -> bytes:
    return f"{timestamp_ms}{method.upper()}{signing_path(path)}".encode()


@dataclass(frozen=True)
class KalshiSigner:
    """Signs requests for one API key. Safe to share across threads and tasks."""

    key_id: str
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def from_pem(cls, key_id: str, pem: str | bytes) -> KalshiSigner:
        return cls(key_id=key_id, private_key=load_private_key(pem))

    def sign(self, timestamp_ms: int | str, method: str, path: str) -> str:
        signature = self.private_key.sign(
            signed_message(timestamp_ms, method, path), _PSS_SIGN, hashes.SHA256()
        )
        return base64.b64encode(signature).decode("ascii")

    def headers(self, method: str, path: str, *, now_ms: int | None = None) -> dict[str, str]:
        """The three KALSHI-ACCESS-* headers for one request (or a WebSocket handshake)."""
        timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
        return {
            HEADER_KEY: self.key_id,
            HEADER_TIMESTAMP: timestamp,
            HEADER_SIGNATURE: self.sign(timestamp, method, path),
        }


def verify_signature(
    public_key: rsa.RSAPublicKey, timestamp_ms: str, method: str, path: str, signature_b64: str
) -> bool:
    """True when ``signature_b64`` is a valid Kalshi signature of this request."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key.verify(
            signature, signed_message(timestamp_ms, method, path), _PSS_VERIFY, hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return True
