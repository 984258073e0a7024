"""The streamer: the Cloud Run service holding each signed-in account's Kalshi WebSocket and
pushing live positions, P&L, prices and backtest progress to browsers over SSE.

- :mod:`~streamer.tracker`: exact positions and P&L per account, as numbered events;
- :mod:`~streamer.fanout`: every browser's stream (resume, coalescing, filters, heartbeats);
- :mod:`~streamer.upstream`: one Kalshi socket per account, reconciliation, breaker;
- :mod:`~streamer.cache`: write-through to ``position_cache`` and restore;
- :mod:`~streamer.inputs`: ``market-snapshots``, ``backtest-events``, ``account-events``;
- :mod:`~streamer.split`: the ``position-events`` pair for split mode;
- :mod:`~streamer.app`, :mod:`~streamer.server`, :mod:`~streamer.main`: HTTP, uvicorn, wiring.
"""
