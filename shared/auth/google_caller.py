"""Is this request from the Google service account we expect? The OIDC check, once.

Cloud Tasks and Cloud Scheduler call our HTTP receivers with an ID token Google signs for a
service account we name (the invoker) and an audience (the receiver's URL). The receivers'
own URLs are reachable by anything Cloud Run lets in, so each checks the token itself:
signed by Google, for its audience, belonging to exactly that account, with a verified
email. The backtest worker and backfill task checks (``shared/messaging/tasks.py``), the
account function's day-boundary job (``shared/account/jobs.py``) and the backfill's daily
job (``shared/history/backfill_api.py``) all run these same steps; they live here so a fix
reaches all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "GOOGLE_ISSUERS",
    "CallerRefused",
    "TokenVerifier",
    "check_google_caller",
    "google_id_token_claims",
]

GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})

TokenVerifier = Callable[[str, str], Mapping[str, Any]]
"""``(token, audience) -> claims``, raising when the signature or audience is wrong."""


class CallerRefused(PermissionError):
    """The request is not the expected account's (answer 403 with this reason)."""


def google_id_token_claims(token: str, audience: str) -> Mapping[str, Any]:
    """The claims of a Google-signed ID token for ``audience`` (google-auth checks the
    signature against Google's published keys, the expiry and the audience)."""
    from google.auth.transport import requests as google_requests
    from google.oauth2 import id_token

    claims: Mapping[str, Any] = id_token.verify_oauth2_token(  # type: ignore[no-untyped-call]
        token, google_requests.Request(), audience=audience
    )
    return claims


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header whatever the mapping's key case (werkzeug's headers or a plain dict)."""
    found = headers.get(name)
    if found is None:
        wanted = name.lower()
        found = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return str(found or "")


def check_google_caller(
    headers: Mapping[str, str],
    *,
    audience: str | None,
    invoker: str | None,
    verifier: TokenVerifier | None = None,
) -> None:
    """Return when the bearer token is Google's, for ``audience``, of ``invoker``.

    Raises :class:`CallerRefused` with the reason otherwise. Fails closed: without both an
    audience and an invoker every call is refused, since any Google-signed token for any
    audience would otherwise pass.
    """
    if not audience or not invoker:
        raise CallerRefused("the receiver has no audience or invoker configured")
    scheme, _, token = _header(headers, "Authorization").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CallerRefused("missing bearer token")
    verify = verifier or google_id_token_claims
    try:
        claims = verify(token.strip(), audience)
    except Exception as exc:  # the library raises ValueError and transport errors alike
        raise CallerRefused("the bearer token did not verify") from exc
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise CallerRefused("the token was not issued by Google")
    if claims.get("email") != invoker or not claims.get("email_verified"):
        raise CallerRefused("the token belongs to another caller")
