"""Settings of the market-data functions (``poll_markets``, ``markets``), from the environment.

Database and Kalshi connection settings live with their owners (:mod:`shared.config`,
:mod:`shared.kalshi.environments`); only what market data decides is here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.config import ConfigError

__all__ = ["MarketDataSettings"]


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class MarketDataSettings:
    """What the poller and the markets API need to know beyond connections.

    - ``project_id``: Pub/Sub project (``GOOGLE_CLOUD_PROJECT``, else ``PUBSUB_PROJECT_ID``).
    - ``max_event_age_seconds``: a trigger older than this is acknowledged and skipped
      (``POLL_MAX_EVENT_AGE_SECONDS``, default 300): a backlog of stale ticks must not turn
      into a burst of polls.
    - ``snapshot_chunk_bytes``: size cap of one ``market-snapshots`` message
      (``MARKET_SNAPSHOTS_CHUNK_BYTES``, default 256 KB, 1/40 of Pub/Sub's 10 MB limit).
    - ``page_limit``: markets per Kalshi page (``POLL_PAGE_LIMIT``, default and max 1000).
    - ``event_list_threshold``: above this many unknown events, one paged ``GET /events``
      walk is cheaper than one ``GET /events/{ticker}`` each (``POLL_EVENT_LIST_THRESHOLD``).
    - ``publish_snapshots``: publish ``market-snapshots`` (``POLL_PUBLISH``, default on).
    - ``orderbook_cache_seconds``: how long the API reuses a live order book (default 1.5).
    """

    project_id: str | None = None
    max_event_age_seconds: float = 300.0
    snapshot_chunk_bytes: int = 256_000
    page_limit: int = 1000
    event_list_threshold: int = 25
    publish_snapshots: bool = True
    orderbook_cache_seconds: float = 1.5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MarketDataSettings:
        env = os.environ if env is None else env
        project = (env.get("GOOGLE_CLOUD_PROJECT") or env.get("PUBSUB_PROJECT_ID") or "").strip()
        page_limit = int(_number(env, "POLL_PAGE_LIMIT", 1000, 1))
        if page_limit > 1000:
            raise ConfigError(f"POLL_PAGE_LIMIT must be at most 1000, got {page_limit}")
        publish = (env.get("POLL_PUBLISH") or "true").strip().lower()
        if publish not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ConfigError(f"POLL_PUBLISH must be true or false, got {publish!r}")
        return cls(
            project_id=project or None,
            max_event_age_seconds=_number(env, "POLL_MAX_EVENT_AGE_SECONDS", 300.0, 1),
            snapshot_chunk_bytes=int(_number(env, "MARKET_SNAPSHOTS_CHUNK_BYTES", 256_000, 1024)),
            page_limit=page_limit,
            event_list_threshold=int(_number(env, "POLL_EVENT_LIST_THRESHOLD", 25, 0)),
            publish_snapshots=publish in ("1", "true", "yes", "on"),
            orderbook_cache_seconds=_number(env, "ORDERBOOK_CACHE_SECONDS", 1.5, 0),
        )
