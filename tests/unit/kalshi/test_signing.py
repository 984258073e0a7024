"""Signatures checked independently with ``cryptography``, exactly as Kalshi specifies.

Kalshi: RSA-PSS, SHA-256, MGF1-SHA-256, salt length = digest length (32 bytes), over
``timestamp_ms + METHOD + path`` (path from the root with ``/trade-api/v2``, no query),
base64 standard alphabet with padding, in KALSHI-ACCESS-KEY/-TIMESTAMP/-SIGNATURE.
The verifier below is written from that spec, not from shared.kalshi.signing.
"""

from __future__ import annotations

import base64
import re
import time

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.kalshi.client import KalshiClient, RetryPolicy
from shared.kalshi.signing import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    KalshiSigner,
    KeyFormatError,
    load_private_key,
    load_public_key,
    public_key_pem,
    signed_message,
    signing_path,
    verify_signature,
)

from .conftest import KEY_ID

KALSHI_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def kalshi_verify(public_key: rsa.RSAPublicKey, signature_b64: str, message: bytes) -> None:
    """Raise InvalidSignature unless this is a Kalshi-style signature of ``message``."""
    assert re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", signature_b64), "not standard base64"
    raw = base64.b64decode(signature_b64, validate=True)
    assert base64.b64encode(raw).decode() == signature_b64, "not canonical padded base64"
    public_key.verify(raw, message, KALSHI_PSS, hashes.SHA256())


def test_headers_are_exactly_the_three_kalshi_headers(signer: KalshiSigner) -> None:
    headers = signer.headers("GET", "/trade-api/v2/portfolio/balance")
    assert set(headers) == {
        "KALSHI-ACCESS-KEY",
        "KALSHI-ACCESS-TIMESTAMP",
        "KALSHI-ACCESS-SIGNATURE",
    }
    assert (HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE) == (
        "KALSHI-ACCESS-KEY",
        "KALSHI-ACCESS-TIMESTAMP",
        "KALSHI-ACCESS-SIGNATURE",
    )
    assert headers["KALSHI-ACCESS-KEY"] == KEY_ID


def test_timestamp_is_unix_milliseconds_now(signer: KalshiSigner) -> None:
    before = int(time.time() * 1000)
    stamp = signer.headers("GET", "/trade-api/v2/markets")["KALSHI-ACCESS-TIMESTAMP"]
    after = int(time.time() * 1000)
    assert re.fullmatch(r"\d{13}", stamp)
    assert before <= int(stamp) <= after


def test_signature_verifies_over_timestamp_method_path(
    signer: KalshiSigner, private_key: rsa.RSAPrivateKey
) -> None:
    headers = signer.headers("get", "/trade-api/v2/portfolio/balance")
    message = f"{headers['KALSHI-ACCESS-TIMESTAMP']}GET/trade-api/v2/portfolio/balance".encode()
    kalshi_verify(private_key.public_key(), headers["KALSHI-ACCESS-SIGNATURE"], message)


def test_signature_uses_digest_length_salt_exactly(
    signer: KalshiSigner, private_key: rsa.RSAPrivateKey
) -> None:
    """A verifier pinned to another salt length rejects it; so does PKCS#1 v1.5."""
    signature = base64.b64decode(signer.sign(1703123456789, "GET", "/trade-api/v2/markets"))
    message = b"1703123456789GET/trade-api/v2/markets"
    public = private_key.public_key()
    assert len(signature) == 256  # 2048-bit key
    public.verify(signature, message, KALSHI_PSS, hashes.SHA256())
    wrong_salt = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=20)
    with pytest.raises(InvalidSignature):
        public.verify(signature, message, wrong_salt, hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    wrong_mgf = padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=32)
    with pytest.raises(InvalidSignature):
        public.verify(signature, message, wrong_mgf, hashes.SHA256())


def test_query_string_is_not_signed(signer: KalshiSigner, private_key: rsa.RSAPrivateKey) -> None:
    headers = signer.headers("GET", "/trade-api/v2/portfolio/orders?limit=5&status=resting")
    stamp = headers["KALSHI-ACCESS-TIMESTAMP"]
    public = private_key.public_key()
    kalshi_verify(
        public,
        headers["KALSHI-ACCESS-SIGNATURE"],
        f"{stamp}GET/trade-api/v2/portfolio/orders".encode(),
    )
    with pytest.raises(InvalidSignature):
        kalshi_verify(
            public,
            headers["KALSHI-ACCESS-SIGNATURE"],
            f"{stamp}GET/trade-api/v2/portfolio/orders?limit=5&status=resting".encode(),
        )


def test_signed_message_and_signing_path() -> None:
    url = "https://external-api.kalshi.com/trade-api/v2/portfolio/orders?limit=5"
    assert signing_path(url) == "/trade-api/v2/portfolio/orders"
    assert signing_path("/trade-api/v2/markets?cursor=abc") == "/trade-api/v2/markets"
    assert signing_path("wss://external-api-ws.kalshi.com/trade-api/ws/v2") == "/trade-api/ws/v2"
    assert signed_message(1703123456789, "delete", "/trade-api/v2/portfolio/events/orders/x") == (
        b"1703123456789DELETE/trade-api/v2/portfolio/events/orders/x"
    )
    # The docs' own example string.
    assert signed_message("1703123456789", "GET", "/trade-api/v2/portfolio/balance") == (
        b"1703123456789GET/trade-api/v2/portfolio/balance"
    )


