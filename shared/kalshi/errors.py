"""Typed errors for everything that can go wrong talking to Kalshi's REST API.

The WebSocket stack's errors live with it, in :mod:`shared.kalshi.ws.errors`.

Kalshi answers errors in these JSON shapes (recorded in tests/fixtures/kalshi_recorded/):

- nested ``{"error": {"code", "message", "details"?, "service"?}}`` (most 4xx, every 401),
- flat ``{"code", "message", "details"}`` (the OpenAPI shape; JSON-decode 400s),
- bare ``{"msg": "..."}`` (query-parameter validation 400s),
- ``{"error": "too many requests"}`` (429).

:func:`error_from_response` turns any of them, or a non-JSON body from a proxy, into one
exception class per HTTP status family, so callers branch on types instead of parsing text.
Messages name the cause (with a hint for the auth failures people actually hit) and never
contain request headers, signatures or key material: the client never passes headers here,
and text quoted from a body is cut short and scrubbed of anything that looks like a key.
"""

from __future__ import annotations

import json
import re

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "KalshiAPIError",
    "KalshiError",
    "KalshiTransportError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "UnexpectedResponseError",
    "error_from_response",
    "is_transient",
    "scrub",
]

_SNIPPET_CHARS = 160
_PEM_BLOCK = re.compile(r"-----BEGIN [^-]*-----.*?(-----END [^-]*-----|$)", re.DOTALL)
_KALSHI_HEADER = re.compile(r"(KALSHI-ACCESS-[A-Z]+)\s*[:=]\s*\S+", re.IGNORECASE)
_LONG_BASE64 = re.compile(r"[A-Za-z0-9+/=_-]{120,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

# Why an auth failure happened, keyed by Kalshi's code or details (recorded: auth__*.json).
_AUTH_HINTS = {
    "INCORRECT_API_KEY_SIGNATURE": (
        "the signature did not verify: sign timestamp_ms + METHOD + path (with /trade-api/v2, "
        "without the query) using RSA-PSS/SHA-256 with the key that belongs to this key id"
    ),
    "NOT_FOUND": (
        "the API key id is unknown to this environment (a demo key on production, or the "
        "reverse, or a deleted key)"
    ),
    "header_timestamp_expired": (
        "KALSHI-ACCESS-TIMESTAMP is outside the accepted window: the local clock is skewed "
        "(sync NTP) or the timestamp is in seconds instead of milliseconds"
    ),
    "signature_is_missing_from_headers": "the request carried no KALSHI-ACCESS-SIGNATURE header",
}


class KalshiError(Exception):
    """Base class of every error this package raises about Kalshi."""

    #: True when the same request may succeed if sent again later.
    transient: bool = False
    #: How many times the client sent the request before giving up (set by the client).
    attempts: int = 1


class KalshiAPIError(KalshiError):
    """Kalshi answered with an HTTP error status.

    ``code``/``message``/``details`` come from the body when it has them; ``method`` and
    ``path`` say which request failed (the path, never the headers).
    """

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        details: str | None = None,
        *,
        service: str | None = None,
        method: str | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.service = service
        self.method = method
        self.path = path
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" on {self.method} {self.path}" if self.method and self.path else ""
        label = self.code or "error"
        text = f"Kalshi answered HTTP {self.status}{where}: {label}"
        if self.message and self.message != self.code:
            text += f" ({self.message})"
        if self.details:
            text += f" [details: {self.details}]"
        if self.hint:
            text += f"; cause: {self.hint}"
        return text

    def __reduce__(self) -> tuple[object, ...]:  # keeps keyword-only fields through pickling
        return (
            _rebuild_api_error,
            (
                type(self),
                self.status,
                self.code,
                self.message,
                self.details,
                self.service,
                self.method,
                self.path,
                self.hint,
            ),
        )


def _rebuild_api_error(
    cls: type[KalshiAPIError],
    status: int,
    code: str | None,
    message: str,
    details: str | None,
    service: str | None,
    method: str | None,
    path: str | None,
    hint: str | None,
) -> KalshiAPIError:
    """The one place an API error is built from its fields: unpickling (``__reduce__``) and
    :func:`error_from_response` both come here, so the keyword-only fields stay in step."""
    return cls(
        status,
        code,
        message,
        details,
        service=service,
        method=method,
        path=path,
        hint=hint,
    )


class BadRequestError(KalshiAPIError):
    """400: the request was malformed (any of the three body shapes)."""


class AuthenticationError(KalshiAPIError):
    """401: missing, wrong or expired signature, or an unknown key id."""


class PermissionDeniedError(KalshiAPIError):
    """403: the key lacks the scope or tier for this endpoint."""


class NotFoundError(KalshiAPIError):
    """404: unknown ticker or order (also an already canceled or executed order)."""


class ConflictError(KalshiAPIError):
    """409: e.g. a reused ``client_order_id``."""


class RateLimitedError(KalshiAPIError):
    """429: the key's token bucket is empty; retry with backoff."""

    transient = True


class ServerError(KalshiAPIError):
    """5xx: Kalshi (or its edge) failed; retrying later may succeed."""

    transient = True


class KalshiTransportError(KalshiError):
    """The request got no HTTP answer: timeout, refused connection, reset, bad TLS."""

    transient = True

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None):
        self.method = method
        self.path = path
        super().__init__(message)


