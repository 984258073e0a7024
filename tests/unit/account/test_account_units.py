"""The account function's pieces that need no server: settings documents, the
account-events contract, the scheduler's job check, key-id masking, cookies in responses
and the local daily job's clock."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.account.events import (
    ACCOUNT_EVENTS_VERSION,
    CONNECTED,
    DISCONNECTED,
    account_envelope,
    decode_account_event,
)
from shared.account.jobs import scheduler_auth
from shared.account.preferences import (
    MAX_POSITION_ALERTS,
    PreferencesError,
    parse_preferences,
)
from shared.account.service import mask_key_id
from shared.account.settings import AccountSettings
from shared.api.errors import ApiError
from shared.kalshi.environments import DEMO
from shared.messaging.envelope import Envelope, InvalidMessage, decode, encode

USER = uuid.UUID("8a1c0c3e-2f4b-4d55-9a5e-0b5a3c9d1e21")


# ---------------------------------------------------------------- settings documents


def test_pnl_alerts_normalise_to_two_decimals_and_default_off() -> None:
    assert parse_preferences({}).to_json()["pnl_alerts"] == {
        "enabled": False,
        "loss_dollars": None,
        "gain_dollars": None,
        "loss_percent": None,
        "gain_percent": None,
        "positions": {},
    }
    alerts = parse_preferences(
        {"pnl_alerts": {"enabled": True, "loss_dollars": "50", "gain_percent": " 7.5 "}}
    ).pnl_alerts
    assert alerts.enabled and alerts.loss_dollars == Decimal("50.00")
    assert alerts.to_json()["gain_percent"] == "7.50"


def test_per_position_thresholds_round_trip_sorted_in_dollars() -> None:
    document = {"pnl_alerts": {"enabled": True, "positions": {"KXB-2": "5", "KXA-1": " 12.5"}}}
    alerts = parse_preferences(document).pnl_alerts
    assert alerts.positions == (("KXA-1", Decimal("12.50")), ("KXB-2", Decimal("5.00")))
    stored = parse_preferences({"pnl_alerts": alerts.to_json()}).pnl_alerts
    assert stored == alerts
    assert alerts.to_json()["positions"] == {"KXA-1": "12.50", "KXB-2": "5.00"}
    assert parse_preferences({"pnl_alerts": {"positions": None}}).pnl_alerts.positions == ()
    many = {f"T{i}": "1" for i in range(MAX_POSITION_ALERTS)}
    assert len(parse_preferences({"pnl_alerts": {"positions": many}}).pnl_alerts.positions) == (
        MAX_POSITION_ALERTS
    )


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ([], "JSON object"),
        ({"colour": "blue"}, "unknown field 'colour'"),
        ({"pnl_alerts": []}, "JSON object"),
        ({"pnl_alerts": {"enabled": "yes"}}, "true or false"),
        ({"pnl_alerts": {"loss_dollars": 50}}, "decimal string"),
        ({"pnl_alerts": {"loss_dollars": "fifty"}}, "not a decimal"),
        ({"pnl_alerts": {"loss_dollars": "NaN"}}, "above 0"),
        ({"pnl_alerts": {"loss_dollars": "-1"}}, "above 0"),
        ({"pnl_alerts": {"loss_dollars": "0"}}, "above 0"),
        ({"pnl_alerts": {"loss_dollars": "0.001"}}, "2 decimal places"),
        ({"pnl_alerts": {"loss_percent": "1001"}}, "at most 1000"),
        ({"pnl_alerts": {"gain_dollars": "1e12"}}, "at most"),
        ({"pnl_alerts": {"when": "now"}}, "unknown field 'when'"),
        ({"pnl_alerts": {"positions": ["KXA"]}}, "ticker -> dollars"),
        ({"pnl_alerts": {"positions": {"kxa-1": "5"}}}, "invalid ticker 'kxa-1'"),
        ({"pnl_alerts": {"positions": {"": "5"}}}, "invalid ticker"),
        ({"pnl_alerts": {"positions": {"KXA": None}}}, r"positions\.KXA needs an amount"),
        ({"pnl_alerts": {"positions": {"KXA": 5}}}, r"positions\.KXA must be a decimal string"),
        ({"pnl_alerts": {"positions": {"KXA": "-5"}}}, "above 0"),
        ({"pnl_alerts": {"positions": {"KXA": "0.001"}}}, "2 decimal places"),
        (
            {"pnl_alerts": {"positions": {f"T{i}": "1" for i in range(MAX_POSITION_ALERTS + 1)}}},
            f"at most {MAX_POSITION_ALERTS} positions",
        ),
    ],
)
def test_bad_settings_name_the_field(document: Any, words: str) -> None:
    with pytest.raises(PreferencesError, match=words):
        parse_preferences(document)


# ---------------------------------------------------------------- account-events


def test_an_event_round_trips_through_the_wire_and_carries_no_key_material() -> None:
    moment = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)
    envelope = account_envelope("connected", USER, "demo", "sign_in", event_id="jti1", now=moment)
    assert envelope.type == CONNECTED and envelope.version == ACCOUNT_EVENTS_VERSION
    assert envelope.idempotency_key == f"account:{USER}:connected:jti1"
    event = decode_account_event(decode(encode(envelope)))
    assert (event.status, event.user_id, event.kalshi_environment, event.reason) == (
        "connected",
        USER,
        "demo",
        "sign_in",
    )
    assert event.occurred_at == moment
    assert set(json.loads(encode(envelope))["payload"]) == {
        "status",
        "user_id",
        "kalshi_environment",
        "reason",
        "occurred_at",
    }


def test_each_event_has_its_own_key_and_the_same_event_the_same_key() -> None:
    first = account_envelope("disconnected", USER, "demo", "logout")
    second = account_envelope("disconnected", USER, "demo", "logout")
    assert first.type == DISCONNECTED and first.idempotency_key != second.idempotency_key
    again = account_envelope("connected", USER, "demo", "sign_in", event_id="j")
    assert (
        again.idempotency_key
        == account_envelope("connected", USER, "demo", "sign_in", event_id="j").idempotency_key
    )


@pytest.mark.parametrize(
    "envelope",
    [
        Envelope(type="account.renamed", version=1, payload={}),
        Envelope(type=CONNECTED, version=2, payload={}),
        Envelope(
            type=CONNECTED,
            version=1,
            payload={
                "status": "disconnected",
                "user_id": str(USER),
                "kalshi_environment": "d",
                "reason": "sign_in",
                "occurred_at": "2026-11-28T00:00:00+00:00",
            },
        ),
        Envelope(
            type=CONNECTED,
            version=1,
            payload={
                "status": "connected",
                "user_id": "me",
                "kalshi_environment": "d",
                "reason": "sign_in",
                "occurred_at": "2026-11-28T00:00:00+00:00",
            },
        ),
        Envelope(
            type=CONNECTED,
            version=1,
            payload={
                "status": "connected",
                "user_id": str(USER),
                "kalshi_environment": "d",
                "reason": "whim",
                "occurred_at": "2026-11-28T00:00:00+00:00",
            },
        ),
        Envelope(
            type=CONNECTED,
            version=1,
            payload={
                "status": "connected",
                "user_id": str(USER),
                "kalshi_environment": "d",
                "reason": "sign_in",
                "occurred_at": "2026-11-28T00:00:00",
            },
        ),
    ],
)
def test_a_consumer_refuses_what_it_does_not_know(envelope: Envelope) -> None:
    with pytest.raises(InvalidMessage):
        decode_account_event(envelope)


def test_an_unknown_reason_is_not_published() -> None:
    with pytest.raises(ValueError):
        account_envelope("connected", USER, "demo", "because")


# ---------------------------------------------------------------- the job endpoint's check


class _Request:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def _cloud(**overrides: Any) -> AccountSettings:
    values: dict[str, Any] = {
        "kalshi": DEMO,
        "day_boundary_audience": "https://account.example",
        "day_boundary_invoker": "sched@p.iam.gserviceaccount.com",
    }
    values.update(overrides)
    return AccountSettings(**values)


GOOD = {
    "iss": "https://accounts.google.com",
    "email": "sched@p.iam.gserviceaccount.com",
    "email_verified": True,
}


def test_the_scheduler_s_token_passes_and_every_other_caller_is_refused() -> None:
    seen: list[tuple[str, str]] = []

    def verifier(claims: dict[str, Any]) -> Any:
        def verify(token: str, audience: str) -> dict[str, Any]:
            seen.append((token, audience))
            return claims

        return verify

    check = scheduler_auth(_cloud(), verifier(GOOD))
    check(_Request({"Authorization": "Bearer t0k"}))
    assert seen == [("t0k", "https://account.example")]
    for headers, claims in (
        ({}, GOOD),
        ({"Authorization": "Basic abc"}, GOOD),
        ({"Authorization": "Bearer x"}, {**GOOD, "email": "someone@else.com"}),
        ({"Authorization": "Bearer x"}, {**GOOD, "iss": "https://evil.example"}),
        ({"Authorization": "Bearer x"}, {**GOOD, "email_verified": False}),
    ):
        with pytest.raises(ApiError) as refused:
            scheduler_auth(_cloud(), verifier(claims))(_Request(headers))
        assert refused.value.status == 403


def test_a_token_that_does_not_verify_and_a_missing_configuration_are_refused() -> None:
    def broken(token: str, audience: str) -> dict[str, Any]:
        raise ValueError("wrong audience")

    with pytest.raises(ApiError):
        scheduler_auth(_cloud(), broken)(_Request({"Authorization": "Bearer x"}))
    unconfigured = scheduler_auth(_cloud(day_boundary_invoker=None), lambda t, a: GOOD)
    with pytest.raises(ApiError):
        unconfigured(_Request({"Authorization": "Bearer x"}))
    # The local stack has no Google to sign tokens: the check is off there only.
    scheduler_auth(_cloud(local=True))(_Request({}))


# ---------------------------------------------------------------- small rules


def test_key_ids_are_shown_masked() -> None:
    assert mask_key_id("a952bcbe-ec3b-4b5b-b8f9-11dae589608c") == "a952…608c"
    assert mask_key_id("short") == "sh…"


def test_responses_keep_every_set_cookie() -> None:
    from shared.account.http_api import CookieResponse, respond
    from shared.api.routing import Router

    router = Router()
    router.add(
        "GET",
        "/x",
        lambda request, params: CookieResponse(200, b"{}", {"A": "1"}, ["a=1", "b=2"]),
    )

    class Request:
        method, path, args, headers = "GET", "/x", {}, {}

    _body, status, headers = respond(router, Request())
    assert status == 200 and ("A", "1") in headers
    assert [v for k, v in headers if k == "Set-Cookie"] == ["a=1", "b=2"]


def test_the_daily_job_runs_at_new_york_midnight_through_dst() -> None:
    from devstack.scheduler import TRADING_ZONE, DailyJob, next_local_time

    midnight = time(0, 0)
    # EDT (UTC-4) before 1 November 2026, EST (UTC-5) after.
    assert next_local_time(datetime(2026, 10, 31, 12, tzinfo=UTC), midnight, TRADING_ZONE) == (
        datetime(2026, 11, 1, 4, tzinfo=UTC)
    )
    assert next_local_time(datetime(2026, 11, 1, 4, tzinfo=UTC), midnight, TRADING_ZONE) == (
        datetime(2026, 11, 2, 5, tzinfo=UTC)
    )
    assert next_local_time(datetime(2026, 3, 8, 4, 59, tzinfo=UTC), midnight, TRADING_ZONE) == (
        datetime(2026, 3, 8, 5, tzinfo=UTC)
    )
    posted: list[tuple[str, dict[str, str]]] = []
    job = DailyJob(
        "day-boundary", "http://fn/_jobs/day-boundary", post=lambda u, b: posted.append((u, b))
    )
    job.fire(datetime(2026, 11, 2, 5, tzinfo=UTC))
    assert posted == [("http://fn/_jobs/day-boundary", {"day": "2026-11-02"})]
    assert job.runs == 1

    def failing(url: str, body: dict[str, str]) -> None:
        raise OSError("refused")

    broken = DailyJob("day-boundary", "http://fn", post=failing)
    broken.fire(datetime(2026, 11, 2, 5, tzinfo=UTC) + timedelta(days=1))
    assert broken.failures == 1 and "refused" in (broken.last_error or "")
