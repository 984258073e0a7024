"""The ``/api/v1/markets`` HTTP API: routes, validation, caching headers.

:func:`build_router` wires handlers to their dependencies; ``functions/markets/main.py``
only builds them lazily and calls :func:`shared.api.routing.handle`. The OpenAPI document
(``openapi/markets.json``) describes exactly these routes; a test holds them together.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy.exc
from sqlalchemy import Engine, text

from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import ApiError, bad_request, invalid_cursor, not_found
from shared.api.http import NO_STORE, JsonResponse, json_response, public_cache
from shared.api.http import _matches as etag_matches
from shared.api.openapi import OPENAPI_DIR, load_document
from shared.api.routing import HttpRequest, Router
from shared.api.validation import QueryParams, validate_path_value
from shared.kalshi import models as km
from shared.kalshi.errors import KalshiError, NotFoundError, is_transient
from shared.kalshi.ratelimit import RateLimitWaitExceeded
from shared.marketdata import queries
from shared.marketdata.queries import HISTORY_INTERVALS, SORTS, STATUS_ALIASES, MarketFilter
from shared.marketdata.settings import DEFAULT_POLL_INTERVAL_SECONDS, MarketDataSettings

__all__ = [
    "API_PREFIX",
    "DEFAULT_POLL_INTERVAL_SECONDS",
    "OPENAPI_PATH",
    "TICKER_PATTERN",
    "MarketsApi",
    "OrderbookSource",
    "api_from_settings",
    "build_router",
    "load_openapi",
    "unexpected_error",
]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
OPENAPI_PATH = OPENAPI_DIR / "markets.json"
TICKER_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,127}")
_TICKER_WHAT = "a Kalshi ticker (letters, digits, '.', '_' or '-', at most 128)"
# Series and event filters accept either case; they are upper-cased before the query.
_FILTER_TICKER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SEARCH_PATTERN = re.compile(r"[^\x00-\x1f\x7f]{1,100}")
MAX_PAGE_SIZE = 500
STALE_POLL_INTERVALS = 3
MAX_HISTORY_SPAN = timedelta(days=3660)

LIST_CACHE = public_cache(5, 30)
DETAIL_CACHE = public_cache(5, 30)
HISTORY_CACHE = public_cache(30, 60)
ORDERBOOK_CACHE = public_cache(1)
OPENAPI_CACHE = public_cache(300)


class OrderbookSource(Protocol):
    def get_orderbook(self, ticker: str, depth: int | None = None) -> km.Orderbook: ...


def load_openapi(path: Path | None = None) -> dict[str, Any]:
    """The OpenAPI document: ``path``, else ``markets.json`` through
    :func:`shared.api.openapi.load_document` (which honours ``OPENAPI_DIR``, the one
    variable that moves the documents, and parses it once per instance rather than on every
    request for the document)."""
    if path is None:
        return load_document("markets")
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@dataclass
class _TtlCache:
    """A tiny per-instance cache for live order books (Kalshi is asked at most ~1/s/ticker).

    Keyed by ticker alone: it holds the full book, and every ``depth`` is a slice of it, so
    a client varying ``depth`` cannot turn each request into an upstream call.
    """

    ttl: float
    max_entries: int = 1000
    _entries: dict[str, tuple[float, _CachedBook]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> _CachedBook | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] < time.monotonic():
                return None
            return entry[1]

    def put(self, key: str, value: _CachedBook) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl, value)


RENDER_WAIT_SECONDS = 10.0
"""How long a list request waits for another request's render of the same page."""


