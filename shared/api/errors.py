"""HTTP errors as values: every failure a client can cause becomes a 4xx JSON answer.

The body is always ``{"error": code, "message": text}`` (docs/architecture.md, "Contracts"):
``code`` is a stable snake_case word a program can branch on, ``message`` a sentence for a
person.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "INVALID_CURSOR_MESSAGE",
    "ApiError",
    "bad_request",
    "error_body",
    "invalid_cursor",
    "invalid_integer",
    "invalid_time",
    "not_found",
    "out_of_range",
    "time_out_of_range",
    "unknown_parameter",
]

INVALID_CURSOR_MESSAGE = "cursor is not one this API issued"


class ApiError(Exception):
    """An HTTP error answer. Raise it anywhere below a handler; the dispatcher renders it."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


def bad_request(message: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message)


def not_found(message: str, code: str = "not_found") -> ApiError:
    return ApiError(404, code, message)


# ---- the common mistakes, worded once
#
# The markets and backtests APIs answer the same mistake with the same ``error`` code and
# the same message shape, so a client (or a person reading two logs) handles it once.


def invalid_integer(name: str) -> ApiError:
    """A parameter that should be a whole number is not one (``limit=many``, ``NaN``)."""
    return bad_request(f"{name} must be an integer")


def out_of_range(name: str, minimum: object, maximum: object) -> ApiError:
    """A number outside the accepted range (``limit=0``, ``variant=2^70``)."""
    return bad_request(f"{name} must be between {minimum} and {maximum}")


def invalid_time(name: str, reason: str) -> ApiError:
    """A time that does not parse (``start=yesterday``, no zone)."""
    return bad_request(f"{name} {reason}")


def time_out_of_range(name: str, reason: str) -> ApiError:
    """A time that parses but lies outside what the system accepts (1970 to 2100 UTC):
    ``invalid_range``, the code both APIs use for an impossible range of instants."""
    return bad_request(f"{name} {reason}", code="invalid_range")


def unknown_parameter(name: str, allowed: Iterable[str]) -> ApiError:
    """A query parameter the endpoint does not know: a typo is a 400, not an ignored filter."""
    accepted = ", ".join(sorted(allowed)) or "no query parameters"
    return ApiError(
        400,
        "unknown_parameter",
        f"unknown query parameter {name!r}; this endpoint accepts {accepted}",
    )


def invalid_cursor(message: str = INVALID_CURSOR_MESSAGE) -> ApiError:
    """A pagination cursor this API did not issue, or one issued for another query."""
    return ApiError(400, "invalid_cursor", message)
