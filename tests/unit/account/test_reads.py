"""AccountReader and its cache over Kalshi's recorded bodies (a fake client stands in for
Kalshi; the simulator test in tests/integration/account/ runs the real one)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from shared.account.cache import AccountCache, kalshi_outage
from shared.account.reads import (
    AccountReader,
    KalshiMarketLookup,
    fill_record,
    holding,
    money,
    settlement_record,
)
from shared.api.errors import ApiError
from shared.domain.pnl import BaselinePoint
from shared.kalshi import models as m
from shared.kalshi.errors import KalshiAPIError, KalshiTransportError

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "kalshi_recorded"
TICKER = "KXWTACHALLENGERMATCH-26JUN11JIMLEP-LEP"


def _recorded(name: str, model: type[Any]) -> Any:
    return m.decode((RECORDED / f"{name}.json").read_bytes(), model)


@pytest.fixture(autouse=True)
def _cursor_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_CURSOR_KEY", "unit-test-cursor-key-0123456789abcdef")


class FakeKalshi:
    """Answers with the demo account's recorded bodies; counts calls; can be made to fail."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.fail: Exception | None = None
        self.positions: m.PositionsResponse = _recorded("portfolio__positions", m.PositionsResponse)
        self.balance: m.Balance = _recorded("auth__balance_ok", m.Balance)
        self.fills_page: m.FillsResponse = _recorded("fills__after_taker", m.FillsResponse)
        self.market: m.Market = _recorded("markets__single", m.GetMarketResponse).market
        self.deposits: list[m.Deposit] = []
        self.withdrawals: list[m.Withdrawal] = []
        self.settlements: list[m.Settlement] = []

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.fail is not None:
            raise self.fail

    def get_all_positions(self) -> m.PositionsResponse:
        self._call("positions")
        return self.positions

    def get_balance(self) -> m.Balance:
        self._call("balance")
        return self.balance

    def get_markets(self, *, tickers: list[str], limit: int) -> m.GetMarketsResponse:
        self._call("markets")
        return m.GetMarketsResponse(markets=[self.market] if TICKER in tickers else [], cursor="")

    def get_events(self, *, tickers: list[str], limit: int) -> m.GetEventsResponse:
        self._call("events")
        event = m.Event(
            event_ticker=self.market.event_ticker,
            series_ticker="KXWTACHALLENGERMATCH",
            category="Sports",
        )
        return m.GetEventsResponse(events=[event], cursor="")

    def iter_deposits(self) -> Iterator[m.Deposit]:
        self._call("deposits")
        return iter(self.deposits)

    def iter_withdrawals(self) -> Iterator[m.Withdrawal]:
        self._call("withdrawals")
        return iter(self.withdrawals)

    def iter_fills(self, min_ts: int | None = None) -> Iterator[m.Fill]:
        self._call("fills")
        self.fills_since = min_ts
        return iter([f for f in self.fills_page.fills if min_ts is None or (f.ts or 0) >= min_ts])

    def iter_settlements(self, min_ts: int | None = None) -> Iterator[m.Settlement]:
        self._call("settlements")
        self.settlements_since = min_ts
        return iter(
            [s for s in self.settlements if min_ts is None or s.settled_time.timestamp() >= min_ts]
        )

    def get_fills(self, *, cursor: str | None, limit: int) -> m.FillsResponse:
        self._call("fills_page")
        self.last_cursor = cursor
        return m.FillsResponse(fills=self.fills_page.fills[:limit], cursor="K-NEXT")

    def get_settlements(self, *, cursor: str | None, limit: int) -> m.SettlementsResponse:
        self._call("settlements_page")
        return m.SettlementsResponse(settlements=self.settlements[:limit], cursor="")


def _reader(fake: FakeKalshi, cache: AccountCache | None = None) -> AccountReader:
    return AccountReader(fake, KalshiMarketLookup(fake), cache=cache)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- recorded bodies


