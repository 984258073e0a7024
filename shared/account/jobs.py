"""Who may call the account function's job endpoint (``POST /_jobs/day-boundary``).

Cloud Scheduler calls it once a day with a Google-signed OIDC token of its own service
account (``infra/modules/platform/main.tf``: ``day_boundary_schedule``). The load balancer
does not route ``/_jobs``, but the function's own URL is reachable by anything inside
Google's network that Cloud Run lets in, so the handler checks the token itself: issued by
Google, for the configured audience, to exactly the configured service account. Without
both settings every call is refused (fail closed). On the local stack
(``APP_ENVIRONMENT=local``) there is no Google to sign tokens: the local scheduler calls the
function on loopback directly, and the check is off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.account.settings import AccountSettings
from shared.api.errors import ApiError

__all__ = ["TokenVerifier", "scheduler_auth"]

_GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})

TokenVerifier = Callable[[str, str], Mapping[str, Any]]
"""``(token, audience) -> claims``, raising when the signature or audience is wrong."""


def _google_verifier(token: str, audience: str) -> Mapping[str, Any]:
    from google.auth.transport import requests as google_requests
    from google.oauth2 import id_token

    claims: Mapping[str, Any] = id_token.verify_oauth2_token(  # type: ignore[no-untyped-call]
        token, google_requests.Request(), audience=audience
    )
    return claims


def _forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def scheduler_auth(
    settings: AccountSettings, verifier: TokenVerifier | None = None
) -> Callable[[Any], None]:
    """A check that returns for the scheduler's requests and raises 403 for any other."""
    if settings.local:
        return lambda request: None
    audience, invoker = settings.day_boundary_audience, settings.day_boundary_invoker
    verify = verifier or _google_verifier

    def check(request: Any) -> None:
        if not audience or not invoker:
            raise _forbidden("the job endpoint is not configured (audience and invoker)")
        scheme, _, token = str(request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _forbidden("the job endpoint takes only the scheduler's calls")
        try:
            claims = verify(token.strip(), audience)
        except Exception:  # the library raises ValueError and transport errors alike
            raise _forbidden("the scheduler's token did not verify") from None
        if claims.get("iss") not in _GOOGLE_ISSUERS:
            raise _forbidden("the token was not issued by Google")
        if claims.get("email") != invoker or not claims.get("email_verified"):
            raise _forbidden("the token belongs to another caller")

    return check
