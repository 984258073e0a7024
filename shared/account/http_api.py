"""The ``/api/v1/account`` HTTP API: routes, body and query parsing, cookies, error statuses.

:func:`build_router` wires handlers to :class:`~shared.account.service.AccountService`;
``functions/account/main.py`` builds the service lazily and answers with :func:`respond`.
The OpenAPI document (``openapi/account.json``) describes exactly these routes; a test holds
them together.

Every route but sign-in and the OpenAPI document authenticates first (a session cookie,
with the CSRF checks on state changes, or an API token) and only then reads the body, so
an anonymous caller learns nothing from validation errors. A session older than 20 hours
gets a fresh cookie on whatever request it makes (``Set-Cookie`` beside the answer).
Bodies are capped at 64 KB; every error is ``{"error", "message"}`` JSON, a 401 or 429
carrying its ``WWW-Authenticate``/``Retry-After``.

Sign-in takes JSON ``{"key_id", "private_key_pem"}`` or a ``multipart/form-data`` upload
(``key_id`` field and the PEM file as ``private_key``), from a browser on an allowed origin
(an ``Origin``/``Referer`` from elsewhere is refused: no signing a victim into an
attacker's account) or from a script (no ``Origin`` at all).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.account.service import AccountError, AccountService, SignedIn
from shared.api.body import parse_json_bytes, read_json_body
from shared.api.errors import ApiError
from shared.api.http import JsonResponse, json_response, public_cache
from shared.api.openapi import load_document
from shared.api.routing import HttpRequest, Router, handle
from shared.api.validation import QueryParams
from shared.auth.csrf import clear_cookies, csrf_cookie, normalise_origin, session_cookie
from shared.auth.principal import Principal
from shared.auth.ratelimit import client_address
from shared.trading.routes import ORDERS_PREFIX, register_trading_routes

__all__ = [
    "MAX_BODY_BYTES",
    "PREFIX",
    "AccountApi",
    "CookieResponse",
    "build_router",
    "respond",
    "unexpected_error",
]

log = logging.getLogger("functions.account")

PREFIX = "/api/v1/account"
JOB_PATH = "/_jobs/day-boundary"
MAX_BODY_BYTES = 64 * 1024
MAX_PEM_UPLOAD = 16 * 1024
_CURSOR = re.compile(r"[A-Za-z0-9_\-.=]{1,512}")


@dataclass
class CookieResponse(JsonResponse):
    """A JSON answer that also sets cookies (one ``Set-Cookie`` header each)."""

    cookies: list[str] = field(default_factory=list)


def respond(router: Router, request: Any) -> tuple[bytes, int, list[tuple[str, str]]]:
    """Dispatch ``request`` and return what a Flask view may return, headers as a list so
    several ``Set-Cookie`` headers survive (a dict keeps one)."""
    response = handle(router, request, on_unexpected=unexpected_error)
    headers = list(response.headers.items())
    headers += [("Set-Cookie", cookie) for cookie in getattr(response, "cookies", ())]
    return response.body, response.status, headers


def _no_query(request: HttpRequest) -> None:
    QueryParams(request.args, allowed=())


def _as_api_error(error: AccountError) -> ApiError:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    if error.status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="kalshi-insights"'}
    return ApiError(error.status, error.code, error.message, headers=headers)


Handler = Callable[[Any, Mapping[str, str], Principal], JsonResponse]


def _places_an_order(request: Any) -> bool:
    """Whether ``request`` places an order (the routes whose work continues on the
    authentication's connection)."""
    if str(getattr(request, "method", "")).upper() != "POST":
        return False
    path = str(getattr(request, "path", "")).rstrip("/")
    return path == ORDERS_PREFIX or (
        path.startswith(PREFIX + "/positions/") and path.endswith("/close")
    )


class AccountApi:
    """The handlers; the service is a callable so nothing connects before first use."""

    def __init__(
        self,
        service: Callable[[], AccountService],
        *,
        job_auth: Callable[[Any], None] | None = None,
    ) -> None:
        self._service = service
        self._job_auth = job_auth

    # ---- plumbing

    def _authed(self, handler: Handler) -> Callable[[Any, Mapping[str, str]], JsonResponse]:
        """``handler`` for an authenticated caller; renews an old session's cookie.

        Placing an order (``POST /orders``, ``POST /positions/{ticker}/close``) continues
        on the connection it authenticated on (one checkout, the authentication and the
        audit insert in one transaction: ADR 0205); every other route authenticates in a
        short transaction of its own and its work takes connections as it needs them, so
        no connection is held across that work's Kalshi calls."""

        def run(request: Any, params: Mapping[str, str]) -> JsonResponse:
            service = self._service()
            try:
                if _places_an_order(request):
                    with service.authenticated_on_one_connection(request) as principal:
                        response = handler(request, params, principal)
                else:
                    principal = service.authenticate(request)
                    response = handler(request, params, principal)
            except AccountError as error:
                raise _as_api_error(error) from None
            renewed = service.renew(principal) if response.status < 400 else None
            if renewed is None:
                return response
            secure = service.settings.auth.cookie_secure
            cookies = [*getattr(response, "cookies", ()), session_cookie(renewed.token, secure)]
            return CookieResponse(response.status, response.body, response.headers, cookies)

        return run

    @staticmethod
    def _json(request: Any, data: Any, status: int = 200) -> JsonResponse:
        return json_response(data, status, etag=False)

    # ---- public

    def openapi(self, request: HttpRequest, _: Mapping[str, str]) -> JsonResponse:
        return json_response(
            load_document("account"),
            cache_control=public_cache(300, 3600),
            request_headers=request.headers,
        )

    def authenticate(self, request: Any, _: Mapping[str, str]) -> JsonResponse:
        _no_query(request)
        service = self._service()
        self._check_sign_in_origin(request, service)
        key_id, pem = self._credentials(request)
        address = client_address(
            request.headers,
            service.settings.auth.trusted_hops,
            getattr(request, "remote_addr", None),
        )
        try:
            signed_in: SignedIn = service.sign_in(key_id, pem, address)
        except AccountError as error:
            raise _as_api_error(error) from None
        secure = service.settings.auth.cookie_secure
        body = json_response(
            {"user": signed_in.user, "csrf_token": signed_in.csrf_token}, etag=False
        )
        return CookieResponse(
            200,
            body.body,
            body.headers,
            [
                session_cookie(signed_in.session.token, secure),
                csrf_cookie(signed_in.csrf_token, secure),
            ],
        )

    @staticmethod
    def _check_sign_in_origin(request: Any, service: AccountService) -> None:
        origin = request.headers.get("Origin")
        if origin is None and request.headers.get("Referer"):
            origin = request.headers.get("Referer")
        if origin is None:
            return  # a script; browsers always send Origin on a POST
        normalised = normalise_origin(origin)
        allowed = {normalise_origin(o) for o in service.settings.auth.allowed_origins}
        host = str(request.headers.get("Host") or "").lower()
        same_host = normalised is not None and normalised.split("://", 1)[1] == host
        if normalised is None or not (normalised in allowed or same_host):
            raise ApiError(
                403, "csrf_rejected", "sign-in is accepted only from this site's own pages"
            )

    @staticmethod
    def _credentials(request: Any) -> tuple[Any, Any]:
        """``(key_id, pem)`` from a JSON body or a multipart upload (64 KB at most)."""
        mimetype = str(getattr(request, "mimetype", "") or "").lower()
        if mimetype != "multipart/form-data":
            body = read_json_body(request, max_bytes=MAX_BODY_BYTES)
            if not isinstance(body, dict):
                raise ApiError(400, "invalid_request", "the body must be a JSON object")
            unknown = sorted(set(body) - {"key_id", "private_key_pem"})
            if unknown:
                raise ApiError(
                    400,
                    "invalid_request",
                    f"unknown field {unknown[0][:40]!r}; sign-in takes key_id and private_key_pem",
                )
            return body.get("key_id"), body.get("private_key_pem")
        declared = getattr(request, "content_length", None)
        if declared is None:
            raise ApiError(411, "length_required", "an upload must declare its Content-Length")
        if declared > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"the body may be at most {MAX_BODY_BYTES} bytes")
        upload = request.files.get("private_key")
        if upload is not None:
            pem = upload.read(MAX_PEM_UPLOAD + 1)
        else:
            pem = request.form.get("private_key_pem")
        return request.form.get("key_id"), pem

    # ---- the signed-in user's views

    def me(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        _no_query(request)
        return self._json(request, self._service().me(principal))

    def portfolio(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        _no_query(request)
        return self._json(request, self._service().portfolio(principal))

    def positions(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        _no_query(request)
        return self._json(request, self._service().positions(principal))

    @staticmethod
    def _page(request: Any) -> tuple[str | None, int]:
        q = QueryParams(request.args, allowed=("cursor", "limit"))
        return q.string("cursor", _CURSOR), q.integer("limit", 50, 1, 200)

    def fills(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        cursor, limit = self._page(request)
        return self._json(request, self._service().fills(principal, cursor, limit))

    def settlements(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        cursor, limit = self._page(request)
        return self._json(request, self._service().settlements(principal, cursor, limit))

    def performance(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        _no_query(request)
        return self._json(request, self._service().performance(principal))

    def get_settings(
        self, request: Any, _: Mapping[str, str], principal: Principal
    ) -> JsonResponse:
        _no_query(request)
        return self._json(request, self._service().preferences(principal))

    def put_settings(
        self, request: Any, _: Mapping[str, str], principal: Principal
    ) -> JsonResponse:
        _no_query(request)
        body = read_json_body(request, max_bytes=MAX_BODY_BYTES)
        return self._json(request, self._service().save_preferences(principal, body))

    def _signed_out(self) -> CookieResponse:
        secure = self._service().settings.auth.cookie_secure
        return CookieResponse(204, b"", {"Cache-Control": "no-store"}, clear_cookies(secure))

    def logout(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        _no_query(request)
        self._service().sign_out(principal)
        return self._signed_out()

    def delete_account(
        self, request: Any, _: Mapping[str, str], principal: Principal
    ) -> JsonResponse:
        _no_query(request)
        self._service().delete_account(principal)
        return self._signed_out()

    def create_token(
        self, request: Any, _: Mapping[str, str], principal: Principal
    ) -> JsonResponse:
        _no_query(request)
        body = read_json_body(request, max_bytes=MAX_BODY_BYTES)
        return self._json(request, self._service().create_token(principal, body), 201)

    def list_tokens(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        _no_query(request)
        return self._json(request, self._service().list_tokens(principal))

    def revoke_token(
        self, request: Any, params: Mapping[str, str], principal: Principal
    ) -> JsonResponse:
        _no_query(request)
        self._service().revoke_token(principal, params["token_id"])
        return JsonResponse(204, b"", {"Cache-Control": "no-store"})

    # ---- the day-boundary job (Cloud Scheduler; not routed by the load balancer)

    def day_boundary(self, request: Any, _: Mapping[str, str]) -> JsonResponse:
        if self._job_auth is None:
            raise ApiError(403, "forbidden", "this endpoint takes only the scheduler's calls")
        self._job_auth(request)
        raw = request.get_data(cache=False)[:1024] if hasattr(request, "get_data") else b""
        body = parse_json_bytes(raw) or {}
        day_text = body.get("day") if isinstance(body, dict) else None
        try:
            day = (
                dt.date.fromisoformat(day_text)
                if isinstance(day_text, str)
                else self._service().trading_day()
            )
        except ValueError:
            raise ApiError(400, "invalid_request", "day must be YYYY-MM-DD") from None
        report = self._service().record_day_boundary(day)
        return json_response({"day": day.isoformat(), **report}, etag=False)


def build_router(api: AccountApi) -> Router:
    router = Router()
    authed = api._authed
    router.add("GET", "/api/v1/openapi/account.json", api.openapi)
    router.add("POST", PREFIX + "/authenticate", api.authenticate)
    router.add("GET", PREFIX + "/me", authed(api.me))
    router.add("GET", PREFIX + "/portfolio", authed(api.portfolio))
    router.add("GET", PREFIX + "/positions", authed(api.positions))
    router.add("GET", PREFIX + "/fills", authed(api.fills))
    router.add("GET", PREFIX + "/settlements", authed(api.settlements))
    router.add("GET", PREFIX + "/performance", authed(api.performance))
    router.add("GET", PREFIX + "/settings", authed(api.get_settings))
    router.add("PUT", PREFIX + "/settings", authed(api.put_settings))
    router.add("DELETE", PREFIX + "/logout", authed(api.logout))
    router.add("DELETE", PREFIX, authed(api.delete_account))
    router.add("POST", PREFIX + "/tokens", authed(api.create_token))
    router.add("GET", PREFIX + "/tokens", authed(api.list_tokens))
    router.add("DELETE", PREFIX + "/tokens/{token_id}", authed(api.revoke_token))
    router.add("POST", JOB_PATH, api.day_boundary)
    register_trading_routes(router, authed, api._service)
    return router


def unexpected_error(exc: BaseException) -> ApiError:
    """Every exception a route lets out, as its JSON error: the service's typed errors keep
    their status; anything else (a database or Secret Manager outage, a bug) is logged by
    type only (no request data, which may hold a key) and answered 503."""
    if isinstance(exc, AccountError):
        return _as_api_error(exc)
    log.error("account request failed: %s", type(exc).__name__, exc_info=exc)
    return ApiError(503, "unavailable", "the account service is unavailable; try again")
