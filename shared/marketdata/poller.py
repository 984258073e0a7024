"""The poll use case: fetch every open market from Kalshi, write it, announce it.

One poll, triggered by one ``poll-trigger`` message:

1. fetch every open market (all pages), plus the markets we were following that left the
   open list since the last poll (closed, determined, settled): that is how results and
   settlement values reach ``markets``;
2. attach event metadata (title, series, category), from ``markets`` when the event is
   known, else from Kalshi, fetched once per event per poll;
3. write everything in one transaction with the dedup row (:mod:`shared.marketdata.ingest`);
4. publish the latest prices as compact ``market-snapshots`` chunks
   (:mod:`shared.marketdata.snapshot_messages`), then mark the poll published. A
   redelivered trigger whose poll was written but not published publishes again from
   that poll's own snapshots (consumers tolerate the duplicate), so nothing is lost.

The poll's bookkeeping SQL (dedup, followed markets, known events, publish state) is in
:mod:`shared.marketdata.poll_state`.

Failures are split for the adapter by :func:`is_transient_failure`: Kalshi 429/5xx/
transport errors and an unreachable database must raise (Pub/Sub redelivers); anything a
retry cannot fix is logged and acknowledged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import sqlalchemy.exc
from sqlalchemy import Engine

from shared.kalshi import models as km
from shared.kalshi.errors import KalshiAPIError, KalshiError, NotFoundError, is_transient
from shared.marketdata import poll_state
from shared.marketdata.ingest import PollWrite, write_poll
from shared.marketdata.observation import (
    EventInfo,
    MarketObservation,
    blank_to_none,
    observation_from_market,
)
from shared.marketdata.poll_state import FOLLOW_WINDOW
from shared.marketdata.settings import MarketDataSettings
from shared.marketdata.snapshot_messages import snapshot_envelopes, snapshot_item
from shared.messaging.envelope import Envelope, InvalidMessage
from shared.messaging.topics import MARKET_SNAPSHOTS

__all__ = [
    "CONSUMER",
    "POLL_TRIGGER_TYPE",
    "MarketSource",
    "PollMarkets",
    "PollOutcome",
    "SnapshotSink",
    "is_transient_failure",
]

log = logging.getLogger(__name__)

MAINTENANCE_MAX_DAYS = 3
"""Partitions one maintenance round archives at most (each its own transaction)."""

CONSUMER = "poll_markets"
POLL_TRIGGER_TYPE = "poll_markets.trigger"
TICKERS_PER_REQUEST = 100


class MarketSource(Protocol):
    """What the poller needs from :class:`shared.kalshi.client.KalshiClient`."""

    def iter_markets(self, *, limit: int | None = None, **filters: Any) -> Iterator[km.Market]: ...

    def iter_events(
        self, *, limit: int | None = None, with_nested_markets: bool | None = None, **filters: Any
    ) -> Iterator[km.Event]: ...

    def get_event(
        self, event_ticker: str, *, with_nested_markets: bool | None = None
    ) -> km.GetEventResponse: ...

    def get_series(self, series_ticker: str) -> km.Series: ...


class SnapshotSink(Protocol):
    """Where compact snapshot batches go (``shared.messaging.pubsub.Publisher``)."""

    def publish_many(self, topic: str, envelopes: Iterable[Envelope]) -> list[str]: ...


@dataclass(frozen=True)
class PollOutcome:
    """What a trigger led to; ``status`` is one of written, duplicate, stale."""

    status: str
    write: PollWrite | None = None
    published_messages: int = 0
    markets: int = 0
    fetch_seconds: float = 0.0

    def log_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "outcome": self.status,
            "markets": self.markets,
            "published_messages": self.published_messages,
            "fetch_seconds": round(self.fetch_seconds, 3),
        }
        if self.write is not None:
            fields.update(
                sequence=self.write.sequence,
                snapshots=self.write.snapshots,
                markets_changed=self.write.markets_changed,
                newly_determined=self.write.newly_determined,
                write_seconds=round(self.write.seconds, 3),
                markets_cleaned=len(self.write.cleaned),
                markets_skipped=len(self.write.skipped),
                database_seconds=round(self.write.timings.database_seconds, 3),
            )
        return fields


# Connection exceptions, transaction rollbacks (serialization, deadlock), insufficient
# resources, operator intervention (shutdown, crash recovery), system errors.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})


def _sqlstate(orig: BaseException | None) -> str | None:
    """The SQLSTATE of a pg8000 error (its first argument is the server's error fields)."""
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], dict):
        code = args[0].get("C")
        return code if isinstance(code, str) else None
    return None


