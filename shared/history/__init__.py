"""History storage: where snapshots and rollups live as they age (ADR 0170-0176).

- :mod:`shared.history.sources`: the sources a stored row can come from and which wins;
- :mod:`shared.history.partitions`: the daily partitions of ``market_snapshots``;
- :mod:`shared.history.rollups`: candles at 1 min, 5 min, 1 h and 1 day, and the entry
  point other writers (the backfill) use to store candles;
- :mod:`shared.history.archive`: old partitions as Parquet, verified before they drop;
- :mod:`shared.history.maintenance`: the daily round (partitions ahead, archive, retention).
"""
