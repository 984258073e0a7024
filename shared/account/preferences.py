"""A user's own settings (``GET/PUT /api/v1/account/settings``): validated, then stored.

Today that is the P&L alerts the dashboard raises (a browser notification when today's P&L
crosses a loss or gain threshold, in dollars or percent, or when one position's unrealized
P&L reaches a loss or gain of its own threshold in dollars) and the trading limits. The
document is stored whole in ``user_settings.settings`` (JSONB) and always read back through
:func:`parse_preferences`, so a stored document written by an older version still renders
with today's defaults.

Money and percentages travel as decimal strings (``"50.00"``), never JSON numbers: a float
would round them. Every mistake is a :class:`PreferencesError` naming the field; the API
answers it as a 400 ``invalid_settings``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, text

from shared.trading.limits import TRADING_FIELDS, TradingPreferences, parse_trading

__all__ = [
    "DEFAULT_PREFERENCES",
    "MAX_ALERT_DOLLARS",
    "MAX_ALERT_PERCENT",
    "MAX_POSITION_ALERTS",
    "PnlAlerts",
    "Preferences",
    "PreferencesError",
    "load_preferences",
    "parse_preferences",
    "save_preferences",
]

MAX_ALERT_DOLLARS = Decimal("10000000")
MAX_ALERT_PERCENT = Decimal("1000")
# Per-position thresholds are bounded so one settings document stays small (it is read on
# every settings GET and rewritten whole on every PUT); more than a screenful of watched
# positions is a mistake, not a use case.
MAX_POSITION_ALERTS = 200
_THRESHOLDS = ("loss_dollars", "gain_dollars", "loss_percent", "gain_percent")
# Kalshi's market tickers as the markets API accepts them (upper case, as positions carry
# them), so a threshold can only be stored under a key a position can actually have.
_TICKER = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,127}")


class PreferencesError(ValueError):
    """The submitted settings are not valid; the message names the field."""


@dataclass(frozen=True)
class PnlAlerts:
    """When to alert on today's P&L; a threshold of None is not watched."""

    enabled: bool = False
    loss_dollars: Decimal | None = None
    gain_dollars: Decimal | None = None
    loss_percent: Decimal | None = None
    gain_percent: Decimal | None = None
    # (ticker, dollars) sorted by ticker: alert when that position's unrealized P&L reaches
    # a loss or a gain of that many dollars. A tuple keeps the dataclass truly immutable.
    positions: tuple[tuple[str, Decimal], ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": self.enabled}
        for name in _THRESHOLDS:
            value = getattr(self, name)
            out[name] = None if value is None else f"{value:.2f}"
        out["positions"] = {ticker: f"{value:.2f}" for ticker, value in self.positions}
        return out


@dataclass(frozen=True)
class Preferences:
    pnl_alerts: PnlAlerts = PnlAlerts()
    # trading_enabled and the per-order limits (shared/trading/limits.py validates them)
    trading: TradingPreferences = field(default_factory=TradingPreferences)

    def to_json(self) -> dict[str, Any]:
        return {"pnl_alerts": self.pnl_alerts.to_json(), **self.trading.to_json()}


DEFAULT_PREFERENCES = Preferences()


def _object(value: Any, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PreferencesError(f"{where} must be a JSON object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise PreferencesError(
            f"{where} has unknown field {unknown[0]!r}; it accepts {', '.join(allowed)}"
        )
    return value


def _threshold(value: Any, name: str, maximum: Decimal) -> Decimal | None:
    """A positive decimal string with at most two decimals, up to ``maximum``; or None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PreferencesError(f'pnl_alerts.{name} must be a decimal string such as "50.00"')
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise PreferencesError(f"pnl_alerts.{name} is not a decimal number") from None
    if not number.is_finite() or not 0 < number <= maximum:
        raise PreferencesError(f"pnl_alerts.{name} must be above 0 and at most {maximum}")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise PreferencesError(f"pnl_alerts.{name} may have at most 2 decimal places")
    return number.quantize(Decimal("0.01"))


def _position_thresholds(value: Any) -> tuple[tuple[str, Decimal], ...]:
    """``{"TICKER": "25.00", ...}`` (or absent/null: none) as sorted (ticker, dollars)."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise PreferencesError(
            'pnl_alerts.positions must be a JSON object of ticker -> dollars, e.g. {"T": "25"}'
        )
    if len(value) > MAX_POSITION_ALERTS:
        raise PreferencesError(
            f"pnl_alerts.positions may watch at most {MAX_POSITION_ALERTS} positions"
        )
    out: list[tuple[str, Decimal]] = []
    for ticker, raw in value.items():
        if not _TICKER.fullmatch(ticker):
            raise PreferencesError(
                f"pnl_alerts.positions has an invalid ticker {ticker[:140]!r}: upper-case "
                "letters, digits, '.', '_' or '-', at most 128"
            )
        dollars = _threshold(raw, f"positions.{ticker}", MAX_ALERT_DOLLARS)
        if dollars is None:
            raise PreferencesError(
                f"pnl_alerts.positions.{ticker} needs an amount; omit it instead"
            )
        out.append((ticker, dollars))
    return tuple(sorted(out))


def parse_preferences(document: Any) -> Preferences:
    """A settings document (a PUT body, or what is stored) as :class:`Preferences`.

    Absent fields take their defaults, so ``{}`` is valid and means "all off".
    """
    body = _object(document, "settings", ("pnl_alerts", *TRADING_FIELDS))
    try:
        trading = parse_trading(body)
    except ValueError as bad:
        raise PreferencesError(str(bad)) from None
    raw_alerts = body.get("pnl_alerts")
    if raw_alerts is None:
        return Preferences(trading=trading)
    alerts = _object(raw_alerts, "pnl_alerts", ("enabled", *_THRESHOLDS, "positions"))
    enabled = alerts.get("enabled", False)
    if not isinstance(enabled, bool):
        raise PreferencesError("pnl_alerts.enabled must be true or false")
    return Preferences(
        PnlAlerts(
            enabled=enabled,
            loss_dollars=_threshold(alerts.get("loss_dollars"), "loss_dollars", MAX_ALERT_DOLLARS),
            gain_dollars=_threshold(alerts.get("gain_dollars"), "gain_dollars", MAX_ALERT_DOLLARS),
            loss_percent=_threshold(alerts.get("loss_percent"), "loss_percent", MAX_ALERT_PERCENT),
            gain_percent=_threshold(alerts.get("gain_percent"), "gain_percent", MAX_ALERT_PERCENT),
            positions=_position_thresholds(alerts.get("positions")),
        ),
        trading,
    )


def load_preferences(connection: Connection, user_id: uuid.UUID) -> Preferences:
    """The user's stored settings, or the defaults when none were saved."""
    stored = connection.execute(
        text("SELECT settings FROM user_settings WHERE user_id = :user_id"),
        {"user_id": user_id},
    ).scalar_one_or_none()
    if stored is None:
        return DEFAULT_PREFERENCES
    try:
        return parse_preferences(stored)
    except PreferencesError:
        # A document an older version accepted and this one does not: defaults, not a 500.
        return DEFAULT_PREFERENCES


def save_preferences(connection: Connection, user_id: uuid.UUID, preferences: Preferences) -> None:
    """Replace the user's settings (one upsert, in the caller's transaction)."""
    connection.execute(
        text(
            "INSERT INTO user_settings (user_id, settings, updated_at) "
            "VALUES (:user_id, CAST(:settings AS jsonb), now()) "
            "ON CONFLICT (user_id) DO UPDATE SET settings = EXCLUDED.settings, "
            "updated_at = now()"
        ),
        {"user_id": user_id, "settings": json.dumps(preferences.to_json())},
    )
