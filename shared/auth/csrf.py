"""Cross-site request forgery defence and the two auth cookies.

Browsers send the ``ki_session`` cookie with every request to our origin, including ones a
hostile page makes them send. Two independent checks stop those for state-changing
methods (docs/decisions/0143-csrf-origin-and-double-submit.md):

1. **Origin.** ``Origin`` (or, when a browser omits it, the ``Referer``'s origin) must be
   one we serve: the request's own ``Host`` or a configured allowed origin. A request with
   neither header is refused: every browser that sends cookies sends one of them on a
   cross-site unsafe request.
2. **Double submit.** The ``X-CSRF-Token`` header must equal (compared in constant time)
   the ``ki_csrf`` cookie. A page on another origin cannot read our cookie, so it cannot
   copy it into a header.

``SameSite=Strict`` on both cookies is a third layer where browsers support it. Safe
methods (GET, HEAD, OPTIONS) never change state, so they pass. API tokens (Bearer) are
not cookies and skip all of this (:mod:`shared.auth.principal`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "CsrfRejected",
    "check_csrf",
    "clear_cookies",
    "csrf_cookie",
    "new_csrf_token",
    "normalise_origin",
    "session_cookie",
]

SESSION_COOKIE = "ki_session"
CSRF_COOKIE = "ki_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_MAX_AGE = 24 * 3600
_MAX_TOKEN_CHARS = 256


class CsrfRejected(Exception):
    """An unsafe request failed the CSRF checks; ``code`` says which (``missing_origin``,
    ``cross_origin``, ``missing_csrf_token``, ``csrf_token_mismatch``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def new_csrf_token() -> str:
    """256 random bits, URL-safe: the value of the ``ki_csrf`` cookie."""
    return secrets.token_urlsafe(32)


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, default ports dropped; ``None`` if ``value``
    is not an http(s) origin (``null``, garbage)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in {"http", "https"} or not host:
        return None
    if port is None or (scheme, port) in {("http", 80), ("https", 443)}:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _host_of(origin: str) -> str:
    """``host[:port]`` of a normalised origin."""
    return origin.split("://", 1)[1]


def _normalise_host(host: str, scheme: str) -> str:
    """A ``Host`` header as :func:`_host_of` would render it for ``scheme``."""
    origin = normalise_origin(f"{scheme}://{host}")
    return _host_of(origin) if origin else ""


def _is_loopback(origin: str) -> bool:
    """Plain http is ours only on loopback (the local stack); elsewhere it is a downgrade."""
    host = urlsplit(origin).hostname or ""
    return host in {"localhost", "127.0.0.1", "::1"}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _request_origin(headers: Mapping[str, str]) -> str | None:
    origin = _header(headers, "Origin")
    if origin is not None:
        return origin
    referer = _header(headers, "Referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def check_csrf(
    method: str,
    headers: Mapping[str, str],
    cookies: Mapping[str, str],
    allowed_origins: Collection[str],
    *,
    allow_same_host: bool = True,
) -> None:
    """Pass safe methods; for unsafe ones require an allowed Origin and a matching token.

    ``allowed_origins`` are full origins (``https://insights.example.com``); with
    ``allow_same_host`` an https origin whose host and port equal the request's ``Host``
    header is allowed too (a browser cannot forge ``Host``, so a cross-site page never
    matches), and an http one only on loopback (the local stack).
    """
    if method.upper() in SAFE_METHODS:
        return
    raw = _request_origin(headers)
    if raw is None:
        raise CsrfRejected("missing_origin", "state-changing requests need an Origin header")
    origin = normalise_origin(raw)
    allowed = {o for o in (normalise_origin(a) for a in allowed_origins) if o}
    same_host = False
    if origin is not None and allow_same_host:
        host = _header(headers, "Host") or ""
        scheme = origin.split("://", 1)[0]
        same_host = (
            bool(host)
            and _normalise_host(host, scheme) == _host_of(origin)
            and (scheme == "https" or _is_loopback(origin))
        )
    if origin is None or not (origin in allowed or same_host):
        raise CsrfRejected("cross_origin", "the request comes from an origin we do not serve")
    header_token = _header(headers, CSRF_HEADER) or ""
    cookie_token = cookies.get(CSRF_COOKIE) or ""
    if not header_token or not cookie_token:
        raise CsrfRejected(
            "missing_csrf_token", f"state-changing requests need the {CSRF_HEADER} header"
        )
    if len(header_token) > _MAX_TOKEN_CHARS or not hmac.compare_digest(
        header_token.encode(), cookie_token.encode()
    ):
        raise CsrfRejected("csrf_token_mismatch", f"the {CSRF_HEADER} header is not valid")


def _cookie(name: str, value: str, *, http_only: bool, secure: bool, max_age: int) -> str:
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "SameSite=Strict"]
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def session_cookie(token: str, secure: bool = True, max_age: int = SESSION_MAX_AGE) -> str:
    """``Set-Cookie`` for the session JWT: HttpOnly (no script reads it), SameSite=Strict,
    Secure unless the local stack serves plain http on loopback."""
    return _cookie(SESSION_COOKIE, token, http_only=True, secure=secure, max_age=max_age)


def csrf_cookie(token: str, secure: bool = True, max_age: int = SESSION_MAX_AGE) -> str:
    """``Set-Cookie`` for the CSRF token: readable by the dashboard's script (it copies it
    into the ``X-CSRF-Token`` header), SameSite=Strict."""
    return _cookie(CSRF_COOKIE, token, http_only=False, secure=secure, max_age=max_age)


def clear_cookies(secure: bool = True) -> list[str]:
    """``Set-Cookie`` values that delete both cookies (logout)."""
    return [
        _cookie(SESSION_COOKIE, "", http_only=True, secure=secure, max_age=0),
        _cookie(CSRF_COOKIE, "", http_only=False, secure=secure, max_age=0),
    ]
