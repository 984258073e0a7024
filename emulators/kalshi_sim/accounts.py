"""Simulated Kalshi accounts: an API key, a balance, positions, orders, fills and settlements.

Units inside: balances and costs in integer micro-dollars (price centi-cents x count
hundredths lands exactly there), counts in hundredths, fees in centi-cents. Positions
follow Kalshi's signed convention: ``position > 0`` holds YES, ``< 0`` holds NO. Every fill
is charged through :mod:`shared.domain.fees` (trade fee ceiled to $0.0001, the rounding fee
that keeps the balance on whole cents, the order's accumulator and its rebates).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.kalshi_sim.wire import MICRO_PER_CENTI, PRICE_ONE, taker_fee_centi
from shared.domain.fees import DIRECT_MEMBER_PRECISION_MICRO, FeeAccumulator, FillCharge

# (action, side) -> (outcome_side, book_side), Kalshi's order-direction table.
DIRECTION = {
    ("buy", "yes"): ("yes", "bid"),
    ("sell", "no"): ("yes", "bid"),
    ("buy", "no"): ("no", "ask"),
    ("sell", "yes"): ("no", "ask"),
}


@dataclass(slots=True)
class Position:
    ticker: str
    event_ticker: str
    position: int = 0  # hundredths, signed
    cost_micro: int = 0  # cost basis of the open position (market exposure)
    total_traded_micro: int = 0
    realized_pnl_micro: int = 0
    fees_micro: int = 0
    position_fee_micro: int = 0  # fees paid on the contracts still held
    volume: int = 0  # hundredths traded by this account in this market
    last_updated_us: int = 0


@dataclass(slots=True)
class Fill:
    fill_id: str
    order_id: str
    client_order_id: str
    ticker: str
    action: str
    side: str
    outcome_side: str
    book_side: str
    count: int
    yes_price: int
    is_taker: bool
    fee_centi: int
    post_position: int
    created_us: int
    seq: int


@dataclass(slots=True, eq=False)
class Order:
    """A limit order on the YES book (V2): ``bid`` buys YES, ``ask`` sells YES.

    ``price`` is the YES price in centi-cents; counts are hundredths. ``account`` is the
    owner (an identity reference: orders compare by identity, not value).
    """

    order_id: str
    client_order_id: str
    account: Account = field(repr=False)
    ticker: str
    book_side: str  # bid | ask
    price: int
    initial_count: int
    time_in_force: str
    self_trade_prevention_type: str
    post_only: bool
    created_us: int
    seq: int
    expiration_us: int | None = None
    status: str = "resting"  # resting | canceled | executed
    fill_count: int = 0
    remaining_count: int = 0
    taker_fill_cost_micro: int = 0
    maker_fill_cost_micro: int = 0
    taker_fees_micro: int = 0
    maker_fees_micro: int = 0
    updated_us: int = 0
    accumulator: FeeAccumulator = field(default_factory=FeeAccumulator)
    # (action, side) of an order the simulator placed the legacy way (``buy no``); V2
    # orders derive theirs from ``book_side``.
    legacy: tuple[str, str] | None = None
    cancel_on_pause: bool = False  # canceled when the exchange pauses the market

    @property
    def rest_side(self) -> str:
        """The Kalshi book (bids only) the order rests on: YES bids or NO bids."""
        return "yes" if self.book_side == "bid" else "no"

    @property
    def rest_price(self) -> int:
        """Its level on that book (NO bids are in NO-leg pricing)."""
        return self.price if self.book_side == "bid" else PRICE_ONE - self.price


@dataclass(slots=True)
class Settlement:
    ticker: str
    event_ticker: str
    market_result: str
    yes_count: int
    yes_cost_micro: int
    no_count: int
    no_cost_micro: int
    revenue_cents: int
    fee_micro: int
    value_cents: int | None
    settled_us: int
    seq: int


@dataclass(slots=True)
class Transfer:
    """A deposit or withdrawal (``GET /portfolio/deposits``/``withdrawals``); see funds.py."""

    id: str
    status: str  # pending | applied | failed | returned
    type: str  # ach | wire | crypto | debit | apm
    amount_cents: int
    fee_cents: int
    created_us: int
    finalized_us: int | None
    seq: int


@dataclass(slots=True)
class Account:
    key_id: str
    user_id: str
    public_key: rsa.RSAPublicKey = field(repr=False)
    balance_micro: int
    rng: random.Random = field(repr=False)
    updated_us: int = 0
    positions: dict[str, Position] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)  # oldest first
    settlements: list[Settlement] = field(default_factory=list)  # oldest first
    next_seq: int = 1
    deposits: list[Transfer] = field(default_factory=list)  # oldest first
    withdrawals: list[Transfer] = field(default_factory=list)  # oldest first
    orders: dict[str, Order] = field(default_factory=dict)  # by order id, creation order
    client_order_ids: dict[str, str] = field(default_factory=dict)  # -> order id, forever
    trading: bool = True  # False: the key has read scope only (writes answer 403)
    # Balance precision in micro-dollars: the recorded demo account's balance moves by the
    # trade fee to the centi-cent (98.0186 after two 0.99 fills), like a direct member's;
    # 10_000 makes a member whose balance the rounding fee keeps on whole cents.
    precision_micro: int = DIRECT_MEMBER_PRECISION_MICRO

    def _seq(self) -> int:
        value = self.next_seq
        self.next_seq += 1
        return value

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def apply_taker_fill(
        self,
        *,
        ticker: str,
        event_ticker: str,
        action: str,
        side: str,
        count: int,
        yes_price: int,
        now_us: int,
        trade_id: str,
    ) -> tuple[Fill, Position]:
        """Book one taker fill of an immediate order the simulator places for the account.

        The order is its own (a fresh fee accumulator); fees follow the fee module.
        """
        _outcome_side, book_side = DIRECTION[(action, side)]
        trade_fee = taker_fee_centi(yes_price, count) * MICRO_PER_CENTI
        return self.apply_fill(
            ticker=ticker,
            event_ticker=event_ticker,
            book_side=book_side,
            count=count,
            yes_price=yes_price,
            is_taker=True,
            trade_fee=trade_fee,
            accumulator=FeeAccumulator(self.precision_micro),
            order_id=self._uuid(),
            client_order_id=self._uuid(),
            now_us=now_us,
            trade_id=trade_id,
            legacy=(action, side),
        )[:2]

    def apply_fill(
        self,
        *,
        ticker: str,
        event_ticker: str,
        book_side: str,
        count: int,
        yes_price: int,
        is_taker: bool,
        trade_fee: int,
        accumulator: FeeAccumulator,
        order_id: str,
        client_order_id: str,
        now_us: int,
        trade_id: str,
        legacy: tuple[str, str] | None = None,
    ) -> tuple[Fill, Position, FillCharge]:
        """Book one fill: balance, position, realized P&L and fees move together.

        A ``bid`` fill buys YES (or, holding NO, first closes NO at the NO price); an
        ``ask`` sells YES (or, holding none, buys NO). The cash of all legs is the fill's
        revenue, charged through the order's ``accumulator`` (trade fee ``trade_fee``).
        """
        position = self.positions.get(ticker)
        if position is None:
            position = Position(ticker=ticker, event_ticker=event_ticker)
            self.positions[ticker] = position
        held = position.position
        if book_side == "bid":
            closing = min(count, -held) if held < 0 else 0
            close_leg, open_leg = ("sell", "no"), ("buy", "yes")
        else:
            closing = min(count, held) if held > 0 else 0
            close_leg, open_leg = ("sell", "yes"), ("buy", "no")
        opening = count - closing
        revenue = 0
        if closing:
            revenue += self._close(position, close_leg[1], closing, yes_price)
        if opening:
            revenue += self._open(position, open_leg[1], opening, yes_price)
        charge = accumulator.charge(revenue, trade_fee)
        self.balance_micro += charge.balance_delta
        # fees_paid sums the fills' fee_cost (the trade fee); the rounding fee and rebates
        # only move the balance, as they are not a fill's fee_cost either.
        position.fees_micro += trade_fee
        if opening and position.position:
            position.position_fee_micro += trade_fee * opening // count
        if position.position == 0:
            position.cost_micro = 0
            position.position_fee_micro = 0
        position.volume += count
        position.last_updated_us = now_us
        self.updated_us = now_us
        action, side = (
            legacy if legacy is not None else ("buy" if book_side == "bid" else "sell", "yes")
        )
        outcome_side, _ = DIRECTION[(action, side)]
        fill = Fill(
            fill_id=trade_id,
            order_id=order_id,
            client_order_id=client_order_id,
            ticker=ticker,
            action=action,
            side=side,
            outcome_side=outcome_side,
            book_side=book_side,
            count=count,
            yes_price=yes_price,
            is_taker=is_taker,
            fee_centi=trade_fee // MICRO_PER_CENTI,
            post_position=position.position,
            created_us=now_us,
            seq=self._seq(),
        )
        self.fills.append(fill)
        return fill, position, charge

    @staticmethod
    def _open(position: Position, side: str, count: int, yes_price: int) -> int:
        """Buy ``count`` of ``side``; returns the (negative) cash of the leg."""
        side_price = yes_price if side == "yes" else PRICE_ONE - yes_price
        notional = side_price * count
        position.position += count if side == "yes" else -count
        position.cost_micro += notional
        position.total_traded_micro += notional
        return -notional

    @staticmethod
    def _close(position: Position, side: str, count: int, yes_price: int) -> int:
        """Sell ``count`` of the held ``side``; returns the (positive) cash of the leg."""
        side_price = yes_price if side == "yes" else PRICE_ONE - yes_price
        notional = side_price * count
        held = abs(position.position)
        removed_cost = position.cost_micro * count // held if held else 0
        removed_fee = position.position_fee_micro * count // held if held else 0
        position.position -= count if side == "yes" else -count
        position.cost_micro -= removed_cost
        position.position_fee_micro -= removed_fee
        position.realized_pnl_micro += notional - removed_cost
        position.total_traded_micro += notional
        return notional

    def settle(
        self, *, ticker: str, result: str, value_centi: int, now_us: int
    ) -> tuple[Settlement, Position] | None:
        """Pay out a determined market and drop the position (Kalshi lists unsettled only)."""
        position = self.positions.get(ticker)
        if position is None:
            return None
        held = position.position
        yes_count = held if held > 0 else 0
        no_count = -held if held < 0 else 0
        # revenue in cents: contracts x payout; count/100 x value/10000 $ = count*value/1e4 cents
        revenue = (yes_count * value_centi + no_count * (PRICE_ONE - value_centi)) // PRICE_ONE
        self.balance_micro += revenue * 10_000
        settlement = Settlement(
            ticker=ticker,
            event_ticker=position.event_ticker,
            market_result=result,
            yes_count=yes_count,
            yes_cost_micro=position.cost_micro if held > 0 else 0,
            no_count=no_count,
            no_cost_micro=position.cost_micro if held < 0 else 0,
            revenue_cents=revenue,
            fee_micro=position.fees_micro,
            value_cents=value_centi // 100,
            settled_us=now_us,
            seq=self._seq(),
        )
        self.settlements.append(settlement)
        position.realized_pnl_micro += revenue * 10_000 - position.cost_micro
        position.position = 0
        position.cost_micro = 0
        position.position_fee_micro = 0
        position.last_updated_us = now_us
        self.updated_us = now_us
        del self.positions[ticker]
        return settlement, position


class AccountBook:
    """All accounts by API key id. Key ids look like Kalshi's (UUIDs)."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._by_key: dict[str, Account] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def all(self) -> list[Account]:
        return list(self._by_key.values())

    def by_key(self, key_id: str) -> Account | None:
        return self._by_key.get(key_id)

    def register(
        self,
        public_key: rsa.RSAPublicKey,
        balance_micro: int,
        now_us: int,
        key_id: str | None = None,
    ) -> Account:
        """Create an account; ids and the account's trading luck derive from the seed."""
        index = len(self._by_key)
        rng = random.Random(f"{self._seed}:account:{index}")
        if key_id is None:
            key_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        else:
            rng.getrandbits(128)
        if key_id in self._by_key:
            raise ValueError("key id already registered")
        user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        account = Account(
            key_id=key_id,
            user_id=user_id,
            public_key=public_key,
            balance_micro=balance_micro,
            rng=rng,
            updated_us=now_us,
        )
        self._by_key[key_id] = account
        return account
