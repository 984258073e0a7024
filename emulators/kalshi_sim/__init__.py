"""A Kalshi exchange simulator that is faithful on the wire.

It serves ``/trade-api/v2`` (REST) and ``/trade-api/ws/v2`` (WebSocket) with Kalshi's paths,
field names, fixed-point units, status vocabularies, pagination, error bodies and RSA-PSS
signature checks, over a living, seeded exchange. Start it with ``kalshi-insights sim`` or,
in tests, with :class:`emulators.kalshi_sim.runner.SimulatorServer`.
"""

from emulators.kalshi_sim.config import SimConfig

__all__ = ["SimConfig"]
