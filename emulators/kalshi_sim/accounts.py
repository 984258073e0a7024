"""Simulated Kalshi accounts: an API key, a balance, positions, fills and settlements.

Units inside: balances and costs in integer micro-dollars (price centi-cents x count
hundredths lands exactly there), counts in hundredths, fees in centi-cents. Positions
follow Kalshi's signed convention: ``position > 0`` holds YES, ``< 0`` holds NO.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.kalshi_sim.wire import MICRO_PER_CENTI, PRICE_ONE, taker_fee_centi

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
        """Book one taker fill: balance, position, realized P&L and fees move together."""
        position = self.positions.get(ticker)
        if position is None:
            position = Position(ticker=ticker, event_ticker=event_ticker)
            self.positions[ticker] = position
        side_price = yes_price if side == "yes" else PRICE_ONE - yes_price
        notional = side_price * count  # micro-dollars
        fee_centi = taker_fee_centi(yes_price, count)
        fee = fee_centi * MICRO_PER_CENTI
        signed = count if side == "yes" else -count
        if action == "buy":
            position.position += signed
            position.cost_micro += notional
            position.position_fee_micro += fee
            self.balance_micro -= notional + fee
        else:
            held = abs(position.position)
            removed_cost = position.cost_micro * count // held if held else 0
            removed_fee = position.position_fee_micro * count // held if held else 0
            position.position -= signed
            position.cost_micro -= removed_cost
            position.position_fee_micro -= removed_fee
            position.realized_pnl_micro += notional - removed_cost
            self.balance_micro += notional - fee
        if position.position == 0:
            position.cost_micro = 0
            position.position_fee_micro = 0
        position.total_traded_micro += notional
        position.fees_micro += fee
        position.volume += count
        position.last_updated_us = now_us
        self.updated_us = now_us
        outcome_side, book_side = DIRECTION[(action, side)]
        fill = Fill(
            fill_id=trade_id,
            order_id=self._uuid(),
            client_order_id=self._uuid(),
            ticker=ticker,
            action=action,
            side=side,
            outcome_side=outcome_side,
            book_side=book_side,
            count=count,
            yes_price=yes_price,
            is_taker=True,
            fee_centi=fee_centi,
            post_position=position.position,
            created_us=now_us,
            seq=self._seq(),
        )
        self.fills.append(fill)
        return fill, position

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
