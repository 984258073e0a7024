"""HTTP errors as values: every failure a client can cause becomes a 4xx JSON answer.

The body is always ``{"error": code, "message": text}`` (DESIGN.md, "Contracts"): ``code``
is a stable snake_case word a program can branch on, ``message`` a sentence for a person.
"""

from __future__ import annotations

__all__ = ["ApiError", "bad_request", "error_body", "not_found"]


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
