"""Settings of the market-data functions (``poll_markets``, ``markets``), from the environment.

Database and Kalshi connection settings live with their owners (:mod:`shared.config`); only
what market data decides is here, parsed by :mod:`shared.config`'s parsers so every
variable follows the same rules.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from shared import config

__all__ = ["DEFAULT_POLL_INTERVAL_SECONDS", "MarketDataSettings"]

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_SECONDS = 60.0


def _poll_interval(env: Mapping[str, str] | None) -> float:
    """``POLL_INTERVAL_SECONDS``; an unusable value falls back to the default (with a
    warning) rather than stopping the markets API: it only judges ``/health`` staleness."""
    try:
        return config.seconds("POLL_INTERVAL_SECONDS", DEFAULT_POLL_INTERVAL_SECONDS, env)
    except config.ConfigError as exc:
        log.warning("%s; using %g", exc, DEFAULT_POLL_INTERVAL_SECONDS)
        return DEFAULT_POLL_INTERVAL_SECONDS


@dataclass(frozen=True)
class MarketDataSettings:
    """What the poller and the markets API need to know beyond connections.

    - ``project_id``: Pub/Sub project (:func:`shared.config.project_id`).
    - ``max_event_age_seconds``: a trigger older than this is acknowledged and skipped
      (``POLL_MAX_EVENT_AGE_SECONDS``, default 300): a backlog of stale ticks must not turn
      into a burst of polls.
    - ``snapshot_chunk_bytes``: size cap of one ``market-snapshots`` message
      (``MARKET_SNAPSHOTS_CHUNK_BYTES``, default 256 KB, 1/40 of Pub/Sub's 10 MB limit).
    - ``page_limit``: markets per Kalshi page (``POLL_PAGE_LIMIT``, default and max 1000).
    - ``event_list_threshold``: above this many unknown events, one paged ``GET /events``
      walk is cheaper than one ``GET /events/{ticker}`` each (``POLL_EVENT_LIST_THRESHOLD``).
    - ``publish_snapshots``: publish ``market-snapshots`` (``POLL_PUBLISH``, a flag, default
      on; unset or blank is the default, like every flag).
    - ``orderbook_cache_seconds``: how long the API reuses a live order book
      (``ORDERBOOK_CACHE_SECONDS``, default 1.5).
    - ``list_revalidate_seconds``: the market list's rendered pages are kept per poll; how
      often an instance asks which poll is current (``MARKETS_LIST_REVALIDATE_SECONDS``,
      default 1; 0 turns the cache off, every request queries). ADR 0215.
    - ``poll_interval_seconds``: how often the scheduler polls (Cloud Scheduler's cron, or
      the local launcher's ``--poll-every``), which ``/health`` judges staleness by
      (``POLL_INTERVAL_SECONDS``, default 60; an unusable value falls back to it).
    - ``snapshot_heartbeat_seconds``: change-only snapshots (ADR 0170): an unchanged
      market's snapshot is stored again after this long, so a gap means "no data"
      (``SNAPSHOT_HEARTBEAT_SECONDS``, default 3600; 0 stores every snapshot).
    - ``snapshot_retention_days``: raw snapshots kept in Postgres; older daily partitions
      are archived to Parquet and dropped (``SNAPSHOT_RETENTION_DAYS``, default 90).
    - ``minute_candle_retention_days``: 1-minute candles kept (``MINUTE_CANDLE_RETENTION_DAYS``,
      default 365); coarser candles are kept forever.
    - ``partitions_ahead_days``: daily partitions created ahead of time
      (``SNAPSHOT_PARTITIONS_AHEAD_DAYS``, default 7).
    - ``settled_market_retention_days``: a market settled (or closed and no longer
      followed) that no poll saw for this long leaves ``market_latest``, the list's read
      model (``SETTLED_MARKET_RETENTION_DAYS``, default 7; 0 keeps every market). ADR 0226.
    - ``archive_url``: where archived partitions go: ``gs://bucket/prefix`` or a local
      directory (``HISTORY_ARCHIVE_URL``; unset: no archiving, nothing is dropped).
    """

    project_id: str | None = None
    max_event_age_seconds: float = 300.0
    snapshot_chunk_bytes: int = 256_000
    page_limit: int = 1000
    event_list_threshold: int = 25
    publish_snapshots: bool = True
    orderbook_cache_seconds: float = 1.5
    list_revalidate_seconds: float = 1.0
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    snapshot_heartbeat_seconds: float = 3_600.0
    snapshot_retention_days: int = 90
    minute_candle_retention_days: int = 365
    partitions_ahead_days: int = 7
    settled_market_retention_days: int = 7
    archive_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MarketDataSettings:
        page_limit = int(config.number("POLL_PAGE_LIMIT", 1000, env, minimum=1))
        if page_limit > 1000:
            raise config.ConfigError(f"POLL_PAGE_LIMIT must be at most 1000, got {page_limit}")
        return cls(
            project_id=config.project_id(env),
            max_event_age_seconds=config.number(
                "POLL_MAX_EVENT_AGE_SECONDS", 300.0, env, minimum=1
            ),
            snapshot_chunk_bytes=int(
                config.number("MARKET_SNAPSHOTS_CHUNK_BYTES", 256_000, env, minimum=1024)
            ),
            page_limit=page_limit,
            event_list_threshold=int(
                config.number("POLL_EVENT_LIST_THRESHOLD", 25, env, minimum=0)
            ),
            publish_snapshots=config.flag("POLL_PUBLISH", True, env),
            orderbook_cache_seconds=config.number("ORDERBOOK_CACHE_SECONDS", 1.5, env, minimum=0),
            list_revalidate_seconds=config.number(
                "MARKETS_LIST_REVALIDATE_SECONDS", 1.0, env, minimum=0
            ),
            poll_interval_seconds=_poll_interval(env),
            snapshot_heartbeat_seconds=config.number(
                "SNAPSHOT_HEARTBEAT_SECONDS", 3_600.0, env, minimum=0
            ),
            snapshot_retention_days=int(
                config.number("SNAPSHOT_RETENTION_DAYS", 90, env, minimum=1)
            ),
            minute_candle_retention_days=int(
                config.number("MINUTE_CANDLE_RETENTION_DAYS", 365, env, minimum=1)
            ),
            partitions_ahead_days=int(
                config.number("SNAPSHOT_PARTITIONS_AHEAD_DAYS", 7, env, minimum=1)
            ),
            settled_market_retention_days=config.integer(
                "SETTLED_MARKET_RETENTION_DAYS", 7, env, minimum=0
            ),
            archive_url=config.text("HISTORY_ARCHIVE_URL", env),
        )
