"""Backtests: replay stored market snapshots through a strategy, with Kalshi's fees.

Pure computation lives in :mod:`.data`, :mod:`.engine`, :mod:`.metrics`, :mod:`.sweep` and
:mod:`.strategies`; :mod:`.loader` streams snapshots out of Postgres; :mod:`.runs` owns
every statement about a run (its lifecycle, its results, the reads the API serves); and
:mod:`.service` holds the use cases the HTTP functions and the CLI call; :mod:`.http_api`
(the ``/api/v1/backtests`` routes) and :mod:`.worker_api` (the worker's task requests)
adapt HTTP requests to them, and :mod:`.settings` reads their environment.
"""
