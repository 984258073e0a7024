"""Who owns the backtest runs a request touches: the signed-in user, or a client address.

The backtests function authenticates each request itself with the same entry point as
every deployable (:meth:`shared.auth.principal.AuthContext.authenticate`: a session cookie
with its CSRF checks, or an API token), and acts for that user. With anonymous submissions
on (``BACKTEST_ANONYMOUS_SUBMISSIONS``: only the local stack turns it on) a caller with no
credentials at all is the owner of the runs its client address created, as the load
balancer (locally the gateway) saw it; a caller presenting a bad credential is still
refused, never downgraded to anonymous.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from shared.auth.csrf import SESSION_COOKIE
from shared.auth.principal import AuthContext, AuthError, parse_cookies
from shared.auth.ratelimit import client_address
from shared.backtest.http_api import OwnerResolver
from shared.backtest.runs import RunOwner

__all__ = ["request_owner"]


def request_owner(
    auth: AuthContext, engine: Callable[[], Engine], *, anonymous: bool
) -> OwnerResolver:
    """The :data:`~shared.backtest.http_api.OwnerResolver` of the backtests function."""

    def resolve(request: Any) -> RunOwner:
        headers = request.headers
        presented = headers.get("Authorization") is not None or bool(
            parse_cookies(headers.get("Cookie")).get(SESSION_COOKIE)
        )
        # No credential at all: anonymous (when allowed) without reading any key ring.
        if not presented and anonymous:
            address = client_address(
                headers, auth.settings.trusted_hops, getattr(request, "remote_addr", None)
            )
            return RunOwner(address=address)
        if not presented:
            raise AuthError(401, "not_signed_in", "sign in, or send an API token")
        principal = auth.authenticate(request, engine=engine())
        return RunOwner(user_id=principal.user_id)

    return resolve
