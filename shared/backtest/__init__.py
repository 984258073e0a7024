"""Backtests: replay stored market snapshots through a strategy, with Kalshi's fees.

Pure computation lives in :mod:`.data`, :mod:`.engine`, :mod:`.metrics`, :mod:`.sweep` and
:mod:`.strategies`; :mod:`.loader` and :mod:`.store` move data in and out of Postgres; and
:mod:`.service` holds the use cases the HTTP functions and the CLI call.
"""