class _PollCache:
    """Rendered list pages of this instance, valid until the next poll (ADR 0215).

    The list changes only when a poll (or the day-boundary job that also writes
    ``market_polls``) commits, so a page is rendered once per poll per distinct query and
    every later request is a dictionary lookup. Which poll is current is read from
    ``market_polls`` at most once per ``revalidate_seconds`` for all keys together (one
    indexed query a second, not one a request); a new poll id empties the cache. A page
    may so be served up to ``revalidate_seconds`` after the poll that changed it, well
    inside the list's advertised ``max-age``.
    """

    def __init__(self, revalidate_seconds: float = 1.0, max_entries: int = 2048) -> None:
        self.revalidate_seconds = revalidate_seconds
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._poll: int | None = None
        self._checked = float("-inf")
        self._pages: dict[tuple[Any, ...], JsonResponse] = {}
        self._rendering: dict[tuple[Any, ...], threading.Event] = {}

    def current(self, read_poll: Callable[[], int | None]) -> int | None:
        """The current poll id, re-read when the last read is older than the interval."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked < self.revalidate_seconds:
                return self._poll
        poll = read_poll()
        with self._lock:
            if poll != self._poll:
                self._pages.clear()
                self._poll = poll
            self._checked = now
        return poll

    def get(self, poll: int | None, key: tuple[Any, ...]) -> JsonResponse | None:
        with self._lock:
            if poll != self._poll:
                return None
            return self._pages.get(key)

    def get_or_render(
        self, poll: int | None, key: tuple[Any, ...], render: Callable[[], JsonResponse]
    ) -> JsonResponse:
        """The cached page, else one ``render`` for all who ask at once.

        When a poll lands, every client's next request misses together; only the first
        runs the query, the others wait for its page (at most ``RENDER_WAIT_SECONDS``,
        then, or when that render failed, they render their own), so a poll costs one
        query per page, not one per waiting request.
        """
        flight = (poll, key)
        with self._lock:
            if poll == self._poll and key in self._pages:
                return self._pages[key]
            waiter = self._rendering.get(flight)
            leader = waiter is None
            if waiter is None:
                waiter = self._rendering[flight] = threading.Event()
        if not leader:
            waiter.wait(RENDER_WAIT_SECONDS)
            cached = self.get(poll, key)
            return cached if cached is not None else render()
        try:
            response = render()
            self.put(poll, key, response)
            return response
        finally:
            with self._lock:
                self._rendering.pop(flight, None)
            waiter.set()

    def put(self, poll: int | None, key: tuple[Any, ...], response: JsonResponse) -> None:
        with self._lock:
            if poll != self._poll:
                return  # rendered from an older poll than the cache now holds
            if len(self._pages) >= self.max_entries:
                self._pages.clear()
            self._pages[key] = response


def _answer(cached: JsonResponse, request_headers: Mapping[str, str]) -> JsonResponse:
    """A cached 200 page for this request: a bodiless 304 when the client has it."""
    tag = cached.headers.get("ETag")
    if tag and etag_matches(request_headers.get("If-None-Match"), tag):
        headers = {k: v for k, v in cached.headers.items() if k != "Content-Type"}
        return JsonResponse(304, b"", headers)
    return JsonResponse(cached.status, cached.body, dict(cached.headers))


@dataclass(frozen=True)
class _CachedBook:
    book: km.Orderbook
    as_of: datetime


def unexpected_error(error: BaseException) -> ApiError:
    """Log an unexpected failure and choose its answer: 503 for an outage, else 500."""
    if isinstance(error, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        log.error("database unavailable: %s", type(error).__name__)
        return ApiError(
            503,
            "database_unavailable",
            "the market database is unreachable; retry shortly",
            headers={"Retry-After": "5"},
        )
    log.exception("unhandled error in the markets API")
    return ApiError(500, "internal_error", "the service failed to answer this request")


def _ticker(params: Mapping[str, str]) -> str:
    return validate_path_value("ticker", params["ticker"], TICKER_PATTERN, _TICKER_WHAT, upper=True)


class MarketsApi:
    """The handlers; dependencies are callables so nothing connects before first use."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        orderbooks: Callable[[], OrderbookSource],
        *,
        orderbook_cache_seconds: float = 1.5,
        poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS,
        openapi: Callable[[], dict[str, Any]] = load_openapi,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        list_revalidate_seconds: float = 1.0,
    ) -> None:
        self._engine = engine
        self._list_cache = _PollCache(list_revalidate_seconds)
        self._orderbooks = orderbooks
        self._orderbook_cache = _TtlCache(orderbook_cache_seconds)
        self._poll_interval = poll_interval_seconds
        self._openapi = openapi
        self._now = now

    # ---- list

    def list_markets(self, request: HttpRequest, _: Mapping[str, str]) -> JsonResponse:
        q = QueryParams(
            request.args,
            allowed={
                "status",
                "series",
                "event",
                "q",
                "close_after",
                "close_before",
                "sort",
                "order",
                "limit",
                "cursor",
            },
        )
        statuses: list[str] = []
        for word in q.list("status", choices=list(STATUS_ALIASES)):
            statuses.extend(s for s in STATUS_ALIASES[word] if s not in statuses)
        series = q.string("series", _FILTER_TICKER_PATTERN)
        event = q.string("event", _FILTER_TICKER_PATTERN)
        filters = MarketFilter(
            statuses=tuple(statuses),
            series_ticker=series.upper() if series else None,
            event_ticker=event.upper() if event else None,
            search=q.string("q", _SEARCH_PATTERN),
            close_after=q.timestamp("close_after"),
            close_before=q.timestamp("close_before"),
        )
        if (
            filters.close_after
            and filters.close_before
            and filters.close_after >= filters.close_before
        ):
            raise bad_request("close_after must be earlier than close_before", "invalid_range")
        sort = q.choice("sort", list(SORTS), "volume") or "volume"
        order = q.choice("order", ["asc", "desc"]) or SORTS[sort].default_order
        limit = q.integer("limit", 100, 1, MAX_PAGE_SIZE)
        cursor = q.string("cursor")
        fingerprint = f"{sort}|{order}|{filters.fingerprint()}"
        after = self._position(cursor, sort, fingerprint) if cursor else None

        key = (fingerprint, limit, cursor)

        def render() -> JsonResponse:
            with self._engine().connect() as connection:
                page = queries.list_markets(
                    connection, filters=filters, sort=sort, order=order, limit=limit, after=after
                )
            next_cursor = None
            if page.next_position is not None:
                value, ticker = page.next_position
                next_cursor = encode_cursor(
                    {"f": fingerprint, "v": _cursor_value(value), "t": ticker}
                )
            body = {
                "markets": [queries.row_json(row) for row in page.rows],
                "next_cursor": next_cursor,
                "sort": sort,
                "order": order,
            }
            return json_response(body, cache_control=LIST_CACHE)

        if self._list_cache.revalidate_seconds > 0:
            poll = self._list_cache.current(self._current_poll)
            return _answer(self._list_cache.get_or_render(poll, key, render), request.headers)
        return _answer(render(), request.headers)

    def _current_poll(self) -> int | None:
        with self._engine().connect() as connection:
            return queries.current_poll(connection)

    @staticmethod
    def _position(cursor: str, sort: str, fingerprint: str) -> tuple[Any, str]:
        position = decode_cursor(cursor)
        if position.get("f") != fingerprint:
            raise invalid_cursor(
                "cursor belongs to a different query (filters, sort or order changed)"
            )
        ticker, value = position.get("t"), position.get("v")
        if not isinstance(ticker, str) or not isinstance(value, str):
            raise invalid_cursor()
        try:
            if sort == "close_time":
                parsed: Any = datetime.fromisoformat(value)
            else:
                parsed = Decimal(value)
        except (ValueError, InvalidOperation):
            raise invalid_cursor() from None
        return parsed, ticker

    # ---- one market

    def get_market(self, request: HttpRequest, params: Mapping[str, str]) -> JsonResponse:
        QueryParams(request.args, allowed=set())
        ticker = _ticker(params)
        with self._engine().connect() as connection:
            row = queries.get_market(connection, ticker)
        if row is None:
            raise not_found(f"no market {ticker}", "market_not_found")
        return json_response(
            {"market": queries.row_json(row)},
            cache_control=DETAIL_CACHE,
            request_headers=request.headers,
        )

    # ---- history

    def history(self, request: HttpRequest, params: Mapping[str, str]) -> JsonResponse:
        q = QueryParams(request.args, allowed={"start", "end", "interval", "price"})
        ticker = _ticker(params)
        start = q.timestamp("start")
        end = q.timestamp("end")
        interval = q.choice("interval", list(HISTORY_INTERVALS))
        price = q.choice("price", ["mid", "last"], "mid") or "mid"
        now = self._now()
        if start is not None and end is not None and start >= end:
            raise bad_request("start must be earlier than end", "invalid_range")
        if start is not None and start > now:
            raise bad_request("start is in the future", "invalid_range")
        if start is not None and (end or now) - start > MAX_HISTORY_SPAN:
            raise bad_request("the range may span at most 10 years", "invalid_range")
        with self._engine().connect() as connection:
            if queries.get_market(connection, ticker) is None:
                raise not_found(f"no market {ticker}", "market_not_found")
            history = queries.get_history(
                connection,
                queries.HistoryRequest(ticker, start, end, interval, price),
                now=now,
            )
        body = {
            "ticker": history.ticker,
            "price": history.price,
            "interval": history.interval,
            "interval_seconds": history.interval_seconds,
            "start": queries.iso_z(history.start),
            "end": queries.iso_z(history.end),
            "candles": queries.candles_json(history.candles),
        }
        # A range that ended before the last poll no longer changes: cache it longer.
        settled = end is not None and end < now - timedelta(hours=1)
        return json_response(
            body,
            cache_control=public_cache(3600) if settled else HISTORY_CACHE,
            request_headers=request.headers,
        )

    # ---- order book

    def orderbook(self, request: HttpRequest, params: Mapping[str, str]) -> JsonResponse:
        q = QueryParams(request.args, allowed={"depth"})
        ticker = _ticker(params)
        depth = q.integer("depth", 0, 0, 100)
        cached = self._orderbook_cache.get(ticker)
        if cached is None:
            cached = _CachedBook(self._fetch_orderbook(ticker), self._now())
            self._orderbook_cache.put(ticker, cached)
        body = _orderbook_json(ticker, cached.book, cached.as_of, depth)
        return json_response(body, cache_control=ORDERBOOK_CACHE, request_headers=request.headers)

    def _fetch_orderbook(self, ticker: str) -> km.Orderbook:
        """The full live book of a known market, or the ApiError its failure answers."""
        with self._engine().connect() as connection:
            known = connection.execute(
                text("SELECT 1 FROM markets WHERE ticker = :t"), {"t": ticker}
            ).first()
        if known is None:
            raise not_found(f"no market {ticker}", "market_not_found")
        try:
            return self._orderbooks().get_orderbook(ticker)
        except NotFoundError:
            raise not_found(f"Kalshi has no order book for {ticker}", "market_not_found") from None
        except RateLimitWaitExceeded as error:
            # Our own limiter's queue is too long: answer now rather than hold the request.
            raise ApiError(
                503,
                "rate_limited",
                "too many order book requests right now; retry shortly",
                headers={"Retry-After": str(error.retry_after)},
            ) from None
        except KalshiError as error:
            if is_transient(error):
                raise ApiError(
                    503,
                    "upstream_unavailable",
                    "Kalshi did not answer; retry shortly",
                    headers={"Retry-After": "1"},
                ) from None
            log.warning("order book for %s failed: %s", ticker, error)
            raise ApiError(502, "upstream_error", "Kalshi refused the order book request") from None

    # ---- health and docs

    def health(self, request: HttpRequest, _: Mapping[str, str]) -> JsonResponse:
        QueryParams(request.args, allowed=set())
        try:
            # Reading the last poll is the reachability probe too: one round trip, not two.
            # Under a hard deadline (DB_HEALTH_TIMEOUT): a stalled database still gets a 503.
            from shared.db.deadline import call_with_deadline, health_timeout

            def read_last_poll() -> Any:
                with self._engine().connect() as connection:
                    return queries.last_poll(connection)

            poll = call_with_deadline(read_last_poll, health_timeout())
        except sqlalchemy.exc.SQLAlchemyError as error:
            log.error("health check: database unavailable (%s)", type(error).__name__)
            return json_response(
                {"status": "unavailable", "database": "unreachable"},
                status=503,
                cache_control=NO_STORE,
                etag=False,
            )
        body: dict[str, Any] = {"status": "ok", "database": "ok", "last_poll": None}
        if poll is not None:
            body["last_poll"] = queries.row_json(poll)
            body.update(self._poll_freshness(poll["polled_at"]))
        return json_response(body, cache_control=NO_STORE, etag=False)

    def _poll_freshness(self, polled_at: datetime) -> dict[str, Any]:
        """``degraded`` when the last poll is older than three poll intervals.

        Still HTTP 200: the API answers from the database either way, so a stalled poller
        must not take it out of the load balancer; the body tells a person or a monitor.
        Three intervals tolerate one missed or slow tick without flapping.
        """
        age = max(0.0, (self._now() - polled_at).total_seconds())
        fresh = age <= STALE_POLL_INTERVALS * self._poll_interval
        return {
            "status": "ok" if fresh else "degraded",
            "last_poll_age_seconds": round(age, 1),
            "poll_interval_seconds": self._poll_interval,
        }

    def openapi(self, request: HttpRequest, _: Mapping[str, str]) -> JsonResponse:
        QueryParams(request.args, allowed=set())
        return json_response(
            self._openapi(), cache_control=OPENAPI_CACHE, request_headers=request.headers
        )