def test_every_recorded_portfolio_body_parses_into_pnl_inputs() -> None:
    positions = _recorded("portfolio__positions", m.PositionsResponse)
    (h,) = [holding(p) for p in positions.market_positions]
    assert (h.position, h.exposure, h.fees_paid) == (D("3.00"), D("2.5"), D("0.0189"))
    fills = [fill_record(f) for f in _recorded("fills__after_taker", m.FillsResponse).fills]
    assert [f.book_side for f in fills] == ["bid", "bid", "bid"]
    assert sum(f.fee for f in fills) == D("0.0189")  # what the position says it paid
    assert sum(f.count * f.yes_price for f in fills) == D("2.5")  # its exposure
    for name in ("settlements__page", "settlements__end_of_session"):
        assert _recorded(name, m.SettlementsResponse).settlements == []
    balance = _recorded("auth__balance_ok", m.Balance)
    assert balance.exact_balance_dollars == D("98.0186") and balance.portfolio_value == 198


def test_settlement_record_converts_cents_to_dollars() -> None:
    s = m.Settlement(
        ticker="A",
        market_result="yes",
        revenue=300,
        settled_time=datetime(2026, 6, 12, tzinfo=UTC),
        yes_count_fp=D("3.00"),
        yes_total_cost_dollars=D("1.500000"),
        fee_cost=D("0.05"),
    )
    record = settlement_record(s)
    assert record.revenue == D("3.00") and record.realized_pnl == D("1.5")


def test_fill_without_book_side_derives_it_from_action_and_side() -> None:
    base = _recorded("fills__after_taker", m.FillsResponse).fills[0]
    for action, side, book in (
        ("buy", "yes", "bid"),
        ("sell", "no", "bid"),
        ("buy", "no", "ask"),
        ("sell", "yes", "ask"),
    ):
        fill = m.Fill(**{**_fields(base), "book_side": None, "action": action, "side": side})
        assert fill_record(fill).book_side == book


def _fields(fill: m.Fill) -> dict[str, Any]:
    return {name: getattr(fill, name) for name in fill.__struct_fields__}


# --------------------------------------------------------------------------- views


def test_positions_view_over_the_recorded_account() -> None:
    fake = FakeKalshi()
    view = _reader(fake).positions()
    (row,) = view["positions"]
    # The recorded market quotes YES 0.47 bid / 0.52 ask (NO bid 0.48, NO ask 0.53).
    assert row["ticker"] == TICKER and row["side"] == "yes" and row["status"] == "open"
    assert row["market_title"]
    assert row["contracts"] == "3.00"
    assert row["average_entry_price"] == "0.8333"
    assert (row["best_bid"], row["best_ask"], row["mark"]) == ("0.4700", "0.5200", "0.4700")
    assert row["mark_source"] == "bid"
    assert row["market_value"] == "1.4100"
    assert row["unrealized_pnl"] == "-1.0900" and row["unrealized_pnl_pct"] == "-43.60"
    assert row["fees_paid"] == "0.0189" and row["realized_pnl"] == "0.0000"
    assert row["opened_at"] == "2026-06-11T06:25:23.609242Z"  # the oldest of its fills
    assert row["market_close_time"] == "2026-06-25T16:00:00Z"
    assert view["stale"] is False and view["last_updated"]
    assert fake.calls["markets"] == 1  # one batched call for every held ticker


def test_portfolio_view_with_and_without_a_baseline() -> None:
    fake = FakeKalshi()
    reader = _reader(fake)
    plain = reader.portfolio(None)
    assert plain["cash"] == "98.0186"
    assert plain["positions_value"] == "1.4100" and plain["total_value"] == "99.4286"
    assert plain["reported_positions_value"] == "1.9800"  # Kalshi's 198 cents, as recorded
    assert plain["position_count"] == 1 and plain["today_pnl"] is None
    assert "deposits" not in fake.calls  # no baseline, no transfer lookup

    fake.deposits = [
        m.Deposit(
            id="d1", status="applied", type="ach", amount_cents=5000, fee_cents=0, created_ts=1
        )
    ]
    day = reader.portfolio(BaselinePoint(value=D("50.0000"), net_transfers=D("0")))
    # 99.4286 - 50 - 50 deposited since the baseline
    assert day["today_pnl"] == "-0.5714" and day["today_pnl_pct"] == "-0.57"
    assert day["net_transfers_since_baseline"] == "50.0000"
    assert reader.baseline_figures() == BaselinePoint(D("99.4286"), D("50"))


