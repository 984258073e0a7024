"""Live order books for the market pages the browsers opened (``?markets=``): ``orderbook``.

The books are the fan-out's business, not the tracker's: only the fan-out knows which
markets its clients asked for, and in split mode each fan-out instance has its own clients.
So each fan-out keeps, per user with at least one stream asking for markets, one Kalshi
WebSocket signed with that user's own key (the streamer has no key of its own), subscribed
to ``orderbook_delta`` for the union of the markets that user's streams asked for, kept
current with ``update_subscription`` as streams come and go, and closed when none is left.

Order-book channels carry ``seq``: the WebSocket client (:mod:`shared.kalshi.ws`) keeps the
books and reports a gap (or an unreadable frame) as a :class:`SequenceGap` /
:class:`BookInvalidated`; the feed then asks for fresh snapshots with ``get_snapshot``
(:meth:`KalshiWebSocket.resync`) and sends nothing for that market until the book is valid
again. If the resync itself fails the socket is dropped and the next connection
resubscribes (a fresh snapshot per market). Every valid book change becomes one
``orderbook`` event in the REST ``GET /markets/{ticker}/orderbook`` shape, sent only to the
user's streams that asked for that market (:meth:`FanOut.relay_book`); like
``market_update`` it is relayed, not part of the user's sequence, and never replayed. Every
``refresh_s`` (30 s) the feed asks for fresh snapshots anyway: a gap shows only when the
next delta arrives, so a lost last change would stay unseen, and the snapshots bring a
resumed stream, or one coalesced to a snapshot, up to date.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shared.kalshi.money import format_dollars
from shared.kalshi.ws import KalshiWebSocket, backoff_delays
from shared.kalshi.ws.book import OrderBook
from shared.kalshi.ws.errors import KalshiWSError
from shared.kalshi.ws.messages import (
    BookInvalidated,
    OrderbookDelta,
    OrderbookSnapshot,
    SequenceGap,
    SubscriptionTerminated,
)
from streamer.upstream import SignerSource

__all__ = ["BookFeedSettings", "BookFeeds", "book_json"]

log = logging.getLogger(__name__)

BookPublisher = Callable[[uuid.UUID, str, Mapping[str, Any]], int]


@dataclass(frozen=True)
class BookFeedSettings:
    ws_url: str
    backoff_initial_s: float = 2.0
    backoff_max_s: float = 32.0
    read_timeout_s: float = 0.5
    refresh_s: float = 30.0
    """Every this often the feed asks Kalshi for fresh snapshots of its books: a ``seq`` gap
    shows only when the next delta arrives, so a lost *last* change would otherwise stay
    unseen; the snapshots also re-send every book, so a stream that was coalesced to a
    snapshot (which carries no books) or resumed is current again."""


def book_json(ticker: str, book: OrderBook) -> dict[str, Any]:
    """A book as the markets API answers ``/markets/{ticker}/orderbook`` (NO-leg prices)."""
    bid, ask = book.best_yes_bid(), book.best_yes_ask()
    return {
        "ticker": ticker,
        "orderbook_fp": book.to_rest_orderbook(),
        "best_yes_bid_dollars": format_dollars(bid[0]) if bid else None,
        "best_yes_ask_dollars": format_dollars(ask[0]) if ask else None,
    }


class BookFeeds:
    """One ``orderbook_delta`` socket per user whose streams asked for markets."""

    def __init__(
        self,
        signers: SignerSource,
        settings: BookFeedSettings,
        publish: BookPublisher,
        *,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._signers = signers
        self.settings = settings
        self._publish = publish
        self._rng = rng
        self._wanted: dict[uuid.UUID, frozenset[str]] = {}
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self.gaps = 0
        self.resyncs = 0
        self.refreshes = 0
        self.published = 0

    def want(self, user_id: uuid.UUID, markets: frozenset[str]) -> None:
        """The markets ``user_id``'s open streams ask for now (empty: close the feed)."""
        if markets == self._wanted.get(user_id, frozenset()):
            return
        if markets:
            self._wanted[user_id] = markets
        else:
            self._wanted.pop(user_id, None)
        task = self._tasks.get(user_id)
        if markets and (task is None or task.done()):
            self._tasks[user_id] = asyncio.get_running_loop().create_task(
                self._run(user_id), name=f"books-{user_id}"
            )

    def wanted(self, user_id: uuid.UUID) -> frozenset[str]:
        return self._wanted.get(user_id, frozenset())

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._wanted.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ---- one user's socket ---------------------------------------------------------------

    def _reconnect_delays(self) -> Iterator[float]:
        """A fresh backoff: at the start and again after every successful connect."""
        return backoff_delays(
            initial=self.settings.backoff_initial_s,
            maximum=self.settings.backoff_max_s,
            factor=2.0,
            jitter=0.25,
            rng=self._rng,
        )

    async def _run(self, user_id: uuid.UUID) -> None:
        delays = self._reconnect_delays()
        while self._wanted.get(user_id):
            try:
                signer = await self._signers.signer(user_id)
                async with KalshiWebSocket.connect(
                    self.settings.ws_url, signer, track_books=True
                ) as ws:
                    delays = self._reconnect_delays()
                    await self._follow(user_id, ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped socket, a refused key: retry while wanted
                log.warning("books for %s: socket ended: %s", user_id, exc)
            if self._wanted.get(user_id):
                await asyncio.sleep(next(delays))

    async def _follow(self, user_id: uuid.UUID, ws: KalshiWebSocket) -> None:
        sid: int | None = None
        subscribed: frozenset[str] = frozenset()
        loop = asyncio.get_running_loop()
        refresh_at = loop.time() + self.settings.refresh_s
        while True:
            wanted = self._wanted.get(user_id, frozenset())
            if not wanted:
                return
            if sid is not None and subscribed and loop.time() >= refresh_at:
                refresh_at = loop.time() + self.settings.refresh_s
                await ws.get_snapshot(sid, sorted(subscribed))  # published as they arrive
                self.refreshes += 1
            if wanted != subscribed:
                if sid is None:
                    subs = await ws.subscribe(["orderbook_delta"], sorted(wanted))
                    sid = subs[0].sid if subs else None
                else:
                    added, removed = wanted - subscribed, subscribed - wanted
                    if added:
                        await ws.update_subscription(sid, "add_markets", sorted(added))
                    if removed:
                        await ws.update_subscription(sid, "delete_markets", sorted(removed))
                subscribed = wanted
            try:
                message = await ws.next_message(self.settings.read_timeout_s)
            except TimeoutError:
                continue
            if isinstance(message, SequenceGap | BookInvalidated):
                self.gaps += 1
                log.warning("books for %s: %s; asking for a fresh snapshot", user_id, message)
                if sid is not None:
                    await ws.resync(sid)  # a failure drops the socket: resubscribed after
                    self.resyncs += 1
            elif isinstance(message, OrderbookSnapshot | OrderbookDelta):
                ticker = message.msg.market_ticker
                if ticker not in wanted:
                    continue
                book = ws.order_book(ticker, message.sid)
                if book is not None and book.valid:
                    self.published += self._publish(user_id, ticker, book_json(ticker, book))
            elif isinstance(message, SubscriptionTerminated):
                raise KalshiWSError(f"order-book subscription ended: {message.code}")
