"""Reading a JSON request body without letting its shape crash the function.

``json.loads`` alone has three failure modes a client can trigger on purpose: a body
nested thousands deep raises ``RecursionError`` (not a ``ValueError``, so it escaped as a
500/503), ``NaN``/``Infinity``/``1e999`` become floats no later code expects, and an
integer with thousands of digits is slow to convert. :func:`read_json_body` refuses all of
them as a 400 ``invalid_json`` before any of our code sees the value, and enforces the
content type (415) and size (413) a state-changing endpoint accepts.
"""

from __future__ import annotations

import json
import math
from typing import Any

from shared.api.errors import ApiError

__all__ = ["DEFAULT_MAX_DEPTH", "parse_json_bytes", "read_json_body"]

# Deeper than any body this project's APIs accept (a backtest request is 3 levels deep),
# far below the interpreter's recursion limit.
DEFAULT_MAX_DEPTH = 32


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_json", message)


def _check_depth(text: str, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` with one pass over the text (brackets
    inside strings do not count), before the recursive parser runs."""
    depth = 0
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                raise _invalid(f"the body is nested deeper than {max_depth} levels")
        elif char in "]}":
            depth -= 1


def _finite_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise _invalid(f"the body contains a number out of range: {raw[:20]}")
    return value


def _no_constant(raw: str) -> Any:
    raise _invalid(f"the body contains {raw}, which is not JSON")


def parse_json_bytes(raw: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """``raw`` as JSON (UTF-8), or ApiError 400 ``invalid_json``; an empty body is None."""
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("the body is not UTF-8") from None
    _check_depth(text, max_depth)
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except ApiError:
        raise
    except (ValueError, RecursionError):
        # ValueError also covers integers longer than Python's digit limit.
        raise _invalid("the body is not valid JSON") from None


def read_json_body(request: Any, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The JSON body of ``request`` (Flask's: ``mimetype``, ``content_length``,
    ``get_data``): 415 unless it is ``application/json``, 413 above
    ``max_bytes`` (checked on the declared length before reading, and on what arrived),
    400 ``invalid_json`` for anything :func:`parse_json_bytes` refuses."""
    mimetype = str(getattr(request, "mimetype", "") or "").lower()
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "the body must be JSON (Content-Type: application/json)",
        )
    declared = getattr(request, "content_length", None)
    if declared is not None and declared > max_bytes:
        raise ApiError(413, "too_large", f"the body may be at most {max_bytes} bytes")
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise ApiError(413, "too_large", f"the body may be at most {max_bytes} bytes")
    return parse_json_bytes(raw, max_depth=max_depth)
