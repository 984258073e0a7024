"""A method + path router small enough to read in one go.

Routes are path templates with ``{name}`` segments; a segment matches one path segment
(no ``/``). A path that matches no template is 404, one that matches with another method
is 405 with ``Allow``. Handlers receive the request and the captured segments.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from shared.api.errors import ApiError
from shared.api.http import JsonResponse, error_response

__all__ = ["HttpRequest", "Router", "handle"]


class HttpRequest(Protocol):
    """What handlers use of a request (Flask's ``request`` fits)."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def args(self) -> Any: ...  # a MultiDict: .get(name), .getlist(name), .keys()

    @property
    def headers(self) -> Any: ...  # case-insensitive .get(name)


Handler = Callable[[HttpRequest, Mapping[str, str]], JsonResponse]


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[a-z_]+\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}/?$")


class Router:
    def __init__(self) -> None:
        self._routes: list[_Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        self._routes.append(_Route(method.upper(), template, _compile(template), handler))

    def route(self, method: str, template: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, template, handler)
            return handler

        return register

    @property
    def templates(self) -> list[tuple[str, str]]:
        return [(r.method, r.template) for r in self._routes]

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed: list[str] = []
        for route in self._routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method == method.upper() or (route.method == "GET" and method == "HEAD"):
                return route.handler, match.groupdict()
            allowed.append(route.method)
        if allowed:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{method} is not allowed here; use {', '.join(sorted(set(allowed)))}",
                headers={"Allow": ", ".join(sorted(set(allowed)))},
            )
        raise ApiError(404, "not_found", f"no such endpoint: {path[:200]}")


def handle(
    router: Router,
    request: HttpRequest,
    *,
    on_unexpected: Callable[[BaseException], ApiError] | None = None,
) -> JsonResponse:
    """Dispatch ``request``; every exception becomes a JSON error response.

    ``ApiError`` renders as itself. Anything else is a bug or an outage: ``on_unexpected``
    (which should log it) turns it into an ApiError (say 503 for a database outage); by
    default a JSON 500 ``internal_error``, never a stack trace.
    """
    try:
        handler, params = router.resolve(request.method, request.path)
        response = handler(request, params)
    except ApiError as error:
        return error_response(error)
    except Exception as error:
        return error_response(_unexpected_error(error, on_unexpected))
    if request.method == "HEAD":
        response.body = b""
    return response


_INTERNAL = ApiError(500, "internal_error", "the service failed to answer this request")


def _unexpected_error(
    error: Exception, on_unexpected: Callable[[BaseException], ApiError] | None
) -> ApiError:
    """The caller's mapping of an unexpected error; if that mapping fails too (a logging
    outage, a bug in the hook), still a JSON 500, never the framework's stack trace."""
    if on_unexpected is None:
        return _INTERNAL
    try:
        return on_unexpected(error)
    except Exception:
        logging.getLogger(__name__).exception("on_unexpected failed while handling %r", error)
        return _INTERNAL
