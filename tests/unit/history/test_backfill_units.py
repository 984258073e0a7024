"""The backfill's pure parts: Kalshi's two candle shapes, windows, pacing, candle rows, the
task endpoint (the Kalshi client and the queue are faked; they are outside the unit)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from shared.history.backfill import (
    BURST_MARGIN,
    JITTER_S,
    RATE_MARGIN,
    BackfillReport,
    BackfillRequest,
    SendTimeBucket,
    limiter_for,
    market_window,
)
from shared.history.backfill_api import BackfillApi, BackfillService
from shared.history.backfill_kalshi import (
    Budget,
    Cutoff,
    KalshiHistory,
    MarketInfo,
    parse_candle,
    parse_market,
    read_budget,
)
from shared.history.backfill_settings import BackfillSettings
from shared.history.backfill_store import candle_rows
from shared.messaging.tasks import QUEUE_HEADER, TaskAuth

T0 = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)

LIVE = {
    "end_period_ts": 1759280460,
    "yes_bid": {"open_dollars": "0.4000", "high_dollars": "0.4200", "low_dollars": "0.3900",
                "close_dollars": "0.4100"},
    "yes_ask": {"open_dollars": "0.4200", "high_dollars": "0.4400", "low_dollars": "0.4100",
                "close_dollars": "0.4300"},
    "price": {"open_dollars": None, "high_dollars": None, "low_dollars": None,
              "close_dollars": None, "mean_dollars": None, "previous_dollars": "0.4100",
              "min_dollars": None, "max_dollars": None},
    "volume_fp": "0.00",
    "open_interest_fp": "12.00",
}  # fmt: skip
HISTORICAL = {
    "end_period_ts": 1759280460,
    "yes_bid": {"open": "0.4000", "high": "0.4200", "low": "0.3900", "close": "0.4100"},
    "yes_ask": {"open": "0.4200", "high": "0.4400", "low": "0.4100", "close": "0.4300"},
    "price": {"open": None, "high": None, "low": None, "close": None, "mean": None,
              "previous": "0.4100"},
    "volume": "0.00",
    "open_interest": "12.00",
}  # fmt: skip


def _market(**changes: Any) -> MarketInfo:
    base: dict[str, Any] = {
        "ticker": "KXT-1",
        "event_ticker": "KXT",
        "series_ticker": "KX",
        "title": "t",
        "yes_sub_title": None,
        "market_type": "binary",
        "status": "finalized",
        "open_time": T0,
        "close_time": T0 + dt.timedelta(hours=36),
        "result": "yes",
        "settlement_value_dollars": Decimal("1"),
        "settled_at": T0 + dt.timedelta(hours=37),
        "historical": True,
    }
    return MarketInfo(**{**base, **changes})


def test_both_candle_shapes_parse_to_the_same_exact_candle() -> None:
    live, historical = parse_candle(LIVE), parse_candle(HISTORICAL)
    assert live == historical
    assert live.bid == (Decimal("0.4000"), Decimal("0.4200"), Decimal("0.3900"), Decimal("0.4100"))
    assert live.price == (None, None, None, None) and live.previous == Decimal("0.4100")
    assert live.open_interest == Decimal("12.00")


def test_candle_rows_take_the_mid_hold_the_last_price_and_accumulate_volume() -> None:
    traded = dict(HISTORICAL, end_period_ts=1759280520, volume="3.00")
    traded["price"] = {"open": "0.4300", "high": "0.4300", "low": "0.4200", "close": "0.4200",
                       "mean": "0.4250", "previous": "0.4100"}  # fmt: skip
    rows, volume = candle_rows(
        "KXT-1", 1, [parse_candle(HISTORICAL), parse_candle(traded)], Decimal("5")
    )
    first, second = rows
    assert first.bucket_start == dt.datetime.fromtimestamp(1759280400, dt.UTC)
    assert first.resolution_s == 60 and first.last_ts == dt.datetime.fromtimestamp(
        1759280460, dt.UTC
    )
    assert first.mid_open == Decimal("0.41") and first.mid_close == Decimal("0.42")
    assert first.last_close == Decimal("0.4100")  # no trade: the previous close holds
    assert second.last_open == Decimal("0.4300") and second.last_close == Decimal("0.4200")
    assert (first.volume_open_fp, first.volume_close_fp) == (Decimal("5"), Decimal("5"))
    assert (second.volume_open_fp, second.volume_close_fp) == (Decimal("5"), Decimal("8.00"))
    assert volume == Decimal("8.00")


def test_a_market_window_is_the_request_cut_to_its_listing() -> None:
    market = _market()
    assert market_window(market, T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=5)) == (
        T0,
        T0 + dt.timedelta(hours=36),
    )
    late = T0 + dt.timedelta(hours=10, seconds=30)
    window = market_window(market, late, T0 + dt.timedelta(days=5))
    assert window is not None and window[0] == late.replace(second=0)
    assert market_window(market, T0 + dt.timedelta(days=2), T0 + dt.timedelta(days=3)) is None


def test_a_market_is_historical_when_it_settled_before_the_cutoff() -> None:
    data = {"ticker": "A", "event_ticker": "E", "status": "finalized", "result": "no",
            "settlement_ts": "2026-10-02T00:00:00Z", "open_time": "2026-10-01T00:00:00Z",
            "close_time": "2026-10-01T23:00:00Z"}  # fmt: skip
    early = Cutoff(T0 + dt.timedelta(days=5), T0 + dt.timedelta(days=5))
    late = Cutoff(T0, T0)
    assert parse_market(data, "S", early).historical
    assert not parse_market(data, "S", late).historical


def test_the_limiter_stays_a_little_under_the_budget() -> None:
    budget = Budget(200.0, 200.0, 10, "basic")
    limiter = limiter_for(budget)
    assert limiter.read.rate == pytest.approx(20 * RATE_MARGIN)
    margin = max(BURST_MARGIN, 20 * RATE_MARGIN * JITTER_S)
    assert limiter.read.capacity == pytest.approx(max(1.0, 20 - margin))
    half = limiter_for(budget, 0.5)
    assert half.read.rate == pytest.approx(10 * RATE_MARGIN)
    with pytest.raises(ValueError):
        limiter_for(budget, 1.5)


class _Client:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def request(self, method: str, path: str, params: Any = None) -> Any:
        self.asked.append(path)
        return self.answers[path]


def test_budget_from_the_keys_limits_or_basic_without_a_key() -> None:
    client = _Client(
        {
            "/account/endpoint_costs": {"default_cost": 10, "endpoint_costs": []},
            "/account/limits": {"read": {"refill_rate": 300, "bucket_capacity": 600}},
        }
    )
    signed = read_budget(client, signed=True)  # type: ignore[arg-type]
    assert (signed.tokens_per_s, signed.capacity_tokens, signed.origin) == (300, 600, "account")
    assert signed.requests_per_s == 30 and signed.burst_requests == 60
    anonymous = read_budget(client, signed=False)  # type: ignore[arg-type]
    assert (anonymous.tokens_per_s, anonymous.origin) == (200, "basic")
    assert client.asked.count("/account/limits") == 1


# ---------------------------------------------------------------------- the task endpoint


class _Request:
    def __init__(
        self,
        body: Any,
        *,
        method: str = "POST",
        queue: str | None = "backfill",
        path: str = "/",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self._body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = {QUEUE_HEADER: queue} if queue else {}
        self.headers.update(headers or {})

    def get_data(self, cache: bool = True) -> bytes:
        return self._body


class _Service:
    def __init__(self) -> None:
        self.batches: list[BackfillRequest] = []
        self.fanned: list[tuple[Any, ...]] = []
        self.scheduled: list[dt.date] = []

    def run_batch(self, request: BackfillRequest) -> BackfillReport:
        self.batches.append(request)
        return BackfillReport(markets_done=2)

    def fan_out(
        self, since: Any, until: Any, series: Any, *, settled_only: bool = False
    ) -> list[str]:
        self.fanned.append((since, until, tuple(series), settled_only))
        return ["a", "b"]

    def schedule(self, day: dt.date, series: Any = ()) -> str:
        self.scheduled.append(day)
        self.scheduled_series = tuple(series)
        return f"projects/p/locations/l/queues/backfill/tasks/backfill-daily-{day:%Y%m%d}"


def _api(service: Any) -> BackfillApi:
    settings = BackfillSettings(queue="projects/p/locations/l/queues/backfill", days=7)
    return BackfillApi(lambda: service, settings, TaskAuth(mode="emulator"))


def test_only_the_queue_may_post_and_malformed_tasks_are_refused() -> None:
    service = _Service()
    api = _api(service)
    assert api.handle(_Request({}, method="GET"))[1] == 405
    body, status, _ = api.handle(_Request({"series": ["S"]}, queue="other"))
    assert status == 403 and json.loads(body)["error"] == "forbidden"
    assert api.handle(_Request({"series": ["S"]}, queue=None))[1] == 403
    for bad in (
        b"not json",
        {"since": "2026-10-01"},
        [1],
        {"fan_out": []},
        {"series": ["S"], "settled_only": "yes"},
        {"series": ["S"], "since": "2026-10-02", "until": "2026-10-01"},
    ):
        body, status, _ = api.handle(_Request(bad))
        assert status == 400, bad
        assert json.loads(body)["error"] == "bad_request" and json.loads(body)["message"]
    assert not service.batches and not service.fanned


def test_a_batch_runs_and_a_fan_out_enqueues_per_series() -> None:
    service = _Service()
    api = _api(service)
    body, status, _ = api.handle(
        _Request({"since": "2026-10-01", "until": "2026-10-04", "series": ["KXHIGHNY"]})
    )
    assert status == 200 and json.loads(body)["markets_done"] == 2
    assert service.batches[0].series == ("KXHIGHNY",)
    assert service.batches[0].since == dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    body, status, _ = api.handle(_Request({"fan_out": {"series": ["A", "B"]}}))
    assert status == 200 and json.loads(body) == {"status": "fanned_out", "tasks": 2}
    since, until, series, settled_only = service.fanned[0]
    assert until - since == dt.timedelta(days=7) and series == ("A", "B") and not settled_only
    api.handle(_Request({"fan_out": {"settled_only": True}}))
    assert service.fanned[1][2:] == ((), True)
    api.handle(_Request({"since": "2026-10-01", "series": ["S"], "settled_only": True}))
    assert service.batches[-1].settled_only


def test_the_fan_out_names_each_task_after_its_series_and_window() -> None:
    enqueued: list[tuple[dict[str, Any], str]] = []

    def enqueue(body: Any, task_id: str) -> str:
        enqueued.append((dict(body), task_id))
        return task_id

    unused: Any = None  # neither the database nor Kalshi is touched by a named fan-out
    service = BackfillService(unused, lambda: unused, BackfillSettings(), enqueue)
    until = T0 + dt.timedelta(days=3)
    first = service.fan_out(T0, until, ["KXHIGHNY", "KXBTCD"])
    again = service.fan_out(T0, until, ["KXHIGHNY", "KXBTCD"])
    assert first == again and len(set(first)) == 2  # a redelivered fan-out adds no task
    assert all(name.startswith("backfill-202610010000-202610040000-") for name in first)
    assert enqueued[0][0] == {
        "since": T0.isoformat(),
        "until": until.isoformat(),
        "series": ["KXHIGHNY"],
    }


def test_send_time_bucket_takes_tokens_when_the_late_thread_wakes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A thread that oversleeps its turn does not send its turn and the next together: the
    tokens are taken when it wakes, so the next caller waits a full interval again."""
    now = [0.0]
    sleeps: list[float] = []

    def oversleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds + 2.0  # descheduled for two seconds past its turn

    monkeypatch.setattr("shared.history.backfill.time.sleep", oversleep)
    bucket = SendTimeBucket(2.0, 1.0, clock=lambda: now[0])
    assert bucket.reserve() == 0.0  # the burst
    assert bucket.reserve() == 0.0  # slept 0.5 s, woke at 2.5 s with a full bucket
    assert sleeps == [0.5]
    released = now[0]
    assert bucket.reserve() == 0.0
    # Taken at wake-up, the bucket was empty: the third waited again rather than going at
    # once (a reservation made before the oversleep would have been due already).
    assert sleeps == [0.5, 0.5]
    assert now[0] - released >= 0.5
    assert isinstance(limiter_for(Budget(30.0, 30.0, 10, "account")).read, SendTimeBucket)


