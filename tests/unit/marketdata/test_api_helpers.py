"""shared/api: cursors, validation, routing and conditional responses."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from werkzeug.datastructures import Headers, MultiDict

from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import ApiError
from shared.api.http import json_response
from shared.api.routing import Router, handle
from shared.api.validation import QueryParams, parse_timestamp


def test_cursor_round_trips_and_rejects_tampering():
    cursor = encode_cursor({"v": "12.50", "t": "KXA"})
    assert decode_cursor(cursor) == {"v": "12.50", "t": "KXA"}
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad in (flipped, "", "%%%", "x" * 2000, encode_cursor({"a": 1})[8:]):
        with pytest.raises(ApiError) as caught:
            decode_cursor(bad)
        assert caught.value.status == 400 and caught.value.code == "invalid_cursor"


def test_timestamps_accept_rfc3339_and_unix_seconds_only():
    assert parse_timestamp("t", "2026-06-11T05:00:00Z") == datetime(2026, 6, 11, 5, tzinfo=UTC)
    assert parse_timestamp("t", "2026-06-11T07:00:00+02:00") == datetime(2026, 6, 11, 5, tzinfo=UTC)
    assert parse_timestamp("t", "1781154000") == datetime(2026, 6, 11, 5, tzinfo=UTC)
    for bad in ("2026-06-11T05:00:00", "tomorrow", "1e9", "-5", "99999999999999", "2026-02-30"):
        with pytest.raises(ApiError):
            parse_timestamp("t", bad)


def test_query_params_validate_and_name_the_parameter():
    q = QueryParams(MultiDict([("limit", "5"), ("status", "a,b"), ("status", "b,c")]))
    assert q.integer("limit", 1, 1, 10) == 5
    assert q.list("status") == ["a", "b", "c"]
    with pytest.raises(ApiError, match="limit must be between 1 and 4"):
        q.integer("limit", 1, 1, 4)
    with pytest.raises(ApiError, match="status may be given once"):
        q.string("status")
    with pytest.raises(ApiError, match="unknown query parameter 'limt'"):
        QueryParams(MultiDict([("limt", "5")]), allowed={"limit"})
    with pytest.raises(ApiError, match="must be among"):
        QueryParams(MultiDict([("s", "x")])).list("s", choices=["a"])
    with pytest.raises(ApiError):
        QueryParams(MultiDict([("q", "a\x00b")])).string("q")
    assert QueryParams(MultiDict([("q", "ab")])).string("q", re.compile("[a-z]+")) == "ab"


class FakeRequest:
    def __init__(self, method, path, headers=None):
        self.method, self.path = method, path
        self.args = MultiDict()
        self.headers = Headers(headers or {})


def test_router_answers_404_405_and_json_errors():
    router = Router()
    router.add("GET", "/api/v1/things/{name}", lambda r, p: json_response({"name": p["name"]}))
    router.add("GET", "/api/v1/boom", lambda r, p: 1 / 0)
    ok = handle(router, FakeRequest("GET", "/api/v1/things/abc"))
    assert ok.status == 200 and ok.body == b'{"name":"abc"}'
    assert handle(router, FakeRequest("GET", "/api/v1/things/a/b")).status == 404
    not_allowed = handle(router, FakeRequest("PUT", "/api/v1/things/abc"))
    assert not_allowed.status == 405 and not_allowed.headers["Allow"] == "GET"
    boom = handle(router, FakeRequest("GET", "/api/v1/boom"))
    assert boom.status == 500
    assert (
        boom.body
        == b'{"error":"internal_error","message":"the service failed to answer this request"}'
    )
    head = handle(router, FakeRequest("HEAD", "/api/v1/things/abc"))
    assert head.status == 200 and head.body == b""


def test_a_failing_unexpected_hook_still_answers_json_500():
    router = Router()
    router.add("GET", "/api/v1/boom", lambda r, p: 1 / 0)

    def broken_hook(error):
        raise RuntimeError("the logger is down")

    boom = handle(router, FakeRequest("GET", "/api/v1/boom"), on_unexpected=broken_hook)
    assert boom.status == 500
    assert b'"error":"internal_error"' in boom.body
    assert b"the logger is down" not in boom.body


def test_etag_turns_a_repeat_into_304():
    first = json_response({"a": 1}, cache_control="public, max-age=5")
    assert first.headers["Cache-Control"] == "public, max-age=5"
    again = json_response(
        {"a": 1}, request_headers=Headers({"If-None-Match": first.headers["ETag"]})
    )
    assert again.status == 304 and again.body == b""
    changed = json_response(
        {"a": 2}, request_headers=Headers({"If-None-Match": first.headers["ETag"]})
    )
    assert changed.status == 200
