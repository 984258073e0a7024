"""Everything that can be tuned about a simulator run, in one place."""

from __future__ import annotations

from dataclasses import dataclass

# The simulator serves the paths the client signs: one definition of each, in shared.
from shared.kalshi.environments import REST_PREFIX, WS_PATH

__all__ = ["ADMIN_PREFIX", "MAX_MARKETS", "REST_PREFIX", "WS_PATH", "SimConfig"]

ADMIN_PREFIX = "/_sim"
MAX_MARKETS = 20_000


@dataclass
class SimConfig:
    """Simulator settings.

    ``tick_interval_s=None`` means a manual clock: the exchange only moves when someone
    calls ``POST /_sim/tick`` (tests). Otherwise a background task ticks it that often.
    Each tick advances the exchange clock by ``tick_seconds`` whatever the wall clock does,
    so the same seed and the same number of ticks always give the same exchange.
    """

    seed: int = 1
    n_markets: int = 300
    tick_interval_s: float | None = 0.5
    tick_seconds: float = 0.5
    # Exchange clock at tick 0 (Unix seconds). None: the wall clock when the app is built.
    start_time_s: float | None = None
    # Share of active markets whose book moves on one tick.
    market_activity: float = 0.05
    # Chance per tick that a trade prints in a market whose book moved.
    trade_probability: float = 0.3
    # Chance per tick that the simulator trades on each account's behalf.
    account_fill_rate: float = 0.05
    # Signature timestamp window, measured on demo: -5 s passed, -30 s failed; +5 s passed.
    skew_past_ms: int = 10_000
    skew_future_ms: int = 60_000
    ws_ping_interval_s: float = 10.0
    # Kalshi requires a signed handshake since 2026-03; set False to allow anonymous
    # connections to public channels (private channels then answer error 9).
    ws_require_auth: bool = True
    # Per-connection outbound queue; overflowing it kills the subscription (error 25).
    ws_queue_limit: int = 50_000

    def __post_init__(self) -> None:
        if not 1 <= self.n_markets <= MAX_MARKETS:
            raise ValueError(f"n_markets must be between 1 and {MAX_MARKETS}")
        if self.tick_interval_s is not None and self.tick_interval_s <= 0:
            raise ValueError("tick_interval_s must be positive (or None for a manual clock)")
        if self.tick_seconds <= 0:
            raise ValueError("tick_seconds must be positive")