def test_performance_view_groups_by_series_and_category() -> None:
    fake = FakeKalshi()
    view = _reader(fake).performance()
    assert view["realized_pnl"] == "0.0000" and view["fees"] == "0.0189"
    assert view["net_pnl"] == "-0.0189" and view["closed_trades"] == 0
    assert view["win_rate_pct"] is None
    assert view["max_drawdown"] == "0.0189"
    assert view["curve"] == [
        {
            "trading_day": "2026-06-11",
            "realized_pnl": "0.0000",
            "fees": "0.0189",
            "net_pnl": "-0.0189",
            "cumulative_net_pnl": "-0.0189",
        }
    ]
    assert [g["name"] for g in view["by_series"]] == ["KXWTACHALLENGERMATCH"]
    assert [g["name"] for g in view["by_category"]] == ["Sports"]


def test_fills_pages_wrap_kalshis_cursor_and_refuse_foreign_ones() -> None:
    fake = FakeKalshi()
    reader = _reader(fake)
    first = reader.fills(limit=2)
    assert len(first["fills"]) == 2 and first["cursor"]
    assert first["fills"][0]["fee"] == "0.0175" and first["fills"][0]["yes_price"] == "0.5200"
    assert "K-NEXT" not in first["cursor"]  # opaque: Kalshi's cursor is inside, MAC'd
    reader.fills(cursor=first["cursor"], limit=2)
    assert fake.last_cursor == "K-NEXT"
    for bad in ("K-NEXT", "garbage", "x" * 2000):
        with pytest.raises(ApiError) as caught:
            reader.fills(cursor=bad, limit=2)
        assert caught.value.status == 400 and caught.value.code == "invalid_cursor"
    with pytest.raises(ApiError):  # a fills cursor is not a settlements cursor
        reader.settlements(cursor=first["cursor"], limit=2)
    with pytest.raises(ApiError):  # nor one for another page size
        reader.fills(cursor=first["cursor"], limit=3)
    for limit in (0, 201, True):
        with pytest.raises(ApiError) as caught:
            reader.fills(limit=limit)
        assert caught.value.code == "invalid_limit"


def test_settlements_page_renders_realized_pnl() -> None:
    fake = FakeKalshi()
    fake.settlements = [
        m.Settlement(
            ticker="A",
            event_ticker="E",
            market_result="no",
            revenue=400,
            value=0,
            settled_time=datetime(2026, 6, 12, 18, tzinfo=UTC),
            no_count_fp=D("4.00"),
            no_total_cost_dollars=D("2.600000"),
            fee_cost=D("0.060000"),
        )
    ]
    (row,) = _reader(fake).settlements()["settlements"]
    assert row["revenue"] == "4.0000" and row["realized_pnl"] == "1.4000"
    assert row["no_contracts"] == "4.00" and row["value"] == "0.0000"
    assert row["settled_at"] == "2026-06-12T18:00:00Z"


def test_money_is_exact() -> None:
    assert money(D("12.34")) == "12.3400"
    assert money(D("0.017472")) == "0.017472"
    assert money(D("-0.333333")) == "-0.333333"
    assert money(D("0")) == "0.0000"


# --------------------------------------------------------------------------- cache


def test_reads_within_the_ttl_cost_one_upstream_call() -> None:
    fake = FakeKalshi()
    cache = AccountCache(ttl_seconds=60)
    for _ in range(3):
        _reader(fake, cache).portfolio(None)
    assert fake.calls["balance"] == 1 and fake.calls["positions"] == 1


