"""Price-time matching in process: queues stay consistent with the book while the crowd moves,
makers fill in order, orders expire, the world with orders is deterministic and persists."""

from __future__ import annotations

import random
from pathlib import Path

from emulators.kalshi_sim import render
from emulators.kalshi_sim.accounts import Account, Order
from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.exchange import Exchange
from emulators.kalshi_sim.matching import own_size
from emulators.kalshi_sim.model import Happening, Market, OrderNotice
from emulators.kalshi_sim.persist import load_world, save_world, world_path
from shared.kalshi.signing import generate_private_key_pem, load_private_key

START = 1_781_150_000.0
_KEY = load_private_key(generate_private_key_pem()).public_key()
CONFIG = dict(n_markets=60, tick_interval_s=None, start_time_s=START, account_fill_rate=0.0)


def exchange(seed: int = 11) -> Exchange:
    return Exchange(SimConfig(seed=seed, **CONFIG))  # type: ignore[arg-type]


def place(
    ex: Exchange,
    account: Account,
    market: Market,
    side: str,
    price: int,
    count: int,
    tif: str = "good_till_canceled",
    stp: str = "taker_at_cross",
    expiration_us: int | None = None,
) -> tuple[Order, list[Happening]]:
    matcher = ex.book.matcher
    order = matcher.new_order(
        account,
        ticker=market.ticker,
        book_side=side,
        price=price,
        count=count,
        time_in_force=tif,
        self_trade_prevention_type=stp,
        post_only=False,
        client_order_id=ex.clock.new_uuid(),
        expiration_us=expiration_us,
    )
    account.orders[order.order_id] = order
    out: list[Happening] = []
    matcher.execute(market, order, out)
    return order, out


def two_sided(ex: Exchange) -> list[Market]:
    return [m for m in ex.active_markets() if m.yes and m.no and m.step == 100]


def check_invariants(ex: Exchange) -> None:
    """Every queued level's total is its entries' sum, and resting orders are all queued."""
    for market in ex.market_list:
        for (side, price), queue in market.queues.items():
            book = market.yes if side == "yes" else market.no
            total = sum(e if isinstance(e, int) else e.remaining_count for e in queue)
            assert book.get(price, 0) == total, (market.ticker, side, price)
            assert all(e > 0 for e in queue if isinstance(e, int))
            assert any(isinstance(e, Order) for e in queue)
    for account in ex.accounts.all():
        for order in account.orders.values():
            if order.status == "resting":
                market = ex.markets[order.ticker]
                queue = market.queues[(order.rest_side, order.rest_price)]
                assert any(e is order for e in queue)
                assert order.remaining_count > 0


def scenario(seed: int) -> tuple[Exchange, list[Account]]:
    ex = exchange(seed)
    accounts = [ex.accounts.register(_KEY, 10**10, ex.now_us) for _ in range(3)]
    rng = random.Random(seed)
    markets = two_sided(ex)[:6]
    for _ in range(40):
        market = markets[rng.randrange(len(markets))]
        if not (market.yes and market.no) or market.status != "active":
            ex.tick(5)
            continue
        bid, ask = max(market.yes), 10_000 - max(market.no)
        side = rng.choice(["bid", "ask"])
        price = rng.randint(bid - 300, ask + 300) // 100 * 100
        price = min(9_900, max(100, price))
        place(
            ex,
            rng.choice(accounts),
            market,
            side,
            price,
            rng.randint(1, 20) * 100,
            rng.choice(["good_till_canceled", "immediate_or_cancel"]),
            rng.choice(["taker_at_cross", "maker"]),
        )
        check_invariants(ex)
        ex.tick(rng.randint(1, 20))
        check_invariants(ex)
        for m in markets:
            if m.yes and m.no:
                assert max(m.yes) + max(m.no) < 10_000, m.ticker
    return ex, accounts


def test_queues_and_books_stay_consistent_while_everything_moves() -> None:
    ex, accounts = scenario(3)
    assert any(o.fill_count for a in accounts for o in a.orders.values())
    for market in ex.market_list:
        if market.yes and market.no:  # resting orders never leave a crossed book behind
            assert max(market.yes) + max(market.no) < 10_000, market.ticker


def test_the_same_seed_and_orders_give_the_same_world() -> None:
    a, accounts_a = scenario(5)
    b, accounts_b = scenario(5)
    assert [render.market_json(m) for m in a.market_list] == [
        render.market_json(m) for m in b.market_list
    ]
    for x, y in zip(accounts_a, accounts_b, strict=True):
        assert [render.order_dict(o) for o in x.orders.values()] == [
            render.order_dict(o) for o in y.orders.values()
        ]
        assert x.balance_micro == y.balance_micro


