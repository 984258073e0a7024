"""Kalshi's trading fee, exactly.

Kalshi charges ``rate x contracts x P x (1 - P)`` per fill, rounded *up*: the taker rate is
0.07 and the maker rate 0.0175 on most series, some series use other multipliers. Floats turn
``0.07 x 0.52 x 0.48 = 0.017472`` into something that rounds the wrong way near a quantum
boundary, so the fee is computed twice, identically: with :class:`~decimal.Decimal` for
callers that hold Decimals, and with Python integers in fixed units (counts in hundredths of
a contract, prices in ticks of $0.0001, money in micro-dollars) for the backtest engine,
which never leaves integers for money.

The rounding quantum is configurable: the backtest default is one cent (as the project's
issue specifies); Kalshi's ``fee_cost`` field on fills is ceiled to $0.0001 (see
docs/decisions/0061-backtest-fee-rounding.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

import numpy as np
import numpy.typing as npt

from shared.domain.units import COUNT_SCALE, MICRO_PER_DOLLAR, PRICE_SCALE

__all__ = [
    "CENT",
    "CENTI_CENT",
    "DEFAULT_FEE_SCHEDULE",
    "MAKER_RATE",
    "TAKER_RATE",
    "FeeModel",
    "FeeSchedule",
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
    """The fee rates of one series and the rounding quantum of each fill's fee."""

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