def _cursor_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _levels(levels: list[km.Level]) -> list[list[str]]:
    return [[str(price), str(count)] for price, count in levels]


def _top(levels: list[km.Level], depth: int) -> list[km.Level]:
    """The ``depth`` best bids (all for 0), still ascending by price as Kalshi sends them."""
    ordered = sorted(levels, key=lambda level: level[0])
    return ordered[-depth:] if depth else ordered


def _orderbook_json(
    ticker: str, book: km.Orderbook, now: datetime, depth: int = 0
) -> dict[str, Any]:
    best_yes = book.best_yes_bid
    best_no = book.best_no_bid
    one = Decimal("1")
    return {
        "ticker": ticker,
        "as_of": queries.iso_z(now),
        "orderbook_fp": {
            "yes_dollars": _levels(_top(book.yes_bids, depth)),
            "no_dollars": _levels(_top(book.no_bids, depth)),
        },
        "best_yes_bid_dollars": str(best_yes[0]) if best_yes else None,
        "best_no_bid_dollars": str(best_no[0]) if best_no else None,
        "best_yes_ask_dollars": str(one - best_no[0]) if best_no else None,
        "best_no_ask_dollars": str(one - best_yes[0]) if best_yes else None,
    }


def build_router(api: MarketsApi) -> Router:
    router = Router()
    router.add("GET", f"{API_PREFIX}/markets", api.list_markets)
    router.add("GET", f"{API_PREFIX}/markets/{{ticker}}", api.get_market)
    router.add("GET", f"{API_PREFIX}/markets/{{ticker}}/history", api.history)
    router.add("GET", f"{API_PREFIX}/markets/{{ticker}}/orderbook", api.orderbook)
    router.add("GET", f"{API_PREFIX}/health", api.health)
    router.add("GET", f"{API_PREFIX}/openapi/markets.json", api.openapi)
    return router


