"""The exchange model on its own: determinism, lifecycle, books, fees and accounting."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from hypothesis import given
from hypothesis import strategies as st

from emulators.kalshi_sim import render, wire
from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.exchange import Exchange
from emulators.kalshi_sim.model import BookDelta, Lifecycle
from shared.domain.fees import fill_charge_micro
from shared.kalshi.signing import generate_private_key_pem, load_private_key

START = 1_781_150_000.0
_KEY = load_private_key(generate_private_key_pem()).public_key()


def exchange(seed: int = 5, n: int = 200, **kw: object) -> Exchange:
    return Exchange(
        SimConfig(seed=seed, n_markets=n, tick_interval_s=None, start_time_s=START, **kw)
    )


def snapshot(ex: Exchange) -> list[bytes]:
    return [render.market_json(m) for m in ex.market_list]


def test_same_seed_same_ticks_same_exchange_and_fills() -> None:
    a, b = exchange(), exchange()
    for ex in (a, b):
        ex.accounts.register(_KEY, 1_000_000_000, ex.now_us)
        ex.config.account_fill_rate = 0.3
        ex.tick(300)
    assert snapshot(a) == snapshot(b)
    fills_a = [render.fill_dict(f) for f in a.accounts.all()[0].fills]
    fills_b = [render.fill_dict(f) for f in b.accounts.all()[0].fills]
    assert fills_a and fills_a == fills_b
    assert snapshot(exchange(seed=6)) != snapshot(exchange())


def test_size_limits_and_status_mix() -> None:
    ex = exchange(n=20_000)
    assert len(ex.market_list) == 20_000 == len(ex.markets)
    statuses = {m.status for m in ex.market_list}
    assert {"initialized", "active", "determined", "finalized"} <= statuses


def test_prices_stay_bounded_and_books_never_cross() -> None:
    ex = exchange(n=100)
    out = ex.tick(2000)
    assert any(isinstance(h, BookDelta) for h in out)
    for m in ex.market_list:
        assert 0 <= m.fair <= wire.PRICE_ONE
        if m.yes and m.no:
            assert max(m.yes) + max(m.no) < wire.PRICE_ONE
        assert all(size > 0 for size in [*m.yes.values(), *m.no.values()])


def test_markets_close_determine_and_settle_over_time() -> None:
    ex = exchange(n=200)
    out = ex.tick(3600)  # 30 minutes of exchange time
    events = [h.payload["event_type"] for h in out if isinstance(h, Lifecycle)]
    assert "determined" in events and "settled" in events
    finalized = [m for m in ex.market_list if m.status == "finalized"]
    assert all(m.result in ("yes", "no", "scalar") and m.settlement_us for m in finalized)
    assert all(
        not m.yes and not m.no
        for m in ex.market_list
        if m.status in ("closed", "determined", "finalized")
    )


def test_accounts_balance_positions_and_settlement_add_up() -> None:
    ex = exchange(n=150)
    account = ex.accounts.register(_KEY, 5_000_000_000, ex.now_us)
    ex.config.account_fill_rate = 1.0
    ex.tick(3600)
    assert account.fills
    cash = 5_000_000_000
    for f in account.fills:
        price = f.yes_price if f.side == "yes" else wire.PRICE_ONE - f.yes_price
        sign = -1 if f.action == "buy" else 1
        # each simulated fill is its own order: the trade fee, then the balance floored to
        # the account's precision ($0.0001, as the recorded demo account)
        charge = fill_charge_micro(
            sign * price * f.count, f.fee_centi * 100, account.precision_micro
        )
        cash += charge.balance_delta
    cash += sum(s.revenue_cents * 10_000 for s in account.settlements)
    assert account.balance_micro == cash
    for position in account.positions.values():
        signed = sum(
            (f.count if f.side == "yes" else -f.count) * (1 if f.action == "buy" else -1)
            for f in account.fills
            if f.ticker == position.ticker
        )
        assert position.position == signed


@given(price=st.integers(1, 9999), count=st.integers(1, 1_000_000))
def test_taker_fee_is_ceiled_quadratic(price: int, count: int) -> None:
    p = Decimal(price) / 10_000
    expected = (Decimal("0.07") * p * (1 - p) * Decimal(count) / 100).quantize(
        Decimal("0.0001"), ROUND_CEILING
    )
    assert Decimal(wire.taker_fee_centi(price, count)) / 10_000 == expected


def test_wire_formats() -> None:
    assert wire.price(4700) == "0.4700"
    assert wire.price(10_000) == "1.0000"
    assert wire.count(300) == "3.00"
    assert wire.count(-777) == "-7.77"
    assert wire.micro(2_500_000) == "2.500000"
    assert wire.micro(-18_900) == "-0.018900"
    # Balances: truncated toward zero to 4 dp, exactly, however large.
    assert wire.micro_4dp(98_018_699) == "98.0186"
    assert wire.micro_4dp(-99) == "0.0000"
    assert wire.micro_4dp(-12_345_678) == "-12.3456"
    big = 1_152_921_504_606_847_103  # int(big / 100) is one centi-cent too high
    assert wire.micro_4dp(big) == wire.price(big // 100)
    assert wire.rfc3339_us(1_781_159_370_164_956) == "2026-06-11T06:29:30.164956Z"
    assert wire.rfc3339_us(1_781_157_571_285_630) == "2026-06-11T05:59:31.28563Z"
    assert wire.rfc3339_us(1_781_157_600_000_000) == "2026-06-11T06:00:00Z"
    assert wire.taker_fee_centi(5200, 100) == 175  # the recorded fill: $0.0175
