"""Who may trade and how much: the per-user trading settings and the per-order limits.

Trading is opt-in: a user turns it on with ``PUT /api/v1/account/settings
{"trading_enabled": true}``; until then every order write is a 403 ``trading_disabled``.
Each order is also held to the user's own limits, server-side (a browser or a script can
send anything): ``max_order_contracts`` (contracts in one order) and ``max_order_dollars``
(what one order can cost at its limit price, :attr:`~shared.trading.translate.Ticket.collateral`).
Users choose their limits up to a ceiling no setting can pass; the defaults are small, so a
user who enables trading and nothing else cannot fat-finger a large order.

The three fields live in the user's settings document (``user_settings.settings``, beside the
P&L alerts; :mod:`shared.account.preferences` stores them and calls :func:`parse_trading`
to validate them). They travel as ``true``/``false`` and decimal strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.trading.translate import Ticket

__all__ = [
    "CEILING_CONTRACTS",
    "CEILING_DOLLARS",
    "DEFAULT_MAX_CONTRACTS",
    "DEFAULT_MAX_DOLLARS",
    "TRADING_FIELDS",
    "LimitExceeded",
    "TradingPreferences",
    "check_limits",
    "parse_trading",
]

DEFAULT_MAX_CONTRACTS = Decimal(100)
DEFAULT_MAX_DOLLARS = Decimal("100.00")
CEILING_CONTRACTS = Decimal(100_000)
CEILING_DOLLARS = Decimal("100000.00")
TRADING_FIELDS = ("trading_enabled", "max_order_contracts", "max_order_dollars")


class LimitExceeded(Exception):
    """An order over one of the user's limits (the message says which and how to change it)."""

    code = "order_limit_exceeded"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TradingPreferences:
    enabled: bool = False
    max_order_contracts: Decimal = DEFAULT_MAX_CONTRACTS
    max_order_dollars: Decimal = DEFAULT_MAX_DOLLARS

    def to_json(self) -> dict[str, Any]:
        return {
            "trading_enabled": self.enabled,
            "max_order_contracts": f"{self.max_order_contracts:.2f}",
            "max_order_dollars": f"{self.max_order_dollars:.2f}",
        }


def _limit(value: Any, name: str, ceiling: Decimal, default: Decimal) -> Decimal:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f'{name} must be a decimal string such as "{default:.2f}"')
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{name} is not a decimal number") from None
    if not number.is_finite() or not 0 < number <= ceiling:
        raise ValueError(f"{name} must be above 0 and at most {ceiling}")
    if number != number.quantize(Decimal("0.01")):
        raise ValueError(f"{name} may have at most 2 decimal places")
    return number.quantize(Decimal("0.01"))


def parse_trading(document: Mapping[str, Any]) -> TradingPreferences:
    """The trading fields of a settings document (absent ones take their defaults).

    Raises ``ValueError`` naming the field; other fields of the document are ignored here.
    """
    enabled = document.get("trading_enabled", False)
    if not isinstance(enabled, bool):
        raise ValueError("trading_enabled must be true or false")
    return TradingPreferences(
        enabled=enabled,
        max_order_contracts=_limit(
            document.get("max_order_contracts"),
            "max_order_contracts",
            CEILING_CONTRACTS,
            DEFAULT_MAX_CONTRACTS,
        ),
        max_order_dollars=_limit(
            document.get("max_order_dollars"),
            "max_order_dollars",
            CEILING_DOLLARS,
            DEFAULT_MAX_DOLLARS,
        ),
    )


def stored_trading(document: Any) -> TradingPreferences:
    """The trading settings of a stored document; a document this version cannot read
    (written by an older one) means the defaults: trading off."""
    if not isinstance(document, Mapping):
        return TradingPreferences()
    try:
        return parse_trading(document)
    except ValueError:
        return TradingPreferences()


def check_limits(ticket: Ticket, preferences: TradingPreferences) -> None:
    """Raise :class:`LimitExceeded` when ``ticket`` is larger than the user allows."""
    if ticket.count > preferences.max_order_contracts:
        raise LimitExceeded(
            f"{ticket.count:.2f} contracts is over your limit of "
            f"{preferences.max_order_contracts:.2f} per order (max_order_contracts in settings)"
        )
    if ticket.collateral > preferences.max_order_dollars:
        raise LimitExceeded(
            f"this order can cost ${ticket.collateral:.2f}, over your limit of "
            f"${preferences.max_order_dollars:.2f} per order (max_order_dollars in settings)"
        )