def test_the_daily_job_queues_one_fan_out_named_after_the_day() -> None:
    enqueued: list[tuple[dict[str, Any], str]] = []

    def enqueue(body: Any, task_id: str) -> str:
        enqueued.append((dict(body), task_id))
        return task_id

    unused: Any = None
    service = BackfillService(unused, lambda: unused, BackfillSettings(days=30), enqueue)
    assert service.schedule(dt.date(2026, 11, 2)) == service.schedule(dt.date(2026, 11, 2))
    body, task_id = enqueued[0]
    assert task_id == "backfill-daily-20261102" and enqueued[1] == enqueued[0]
    assert body == {
        "fan_out": {
            "since": "2026-10-03T00:00:00+00:00",
            "until": "2026-11-02T00:00:00+00:00",
            "settled_only": True,
        }
    }
    named = service.schedule(dt.date(2026, 11, 2), ["KXB", "KXA", "KXB"])
    assert named.startswith("backfill-daily-20261102-") and named != task_id
    assert enqueued[-1][0]["fan_out"]["series"] == ["KXA", "KXB"]
    assert service.schedule(dt.date(2026, 11, 2), ["KXA", "KXB"]) == named
    # The fan-out it triggers names its tasks after the (settled-only) window.
    service.fan_out(T0, T0 + dt.timedelta(days=1), ["S"], settled_only=True)
    assert enqueued[-1][1].startswith("backfill-202610010000-202610020000-settled-")
    assert enqueued[-1][0]["settled_only"] is True


