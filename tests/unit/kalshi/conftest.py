"""Keys for the Kalshi unit tests: generating RSA keys is slow, so one per session."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.kalshi.signing import KalshiSigner, generate_private_key_pem, load_private_key

KEY_ID = "a952bcbe-ec3b-4b5b-b8f9-11dae589608c"


@pytest.fixture(scope="session")
def private_key_pem() -> str:
    return generate_private_key_pem(2048)


@pytest.fixture(scope="session")
def private_key(private_key_pem: str) -> rsa.RSAPrivateKey:
    return load_private_key(private_key_pem)


@pytest.fixture(scope="session")
def signer(private_key: rsa.RSAPrivateKey) -> KalshiSigner:
    return KalshiSigner(KEY_ID, private_key)