def test_makers_fill_in_time_priority_behind_the_crowd() -> None:
    ex = exchange()
    first, second = (ex.accounts.register(_KEY, 10**10, ex.now_us) for _ in range(2))
    market = two_sided(ex)[0]
    level = max(market.yes)
    crowd = market.yes[level]
    a, _ = place(ex, first, market, "bid", level, 500)
    b, _ = place(ex, second, market, "bid", level, 500)
    assert own_size(market, "yes", level) == 1000
    assert ex.book.matcher.queue_position(market, b) == crowd + 500
    out: list[Happening] = []
    # the crowd sells into the level: first the crowd ahead, then a, then b
    taken = ex.book.matcher.take_level(market, "yes", level, crowd + 700, out, ex.now_us)
    assert taken == crowd + 700
    assert (a.status, a.fill_count) == ("executed", 500)
    assert (b.remaining_count, b.fill_count) == (300, 200)
    assert ex.book.matcher.queue_position(market, b) == 0
    assert [f.is_taker for f in first.fills] == [False]
    check_invariants(ex)


def test_a_market_moving_through_a_resting_order_fills_it_as_a_maker() -> None:
    ex = exchange()
    account = ex.accounts.register(_KEY, 10**10, ex.now_us)
    market = two_sided(ex)[0]
    ask = 10_000 - max(market.no) + 300  # an ask three ticks above the touch
    order, _ = place(ex, account, market, "ask", ask, 200)
    assert order.status == "resting"
    market.fair = min(9_700, ask + 500)  # the market rallies through it
    out: list[Happening] = []
    ex.book.reshape(market, out, ex.now_us)
    assert order.fill_count > 0
    assert [f.is_taker for f in account.fills] == [False] * len(account.fills)
    assert all(f.yes_price == ask for f in account.fills)
    assert max(market.yes) + max(market.no) < 10_000  # not crossed any more
    check_invariants(ex)


def test_the_walk_never_removes_resting_orders_and_markets_closing_cancels_them() -> None:
    ex = exchange()
    account = ex.accounts.register(_KEY, 10**10, ex.now_us)
    market = two_sided(ex)[0]
    order, _ = place(ex, account, market, "bid", 100, 300)  # far below the touch
    for _ in range(200):
        ex.tick(1)
        check_invariants(ex)
        if market.status != "active":
            break
    if market.status == "active":
        assert order.status == "resting"
        assert market.yes[100] >= 300
        out: list[Happening] = []
        ex.book.clear(market, out, ex.now_us)
    assert order.status == "canceled"
    assert not market.queues and 100 not in market.yes


def test_a_pause_cancels_cancel_on_pause_orders_and_reactivation_cancels_all() -> None:
    ex = exchange()
    account = ex.accounts.register(_KEY, 10**10, ex.now_us)
    market = two_sided(ex)[0]
    keep, _ = place(ex, account, market, "bid", 100, 100)
    go, _ = place(ex, account, market, "bid", 200, 100)
    go.cancel_on_pause = True
    out: list[Happening] = []
    ex.lifecycle.pause(market, out)
    assert market.status == "inactive"
    assert (keep.status, go.status) == ("resting", "canceled")
    check_invariants(ex)
    ex.lifecycle.transition(market, "reactivate", out)
    assert market.status == "active" and keep.status == "canceled"
    assert not market.queues
    check_invariants(ex)


def test_an_expiring_order_is_canceled_on_the_tick_after_its_time() -> None:
    ex = exchange()
    account = ex.accounts.register(_KEY, 10**10, ex.now_us)
    market = two_sided(ex)[0]
    expires = ex.now_us + 3 * ex.tick_us
    order, _ = place(ex, account, market, "bid", 100, 100, expiration_us=expires)
    ex.tick(2)
    assert order.status == "resting"
    out = ex.tick(2)
    assert order.status == "canceled"
    assert any(isinstance(h, OrderNotice) and h.order is order for h in out)


def test_a_world_with_orders_persists(tmp_path: Path) -> None:
    ex, accounts = scenario(7)
    path = world_path(tmp_path)
    save_world(ex, path)
    loaded = load_world(path, ex.config)
    assert loaded is not None
    check_invariants(loaded)
    for original, copy in zip(accounts, loaded.accounts.all(), strict=True):
        assert [render.order_dict(o) for o in original.orders.values()] == [
            render.order_dict(o) for o in copy.orders.values()
        ]
    assert [type(h).__name__ for h in loaded.tick(30)] == [type(h).__name__ for h in ex.tick(30)]
