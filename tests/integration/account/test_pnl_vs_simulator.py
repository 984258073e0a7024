"""AccountReader's figures against the Kalshi simulator's own ledger, to the cent and better.

One simulator of its own (a small exchange whose clock this test moves), one account:
fills on several markets through the admin API (the simulator picks buys and partial
sells), a deposit and a withdrawal, a day-boundary baseline stored in real Postgres, then
the clock runs until one of the held markets settles. At the end:

- cash is the simulator's exact balance (truncated to Kalshi's 4 places);
- the balance is explained to the micro-dollar by the figures the reader works from:
  start + net transfers + realized P&L - fees - cost basis still held;
- replaying the fills and settlements rebuilds every position, cost basis and realized
  P&L the simulator reports;
- positions are valued at the simulator's quotes, and their sum is the simulator's
  ``portfolio_value`` to the cent;
- today's P&L ignores the deposit and the withdrawal, and the baseline job is idempotent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.runner import SimulatorServer
from shared.account.baselines import (
    baseline_for,
    record_day_boundary,
    record_sign_in_baseline,
    trading_day,
)
from shared.account.cache import AccountCache
from shared.account.reads import AccountReader, fill_record, settlement_record
from shared.domain import pnl
from shared.kalshi import models as m
from shared.kalshi.client import KalshiClient
from shared.kalshi.signing import KalshiSigner

pytestmark = pytest.mark.integration

START_BALANCE = Decimal(1000)
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    config = SimConfig(
        seed=515, n_markets=40, tick_interval_s=None, tick_seconds=60, account_fill_rate=0.02
    )
    with SimulatorServer(config) as server:
        server.advance(3)
        yield server


@pytest.fixture(scope="module", autouse=True)
def _cursor_key() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("API_CURSOR_KEY", "integration-test-cursor-key-0123456789")
        yield


def _funds(sim: SimulatorServer, key_id: str, body: dict[str, Any] | None = None) -> Any:
    with httpx.Client(timeout=10, trust_env=False) as http:
        url = f"{sim.admin_url}/accounts/{key_id}/funds"
        answer = http.post(url, json=body) if body is not None else http.get(url)
    assert answer.status_code < 300, answer.text
    return answer.json()


def _reader(client: KalshiClient) -> AccountReader:
    # ttl 0: every read goes to the simulator, so nothing here is a cached figure.
    return AccountReader(client, cache=AccountCache(ttl_seconds=0))


def _two_sided_open_markets(client: KalshiClient) -> list[m.Market]:
    markets = [
        mk
        for mk in client.iter_markets(status="open")
        if mk.status == "active" and mk.yes_bid_dollars > 0 and mk.yes_ask_dollars < 1
    ]
    return sorted(markets, key=lambda mk: mk.close_time)


def test_reader_agrees_with_the_simulator_ledger(
    sim: SimulatorServer, migrated_database: str
) -> None:
    key_id, pem = sim.create_account(START_BALANCE)
    client = KalshiClient(
        base_url=sim.base_url, signer=KalshiSigner.from_pem(key_id, pem), rate_limit=False
    )
    engine = sa.create_engine(migrated_database)
    try:
        _run(sim, client, engine, key_id)
    finally:
        client.close()
        engine.dispose()


def _run(sim: SimulatorServer, client: KalshiClient, engine: sa.Engine, key_id: str) -> None:
    markets = _two_sided_open_markets(client)
    assert len(markets) >= 4
    soonest, others = markets[0], markets[1:4]
    for market in [soonest, *others]:
        for _ in range(4):  # the simulator buys, sometimes sells part back
            sim.fill(key_id, market.ticker)

    # ---- the day's baseline, in Postgres, and transfers that must not count as P&L
    user_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO users (id, kalshi_key_id, environment) VALUES (:i, :k, 'custom')"),
            {"i": user_id, "k": key_id},
        )
    now = datetime.now(UTC)
    day = trading_day(now)
    readers: list[AccountReader] = []

    def factory(uid: uuid.UUID) -> AccountReader:
        assert uid == user_id
        readers.append(_reader(client))
        return readers[-1]

    report = record_day_boundary(engine, [user_id], factory, day)
    assert (report.recorded, report.already, report.failed) == (1, 0, {})
    again = record_day_boundary(engine, [user_id], factory, day)
    assert (again.recorded, again.already) == (0, 1) and len(readers) == 1  # Kalshi not asked
    with engine.begin() as conn:
        assert not record_sign_in_baseline(conn, user_id, readers[0].baseline_figures(), now)
        stored = baseline_for(conn, user_id, now)
        rows = conn.execute(sa.text("SELECT count(*) FROM account_baselines")).scalar_one()
    assert stored is not None and stored.source == "day_boundary" and rows == 1
    assert stored.net_transfers == 0

    before = _reader(client).portfolio(stored.point)
    assert Decimal(before["today_pnl"]) == 0
    _funds(sim, key_id, {"kind": "deposit", "amount_cents": 10_000, "fee_cents": 150})
    _funds(sim, key_id, {"kind": "withdrawal", "amount_cents": 3_000, "fee_cents": 25})
    after = _reader(client).portfolio(stored.point)
    assert Decimal(after["cash"]) == Decimal(before["cash"]) + Decimal("68.25")
    assert Decimal(after["net_transfers_since_baseline"]) == Decimal("68.25")
    assert Decimal(after["today_pnl"]) == 0  # money moved in and out; nothing was earned

    # ---- run the exchange until the soonest-closing held market settles
    for _ in range(200):
        sim.advance(25)
        if client.get_settlements(ticker=soonest.ticker).settlements:
            break
    else:
        pytest.fail(f"{soonest.ticker} did not settle")

    # Fresh positions on markets still open, so there is something to value at the end.
    for market in _two_sided_open_markets(client)[:3]:
        for _ in range(3):
            sim.fill(key_id, market.ticker)

    reader = _reader(client)
    portfolio = reader.portfolio(stored.point)
    positions = reader.positions()["positions"]
    performance = reader.performance()
    ledger = _funds(sim, key_id)
    exact_balance = Decimal(ledger["balance_dollars"])

    # Cash is the simulator's balance (Kalshi renders 4 places, truncated).
    assert Decimal(portfolio["cash"]) == exact_balance.quantize(Decimal("0.0001"), ROUND_DOWN)

    # Replaying fills and settlements rebuilds the simulator's positions exactly. (A
    # settlement record carries only the contracts held at the end; what partial sells
    # realized earlier in a settled market is known from the fills alone.)
    kalshi_positions = client.get_all_positions().market_positions
    settlements = list(client.iter_settlements())
    fills = list(client.iter_fills())
    assert any(s.ticker == soonest.ticker for s in settlements)
    assert all(p.ticker != soonest.ticker for p in kalshi_positions)
    replay = pnl.replay_fills(
        [fill_record(f) for f in fills], [settlement_record(s) for s in settlements]
    )
    for p in kalshi_positions:
        assert replay.positions.get(p.ticker, (0, 0)) == (
            p.position_fp,
            p.market_exposure_dollars,
        ), p.ticker
        assert replay.realized_by_ticker[p.ticker] == p.realized_pnl_dollars, p.ticker
    assert set(replay.positions) == {p.ticker for p in kalshi_positions if p.position_fp}

    # The balance, explained by those figures to the micro-dollar: start + transfers +
    # realized - fees (Kalshi's per-market fees, rounding fees included) - cost still held.
    realized = sum(replay.realized_by_ticker.values(), Decimal(0))
    fees = sum((p.fees_paid_dollars or 0 for p in kalshi_positions), Decimal(0))
    fees += sum((s.fee_cost or 0 for s in settlements), Decimal(0))
    held_cost = sum((p.market_exposure_dollars or 0 for p in kalshi_positions), Decimal(0))
    assert START_BALANCE + Decimal("68.25") + realized - fees - held_cost == exact_balance
    assert Decimal(performance["realized_pnl"]) == realized
    assert performance["closed_trades"] >= 1

    # Positions at the simulator's quotes; their sum is its portfolio_value to the cent.
    quotes = {
        mk.ticker: mk for mk in client.get_markets(tickers=[r["ticker"] for r in positions]).markets
    }
    floored_cents = Decimal(0)
    for row in positions:
        mk = quotes[row["ticker"]]
        if row["side"] is None:
            assert Decimal(row["market_value"]) == 0
            continue
        mark = mk.yes_bid_dollars if row["side"] == "yes" else 1 - mk.yes_ask_dollars
        if row["mark_source"] == "bid":
            assert Decimal(row["mark"]) == mark
        value = Decimal(row["contracts"]) * Decimal(row["mark"])
        assert Decimal(row["market_value"]) == value
        assert Decimal(row["unrealized_pnl"]) == value - Decimal(row["cost_basis"])
        floored_cents += value.quantize(CENT, ROUND_DOWN)
    assert portfolio["position_count"] == sum(1 for r in positions if r["side"]) >= 2
    reported = Decimal(portfolio["reported_positions_value"])
    if all(r["mark_source"] in ("bid", None) for r in positions):
        assert floored_cents == reported
    assert Decimal(portfolio["total_value"]) == Decimal(portfolio["cash"]) + Decimal(
        portfolio["positions_value"]
    )

    # Today's P&L: everything since the baseline except the money moved in and out.
    expected_today = Decimal(portfolio["total_value"]) - stored.value - Decimal("68.25")
    assert Decimal(portfolio["today_pnl"]) == expected_today