def test_outage_serves_the_last_copy_flagged_stale() -> None:
    clock = [0.0]
    cache = AccountCache(ttl_seconds=2, max_stale_seconds=60, clock=lambda: clock[0])
    fake = FakeKalshi()
    fresh = _reader(fake, cache).portfolio(None)
    clock[0] = 5.0
    fake.fail = KalshiTransportError("connection refused", method="GET", path="/portfolio/balance")
    stale = _reader(fake, cache).portfolio(None)
    assert stale["stale"] is True and stale["cash"] == fresh["cash"]
    assert stale["last_updated"] == fresh["last_updated"]
    clock[0] = 100.0  # too old to stand in for anything
    with pytest.raises(KalshiTransportError):
        _reader(fake, cache).portfolio(None)


def test_a_revoked_key_is_never_hidden_behind_a_cached_copy() -> None:
    clock = [0.0]
    cache = AccountCache(ttl_seconds=1, clock=lambda: clock[0])
    fake = FakeKalshi()
    _reader(fake, cache).portfolio(None)
    clock[0] = 2.0
    fake.fail = KalshiAPIError(401, "authentication_error", "key revoked")
    with pytest.raises(KalshiAPIError):
        _reader(fake, cache).portfolio(None)


def test_kalshi_outage_classification() -> None:
    assert kalshi_outage(KalshiAPIError(503, "x", "y"))
    assert kalshi_outage(KalshiAPIError(429, "x", "y"))
    assert not kalshi_outage(KalshiAPIError(401, "x", "y"))
    assert not kalshi_outage(ValueError("bug"))


def test_cache_is_bounded_and_forgets_a_user() -> None:
    cache = AccountCache(ttl_seconds=60, max_entries=3)
    for i in range(5):
        cache.get(("u1" if i % 2 else "u2", i), lambda: "value")
    assert len(cache) == 3
    cache.get(("u1", "x"), lambda: 1)
    assert cache.forget("u1") >= 1
    assert all(cache.get(("u1", i), lambda: "refetched").value == "refetched" for i in range(5))


def test_concurrent_misses_fetch_once() -> None:
    cache = AccountCache(ttl_seconds=60)
    calls = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 7

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", slow).value))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [7] * 8 and len(calls) == 1


def test_history_refresh_asks_only_for_what_is_new() -> None:
    clock = [0.0]
    fake = FakeKalshi()
    reader = _reader(fake, AccountCache(ttl_seconds=1, clock=lambda: clock[0]))
    assert reader.performance()["fees"] == "0.0189"
    assert fake.fills_since is None  # the first read walks everything
    newest = fake.fills_page.fills[0]
    assert newest.created_time is not None
    later = m.Fill(
        **{
            **_fields(newest),
            "fill_id": "new-fill",
            "trade_id": "new-fill",
            "ts": (newest.ts or 0) + 60,
            "created_time": newest.created_time + timedelta(seconds=60),
            "fee_cost": D("0.0100"),
        }
    )
    fake.fills_page = m.FillsResponse(fills=[later, *fake.fills_page.fills], cursor="")
    clock[0] = 5.0
    assert reader.performance()["fees"] == "0.0289"  # the new fill, the old ones once each
    assert fake.fills_since == (newest.ts or 0) - 1
    assert fake.settlements_since is None  # none held yet: nothing to extend from


def test_an_empty_cache_is_still_truthy() -> None:
    cache = AccountCache()
    assert len(cache) == 0 and bool(cache)
    assert (cache or AccountCache()) is cache


def test_performance_looks_each_market_up_once_per_process() -> None:
    fake = FakeKalshi()
    _reader(fake).performance()
    _reader(fake).performance()  # a new reader and cache: the grouping is still known
    assert fake.calls.get("markets", 0) <= 1