def _job_api(service: Any, **settings: Any) -> BackfillApi:
    def verify(token: str, audience: str) -> dict[str, Any]:
        if token != "good" or audience != "https://backfill":
            raise ValueError("bad token")
        return {"iss": "https://accounts.google.com", "email": "sched@x", "email_verified": True}

    return BackfillApi(
        lambda: service,
        BackfillSettings(queue="projects/p/locations/l/queues/backfill", **settings),
        TaskAuth(mode="emulator"),
        verifier=verify,
        today=lambda: dt.date(2026, 11, 29),
    )


def test_the_job_endpoint_takes_only_the_schedulers_token_and_a_date() -> None:
    service = _Service()
    job = "/_jobs/backfill"
    # Not configured: every call refused, even with a token (fail closed).
    bare = _job_api(service)
    assert bare.handle(_Request({}, path=job, headers={"Authorization": "Bearer good"}))[1] == 403
    api = _job_api(service, job_audience="https://backfill", job_invoker="sched@x")
    for headers in ({}, {"Authorization": "Bearer bad"}, {"Authorization": "Basic good"}):
        body, status, _ = api.handle(_Request({}, path=job, queue=None, headers=headers))
        assert status == 403 and json.loads(body)["error"] == "forbidden"
    assert not service.scheduled
    auth = {"Authorization": "Bearer good"}
    body, status, _ = api.handle(_Request({}, path=job, queue=None, headers=auth))
    assert status == 200, body
    answer = json.loads(body)
    assert answer["day"] == "2026-11-29" and answer["task"] == "backfill-daily-20261129"
    assert answer["until"] == "2026-11-29T00:00:00+00:00"
    assert answer["since"] == "2026-10-30T00:00:00+00:00"
    body, status, _ = api.handle(
        _Request({"day": "2026-11-01"}, path=job + "/", queue=None, headers=auth)
    )
    assert status == 200 and service.scheduled == [dt.date(2026, 11, 29), dt.date(2026, 11, 1)]
    assert service.scheduled_series == ()
    api.handle(_Request({"series": ["KXA", "KXB"]}, path=job, queue=None, headers=auth))
    assert service.scheduled_series == ("KXA", "KXB")
    bad_bodies: list[Any] = [b"[]", {"day": "tomorrow"}, {"day": 20261101}, {"day": "2027-01-01"}]
    for bad in [*bad_bodies, {"series": "KXA"}, {"series": [""]}]:
        body, status, _ = api.handle(_Request(bad, path=job, queue=None, headers=auth))
        assert status == 400 and json.loads(body)["error"] == "bad_request", bad
    # The local stack has no Google to sign tokens: the local scheduler calls on loopback.
    local = _job_api(service, local=True)
    assert local.handle(_Request({}, path=job, queue=None))[1] == 200


