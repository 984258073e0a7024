"""shared/api/body.py: the JSON body reader refuses what json.loads alone lets through."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import EnvironBuilder

from shared.api.body import DEFAULT_MAX_DEPTH, parse_json_bytes, read_json_body
from shared.api.errors import ApiError


def refused(raw: bytes, **options: int) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_json_bytes(raw, **options)
    return caught.value


def test_ordinary_bodies_parse():
    assert parse_json_bytes(b'{"a": [1, 2.5, "x"], "b": null}') == {"a": [1, 2.5, "x"], "b": None}
    assert parse_json_bytes(b"") is None and parse_json_bytes(b"  \n") is None
    # Brackets inside strings are text, not nesting.
    deep_text = json.dumps({"s": "[" * 1000 + "{" * 1000}).encode()
    assert parse_json_bytes(deep_text) == {"s": "[" * 1000 + "{" * 1000}
    escaped = b'{"s": "a\\"[[[[", "t": 1}'
    assert parse_json_bytes(escaped, max_depth=1) == {"s": 'a"[[[[', "t": 1}


@pytest.mark.parametrize("depth", [DEFAULT_MAX_DEPTH + 1, 5000, 100_000])
def test_deep_nesting_is_a_400_not_a_recursion_error(depth):
    error = refused(b"[" * depth + b"]" * depth)
    assert (error.status, error.code) == (400, "invalid_json")
    assert "nested deeper" in error.message
    assert parse_json_bytes(b"[" * DEFAULT_MAX_DEPTH + b"]" * DEFAULT_MAX_DEPTH) is not None


@pytest.mark.parametrize(
    "raw",
    [b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"1e999", b"-1e400", b"9" * 5000],
)
def test_non_finite_and_oversized_numbers_are_a_400(raw):
    error = refused(raw)
    assert (error.status, error.code) == (400, "invalid_json")


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe{}", b'{"a": 1,}', b"[1] [2]"])
def test_malformed_bodies_are_a_400(raw):
    assert refused(raw).code == "invalid_json"


def request(body: bytes, content_type: str | None = "application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    return EnvironBuilder(method="POST", data=body, headers=headers).get_request()


def test_read_json_body_enforces_content_type_and_size():
    assert read_json_body(request(b'{"a": 1}'), max_bytes=100) == {"a": 1}
    assert read_json_body(request(b"[]", "application/json; charset=utf-8"), max_bytes=9) == []
    assert read_json_body(request(b"{}", "application/merge-patch+json"), max_bytes=9) == {}
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        with pytest.raises(ApiError) as caught:
            read_json_body(request(b"{}", content_type), max_bytes=100)
        assert (caught.value.status, caught.value.code) == (415, "unsupported_media_type")
    with pytest.raises(ApiError) as caught:
        read_json_body(request(b"[" + b"1," * 100 + b"1]"), max_bytes=100)
    assert (caught.value.status, caught.value.code) == (413, "too_large")
