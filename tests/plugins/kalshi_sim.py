"""Fixtures that run the Kalshi exchange simulator over loopback.

``simulator`` is one session-wide server on a free port with a fixed seed and a manual
clock (nothing moves until a test calls ``simulator.advance(n)``), so tests are
deterministic. Tests that need the exchange ticking on its own, faults, or a different
size start their own :class:`~emulators.kalshi_sim.runner.SimulatorServer`.

``sim_account`` is a fresh funded account per test (its own RSA key), so fills and
positions never leak between tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from emulators.kalshi_sim.runner import SimulatorServer
    from shared.kalshi.signing import KalshiSigner

SIM_TEST_SEED = 20260611
SIM_TEST_MARKETS = 300


@dataclass(frozen=True)
class SimAccount:
    """A funded simulator account: what a test needs to sign REST calls and WS handshakes."""

    key_id: str
    private_key_pem: str
    signer: KalshiSigner

    def __repr__(self) -> str:  # never print key material
        return f"SimAccount(key_id={self.key_id!r})"


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorServer]:
    """A running simulator (seed fixed, ~300 markets, manual clock) for the whole session.

    Tests must reset any fault they switch on (``simulator.set_faults()`` with no
    arguments clears them all).
    """
    from emulators.kalshi_sim.config import SimConfig
    from emulators.kalshi_sim.runner import SimulatorServer

    config = SimConfig(seed=SIM_TEST_SEED, n_markets=SIM_TEST_MARKETS, tick_interval_s=None)
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def sim_account(simulator: SimulatorServer) -> SimAccount:
    """A new account with $1,000 on the session simulator."""
    from shared.kalshi.signing import KalshiSigner

    key_id, pem = simulator.create_account(balance_dollars=1000)
    return SimAccount(key_id=key_id, private_key_pem=pem, signer=KalshiSigner.from_pem(key_id, pem))
