"""shared/api: one wording per common mistake, whichever API makes the answer."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from shared.api.cursor import decode_cursor
from shared.api.errors import (
    INVALID_CURSOR_MESSAGE,
    ApiError,
    invalid_cursor,
    invalid_integer,
    out_of_range,
    time_out_of_range,
    unknown_parameter,
)
from shared.api.validation import QueryParams, parse_timestamp


def raised(call) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


def test_helpers_word_each_mistake_once():
    assert invalid_integer("limit").body() == {
        "error": "invalid_request",
        "message": "limit must be an integer",
    }
    assert out_of_range("limit", 1, 100).message == "limit must be between 1 and 100"
    unknown = unknown_parameter("limt", {"limit", "cursor"})
    assert unknown.code == "unknown_parameter"
    assert unknown.message == "unknown query parameter 'limt'; this endpoint accepts cursor, limit"
    assert unknown_parameter("x", set()).message.endswith("accepts no query parameters")
    assert invalid_cursor().body() == {"error": "invalid_cursor", "message": INVALID_CURSOR_MESSAGE}
    assert time_out_of_range("end", "must be between").code == "invalid_range"


def test_query_params_use_the_helpers():
    q = QueryParams(MultiDict([("limit", "NaN"), ("variant", str(2**70)), ("n", "inf")]))
    assert raised(lambda: q.integer("limit", 1, 1, 5)).body() == invalid_integer("limit").body()
    assert raised(lambda: q.optional_integer("variant", 0, 63)).body() == (
        out_of_range("variant", 0, 63).body()
    )
    assert raised(lambda: q.number("n", 0, 0, 1)).message == "n must be between 0 and 1"
    assert QueryParams(MultiDict()).optional_integer("variant", 0, 63) is None
    assert QueryParams(MultiDict([("v", "+7")])).optional_integer("v", 0, 63) == 7
    assert raised(lambda: decode_cursor("garbage")).body() == invalid_cursor().body()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("0001-01-01T00:00:00Z", "invalid_range"),
        ("0001-01-01T00:00:00+05:00", "invalid_range"),  # overflows converting to UTC
        ("9999-12-31T23:59:59-05:00", "invalid_range"),
        ("2100-01-01T00:00:01Z", "invalid_range"),
        ("-1", "invalid_range"),
        ("4102444801", "invalid_range"),
        ("yesterday", "invalid_request"),
        ("2026-06-11T05:00:00", "invalid_request"),
    ],
)
def test_timestamps_outside_1970_to_2100_name_the_parameter(raw, code):
    error = raised(lambda: parse_timestamp("end", raw))
    assert (error.status, error.code) == (400, code)
    assert error.message.startswith("end ")


def test_timestamps_at_both_ends_of_the_range_are_accepted():
    assert parse_timestamp("t", "0").year == 1970
    assert parse_timestamp("t", "4102444800").year == 2100
    assert parse_timestamp("t", "2100-01-01T00:00:00Z").year == 2100
    assert parse_timestamp("t", "1970-01-01T05:00:00+05:00").hour == 0
