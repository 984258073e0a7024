"""The poll use case: fetch every open market from Kalshi, write it, announce it.

One poll, triggered by one ``poll-trigger`` message:

1. fetch every open market (all pages), plus the markets we were following that left the
   open list since the last poll (closed, determined, settled): that is how results and
   settlement values reach ``markets``;
2. attach event metadata (title, series, category), from ``markets`` when the event is
   known, else from Kalshi, fetched once per event per poll;
3. write everything in one transaction with the dedup row (:mod:`shared.marketdata.ingest`);
4. publish the latest prices as compact ``market-snapshots`` chunks, then mark the poll
   published. A redelivered trigger whose poll was written but not published publishes
   again from that poll's own snapshots (consumers tolerate the duplicate), so nothing is
   lost.

Failures are split for the adapter by :func:`is_transient_failure`: Kalshi 429/5xx/
transport errors and an unreachable database must raise (Pub/Sub redelivers); anything a
retry cannot fix is logged and acknowledged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy.exc
from sqlalchemy import Engine, text

from shared.kalshi import models as km
from shared.kalshi.errors import KalshiAPIError, KalshiError, NotFoundError, is_transient
from shared.marketdata.ingest import POLL_SOURCE, PollWrite, write_poll
from shared.marketdata.observation import (
    DETERMINED_STATUSES,
    FINAL_STATUS,
    MarketObservation,
    snapshot_raw,
)
from shared.marketdata.settings import MarketDataSettings
from shared.messaging.envelope import Envelope, InvalidMessage, encode
from shared.messaging.topics import MARKET_SNAPSHOTS

__all__ = [
    "CONSUMER",
    "POLL_TRIGGER_TYPE",
    "SNAPSHOT_BATCH_TYPE",
    "EventInfo",
    "MarketSource",
    "PollMarkets",
    "PollOutcome",
    "SnapshotSink",
    "is_transient_failure",
    "observation_from_market",
    "snapshot_envelopes",
]

log = logging.getLogger(__name__)

CONSUMER = "poll_markets"
POLL_TRIGGER_TYPE = "poll_markets.trigger"
SNAPSHOT_BATCH_TYPE = "market_snapshots.batch"
SNAPSHOT_BATCH_VERSION = 1
# Markets left the open list less than this long ago are still followed to settlement.
FOLLOW_WINDOW = timedelta(days=14)
TICKERS_PER_REQUEST = 100
_ONE = Decimal("1.0000")
_ZERO = Decimal("0.0000")


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
class EventInfo:
    series_ticker: str | None
    title: str | None
    category: str | None


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


def _blank(value: str | None) -> str | None:
    return value if value else None


def observation_from_market(market: km.Market, event: EventInfo | None) -> MarketObservation:
    """The row the ingest writes for one Kalshi market.

    ``result`` is None until Kalshi reports one; a binary market's settlement value, when
    Kalshi omits it, follows from the result (yes pays 1.0000, no pays 0).
    """
    result = _blank(market.result)
    settlement = market.settlement_value_dollars
    if settlement is None and result in ("yes", "no") and market.status in DETERMINED_STATUSES:
        settlement = _ONE if result == "yes" else _ZERO
    return MarketObservation(
        ticker=market.ticker,
        event_ticker=market.event_ticker,
        status=market.status,
        title=market.title,
        series_ticker=event.series_ticker if event else None,
        event_title=event.title if event else None,
        yes_sub_title=_blank(market.yes_sub_title),
        category=event.category if event else None,
        market_type=market.market_type or "binary",
        open_time=market.open_time,
        close_time=market.close_time,
        result=result,
        settlement_value_dollars=settlement,
        settlement_ts=market.settlement_ts,
        yes_bid_dollars=market.yes_bid_dollars,
        yes_ask_dollars=market.yes_ask_dollars,
        no_bid_dollars=market.no_bid_dollars,
        no_ask_dollars=market.no_ask_dollars,
        last_price_dollars=market.last_price_dollars,
        previous_price_dollars=market.previous_price_dollars,
        volume_fp=market.volume_fp,
        volume_24h_fp=market.volume_24h_fp,
        open_interest_fp=market.open_interest_fp,
        raw=snapshot_raw(market),
    )


def _compact(row: Mapping[str, Any] | MarketObservation) -> dict[str, Any]:
    get = row.get if isinstance(row, Mapping) else lambda k: getattr(row, k)
    item = {
        "ticker": get("ticker"),
        "yes_bid_dollars": get("yes_bid_dollars"),
        "yes_ask_dollars": get("yes_ask_dollars"),
        "last_price_dollars": get("last_price_dollars"),
        "volume_fp": get("volume_fp"),
        "open_interest_fp": get("open_interest_fp"),
    }
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in item.items()}


def snapshot_envelopes(
    sequence: int,
    polled_at: datetime,
    items: Sequence[Mapping[str, Any]],
    max_bytes: int,
) -> list[Envelope]:
    """The ``market-snapshots`` messages of one poll: latest prices, chunked by size.

    Payload: ``{"poll": n, "ts": ISO time, "chunk": i, "chunks": k, "markets": [{ticker,
    yes_bid_dollars, yes_ask_dollars, last_price_dollars, volume_fp, open_interest_fp}]}``,
    decimals as strings. Idempotency key ``poll-<n>-<i>``: a republished chunk dedupes.
    """
    from shared.messaging.pubsub import chunk_by_size

    def envelope(chunk: Sequence[Mapping[str, Any]], index: int, count: int) -> Envelope:
        return Envelope(
            type=SNAPSHOT_BATCH_TYPE,
            version=SNAPSHOT_BATCH_VERSION,
            idempotency_key=f"poll-{sequence}-{index}",
            emitted_at=polled_at,
            payload={
                "poll": sequence,
                "ts": polled_at.astimezone(UTC).isoformat(),
                "chunk": index,
                "chunks": count,
                "markets": list(chunk),
            },
        )

    def sized(chunk: Sequence[Mapping[str, Any]]) -> bytes:
        return encode(envelope(chunk, 99_999, 99_999))

    chunks = chunk_by_size(list(items), sized, max_bytes)
    return [envelope(chunk, i, len(chunks)) for i, chunk in enumerate(chunks)]


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
            )
        if written is None:  # a concurrent delivery of the same message won the race
            return PollOutcome("duplicate", markets=len(observations), fetch_seconds=fetch_seconds)
        skipped = set(written.skipped)
        items = [_compact(o) for o in observations if o.ticker not in skipped]
        published = self._publish(written.sequence, polled_at, items)
        return PollOutcome(
            "written",
            write=written,
            published_messages=published,
            markets=len(items),
            fetch_seconds=fetch_seconds,
        )

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
            rows = connection.execute(
                text(
                    "SELECT m.ticker FROM markets m JOIN market_latest l ON l.ticker = m.ticker "
                    "WHERE m.status <> :final AND l.ts > :since ORDER BY m.ticker"
                ),
                {"final": FINAL_STATUS, "since": datetime.now(UTC) - FOLLOW_WINDOW},
            ).all()
        return [row[0] for row in rows if row[0] not in open_tickers]

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
            rows = connection.execute(
                text(
                    "SELECT DISTINCT ON (event_ticker) event_ticker, series_ticker, event_title, "
                    "category FROM markets WHERE event_ticker = ANY(:e) "
                    "AND event_title IS NOT NULL ORDER BY event_ticker, updated_at DESC"
                ),
                {"e": sorted(event_tickers)},
            ).all()
        info = {r[0]: EventInfo(r[1], r[2], r[3]) for r in rows}
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
        category = _blank(event.category)
        if category is None and event.series_ticker:
            category = self._category_of_series(event.series_ticker, series_category)
        return EventInfo(_blank(event.series_ticker), event.title or None, category)

    def _category_of_series(self, series_ticker: str, cache: dict[str, str | None]) -> str | None:
        if series_ticker not in cache:
            try:
                cache[series_ticker] = _blank(self.source.get_series(series_ticker).category)
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
            connection.execute(
                text("UPDATE market_polls SET published_at = now() WHERE id = :id"),
                {"id": sequence},
            )
        return len(envelopes)

    def _already_processed(self, message_id: str) -> bool:
        with self.engine.connect() as connection:
            row = connection.execute(
                text("SELECT 1 FROM processed_messages WHERE consumer = :c AND message_id = :m"),
                {"c": CONSUMER, "m": message_id},
            ).first()
        return row is not None

    def _republish_if_needed(self, message_id: str) -> PollOutcome:
        """A redelivery: publish again only if the first delivery wrote but never published.

        What is announced comes from the poll's own snapshots, not from ``market_latest``:
        once a later poll has been written, the latest rows carry its sequence, and a
        redelivery that read them would find nothing and be marked published having
        announced nothing.
        """
        with self.engine.connect() as connection:
            poll = connection.execute(
                text("SELECT id, polled_at, published_at FROM market_polls WHERE message_id = :m"),
                {"m": message_id},
            ).first()
            if poll is None or poll.published_at is not None:
                return PollOutcome("duplicate")
            rows = connection.execute(
                text(_POLL_SNAPSHOTS), {"s": poll.id, "ts": poll.polled_at}
            ).mappings()
            items = [_compact(dict(row)) for row in rows]
        published = self._publish(poll.id, poll.polled_at, items)
        return PollOutcome("duplicate", published_messages=published, markets=len(items))


# One poll's snapshots, as the on-time announcement carried them. market_snapshots has
# no index on the poll number; its unique (ticker, ts, source) index answers one probe per
# ticker ever polled (every one has a market_latest row), where a filter on ``sequence``
# alone would scan the whole history.
_POLL_SNAPSHOTS = f"""
SELECT s.ticker, s.yes_bid_dollars, s.yes_ask_dollars, s.last_price_dollars, s.volume_fp,
       s.open_interest_fp
FROM market_latest l
JOIN market_snapshots s
  ON s.ticker = l.ticker AND s.ts = CAST(:ts AS timestamptz) AND s.source = '{POLL_SOURCE}'
WHERE s.sequence = :s
ORDER BY s.ticker
"""


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