def api_from_settings(
    settings: MarketDataSettings, *, max_rate_limit_wait: float | None = None
) -> MarketsApi:
    """The API with its real dependencies, each built on first use: the process-wide
    database (first query) and one Kalshi client (first order book), so a markets request
    never pays for a client it does not need and a bad Kalshi key breaks only order books.

    ``max_rate_limit_wait`` caps a request's wait for its turn at Kalshi's rate limit: a
    burst of order-book requests answers 503 + Retry-After instead of queueing each request
    (and its instance) behind the limit.
    """
    lock = threading.Lock()
    clients: list[OrderbookSource] = []

    def engine() -> Engine:
        from shared.db.engine import get_database

        return get_database().engine

    def kalshi() -> OrderbookSource:
        with lock:
            if not clients:
                from shared.kalshi.client import KalshiClient, signer_from_env
                from shared.kalshi.ratelimit import KalshiRateLimiter

                limiter = KalshiRateLimiter.basic(max_wait=max_rate_limit_wait)
                clients.append(KalshiClient(signer=signer_from_env(), rate_limiter=limiter))
            return clients[0]

    return MarketsApi(
        engine,
        kalshi,
        orderbook_cache_seconds=settings.orderbook_cache_seconds,
        poll_interval_seconds=settings.poll_interval_seconds,
        list_revalidate_seconds=settings.list_revalidate_seconds,
    )
