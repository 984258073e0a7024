"""The one OIDC caller check every task and job receiver makes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from shared.auth.google_caller import CallerRefused, check_google_caller

INVOKER = "tasks-invoker@p.iam.gserviceaccount.com"
AUDIENCE = "https://backfill-123.us-central1.run.app"
GOOD = {"iss": "https://accounts.google.com", "email": INVOKER, "email_verified": True}


def _verifier(claims: Mapping[str, Any]) -> Any:
    def verify(token: str, audience: str) -> Mapping[str, Any]:
        assert (token, audience) == ("tok", AUDIENCE)
        return claims

    return verify


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_the_invokers_google_token_passes_whatever_the_header_case(name: str) -> None:
    check_google_caller(
        {name: "Bearer tok"}, audience=AUDIENCE, invoker=INVOKER, verifier=_verifier(GOOD)
    )


@pytest.mark.parametrize(
    ("headers", "claims", "audience", "invoker", "reason"),
    [
        ({"Authorization": "Bearer tok"}, GOOD, None, INVOKER, "no audience or invoker"),
        ({"Authorization": "Bearer tok"}, GOOD, AUDIENCE, None, "no audience or invoker"),
        ({}, GOOD, AUDIENCE, INVOKER, "missing bearer"),
        ({"Authorization": "Basic tok"}, GOOD, AUDIENCE, INVOKER, "missing bearer"),
        ({"Authorization": "Bearer tok"}, {**GOOD, "iss": "evil"}, AUDIENCE, INVOKER, "Google"),
        (
            {"Authorization": "Bearer tok"},
            {**GOOD, "email": "x@p.iam.gserviceaccount.com"},
            AUDIENCE,
            INVOKER,
            "another caller",
        ),
        (
            {"Authorization": "Bearer tok"},
            {**GOOD, "email_verified": False},
            AUDIENCE,
            INVOKER,
            "another caller",
        ),
    ],
)
def test_anything_else_is_refused_with_its_reason(
    headers: dict[str, str],
    claims: Mapping[str, Any],
    audience: str | None,
    invoker: str | None,
    reason: str,
) -> None:
    with pytest.raises(CallerRefused, match=reason):
        check_google_caller(headers, audience=audience, invoker=invoker, verifier=_verifier(claims))


def test_a_token_that_does_not_verify_is_refused() -> None:
    def broken(token: str, audience: str) -> Mapping[str, Any]:
        raise ValueError("Token expired")

    with pytest.raises(CallerRefused, match="did not verify"):
        check_google_caller(
            {"Authorization": "Bearer tok"}, audience=AUDIENCE, invoker=INVOKER, verifier=broken
        )
