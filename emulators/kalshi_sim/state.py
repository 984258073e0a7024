"""``SimState``: the exchange, its accounts, the WebSocket hub and the fault switches.

All state lives in one :class:`SimState` owned by the server's event loop. It has a module
of its own so ``rest``, ``ws`` and ``app`` can all import it while it imports none of them
back (no import loop).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from emulators.kalshi_sim.accounts import Account
from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.exchange import Exchange
from emulators.kalshi_sim.faults import Faults
from emulators.kalshi_sim.hub import Hub
from emulators.kalshi_sim.model import Happening
from shared.domain.fees import rates_for
from shared.kalshi.money import parse_dollars
from shared.kalshi.signing import (
    generate_private_key_pem,
    load_private_key,
    load_public_key,
)

__all__ = ["SimState"]


class SimState:
    """The exchange, its accounts, the WebSocket hub and the fault switches."""

    def __init__(self, config: SimConfig, exchange: Exchange | None = None) -> None:
        self.config = config
        # A world loaded from the state directory continues; otherwise a new one is built.
        self.exchange = exchange if exchange is not None else Exchange(config)
        self.faults = Faults()
        self.faults.seed(config.seed)
        self.hub = Hub(config, self.faults)
        # The real-time clock stands still while paused (``POST /_sim/settings``), so a
        # test can compare figures that move with prices against the exchange at rest.
        # ``POST /_sim/tick`` still advances it.
        self.paused = False
        self._cache: dict[str, bytes] = {}
        self._cache_version = -1

    def cached_response(self, key: str) -> bytes | None:
        """A market-list body rendered since the exchange last changed, if any."""
        if self._cache_version != self.exchange.version:
            return None
        return self._cache.get(key)

    def cache_response(self, key: str, body: bytes) -> None:
        if self._cache_version != self.exchange.version:
            self._cache.clear()
            self._cache_version = self.exchange.version
        if len(self._cache) < 256:
            self._cache[key] = body

    @staticmethod
    def wall_ms() -> int:
        """Signature timestamps are checked against the real clock, like Kalshi does."""
        return int(time.time() * 1000)

    def advance(self, steps: int = 1) -> list[Happening]:
        happenings = self.exchange.tick(steps)
        self.hub.dispatch(happenings)
        return happenings

    def create_account(
        self,
        balance_dollars: Decimal | int | str,
        public_key_pem: str | None = None,
        key_id: str | None = None,
    ) -> tuple[Account, str | None]:
        """Register an account; generates a key pair when no public key is given."""
        private_pem = None
        if public_key_pem is None:
            private_pem = generate_private_key_pem()
            public_key = load_private_key(private_pem).public_key()
        else:
            public_key = load_public_key(public_key_pem)
        # parse_dollars refuses NaN/Infinity, which int() below would turn into a 500.
        micro = int(parse_dollars(balance_dollars, "balance_dollars") * 1_000_000)
        if micro < 0:
            raise ValueError("balance must not be negative")
        account = self.exchange.accounts.register(public_key, micro, self.exchange.now_us, key_id)
        return account, private_pem

    def schedule_fee_change(
        self, series_ticker: str, fee_type: str, fee_multiplier: str, scheduled_ts: object
    ) -> dict[str, Any]:
        """Add a fee change to a series; ``scheduled_ts`` (Unix s) None means now."""
        series = self.exchange.series[series_ticker]
        rates_for(fee_type, fee_multiplier)  # validates both
        if scheduled_ts is None:
            at_us = self.exchange.now_us
        elif isinstance(scheduled_ts, int) and not isinstance(scheduled_ts, bool):
            at_us = scheduled_ts * 1_000_000
        else:
            raise ValueError("scheduled_ts must be Unix seconds")
        change_id = self.exchange.clock.new_uuid()
        series.fee_changes.append((change_id, fee_type, fee_multiplier, at_us))
        series.fee_changes.sort(key=lambda c: c[3])
        series.json = None
        self.exchange.clock.version += 1
        return {"id": change_id, "series_ticker": series_ticker, "scheduled_us": at_us}

    def force_fill(self, account: Account, ticker: str | None) -> dict[str, Any] | None:
        out: list[Happening] = []
        market = self.exchange.markets.get(ticker) if ticker else None
        if ticker and market is None:
            raise KeyError(ticker)
        fill = self.exchange.account_fill(account, out, market)
        self.hub.dispatch(out)
        if fill is None:
            return None
        return {"fill_id": fill.fill_id, "ticker": fill.ticker}
