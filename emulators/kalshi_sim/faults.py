"""Fault injection, switchable while the simulator runs (``POST /_sim/faults``).

REST faults answer a fraction of ``/trade-api/v2`` calls with Kalshi's 429 body or a 503.
WebSocket faults: ``ws_drop`` cuts every open connection once (no closing handshake, as
Kalshi's outages do), ``ws_skip_seq`` swallows the next N orderbook frames while still
consuming their ``seq`` (a gap the client must detect), ``ws_drop_fill`` and
``ws_drop_position`` swallow the next N ``fill`` / ``market_position`` messages (Kalshi's
private channels carry no ``seq``, so nothing on the wire shows the loss: only a client that
reconciles with REST finds it), ``ws_delay_ms`` holds every outbound frame batch back. The
fault RNG is separate from the exchange's, so switching faults on never changes the
exchange itself. ``order_drop_after_accept`` cuts the connection of the next N order
creates after the order is placed (the response is lost, the order stands), so a client's
retry of a create can be tested.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any


class FaultError(ValueError):
    """A fault setting that is unknown or out of range."""


@dataclass
class Faults:
    rest_429_rate: float = 0.0
    rest_503_rate: float = 0.0
    ws_drop: bool = False
    ws_skip_seq: int = 0
    ws_drop_fill: int = 0
    ws_drop_position: int = 0
    ws_delay_ms: int = 0
    order_drop_after_accept: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(0)

    def seed(self, seed: int) -> None:
        self._rng = random.Random(f"{seed}:faults")

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; validates everything before changing anything."""
        known = {f.name: f.type for f in fields(self)}
        staged: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise FaultError(f"unknown fault {name!r}")
            if name in ("rest_429_rate", "rest_503_rate"):
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not 0 <= value <= 1
                ):
                    raise FaultError(f"{name} must be a number between 0 and 1")
                staged[name] = float(value)
            elif name == "ws_drop":
                if not isinstance(value, bool):
                    raise FaultError("ws_drop must be true or false")
                staged[name] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise FaultError(f"{name} must be a non-negative integer")
                staged[name] = value
        for name, value in staged.items():
            setattr(self, name, value)

    def reset(self) -> None:
        self.update(asdict(Faults()))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rest_fault(self) -> int | None:
        """429 or 503 when this call should fail, else None."""
        if self.rest_429_rate and self._rng.random() < self.rest_429_rate:
            return 429
        if self.rest_503_rate and self._rng.random() < self.rest_503_rate:
            return 503
        return None

    def take_order_drop(self) -> bool:
        """True when this accepted order's response must be lost (its connection cut)."""
        if self.order_drop_after_accept > 0:
            self.order_drop_after_accept -= 1
            return True
        return False

    def take_private_drop(self, channel: str) -> bool:
        """True when this ``fill`` / ``market_positions`` message must be swallowed."""
        name = "ws_drop_fill" if channel == "fill" else "ws_drop_position"
        left: int = getattr(self, name)
        if left > 0:
            setattr(self, name, left - 1)
            return True
        return False

    def take_skip(self) -> bool:
        """True when the next orderbook frame must be swallowed (its seq still counts)."""
        if self.ws_skip_seq > 0:
            self.ws_skip_seq -= 1
            return True
        return False
