"""error_from_response: the three Kalshi error shapes, the 429 string, and junk bodies."""

from __future__ import annotations

import pickle

import pytest

from shared.kalshi.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    KalshiAPIError,
    KalshiTransportError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    error_from_response,
    is_transient,
    scrub,
)


def test_nested_shape() -> None:
    body = (
        b'{"error":{"code":"invalid_order","message":"invalid order","details":"post only cross"}}'
    )
    error = error_from_response(
        400, body, method="POST", path="/trade-api/v2/portfolio/events/orders"
    )
    assert isinstance(error, BadRequestError)
    assert (error.code, error.message, error.details) == (
        "invalid_order",
        "invalid order",
        "post only cross",
    )
    assert str(error) == (
        "Kalshi answered HTTP 400 on POST /trade-api/v2/portfolio/events/orders: invalid_order "
        "(invalid order) [details: post only cross]"
    )


def test_nested_shape_with_service() -> None:
    body = b'{"error":{"code":"not_found","message":"not found","service":"exchange"}}'
    error = error_from_response(404, body)
    assert isinstance(error, NotFoundError)
    assert error.service == "exchange"
    assert error.details is None


def test_flat_shape() -> None:
    body = (
        b'{"code":"bad_request","message":"bad request","details":"json: cannot unmarshal number'
        b' into Go struct field CreateOrderV2Request.count of type string"}'
    )
    error = error_from_response(400, body)
    assert isinstance(error, BadRequestError)
    assert error.code == "bad_request"
    assert error.details is not None and "CreateOrderV2Request.count" in error.details


def test_bare_msg_shape() -> None:
    body = b'{"msg":"Parameter validation failed for GetMarkets: Key: \'GetMarketsParams.Limit\'"}'
    error = error_from_response(400, body, method="GET", path="/trade-api/v2/markets")
    assert isinstance(error, BadRequestError)
    assert error.code is None
    assert error.message.startswith("Parameter validation failed for GetMarkets")
    assert "HTTP 400 on GET /trade-api/v2/markets: error (Parameter validation" in str(error)


def test_429_string_body() -> None:
    error = error_from_response(429, b'{"error": "too many requests"}')
    assert isinstance(error, RateLimitedError)
    assert error.message == "too many requests"
    assert error.transient and is_transient(error)
    assert "back off" in str(error)


@pytest.mark.parametrize(
    ("details_or_code", "cause"),
    [
        (b'"details":"INCORRECT_API_KEY_SIGNATURE"', "signature did not verify"),
        (b'"details":"NOT_FOUND"', "key id is unknown"),
    ],
)
def test_auth_errors_name_their_cause(details_or_code: bytes, cause: str) -> None:
    body = b'{"error":{"code":"authentication_error","message":"authentication_error",' + (
        details_or_code + b"}}"
    )
    error = error_from_response(401, body)
    assert isinstance(error, AuthenticationError)
    assert cause in str(error)


def test_timestamp_expired_names_clock_skew() -> None:
    body = b'{"error":{"code":"header_timestamp_expired","message":"header timestamp expired"}}'
    assert "clock is skewed" in str(error_from_response(401, body))


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (418, KalshiAPIError),
    ],
)
def test_status_to_class(status: int, cls: type[KalshiAPIError]) -> None:
    error = error_from_response(status, b'{"code":"x","message":"y"}')
    assert type(error) is cls
    assert error.transient == (status == 429 or status >= 500)


def test_non_json_and_empty_bodies() -> None:
    html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    error = error_from_response(502, html)
    assert isinstance(error, ServerError)
    assert "non-JSON error body" in error.message and "502 Bad Gateway" in error.message
    assert error_from_response(503, b"").message == "empty response body"
    assert "unexpected error body" in error_from_response(500, b"[1, 2]").message
    assert "unrecognised error body" in error_from_response(500, b'{"oops": 1}').message
    invalid_utf8 = error_from_response(500, b"\xff\xfe garbage")
    assert "non-JSON" in invalid_utf8.message


def test_messages_never_carry_key_material_or_auth_headers() -> None:
    pem = (
        "-----BEGIN "
        + "PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END "
        + "PRIVATE KEY-----"
    )
    leak = (
        f"proxy echo: KALSHI-ACCESS-SIGNATURE: c2lnbmF0dXJl KALSHI-ACCESS-KEY=abc {pem} "
        + "A" * 300
    ).encode()
    error = error_from_response(500, leak)
    text = str(error)
    assert "MIIEvQIBADAN" not in text and "PRIVATE KEY-----" not in text
    assert "c2lnbmF0dXJl" not in text and "=abc" not in text
    assert "A" * 120 not in text
    nested = error_from_response(
        400, b'{"error":{"code":"x","message":"' + pem.encode().replace(b"\n", b"\\n") + b'"}}'
    )
    assert "MIIEvQIBADAN" not in str(nested)


def test_scrub_shortens_and_removes_control_characters() -> None:
    assert scrub("a\r\nb\x00c") == "a b c"
    assert len(scrub("word " * 200)) <= 163


def test_api_errors_pickle_with_all_fields() -> None:
    error = error_from_response(
        404, b'{"error":{"code":"not_found","message":"not found"}}', method="GET", path="/p"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is NotFoundError
    assert (copy.status, copy.code, copy.method, copy.path, str(copy)) == (
        404,
        "not_found",
        "GET",
        "/p",
        str(error),
    )


def test_transient_classification() -> None:
    assert is_transient(KalshiTransportError("timed out"))
    assert not is_transient(PaginationError("loop"))
    assert not is_transient(ValueError("x"))
    assert not is_transient(error_from_response(400, b"{}"))
