"""Kalshi's trading fee, exactly.

Kalshi charges ``rate x contracts x P x (1 - P)`` per fill, rounded *up*: the taker rate is
0.07 and the maker rate 0.0175 on most series, some series use other multipliers. Floats turn
``0.07 x 0.52 x 0.48 = 0.017472`` into something that rounds the wrong way near a quantum
boundary, so the fee is computed twice, identically: with :class:`~decimal.Decimal` for
callers that hold Decimals, and with Python integers in fixed units (counts in hundredths of
a contract, prices in ticks of $0.0001, money in micro-dollars) for the backtest engine,
which never leaves integers for money.

Kalshi's charge per fill has three parts (its fee-rounding guide): the *trade fee* from the
series' fee model ceiled to $0.0001, a *rounding fee* that floors the balance change to the
user's balance precision ($0.01, or $0.0001 for direct members), and a whole-cent *rebate*
from the order's accumulator of rounding overpayment. :func:`trade_fee_micro`,
:func:`rates_for` and :class:`FeeAccumulator` are that model in integer micro-dollars (every
intermediate is exact there: $0.0001 prices x 0.01 contracts = 6 decimal places); the
simulator, the portfolio P&L and the backtest engine all charge through them.
:class:`SeriesFees` adds the series' ``fee_type``/``fee_multiplier``, the event overrides and
scheduled changes (``/series/fee_changes``). See docs/decisions/0160-kalshi-fee-model.md and
docs/decisions/0061-backtest-fee-rounding.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, Decimal

import numpy as np
import numpy.typing as npt

from shared.domain.units import COUNT_SCALE, MICRO_PER_DOLLAR, PRICE_SCALE

__all__ = [
    "CENT",
    "CENTI_CENT",
    "DEFAULT_FEE_SCHEDULE",
    "DIRECT_MEMBER_PRECISION_MICRO",
    "FEE_TYPES",
    "MAKER_RATE",
    "MEMBER_PRECISION_MICRO",
    "TAKER_RATE",
    "FeeAccumulator",
    "FeeChange",
    "FeeModel",
    "FeeSchedule",
    "FillCharge",
    "SeriesFees",
    "fill_charge_micro",
    "rates_for",
    "trade_fee_micro",
    "trading_fee",
]

TAKER_RATE = Decimal("0.07")
MAKER_RATE = Decimal("0.0175")
CENT = Decimal("0.01")
CENTI_CENT = Decimal("0.0001")


def trading_fee(
    contracts: Decimal,
    price_dollars: Decimal,
    *,
    rate: Decimal = TAKER_RATE,
    quantum: Decimal = CENT,
) -> Decimal:
    """The fee for one fill of ``contracts`` at ``price_dollars``, rounded up to ``quantum``.

    >>> trading_fee(Decimal(1), Decimal("0.52"))
    Decimal('0.02')
    >>> trading_fee(Decimal(1), Decimal("0.52"), quantum=CENTI_CENT)
    Decimal('0.0175')
    """
    if contracts < 0:
        raise ValueError("contracts must not be negative")
    if not Decimal(0) <= price_dollars <= Decimal(1):
        raise ValueError("price_dollars must be within [0, 1]")
    raw = rate * contracts * price_dollars * (Decimal(1) - price_dollars)
    return raw.quantize(quantum, rounding=ROUND_CEILING)


def _ratio(value: Decimal) -> tuple[int, int]:
    numerator, denominator = value.as_integer_ratio()
    return int(numerator), int(denominator)


@dataclass(frozen=True)
class FeeSchedule:
    """The fee rates of one series and the balance precision fills are rounded to.

    :meth:`fee` and :meth:`fee_micro` ceil the raw fee to ``quantum`` (a single number, for
    displays and ``fee_cost`` comparisons); :meth:`charge_micro_array` is what a fill really
    costs: the trade fee ceiled to $0.0001, then the rounding fee that puts the balance
    back on a multiple of ``quantum`` ($0.01 for members, $0.0001 for direct members).
    """

    taker_rate: Decimal = TAKER_RATE
    maker_rate: Decimal = MAKER_RATE
    quantum: Decimal = CENT

    def __post_init__(self) -> None:
        for name in ("taker_rate", "maker_rate"):
            rate = getattr(self, name)
            if not Decimal(0) <= rate <= Decimal(1):
                raise ValueError(f"{name} must be within [0, 1]")
        if not Decimal("0.000001") <= self.quantum <= Decimal(1):
            raise ValueError("quantum must be within [0.000001, 1] dollars")
        if self.quantum.normalize().as_tuple().digits != (1,):
            raise ValueError("quantum must be a power of ten: 1, 0.1, 0.01 ... 0.000001 dollars")

    def fee(self, contracts: Decimal, price_dollars: Decimal, *, maker: bool = False) -> Decimal:
        """Decimal fee of one fill (see :func:`trading_fee`)."""
        rate = self.maker_rate if maker else self.taker_rate
        return trading_fee(contracts, price_dollars, rate=rate, quantum=self.quantum)

    def fee_micro(self, count_units: int, price_ticks: int, *, maker: bool = False) -> int:
        """The same fee in micro-dollars from integer units (hundredths x ticks); exact.

        ``fee = ceil(rate x count x P x (1-P) / quantum) x quantum`` with every factor a
        ratio of integers, so Python's unbounded integers give the exact Decimal answer.
        """
        rate_num, rate_den = _ratio(self.maker_rate if maker else self.taker_rate)
        q_num, q_den = _ratio(self.quantum)
        # fee in dollars = rate * (count_units / 100) * (p / 1e4) * ((1e4 - p) / 1e4)
        numerator = rate_num * count_units * price_ticks * (PRICE_SCALE - price_ticks) * q_den
        denominator = rate_den * COUNT_SCALE * PRICE_SCALE * PRICE_SCALE * q_num
        quanta = -(-numerator // denominator)
        return quanta * q_num * MICRO_PER_DOLLAR // q_den

    def fee_micro_array(
        self, count_units: npt.NDArray[np.int64], price_ticks: npt.NDArray[np.int64], *, maker: bool
    ) -> npt.NDArray[np.int64]:
        """:meth:`fee_micro` over arrays: int64 when it cannot overflow, else Python ints."""
        rate_num, rate_den = _ratio(self.maker_rate if maker else self.taker_rate)
        q_num, q_den = _ratio(self.quantum)
        counts = np.asarray(count_units, dtype=np.int64)
        prices = np.asarray(price_ticks, dtype=np.int64)
        if len(counts) == 0:
            return np.zeros(0, dtype=np.int64)
        biggest = rate_num * int(counts.max()) * (PRICE_SCALE // 2) ** 2 * q_den
        if biggest >= 2**62 or int(prices.min()) < 0 or int(prices.max()) > PRICE_SCALE:
            return np.array(
                [
                    self.fee_micro(int(c), int(p), maker=maker)
                    for c, p in zip(counts, prices, strict=True)
                ],
                dtype=np.int64,
            )
        numerator = rate_num * counts * prices * (PRICE_SCALE - prices) * q_den
        denominator = rate_den * COUNT_SCALE * PRICE_SCALE * PRICE_SCALE * q_num
        quanta = -(-numerator // denominator)
        result: npt.NDArray[np.int64] = quanta * q_num * MICRO_PER_DOLLAR // q_den
        return result

    def charge_micro_array(
        self,
        count_units: npt.NDArray[np.int64],
        price_ticks: npt.NDArray[np.int64],
        *,
        maker: bool,
        buying: bool,
    ) -> npt.NDArray[np.int64]:
        """Fee charged on each fill (its order's only fill): trade fee + rounding fee.

        A buyer pays ``notional + trade fee`` rounded *up* to the precision, a seller gets
        ``notional - trade fee`` rounded *down*; the difference from the notional is the
        charge (Kalshi's fee-rounding rules with a fresh accumulator: no rebate yet).
        """
        trade = replace(self, quantum=CENTI_CENT).fee_micro_array(
            count_units, price_ticks, maker=maker
        )
        notional = np.asarray(count_units, dtype=np.int64) * np.asarray(price_ticks, np.int64)
        step = int(self.quantum * MICRO_PER_DOLLAR)
        if buying:
            result: npt.NDArray[np.int64] = -(-(notional + trade) // step) * step - notional
        else:
            result = notional - ((notional - trade) // step) * step
        return result

    def charge_micro(self, count_units: int, price_ticks: int, *, maker: bool, buying: bool) -> int:
        """:meth:`charge_micro_array` for one fill, through :class:`FeeAccumulator`."""
        trade = replace(self, quantum=CENTI_CENT).fee_micro(count_units, price_ticks, maker=maker)
        notional = count_units * price_ticks
        revenue = -notional if buying else notional
        step = int(self.quantum * MICRO_PER_DOLLAR)
        return FeeAccumulator(step).charge(revenue, trade).net_fee

    def to_json(self) -> dict[str, str]:
        return {
            "taker_rate": str(self.taker_rate),
            "maker_rate": str(self.maker_rate),
            "quantum": str(self.quantum),
        }


DEFAULT_FEE_SCHEDULE = FeeSchedule()


@dataclass(frozen=True)
class FeeModel:
    """A default schedule plus per-series overrides (Kalshi sets fee multipliers per series)."""

    default: FeeSchedule = DEFAULT_FEE_SCHEDULE
    per_series: Mapping[str, FeeSchedule] = field(default_factory=dict)

    def for_series(self, series_ticker: str | None) -> FeeSchedule:
        if series_ticker is not None and series_ticker in self.per_series:
            return self.per_series[series_ticker]
        return self.default

    def to_json(self) -> dict[str, object]:
        return {
            **self.default.to_json(),
            "series": {name: s.to_json() for name, s in sorted(self.per_series.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> FeeModel:
        """Parse ``{"taker_rate", "maker_rate", "quantum", "series": {TICKER: {...}}}``.

        Values are decimal strings (or numbers); anything omitted keeps Kalshi's defaults.
        Raises ``ValueError`` with a message naming the bad field.
        """
        if not data:
            return cls()
        default = _schedule_from(data, DEFAULT_FEE_SCHEDULE, "fees")
        series_raw = data.get("series") or {}
        if not isinstance(series_raw, Mapping):
            raise ValueError("fees.series must be an object of series ticker -> schedule")
        per_series = {
            str(name): _schedule_from(spec, default, f"fees.series.{name}")
            for name, spec in series_raw.items()
        }
        return cls(default=default, per_series=per_series)


def _schedule_from(data: object, base: FeeSchedule, where: str) -> FeeSchedule:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be an object")
    unknown = set(data) - {"taker_rate", "maker_rate", "quantum", "series"}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    values: dict[str, Decimal] = {}
    for key in ("taker_rate", "maker_rate", "quantum"):
        raw = data.get(key)
        if raw is None:
            values[key] = getattr(base, key)
            continue
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueError(f"{where}.{key} must be a decimal string")
        try:
            values[key] = Decimal(str(raw))
        except ArithmeticError:
            raise ValueError(f"{where}.{key} is not a decimal number") from None
        if not values[key].is_finite():
            raise ValueError(f"{where}.{key} is not finite")
    return FeeSchedule(**values)


# --------------------------------------------------------------------------------------
# Kalshi's charge per fill: trade fee, rounding fee, rebate (integer micro-dollars)

CENTI_CENT_MICRO = 100  # $0.0001: the trade fee's rounding quantum
CENT_MICRO = 10_000  # $0.01: a rebate is always whole cents
MEMBER_PRECISION_MICRO = CENT_MICRO  # balances of non-direct members are whole cents
DIRECT_MEMBER_PRECISION_MICRO = CENTI_CENT_MICRO  # direct members: $0.0001

# fee_type -> (taker multiplier of 0.07, maker share of the taker rate). The maker shares
# follow the series page of the spec: maker fees at 0.25 of the taker rate (0.0175), 0.5 on
# combo series; ``quadratic`` charges makers nothing. ``flat`` replaces P x (1 - P) by its
# maximum 0.25 (a flat per-contract fee); see docs/decisions/0160-kalshi-fee-model.md.
FEE_TYPES: Mapping[str, Decimal] = {
    "quadratic": Decimal(0),
    "quadratic_with_maker_fees": Decimal("0.25"),
    "quadratic_with_combo_maker_fees": Decimal("0.5"),
    "flat": Decimal(0),
}


def rates_for(fee_type: str, fee_multiplier: Decimal | int | str = 1) -> tuple[Decimal, Decimal]:
    """(taker rate, maker rate) of a series charging ``fee_type`` x ``fee_multiplier``.

    >>> rates_for("quadratic_with_maker_fees")
    (Decimal('0.07'), Decimal('0.0175'))
    """
    if fee_type not in FEE_TYPES:
        raise ValueError(f"unknown fee_type {fee_type!r}")
    multiplier = Decimal(str(fee_multiplier))
    if not multiplier.is_finite() or multiplier < 0:
        raise ValueError("fee_multiplier must be a non-negative number")
    taker = TAKER_RATE * multiplier
    return taker, taker * FEE_TYPES[fee_type]


def trade_fee_micro(
    count_units: int, price_ticks: int, rate: Decimal, *, fee_type: str = "quadratic"
) -> int:
    """The trade fee of one fill in micro-dollars, ceiled to $0.0001 (exact integers).

    ``count_units`` are hundredths of a contract, ``price_ticks`` $0.0001 units of the YES
    price (P x (1 - P) is the same for either side). ``flat`` uses 0.25 for P x (1 - P).

    >>> trade_fee_micro(100, 5200, TAKER_RATE)  # the recorded fill: 1 @ $0.52 -> $0.0175
    17500
    """
    if count_units < 0:
        raise ValueError("count must not be negative")
    if not 0 <= price_ticks <= PRICE_SCALE:
        raise ValueError("price must be within [0, 1]")
    rate_num, rate_den = _ratio(rate)
    if fee_type == "flat":
        spread = PRICE_SCALE * PRICE_SCALE // 4
    else:
        spread = price_ticks * (PRICE_SCALE - price_ticks)
    # dollars = rate * count_units/100 * spread/1e8; in centi-cents (1e4 per dollar):
    numerator = rate_num * count_units * spread
    denominator = rate_den * COUNT_SCALE * PRICE_SCALE
    centi_cents = -(-numerator // denominator)
    return centi_cents * CENTI_CENT_MICRO


@dataclass(frozen=True)
class FillCharge:
    """What one fill costs in fees and how the balance moves (micro-dollars).

    ``balance_change`` is the floored ``revenue - trade_fee`` (the guide's column); the
    rebate is credited on top, so the balance moves by ``balance_delta = revenue - net_fee``,
    always a multiple of the precision.
    """

    trade_fee: int
    rounding_fee: int
    rebate: int
    accumulator: int  # the order's accumulated rounding after this fill, before any rebate
    balance_change: int

    @property
    def net_fee(self) -> int:
        return self.trade_fee + self.rounding_fee - self.rebate

    @property
    def balance_delta(self) -> int:
        return self.balance_change + self.rebate


@dataclass
class FeeAccumulator:
    """One order's accumulated rounding overpayment, across all its fills (taker or maker).

    Kalshi rebates a whole cent whenever the accumulated rounding exceeds $0.01, so many
    small fills converge on what one equivalent fill would cost. A rebate is held back while
    it would make a fill's net fee negative (the guide: net fee is always >= $0.00).
    """

    precision_micro: int = MEMBER_PRECISION_MICRO
    accumulated_micro: int = 0

    def charge(self, revenue_micro: int, trade_fee: int) -> FillCharge:
        """Book one fill: ``revenue_micro`` is signed (negative for a buyer)."""
        if trade_fee < 0:
            raise ValueError("trade fee must not be negative")
        change = revenue_micro - trade_fee
        floored = (change // self.precision_micro) * self.precision_micro
        rounding = change - floored
        self.accumulated_micro += rounding
        shown = self.accumulated_micro
        rebate = 0
        if self.accumulated_micro > CENT_MICRO and trade_fee + rounding >= CENT_MICRO:
            rebate = CENT_MICRO
            self.accumulated_micro -= CENT_MICRO
        return FillCharge(
            trade_fee=trade_fee,
            rounding_fee=rounding,
            rebate=rebate,
            accumulator=shown,
            balance_change=floored,
        )


def fill_charge_micro(
    revenue_micro: int, trade_fee: int, precision_micro: int = MEMBER_PRECISION_MICRO
) -> FillCharge:
    """The charge of a fill that is its order's only one (a fresh accumulator)."""
    return FeeAccumulator(precision_micro).charge(revenue_micro, trade_fee)


@dataclass(frozen=True)
class FeeChange:
    """A scheduled change of a series' fee structure (``/series/fee_changes``)."""

    change_id: str
    series_ticker: str
    fee_type: str
    fee_multiplier: Decimal
    scheduled_us: int

    def __post_init__(self) -> None:
        rates_for(self.fee_type, self.fee_multiplier)  # validates both


@dataclass(frozen=True)
class SeriesFees:
    """A series' fee structure, its scheduled changes, and the rates in force at an instant.

    An event's ``fee_type_override``/``fee_multiplier_override`` (from the
    ``event_fee_update`` WebSocket message) replaces the series' values for that event.
    """

    fee_type: str = "quadratic"
    fee_multiplier: Decimal = Decimal(1)
    changes: tuple[FeeChange, ...] = ()

    def __post_init__(self) -> None:
        rates_for(self.fee_type, self.fee_multiplier)

    def structure_at(self, ts_us: int) -> tuple[str, Decimal]:
        """(fee_type, fee_multiplier) in force at ``ts_us``: the latest change due by then."""
        fee_type, multiplier = self.fee_type, self.fee_multiplier
        for change in sorted(self.changes, key=lambda c: c.scheduled_us):
            if change.scheduled_us <= ts_us:
                fee_type, multiplier = change.fee_type, change.fee_multiplier
        return fee_type, multiplier

    def trade_fee_micro(
        self,
        count_units: int,
        price_ticks: int,
        *,
        maker: bool,
        ts_us: int,
        fee_type_override: str | None = None,
        fee_multiplier_override: Decimal | None = None,
    ) -> int:
        fee_type, multiplier = self.structure_at(ts_us)
        if fee_type_override is not None:
            fee_type = fee_type_override
        if fee_multiplier_override is not None:
            multiplier = fee_multiplier_override
        taker, maker_rate = rates_for(fee_type, multiplier)
        return trade_fee_micro(
            count_units, price_ticks, maker_rate if maker else taker, fee_type=fee_type
        )