class PaginationError(KalshiError):
    """A cursor walk could not finish honestly (a cursor repeated, or too many pages).

    Raised instead of returning a partial list: a silently truncated market list would look
    exactly like a complete one.
    """


class UnexpectedResponseError(KalshiError):
    """A success body did not match the expected model (Kalshi changed the wire format)."""


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying later (rate limits, 5xx, transport failures)."""
    return isinstance(exc, KalshiError) and exc.transient


def _class_for_status(status: int) -> type[KalshiAPIError]:
    if status == 400:
        return BadRequestError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status == 429:
        return RateLimitedError
    if 500 <= status <= 599:
        return ServerError
    return KalshiAPIError


def scrub(text: str) -> str:
    """Cut a quoted body short and remove anything that looks like key material or headers."""
    text = _PEM_BLOCK.sub("[redacted key]", text)
    text = _KALSHI_HEADER.sub(r"\1: [redacted]", text)
    text = _LONG_BASE64.sub("[redacted]", text)
    text = _CONTROL.sub(" ", text).strip()
    if len(text) > _SNIPPET_CHARS:
        text = text[:_SNIPPET_CHARS] + "..."
    return text


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return scrub(value)
    return scrub(json.dumps(value, sort_keys=True, default=str))


def _parse_body(body: bytes) -> tuple[str | None, str, str | None, str | None]:
    """(code, message, details, service) from any of Kalshi's error shapes."""
    if not body.strip():
        return None, "empty response body", None, None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        snippet = scrub(body[:4096].decode("utf-8", errors="replace"))
        return None, f"non-JSON error body: {snippet}", None, None
    if not isinstance(data, dict):
        return None, f"unexpected error body: {_text(data)}", None, None

    nested = data.get("error")
    if isinstance(nested, dict):  # shape (a)
        code = _text(nested.get("code"))
        message = _text(nested.get("message")) or code or "no message"
        return code, message, _text(nested.get("details")), _text(nested.get("service"))
    if isinstance(nested, str):  # 429 string body
        return None, scrub(nested), _text(data.get("details")), None
    if "code" in data or "message" in data:  # shape (b)
        code = _text(data.get("code"))
        message = _text(data.get("message")) or code or "no message"
        return code, message, _text(data.get("details")), _text(data.get("service"))
    if "msg" in data:  # shape (c)
        return None, _text(data.get("msg")) or "no message", None, None
    return None, f"unrecognised error body: {_text(data)}", None, None


def _hint(status: int, code: str | None, details: str | None) -> str | None:
    for key in (details, code):
        if key and key in _AUTH_HINTS:
            return _AUTH_HINTS[key]
    if status == 429:
        return "the key's request budget is spent; back off and retry"
    return None


def error_from_response(
    status: int,
    body: bytes,
    *,
    method: str | None = None,
    path: str | None = None,
) -> KalshiAPIError:
    """The typed error for one HTTP error answer.

    Handles the nested, flat and bare shapes, the 429 string body, empty and non-JSON bodies.
    ``path`` should be the request path (query is fine); never pass headers.
    """
    code, message, details, service = _parse_body(body)
    return _rebuild_api_error(
        _class_for_status(status),
        status,
        code,
        message,
        details,
        service,
        method,
        path,
        _hint(status, code, details),
    )