def is_transient_failure(exc: BaseException) -> bool:
    """True when redelivery may succeed: Kalshi 429/5xx/transport, database unreachable.

    Everything that is certainly permanent (a malformed trigger, Kalshi refusing the request
    with a 4xx, a body we cannot parse, data the schema rejects) is False. Anything else is
    treated as transient: the subscription's dead-letter policy bounds the retries.
    """
    if isinstance(exc, InvalidMessage):
        return False
    if isinstance(exc, KalshiError):
        return is_transient(exc)
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sqlalchemy.exc.InterfaceError):
            return True
        state = _sqlstate(exc.orig)
        if state is not None:
            return state[:2] in _TRANSIENT_SQLSTATE_CLASSES
        return isinstance(exc, sqlalchemy.exc.OperationalError)
    if isinstance(exc, sqlalchemy.exc.TimeoutError | ConnectionError | TimeoutError):
        return True
    return not isinstance(exc, ValueError | TypeError)


class PollMarkets:
    """One poll per trigger; construct once per process and reuse (lazy globals)."""

    def __init__(
        self,
        engine: Engine,
        source: MarketSource,
        sink: SnapshotSink | None,
        settings: MarketDataSettings | None = None,
    ) -> None:
        self.engine = engine
        self.source = source
        self.sink = sink
        self.settings = settings or MarketDataSettings()
        self._maintained_on: date | None = None

    # ---- the trigger

    def is_stale(self, published_at: datetime | None, now: datetime | None = None) -> bool:
        if published_at is None:
            return False
        now = now or datetime.now(UTC)
        return (now - published_at).total_seconds() > self.settings.max_event_age_seconds

    def run(self, message_id: str, *, published_at: datetime | None = None) -> PollOutcome:
        """Poll once for the trigger ``message_id`` (the dedup key).

        A redelivery of a poll that was written but not yet announced is republished even
        when it has grown stale: its snapshots exist, and dropping the announcement would
        lose them for every subscriber. Only new work is refused for age.
        """
        if self._already_processed(message_id):
            return self._republish_if_needed(message_id)
        if self.is_stale(published_at):
            return PollOutcome("stale")

        started = time.perf_counter()
        polled_at = datetime.now(UTC)
        markets = self._fetch_markets()
        observations = self._observations(markets)
        fetch_seconds = time.perf_counter() - started

        with self.engine.begin() as connection:
            written = write_poll(
                connection,
                message_id=message_id,
                polled_at=polled_at,
                observations=observations,
                consumer=CONSUMER,
                fetch_seconds=fetch_seconds,
                heartbeat_seconds=self.settings.snapshot_heartbeat_seconds,
            )
        if written is None:  # a concurrent delivery of the same message won the race
            return PollOutcome("duplicate", markets=len(observations), fetch_seconds=fetch_seconds)
        skipped = set(written.skipped)
        items = [snapshot_item(o) for o in observations if o.ticker not in skipped]
        published = self._publish(written.sequence, polled_at, items)
        self._maintain(polled_at)
        return PollOutcome(
            "written",
            write=written,
            published_messages=published,
            markets=len(items),
            fetch_seconds=fetch_seconds,
        )

    # ---- history maintenance

    def _maintain(self, now: datetime) -> None:
        """The history's daily round (ADR 0175), after the poll is stored and announced,
        once per UTC day per process; a failure is logged and retried on the next poll,
        never failing the poll that ran it."""
        today = now.astimezone(UTC).date()
        if self._maintained_on == today:
            return
        from shared.history.maintenance import run_maintenance
        from shared.history.stores import open_archive

        settings = self.settings
        try:
            report = run_maintenance(
                self.engine,
                now=now,
                retention_days=settings.snapshot_retention_days,
                ahead_days=settings.partitions_ahead_days,
                minute_retention_days=settings.minute_candle_retention_days,
                store=open_archive(settings.archive_url),
                max_days=MAINTENANCE_MAX_DAYS,
                settled_market_retention_days=settings.settled_market_retention_days,
                follow_window=FOLLOW_WINDOW,
            )
        except Exception:
            log.exception("history maintenance failed; the next poll retries it")
            return
        # Done for the day unless days are still due (a backlog is worked off poll by poll).
        if report.ran and not report.failed and len(report.archived) < MAINTENANCE_MAX_DAYS:
            self._maintained_on = today

    # ---- fetching

    def _fetch_markets(self) -> list[km.Market]:
        by_ticker: dict[str, km.Market] = {}
        for market in self.source.iter_markets(status="open", limit=self.settings.page_limit):
            by_ticker[market.ticker] = market
        for ticker_batch in _batches(self._followed_tickers(set(by_ticker)), TICKERS_PER_REQUEST):
            for market in self.source.iter_markets(
                tickers=ticker_batch, limit=self.settings.page_limit
            ):
                by_ticker.setdefault(market.ticker, market)
        return list(by_ticker.values())

    def _followed_tickers(self, open_tickers: set[str]) -> list[str]:
        """Markets we saw recently that left the open list and are not settled yet."""
        with self.engine.connect() as connection:
            followed = poll_state.followed_tickers(connection, datetime.now(UTC) - FOLLOW_WINDOW)
        return [ticker for ticker in followed if ticker not in open_tickers]

    def _observations(self, markets: Sequence[km.Market]) -> list[MarketObservation]:
        # Per poll, and local so concurrent polls on one instance never share it: a series
        # asked about once is not asked again in the same poll.
        series_category: dict[str, str | None] = {}
        events = self._event_info({m.event_ticker for m in markets}, series_category)
        return [observation_from_market(m, events.get(m.event_ticker)) for m in markets]

    def _event_info(
        self, event_tickers: set[str], series_category: dict[str, str | None]
    ) -> dict[str, EventInfo]:
        """Event metadata for every ticker: known ones from ``markets``, others from Kalshi.

        Known events are read back rather than refetched so the values (and with them each
        market's metadata fingerprint) stay put from poll to poll.
        """
        if not event_tickers:
            return {}
        with self.engine.connect() as connection:
            info = poll_state.known_events(connection, event_tickers)
        missing = event_tickers - set(info)
        if len(missing) > self.settings.event_list_threshold:
            for event in self.source.iter_events(status="open", limit=200):
                if event.event_ticker in missing:
                    info[event.event_ticker] = self._from_event(event, series_category)
            missing -= set(info)
        for event_ticker in sorted(missing):
            try:
                event = self.source.get_event(event_ticker).event
            except NotFoundError:
                log.warning("event %s not found on Kalshi; stored without it", event_ticker)
                continue
            info[event_ticker] = self._from_event(event, series_category)
        return info

    def _from_event(self, event: km.Event, series_category: dict[str, str | None]) -> EventInfo:
        category = blank_to_none(event.category)
        if category is None and event.series_ticker:
            category = self._category_of_series(event.series_ticker, series_category)
        return EventInfo(blank_to_none(event.series_ticker), event.title or None, category)

    def _category_of_series(self, series_ticker: str, cache: dict[str, str | None]) -> str | None:
        if series_ticker not in cache:
            try:
                cache[series_ticker] = blank_to_none(self.source.get_series(series_ticker).category)
            except KalshiAPIError as exc:
                if exc.status >= 500 or exc.status == 429:
                    raise
                cache[series_ticker] = None
        value: str | None = cache[series_ticker]
        return value

    # ---- publishing

    def _publish(self, sequence: int, polled_at: datetime, items: list[dict[str, Any]]) -> int:
        if self.sink is None or not self.settings.publish_snapshots:
            return 0
        envelopes = snapshot_envelopes(
            sequence, polled_at, items, self.settings.snapshot_chunk_bytes
        )
        if envelopes:
            self.sink.publish_many(MARKET_SNAPSHOTS, envelopes)
        with self.engine.begin() as connection:
            poll_state.mark_published(connection, sequence)
        return len(envelopes)

    def _already_processed(self, message_id: str) -> bool:
        with self.engine.connect() as connection:
            return poll_state.already_processed(connection, CONSUMER, message_id)

    def _republish_if_needed(self, message_id: str) -> PollOutcome:
        """A redelivery: publish again only if the first delivery wrote but never published.

        What is announced comes from the poll's own snapshots, not from ``market_latest``:
        once a later poll has been written, the latest rows carry its sequence, and a
        redelivery that read them would find nothing and be marked published having
        announced nothing.
        """
        with self.engine.connect() as connection:
            poll = poll_state.poll_by_message(connection, message_id)
            if poll is None or poll.published_at is not None:
                return PollOutcome("duplicate")
            rows = poll_state.poll_snapshot_rows(
                connection, poll.id, poll.polled_at, self.settings.snapshot_heartbeat_seconds
            )
            items = [snapshot_item(row) for row in rows]
        published = self._publish(poll.id, poll.polled_at, items)
        return PollOutcome("duplicate", published_messages=published, markets=len(items))


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
