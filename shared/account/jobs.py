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

from collections.abc import Callable
from typing import Any

from shared.account.settings import AccountSettings
from shared.api.errors import ApiError
from shared.auth.google_caller import CallerRefused, TokenVerifier, check_google_caller

__all__ = ["TokenVerifier", "scheduler_auth"]


def scheduler_auth(
    settings: AccountSettings, verifier: TokenVerifier | None = None
) -> Callable[[Any], None]:
    """A check that returns for the scheduler's requests and raises 403 for any other."""
    if settings.local:
        return lambda request: None
    audience, invoker = settings.day_boundary_audience, settings.day_boundary_invoker

    def check(request: Any) -> None:
        try:
            check_google_caller(
                request.headers, audience=audience, invoker=invoker, verifier=verifier
            )
        except CallerRefused as refused:
            raise ApiError(
                403, "forbidden", f"the job endpoint refused the call: {refused}"
            ) from None

    return check
