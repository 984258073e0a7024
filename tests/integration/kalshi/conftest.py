"""Keys, a loopback Kalshi and recorded-market templates for the client's wire tests."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.kalshi.signing import KalshiSigner, generate_private_key_pem, load_private_key

from .loopback import LoopbackKalshi, recorded


@pytest.fixture(scope="session")
def client_key() -> rsa.RSAPrivateKey:
    return load_private_key(generate_private_key_pem(2048))


@pytest.fixture(scope="session")
def signer(client_key: rsa.RSAPrivateKey) -> KalshiSigner:
    return KalshiSigner("8c7f1c3e-0000-4000-8000-000000000001", client_key)


@pytest.fixture
def kalshi(client_key: rsa.RSAPrivateKey) -> Iterator[LoopbackKalshi]:
    with LoopbackKalshi(public_key=client_key.public_key()) as server:
        yield server


@pytest.fixture(scope="session")
def market_template() -> dict[str, Any]:
    market: dict[str, Any] = json.loads(recorded("markets__single"))["market"]
    return market


def make_markets(template: dict[str, Any], count: int) -> list[dict[str, Any]]:
    return [
        {**template, "ticker": f"KXTEST-26JUN11-M{i:05d}", "volume_fp": f"{i}.00"}
        for i in range(count)
    ]


def offset_cursor(offset: int) -> str:
    """An opaque base64url cursor, like Kalshi's."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def cursor_offset(cursor: str) -> int:
    padded = cursor + "=" * (-len(cursor) % 4)
    return int(base64.urlsafe_b64decode(padded).decode().split(":")[1])
