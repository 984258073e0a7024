"""The error bodies Kalshi actually sends, in its four shapes.

(a) nested ``{"error": {"code", "message", "details"?}}`` for auth, not-found and
exchange errors; (b) flat ``{"code", "message", "details"}`` for JSON-decode 400s;
(c) bare ``{"msg": "Parameter validation failed for ..."}`` for query validation;
(d) ``{"error": "too many requests"}`` for 429. The ``service`` key was removed from
error bodies on 2026-08-06, so it is not emitted.
"""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from emulators.kalshi_sim.wire import encode

JSON = "application/json; charset=utf-8"


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(content=body, status_code=status, media_type=JSON)


def nested(status: int, code: str, message: str, details: str | None = None) -> Response:
    error: dict[str, str] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    # Kalshi's nested bodies keep code, message, details in that order (not sorted).
    body = b'{"error":' + _ordered(error) + b"}"
    return json_response(body, status)


def flat(status: int, code: str, message: str, details: str) -> Response:
    return json_response(_ordered({"code": code, "message": message, "details": details}), status)


def bare_validation(operation: str, detail: str) -> Response:
    return json_response(
        encode({"msg": f"Parameter validation failed for {operation}: {detail}"}), 400
    )


def field_violation(operation: str, field: str, tag: str) -> Response:
    """Go validator wording, as recorded for ``limit`` (``lte`` above the maximum)."""
    detail = (
        f"Key: '{operation}Params.{field}' Error:Field validation for '{field}' "
        f"failed on the '{tag}' tag"
    )
    return bare_validation(operation, detail)


def limit_violation(operation: str, tag: str) -> Response:
    """``limit`` outside its bounds: ``lte`` above the maximum, ``gte`` below the minimum."""
    return field_violation(operation, "Limit", tag)


def too_many_requests() -> Response:
    return json_response(b'{"error":"too many requests"}', 429)


def service_unavailable() -> Response:
    return nested(503, "service_unavailable", "service unavailable")


def not_found() -> Response:
    return nested(404, "not_found", "not found")


def _ordered(fields: dict[str, str]) -> bytes:
    """JSON keeping the dict's insertion order (``wire.encode`` sorts keys)."""
    return msgspec.json.encode(fields)