class _ListingClient:
    """Answers the cutoff and empty market pages; records what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def request(self, method: str, path: str, params: Any = None) -> dict[str, Any]:
        self.asked.append((path, dict(params or {})))
        if path == "/historical/cutoff":
            return {
                "market_settled_ts": "2026-10-01T00:00:00Z",
                "trades_created_ts": "2026-10-01T00:00:00Z",
            }
        return {"markets": [], "cursor": ""}


def test_a_series_is_listed_only_from_the_window_on() -> None:
    client = _ListingClient()
    history = KalshiHistory(client)  # type: ignore[arg-type]
    history.markets_of_series("S")
    assert [p for p, _ in client.asked[1:]] == ["/historical/markets", "/markets", "/markets"]
    # A window after the cutoff needs no archive; the live listings start at the window.
    client.asked.clear()
    since = dt.datetime(2026, 10, 5, tzinfo=dt.UTC)
    history.markets_of_series("S", since=since)
    assert [p for p, _ in client.asked] == ["/markets", "/markets"]
    settled, listed = (params for _, params in client.asked)
    assert settled["status"] == "settled" and settled["min_settled_ts"] == int(since.timestamp())
    assert listed["min_close_ts"] == int(since.timestamp()) and "status" not in listed
    # A window reaching before the cutoff reads the archive too.
    client.asked.clear()
    history.markets_of_series("S", since=since - dt.timedelta(days=10))
    assert client.asked[0][0] == "/historical/markets"