def test_websocket_handshake_signature(
    signer: KalshiSigner, private_key: rsa.RSAPrivateKey
) -> None:
    headers = signer.headers("GET", "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2")
    message = f"{headers['KALSHI-ACCESS-TIMESTAMP']}GET/trade-api/ws/v2".encode()
    kalshi_verify(private_key.public_key(), headers["KALSHI-ACCESS-SIGNATURE"], message)


def test_signatures_are_randomised_but_all_verify(
    signer: KalshiSigner, private_key: rsa.RSAPrivateKey
) -> None:
    first = signer.sign(1, "GET", "/trade-api/v2/markets")
    second = signer.sign(1, "GET", "/trade-api/v2/markets")
    assert first != second  # PSS salt is random: compare by verifying, never by equality
    for signature in (first, second):
        kalshi_verify(private_key.public_key(), signature, b"1GET/trade-api/v2/markets")


def test_verify_signature_accepts_good_and_rejects_bad(
    signer: KalshiSigner, private_key: rsa.RSAPrivateKey
) -> None:
    public = load_public_key(public_key_pem(private_key))
    good = signer.sign("1703123456789", "GET", "/trade-api/v2/markets")
    assert verify_signature(public, "1703123456789", "GET", "/trade-api/v2/markets", good)
    assert not verify_signature(public, "1703123456790", "GET", "/trade-api/v2/markets", good)
    assert not verify_signature(public, "1703123456789", "POST", "/trade-api/v2/markets", good)
    assert not verify_signature(public, "1703123456789", "GET", "/trade-api/v2/market", good)
    assert not verify_signature(public, "1", "GET", "/x", "not base64!")
    assert not verify_signature(public, "1", "GET", "/x", base64.b64encode(b"short").decode())
    assert not verify_signature(public, "1", "GET", "/x", "")


def test_key_material_never_in_repr_or_errors(signer: KalshiSigner, private_key_pem: str) -> None:
    body = private_key_pem.splitlines()[1]
    assert body not in repr(signer)
    assert "PRIVATE" not in repr(signer)
    broken = private_key_pem.replace(body, body[::-1])
    with pytest.raises(KeyFormatError) as info:
        load_private_key(broken)
    assert body[::-1] not in str(info.value)
    assert "BEGIN" not in str(info.value)


def test_from_pem_round_trip(private_key_pem: str, private_key: rsa.RSAPrivateKey) -> None:
    signer = KalshiSigner.from_pem(KEY_ID, private_key_pem)
    signature = signer.sign(5, "GET", "/trade-api/v2/exchange/status")
    kalshi_verify(private_key.public_key(), signature, b"5GET/trade-api/v2/exchange/status")


def test_client_signs_the_quoted_path_exactly_as_sent(
    signer: KalshiSigner, private_key: rsa.RSAPrivateKey
) -> None:
    """The client signs the raw path on the wire: prefix, quoted ticker, no query."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/exchange/status"):
            return httpx.Response(200, json={"exchange_active": True, "trading_active": True})
        return httpx.Response(200, json={"orderbook_fp": {"yes_dollars": [], "no_dollars": []}})

    with KalshiClient(
        base_url="http://kalshi.test/trade-api/v2",
        signer=signer,
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy.none(),
        rate_limit=False,
    ) as client:
        client.get_orderbook("ODD TICKER/1", depth=5)
        client.get_exchange_status()

    request = seen[0]
    raw_path = request.url.raw_path.decode()
    assert raw_path == "/trade-api/v2/markets/ODD%20TICKER%2F1/orderbook?depth=5"
    stamp = request.headers["KALSHI-ACCESS-TIMESTAMP"]
    message = f"{stamp}GET/trade-api/v2/markets/ODD%20TICKER%2F1/orderbook".encode()
    kalshi_verify(private_key.public_key(), request.headers["KALSHI-ACCESS-SIGNATURE"], message)
    assert request.headers["KALSHI-ACCESS-KEY"] == KEY_ID
    # Public endpoints are signed too when a signer is configured.
    status_request = seen[1]
    assert "KALSHI-ACCESS-SIGNATURE" in status_request.headers
    status_message = (
        f"{status_request.headers['KALSHI-ACCESS-TIMESTAMP']}GET/trade-api/v2/exchange/status"
    ).encode()
    kalshi_verify(
        private_key.public_key(), status_request.headers["KALSHI-ACCESS-SIGNATURE"], status_message
    )


def test_client_without_signer_sends_no_auth_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"exchange_active": True, "trading_active": True})

    with KalshiClient("demo", transport=httpx.MockTransport(handler), rate_limit=False) as client:
        client.get_exchange_status()
    assert not [h for h in seen[0].headers if h.lower().startswith("kalshi-access")]
    assert str(seen[0].url) == "https://external-api.demo.kalshi.co/trade-api/v2/exchange/status"
