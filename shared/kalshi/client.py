"""The Kalshi REST client: exact signing, honest pagination, retries under a rate limit.

Two front ends share one core. :class:`KalshiClient` (``httpx.Client``) serves scripts,
functions and threads; :class:`AsyncKalshiClient` (``httpx.AsyncClient``) serves the streamer.
Everything that decides something (which URL, what to sign, whether to retry, how long to
back off, what a body means) lives in :class:`_Core`, written once as a generator that
*yields* the I/O it needs (``_Send`` a request, ``_Sleep`` a while); each front end is only
a small driver that performs those actions with its own I/O. The two clients therefore
cannot drift apart (ADR 0012).

What the core guarantees:

- every request is signed when a signer is configured, public endpoints too, over
  ``timestamp_ms + METHOD + path`` where the path is taken from the request exactly as it
  goes on the wire (``/trade-api/v2`` prefix, percent-quoted path parameters, no query);
  each retry is signed afresh so backoff cannot push a timestamp out of Kalshi's window;
- every attempt (retries included) first takes a token from the Read or Write bucket, so
  429 storms never make us send faster than the configured rate;
- 429, 5xx, timeouts and connection errors are retried with exponential backoff and full
  jitter; other 4xx never are; a POST is retried only when it certainly did not execute
  (429, or the connection was never made), so an order is never placed twice;
- cursor pagination follows ``cursor`` until it is ``""``/``null``, and raises
  :class:`PaginationError` on a repeating cursor or past ``max_pages`` instead of
  returning a truncated list.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import random
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Generic, TypeAlias, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from shared.config import KalshiSettings
from shared.kalshi import models as m
from shared.kalshi.environments import (
    KalshiEnvironment,
    environment_from_env,
    resolve_environment,
)
from shared.kalshi.errors import (
    KalshiAPIError,
    KalshiError,
    KalshiTransportError,
    PaginationError,
    UnexpectedResponseError,
    error_from_response,
    scrub,
)
from shared.kalshi.ratelimit import KalshiRateLimiter
from shared.kalshi.signing import KalshiSigner

__all__ = [
    "DEFAULT_MAX_PAGES",
    "AsyncKalshiClient",
    "ClientStats",
    "CursorWalk",
    "KalshiClient",
    "QueryValue",
    "RetryPolicy",
    "api_path",
    "signer_from_env",
]

log = logging.getLogger(__name__)

QueryValue: TypeAlias = (
    str | int | float | bool | Decimal | dt.datetime | Sequence[str] | Sequence[int] | None
)

DEFAULT_MAX_PAGES = 10_000
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_USER_AGENT = "kalshi-insights/0.1 (+httpx)"

_M = TypeVar("_M")
_T = TypeVar("_T")
_P = TypeVar("_P")
_I = TypeVar("_I")


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (delay = uniform(0, min(max, base * 2**n))).

    ``max_attempts`` counts the first try: 4 means up to 3 retries.
    """

    max_attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("backoff delays must not be negative")

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (retry_number - 1)))
        return rng.uniform(0.0, ceiling)

    @classmethod
    def none(cls) -> RetryPolicy:
        return cls(max_attempts=1)


@dataclass(frozen=True)
class ClientStats:
    """Counters since the client was created (a snapshot; the client keeps counting)."""

    requests_sent: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    throttle_wait_seconds: float = 0.0


class _StatsCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = ClientStats()

    def add(self, **deltas: float) -> None:
        with self._lock:
            current = self._stats
            self._stats = replace(
                current, **{k: getattr(current, k) + v for k, v in deltas.items()}
            )

    def snapshot(self) -> ClientStats:
        with self._lock:
            return self._stats


def api_path(*segments: object) -> str:
    """``/markets/{ticker}/orderbook`` from its segments, each percent-quoted like Kalshi's SDK.

    Quoting happens before signing, and the signer signs the path exactly as sent.
    """
    return "/" + "/".join(quote(str(segment), safe="") for segment in segments)


def _query_value(value: QueryValue) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("datetime query parameters must be timezone-aware")
        return str(int(value.timestamp()))
    if isinstance(value, str | int | float | Decimal):
        return str(value)
    return ",".join(str(item) for item in value)


def _query(params: Mapping[str, QueryValue] | None) -> dict[str, str]:
    """Drop ``None``s; booleans as ``true``/``false``; lists comma-joined; datetimes → Unix s."""
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        text = _query_value(value)
        if text is not None:
            out[key] = text
    return out


# --------------------------------------------------------------------------- pagination


class CursorWalk:
    """Decides whether a cursor walk continues, and refuses to end it dishonestly.

    A repeating cursor means the server restarted (Kalshi silently restarts from page 1 on a
    cursor it does not understand) or loops; following it would loop forever, stopping
    quietly would truncate. Both are errors.
    """

    def __init__(self, label: str, max_pages: int, start_cursor: str | None = None) -> None:
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.label = label
        self.max_pages = max_pages
        self.pages = 0
        self._seen: set[str] = {start_cursor} if start_cursor else set()

    def next_cursor(self, cursor: str | None) -> str | None:
        """Record one fetched page; return the cursor for the next one, or None when done."""
        self.pages += 1
        if not cursor:
            return None
        if cursor in self._seen:
            raise PaginationError(
                f"{self.label}: the server repeated cursor {cursor[:40]!r} after "
                f"{self.pages} pages; stopping instead of looping or truncating"
            )
        if self.pages >= self.max_pages:
            raise PaginationError(
                f"{self.label}: more than {self.max_pages} pages and the cursor is not "
                "exhausted; raise max_pages or narrow the filters (results not truncated)"
            )
        self._seen.add(cursor)
        return cursor


# --------------------------------------------------------------------------- the shared core


@dataclass(frozen=True)
class _Call(Generic[_M, _T]):
    """One logical API call: what to send, how to read the answer."""

    method: str
    path: str  # relative to the API prefix, already quoted
    model: type[_M] | None
    unwrap: Callable[[_M], _T]
    params: Mapping[str, QueryValue] | None = None
    body: bytes | None = None
    # Non-2xx statuses whose body is still a valid answer (exchange status when down).
    answer_statuses: frozenset[int] = frozenset()
    # Requests this call takes from its bucket (Kalshi's token cost / the default cost).
    cost: float = 1.0
    # A write that is safe to send again after a timeout or 5xx (an order create that
    # carries its client_order_id: Kalshi refuses a second copy with 409).
    idempotent: bool = False


@dataclass(frozen=True)
class _Paged(Generic[_P, _I]):
    label: str
    call_for: Callable[[str | None], _Call[_P, _P]]
    items: Callable[[_P], Sequence[_I]]
    cursor_of: Callable[[_P], str | None]


@dataclass(frozen=True)
class _Sleep:
    seconds: float


@dataclass(frozen=True)
class _Send:
    request: httpx.Request


_Action: TypeAlias = _Sleep | _Send
_Outcome: TypeAlias = httpx.Response | httpx.RequestError | None
_Protocol: TypeAlias = Generator[_Action, _Outcome, _T]

_BuildRequest: TypeAlias = Callable[..., httpx.Request]


def _identity(value: _T) -> _T:
    return value


def _body(body: object) -> bytes | None:
    """A request body as JSON bytes; ``None`` means the request has no body at all."""
    return None if body is None else msgspec.json.encode(body)


def _raw_json(body: bytes) -> Any:
    return msgspec.json.decode(body) if body.strip() else None


@dataclass
class _Core:
    """All the client's decisions, free of I/O (see the module docstring)."""

    environment: KalshiEnvironment
    signer: KalshiSigner | None
    retry: RetryPolicy
    limiter: KalshiRateLimiter | None
    max_pages: int
    rng: random.Random
    stats: _StatsCounter = field(default_factory=_StatsCounter)

    def __post_init__(self) -> None:
        base = httpx.URL(self.environment.rest_base_url)
        self.origin = f"{base.scheme}://{base.netloc.decode('ascii')}"
        self.prefix = self.environment.rest_path_prefix

    # ---- request building

    def relative_path(self, path: str) -> str:
        """Accept ``/markets`` or ``/trade-api/v2/markets``; refuse a query in the path."""
        if "?" in path or "#" in path:
            raise ValueError("pass query parameters in params=, not in the path")
        if not path.startswith("/"):
            path = "/" + path
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            path = path[len(self.prefix) :]
        return path

    def build(self, build_request: _BuildRequest, call: _Call[Any, Any]) -> httpx.Request:
        headers = {"Accept": "application/json"}
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        request = build_request(
            call.method,
            self.origin + self.prefix + call.path,
            params=_query(call.params),
            headers=headers,
            content=call.body,
        )
        if self.signer is not None:
            # Sign what goes on the wire: the raw path httpx will send, minus the query.
            signed_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
            request.headers.update(self.signer.headers(call.method, signed_path))
        return request

    # ---- the retry protocol

    def _transport_error(self, exc: httpx.RequestError, method: str, path: str) -> KalshiError:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "transport error"
        detail = scrub(str(exc)) or type(exc).__name__
        return KalshiTransportError(
            f"Kalshi request {method} {path} {kind} ({type(exc).__name__}: {detail})",
            method=method,
            path=path,
        )

    def _retryable_transport(self, exc: httpx.RequestError, method: str) -> bool:
        if isinstance(exc, _NOT_SENT):
            return True  # the request never reached Kalshi: safe for any method
        if not isinstance(exc, httpx.TransportError):
            return False  # e.g. a body that failed to decompress: sending again won't help
        return method in _IDEMPOTENT

    def _retryable_status(self, status: int, method: str) -> bool:
        if status == 429:
            return True  # Kalshi rejected it before executing anything
        return 500 <= status <= 599 and method in _IDEMPOTENT

    def _decode(self, call: _Call[_M, _T], response: httpx.Response) -> _T:
        body = response.content
        if call.model is None:
            return call.unwrap(_raw_json(body))
        return call.unwrap(m.decode(body, call.model))

    def protocol(self, build_request: _BuildRequest, call: _Call[Any, _T]) -> _Protocol[_T]:
        """Yield the I/O one call needs; return its decoded answer or raise a typed error."""
        method = call.method.upper()
        call = replace(call, method=method)
        where = self.prefix + call.path
        bucket = self.limiter.bucket_for(method, call.path) if self.limiter else None
        attempts = self.retry.max_attempts
        for attempt in range(1, attempts + 1):
            if bucket is not None:
                wait = bucket.reserve(call.cost)
                if wait > 0:
                    self.stats.add(throttle_wait_seconds=wait)
                    yield _Sleep(wait)
            request = self.build(build_request, call)
            self.stats.add(requests_sent=1)
            outcome = yield _Send(request)

            error: KalshiError
            if isinstance(outcome, httpx.RequestError):
                self.stats.add(transport_errors=1)
                error = self._transport_error(outcome, method, where)
                error.__cause__ = outcome
                retryable = self._retryable_transport(outcome, method) or (
                    call.idempotent and isinstance(outcome, httpx.TransportError)
                )
            elif isinstance(outcome, httpx.Response):
                status = outcome.status_code
                if 200 <= status <= 299:
                    try:
                        return self._decode(call, outcome)
                    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                        model = call.model.__name__ if call.model else "JSON"
                        raise UnexpectedResponseError(
                            f"Kalshi {method} {where} answered HTTP {status} with a body that "
                            f"does not match {model}: {exc}"
                        ) from None
                if status in call.answer_statuses:
                    try:
                        return self._decode(call, outcome)
                    except (msgspec.ValidationError, msgspec.DecodeError):
                        pass  # not the documented answer body: an ordinary error
                if status == 429:
                    self.stats.add(rate_limited=1)
                elif status >= 500:
                    self.stats.add(server_errors=1)
                error = error_from_response(status, outcome.content, method=method, path=where)
                retryable = self._retryable_status(status, method) or (
                    call.idempotent and 500 <= status <= 599
                )
            else:  # pragma: no cover - drivers always send a response or an error
                raise TypeError(f"driver sent {type(outcome).__name__}")

            error.attempts = attempt
            if not retryable or attempt == attempts:
                raise error
            delay = self.retry.backoff(attempt, self.rng)
            self.stats.add(retries=1)
            log.warning(
                "kalshi %s %s failed (%s); retry %d of %d in %.2fs",
                method,
                where,
                error.code if isinstance(error, KalshiAPIError) else type(error).__name__,
                attempt,
                attempts - 1,
                delay,
            )
            if delay > 0:
                yield _Sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- endpoint descriptions (shared by both front ends)

    def call(
        self,
        method: str,
        path: str,
        model: type[_M],
        params: Mapping[str, QueryValue] | None = None,
        *,
        body: object = None,
        answer_statuses: frozenset[int] = frozenset(),
    ) -> _Call[_M, _M]:
        return _Call(method, path, model, _identity, params, _body(body), answer_statuses)

    def unwrapped(
        self,
        path: str,
        model: type[_M],
        unwrap: Callable[[_M], _T],
        params: Mapping[str, QueryValue] | None = None,
    ) -> _Call[_M, _T]:
        return _Call("GET", path, model, unwrap, params)

    def generic(
        self,
        method: str,
        path: str,
        params: Mapping[str, QueryValue] | None,
        body: object,
        model: type[Any] | None,
    ) -> _Call[Any, Any]:
        return _Call(method, self.relative_path(path), model, _identity, params, _body(body))

    def paged(
        self,
        label: str,
        path: str,
        model: type[_P],
        items: Callable[[_P], Sequence[_I]],
        cursor_of: Callable[[_P], str | None],
        params: Mapping[str, QueryValue],
    ) -> _Paged[_P, _I]:
        def call_for(cursor: str | None) -> _Call[_P, _P]:
            return self.call("GET", path, model, {**params, "cursor": cursor})

        return _Paged(label, call_for, items, cursor_of)


def _page_params(
    filters: Mapping[str, QueryValue], limit: int | None, cursor: str | None = None
) -> dict[str, QueryValue]:
    return {**filters, "limit": limit, "cursor": cursor}


@dataclass(frozen=True)
class _PageSpec(Generic[_P, _I]):
    """A cursor-paginated list endpoint: where it lives and which list a page carries."""

    path: str
    model: type[_P]
    items: Callable[[_P], Sequence[_I]]
    cursor_of: Callable[[_P], str | None]
    max_limit: int  # the endpoint's documented maximum: iterators ask for it (fewer trips)

    def page(
        self,
        core: _Core,
        filters: Mapping[str, QueryValue],
        limit: int | None,
        cursor: str | None,
    ) -> _Call[_P, _P]:
        return core.call("GET", self.path, self.model, _page_params(filters, limit, cursor))

    def walk(
        self, core: _Core, filters: Mapping[str, QueryValue], limit: int | None
    ) -> _Paged[_P, _I]:
        return core.paged(
            f"GET {self.path}",
            self.path,
            self.model,
            self.items,
            self.cursor_of,
            _page_params(filters, limit or self.max_limit),
        )


_MARKETS = _PageSpec(
    "/markets", m.GetMarketsResponse, lambda p: p.markets, lambda p: p.cursor, 1000
)
_EVENTS = _PageSpec("/events", m.GetEventsResponse, lambda p: p.events, lambda p: p.cursor, 200)
_TRADES = _PageSpec(
    "/markets/trades", m.GetTradesResponse, lambda p: p.trades, lambda p: p.cursor, 1000
)
_POSITIONS = _PageSpec(
    "/portfolio/positions",
    m.PositionsResponse,
    lambda p: p.market_positions,
    lambda p: p.cursor,
    1000,
)
_FILLS = _PageSpec("/portfolio/fills", m.FillsResponse, lambda p: p.fills, lambda p: p.cursor, 1000)
_SETTLEMENTS = _PageSpec(
    "/portfolio/settlements",
    m.SettlementsResponse,
    lambda p: p.settlements,
    lambda p: p.cursor,
    1000,
)
_DEPOSITS = _PageSpec(
    "/portfolio/deposits", m.GetDepositsResponse, lambda p: p.deposits, lambda p: p.cursor, 500
)
_WITHDRAWALS = _PageSpec(
    "/portfolio/withdrawals",
    m.GetWithdrawalsResponse,
    lambda p: p.withdrawals,
    lambda p: p.cursor,
    500,
)
_ORDERS = _PageSpec(
    "/portfolio/orders", m.GetOrdersResponse, lambda p: p.orders, lambda p: p.cursor, 1000
)


def _merge_positions(pages: Sequence[m.PositionsResponse]) -> m.PositionsResponse:
    return m.PositionsResponse(
        market_positions=[p for page in pages for p in page.market_positions],
        event_positions=[p for page in pages for p in page.event_positions],
        cursor="",
    )


_EXCHANGE_DOWN_STATUSES = frozenset({500, 503, 504})


def _make_core(
    environment: KalshiEnvironment | str | None,
    base_url: str | None,
    signer: KalshiSigner | None,
    retry: RetryPolicy | None,
    rate_limiter: KalshiRateLimiter | None,
    rate_limit: bool,
    max_pages: int,
    seed: int | None,
) -> _Core:
    if environment is not None and base_url is not None:
        raise ValueError("pass either environment or base_url, not both")
    if base_url is not None:
        env = resolve_environment(base_url)
    elif environment is not None:
        env = resolve_environment(environment)
    else:
        env = environment_from_env()
    limiter = None
    if rate_limit:
        limiter = rate_limiter or KalshiRateLimiter.basic()
    return _Core(
        environment=env,
        signer=signer,
        retry=retry or RetryPolicy(),
        limiter=limiter,
        max_pages=max_pages,
        rng=random.Random(seed),  # jitter, not cryptography
    )


def signer_from_env(env: Mapping[str, str] | None = None) -> KalshiSigner | None:
    """A signer from ``KALSHI_KEY_ID`` + ``KALSHI_PRIVATE_KEY_PATH`` (or ``KALSHI_PRIVATE_KEY``).

    Returns None when no key id is set (public endpoints only).
    """
    settings = KalshiSettings.from_env(env)
    key_id = settings.key_id
    if not key_id:
        return None
    pem = settings.private_key
    if not pem:
        path = settings.private_key_path
        if not path:
            raise ValueError(
                "KALSHI_KEY_ID is set but neither KALSHI_PRIVATE_KEY_PATH nor KALSHI_PRIVATE_KEY is"
            )
        with open(path, "rb") as handle:
            return KalshiSigner.from_pem(key_id, handle.read())
    return KalshiSigner.from_pem(key_id, pem.reveal())


_DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class _ClientBase:
    """Constructor arguments and endpoint descriptions common to both clients."""

    _core: _Core

    def _init_core(
        self,
        environment: KalshiEnvironment | str | None,
        base_url: str | None,
        signer: KalshiSigner | None,
        retry: RetryPolicy | None,
        rate_limiter: KalshiRateLimiter | None,
        rate_limit: bool,
        max_pages: int,
        seed: int | None,
    ) -> None:
        self._core = _make_core(
            environment, base_url, signer, retry, rate_limiter, rate_limit, max_pages, seed
        )

    @property
    def environment(self) -> KalshiEnvironment:
        return self._core.environment

    @property
    def stats(self) -> ClientStats:
        """Requests sent, retries, 429s, 5xx, transport errors, seconds spent throttled."""
        return self._core.stats.snapshot()

    @property
    def rate_limiter(self) -> KalshiRateLimiter | None:
        return self._core.limiter

    def __repr__(self) -> str:
        key = self._core.signer.key_id if self._core.signer else None
        return f"{type(self).__name__}(base_url={self.environment.rest_base_url!r}, key_id={key!r})"

    # ---- endpoint descriptions

    def _raw_call(
        self,
        method: str,
        path: str,
        params: Mapping[str, QueryValue] | None,
        body: object,
        model: type[Any] | None,
    ) -> _Call[Any, Any]:
        return self._core.generic(method, path, params, body, model)

    def _exchange_status_call(self) -> _Call[m.ExchangeStatus, m.ExchangeStatus]:
        return self._core.call(
            "GET",
            "/exchange/status",
            m.ExchangeStatus,
            answer_statuses=_EXCHANGE_DOWN_STATUSES,
        )

    def _market_call(self, ticker: str) -> _Call[m.GetMarketResponse, m.Market]:
        return self._core.unwrapped(
            api_path("markets", ticker), m.GetMarketResponse, lambda r: r.market
        )

    def _orderbook_call(
        self, ticker: str, depth: int | None
    ) -> _Call[m.OrderbookResponse, m.Orderbook]:
        return self._core.unwrapped(
            api_path("markets", ticker, "orderbook"),
            m.OrderbookResponse,
            lambda r: r.book,
            {"depth": depth},
        )

    def _event_call(
        self, event_ticker: str, with_nested_markets: bool | None
    ) -> _Call[m.GetEventResponse, m.GetEventResponse]:
        return self._core.call(
            "GET",
            api_path("events", event_ticker),
            m.GetEventResponse,
            {"with_nested_markets": with_nested_markets},
        )

    def _series_call(self, series_ticker: str) -> _Call[m.GetSeriesResponse, m.Series]:
        return self._core.unwrapped(
            api_path("series", series_ticker), m.GetSeriesResponse, lambda r: r.series
        )

    def _series_list_call(
        self, filters: Mapping[str, QueryValue]
    ) -> _Call[m.GetSeriesListResponse, list[m.Series]]:
        return self._core.unwrapped(
            "/series", m.GetSeriesListResponse, lambda r: list(r.series or ()), filters
        )

    def _candles_call(
        self,
        series_ticker: str,
        ticker: str,
        start_ts: int | dt.datetime,
        end_ts: int | dt.datetime,
        period_interval: int,
        include_latest_before_start: bool | None,
    ) -> _Call[m.CandlesticksResponse, m.CandlesticksResponse]:
        return self._core.call(
            "GET",
            api_path("series", series_ticker, "markets", ticker, "candlesticks"),
            m.CandlesticksResponse,
            {
                "start_ts": start_ts,
                "end_ts": end_ts,
                "period_interval": period_interval,
                "include_latest_before_start": include_latest_before_start,
            },
        )

    def _balance_call(self, subaccount: int | None) -> _Call[m.Balance, m.Balance]:
        return self._core.call("GET", "/portfolio/balance", m.Balance, {"subaccount": subaccount})

    def _order_call(self, order_id: str) -> _Call[m.GetOrderResponse, m.Order]:
        return self._core.unwrapped(
            api_path("portfolio", "orders", order_id), m.GetOrderResponse, lambda r: r.order
        )

    def _costed_call(
        self,
        method: str,
        path: str,
        model: type[_M],
        params: Mapping[str, QueryValue] | None,
        body: object,
        cost: float,
        idempotent: bool,
    ) -> _Call[_M, _M]:
        call = self._core.call(method, path, model, params, body=body)
        return replace(call, cost=cost, idempotent=idempotent)

    def _limits_call(self) -> _Call[m.AccountLimits, m.AccountLimits]:
        return self._core.call("GET", "/account/limits", m.AccountLimits)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The one verifying TLS context every Kalshi client of this process shares.

    Building one loads the CA bundle: about 20 ms of CPU, which each new client paid (a
    sign-in builds a client for the key it checks, the account function and the streamer
    one per user). A context is safe to share across threads and event loops.
    """
    return httpx.create_ssl_context()


# --------------------------------------------------------------------------- sync client


class KalshiClient(_ClientBase):
    """Synchronous Kalshi client (thread-safe; share one per process and key).

    ``environment`` is ``"production"``, ``"demo"``, a :class:`KalshiEnvironment` or a base
    URL; ``base_url`` is the explicit form for the simulator. With neither, the environment
    comes from ``KALSHI_BASE_URL``/``KALSHI_ENV``. ``rate_limiter`` defaults to Kalshi's Basic
    tier; pass one shared :class:`KalshiRateLimiter` to pool a key's budget across clients
    and threads, or ``rate_limit=False`` to switch client-side throttling off.
    """

    def __init__(
        self,
        environment: KalshiEnvironment | str | None = None,
        *,
        base_url: str | None = None,
        signer: KalshiSigner | None = None,
        timeout: float | httpx.Timeout = _DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rate_limiter: KalshiRateLimiter | None = None,
        rate_limit: bool = True,
        max_pages: int = DEFAULT_MAX_PAGES,
        transport: httpx.BaseTransport | None = None,
        seed: int | None = None,
    ) -> None:
        self._init_core(
            environment, base_url, signer, retry, rate_limiter, rate_limit, max_pages, seed
        )
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            verify=_tls_context(),
            headers={"User-Agent": _USER_AGENT},
            follow_redirects=False,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: Any) -> KalshiClient:
        """A client for ``KALSHI_BASE_URL``/``KALSHI_ENV``, signed with ``KALSHI_KEY_ID`` and
        ``KALSHI_PRIVATE_KEY_PATH`` when set (what the local stack and deployments export)."""
        return cls(environment_from_env(env), signer=signer_from_env(env), **options)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KalshiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- driver: performs the core's actions with blocking I/O

    def _run(self, call: _Call[Any, _T]) -> _T:
        protocol = self._core.protocol(self._http.build_request, call)
        outcome: _Outcome = None
        while True:
            try:
                action = protocol.send(outcome)
            except StopIteration as done:
                result: _T = done.value
                return result
            if isinstance(action, _Sleep):
                time.sleep(action.seconds)
                outcome = None
                continue
            try:
                outcome = self._http.send(action.request)
            except httpx.RequestError as exc:
                outcome = exc

    def _pages(self, paged: _Paged[_P, Any]) -> Iterator[_P]:
        walk = CursorWalk(paged.label, self._core.max_pages)
        cursor: str | None = None
        while True:
            page = self._run(paged.call_for(cursor))
            yield page
            cursor = walk.next_cursor(paged.cursor_of(page))
            if cursor is None:
                return

    def _items(self, paged: _Paged[Any, _I]) -> Iterator[_I]:
        for page in self._pages(paged):
            yield from paged.items(page)

    # ---- any endpoint

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, QueryValue] | None = None,
        *,
        json: object = None,
        model: type[Any] | None = None,
    ) -> Any:
        """Call any endpoint. ``path`` is relative to ``/trade-api/v2`` (or absolute) with
        path parameters already quoted (see :func:`api_path`); the answer is ``model`` when
        given, else plain JSON data."""
        return self._run(self._raw_call(method, path, params, json, model))

    # ---- exchange and markets

    def get_exchange_status(self) -> m.ExchangeStatus:
        """Exchange status; a 500/503/504 carrying a status body is returned, not raised."""
        return self._run(self._exchange_status_call())

    def get_markets(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.GetMarketsResponse:
        """One page of ``GET /markets`` (filters: status, event_ticker, series_ticker, ...)."""
        return self._run(_MARKETS.page(self._core, filters, limit, cursor))

    def iter_market_pages(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> Iterator[m.GetMarketsResponse]:
        return self._pages(_MARKETS.walk(self._core, filters, limit))

    def iter_markets(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> Iterator[m.Market]:
        """Every market matching ``filters``, page after page until the cursor is empty."""
        return self._items(_MARKETS.walk(self._core, filters, limit))

    def get_all_markets(self, *, limit: int | None = None, **filters: QueryValue) -> list[m.Market]:
        return list(self.iter_markets(limit=limit, **filters))

    def get_market(self, ticker: str) -> m.Market:
        return self._run(self._market_call(ticker))

    def get_orderbook(self, ticker: str, depth: int | None = None) -> m.Orderbook:
        return self._run(self._orderbook_call(ticker, depth))

    def get_trades(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.GetTradesResponse:
        return self._run(_TRADES.page(self._core, filters, limit, cursor))

    def iter_trades(self, *, limit: int | None = None, **filters: QueryValue) -> Iterator[m.Trade]:
        return self._items(_TRADES.walk(self._core, filters, limit))

    def get_market_candlesticks(
        self,
        series_ticker: str,
        ticker: str,
        *,
        start_ts: int | dt.datetime,
        end_ts: int | dt.datetime,
        period_interval: int,
        include_latest_before_start: bool | None = None,
    ) -> m.CandlesticksResponse:
        return self._run(
            self._candles_call(
                series_ticker,
                ticker,
                start_ts,
                end_ts,
                period_interval,
                include_latest_before_start,
            )
        )

    # ---- events and series

    def get_events(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        with_nested_markets: bool | None = None,
        **filters: QueryValue,
    ) -> m.GetEventsResponse:
        filters = {**filters, "with_nested_markets": with_nested_markets}
        return self._run(_EVENTS.page(self._core, filters, limit, cursor))

    def iter_events(
        self,
        *,
        limit: int | None = None,
        with_nested_markets: bool | None = None,
        **filters: QueryValue,
    ) -> Iterator[m.Event]:
        filters = {**filters, "with_nested_markets": with_nested_markets}
        return self._items(_EVENTS.walk(self._core, filters, limit))

    def get_event(
        self, event_ticker: str, *, with_nested_markets: bool | None = None
    ) -> m.GetEventResponse:
        return self._run(self._event_call(event_ticker, with_nested_markets))

    def get_series(self, series_ticker: str) -> m.Series:
        return self._run(self._series_call(series_ticker))

    def get_series_list(self, **filters: QueryValue) -> list[m.Series]:
        return self._run(self._series_list_call(filters))

    # ---- portfolio and account (signed)

    def get_balance(self, *, subaccount: int | None = None) -> m.Balance:
        return self._run(self._balance_call(subaccount))

    def get_positions(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.PositionsResponse:
        return self._run(_POSITIONS.page(self._core, filters, limit, cursor))

    def iter_position_pages(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> Iterator[m.PositionsResponse]:
        return self._pages(_POSITIONS.walk(self._core, filters, limit))

    def iter_positions(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> Iterator[m.MarketPosition]:
        """Market positions from every page (event positions: :meth:`get_all_positions`)."""
        return self._items(_POSITIONS.walk(self._core, filters, limit))

    def get_all_positions(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> m.PositionsResponse:
        """Market and event positions from every page, merged into one response."""
        return _merge_positions(list(self.iter_position_pages(limit=limit, **filters)))

    def get_fills(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.FillsResponse:
        return self._run(_FILLS.page(self._core, filters, limit, cursor))

    def iter_fills(self, *, limit: int | None = None, **filters: QueryValue) -> Iterator[m.Fill]:
        return self._items(_FILLS.walk(self._core, filters, limit))

    def get_settlements(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.SettlementsResponse:
        return self._run(_SETTLEMENTS.page(self._core, filters, limit, cursor))

    def iter_settlements(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> Iterator[m.Settlement]:
        return self._items(_SETTLEMENTS.walk(self._core, filters, limit))

    def get_deposits(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> m.GetDepositsResponse:
        """One page of ``GET /portfolio/deposits`` (amounts in cents; limit 1..500)."""
        return self._run(_DEPOSITS.page(self._core, {}, limit, cursor))

    def iter_deposits(self, *, limit: int | None = None) -> Iterator[m.Deposit]:
        """Every deposit, page after page (newest first, as Kalshi lists them)."""
        return self._items(_DEPOSITS.walk(self._core, {}, limit))

    def get_withdrawals(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> m.GetWithdrawalsResponse:
        """One page of ``GET /portfolio/withdrawals`` (amounts in cents; limit 1..500)."""
        return self._run(_WITHDRAWALS.page(self._core, {}, limit, cursor))

    def iter_withdrawals(self, *, limit: int | None = None) -> Iterator[m.Withdrawal]:
        """Every withdrawal, page after page."""
        return self._items(_WITHDRAWALS.walk(self._core, {}, limit))

    def get_orders(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.GetOrdersResponse:
        return self._run(_ORDERS.page(self._core, filters, limit, cursor))

    def iter_orders(self, *, limit: int | None = None, **filters: QueryValue) -> Iterator[m.Order]:
        return self._items(_ORDERS.walk(self._core, filters, limit))

    def get_order(self, order_id: str) -> m.Order:
        return self._run(self._order_call(order_id))

    def get_account_limits(self) -> m.AccountLimits:
        return self._run(self._limits_call())

    def order_call(
        self,
        method: str,
        path: str,
        model: type[_M],
        *,
        params: Mapping[str, QueryValue] | None = None,
        body: object = None,
        cost: float = 1.0,
        idempotent: bool = False,
    ) -> _M:
        """One order endpoint call with its bucket cost (see :mod:`shared.kalshi.orders`)."""
        call: _Call[_M, _M] = self._costed_call(method, path, model, params, body, cost, idempotent)
        return self._run(call)


# --------------------------------------------------------------------------- async client


class AsyncKalshiClient(_ClientBase):
    """The asyncio twin of :class:`KalshiClient`: same arguments, same methods, awaited.

    Iterators are async (``async for market in client.iter_markets(status="open")``).
    """

    def __init__(
        self,
        environment: KalshiEnvironment | str | None = None,
        *,
        base_url: str | None = None,
        signer: KalshiSigner | None = None,
        timeout: float | httpx.Timeout = _DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rate_limiter: KalshiRateLimiter | None = None,
        rate_limit: bool = True,
        max_pages: int = DEFAULT_MAX_PAGES,
        transport: httpx.AsyncBaseTransport | None = None,
        seed: int | None = None,
    ) -> None:
        self._init_core(
            environment, base_url, signer, retry, rate_limiter, rate_limit, max_pages, seed
        )
        self._http = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            verify=_tls_context(),
            headers={"User-Agent": _USER_AGENT},
            follow_redirects=False,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: Any) -> AsyncKalshiClient:
        """See :meth:`KalshiClient.from_env`."""
        return cls(environment_from_env(env), signer=signer_from_env(env), **options)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncKalshiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- driver: performs the core's actions with asyncio I/O

    async def _run(self, call: _Call[Any, _T]) -> _T:
        protocol = self._core.protocol(self._http.build_request, call)
        outcome: _Outcome = None
        while True:
            try:
                action = protocol.send(outcome)
            except StopIteration as done:
                result: _T = done.value
                return result
            if isinstance(action, _Sleep):
                await asyncio.sleep(action.seconds)
                outcome = None
                continue
            try:
                outcome = await self._http.send(action.request)
            except httpx.RequestError as exc:
                outcome = exc

    async def _pages(self, paged: _Paged[_P, Any]) -> AsyncIterator[_P]:
        walk = CursorWalk(paged.label, self._core.max_pages)
        cursor: str | None = None
        while True:
            page = await self._run(paged.call_for(cursor))
            yield page
            cursor = walk.next_cursor(paged.cursor_of(page))
            if cursor is None:
                return

    async def _items(self, paged: _Paged[Any, _I]) -> AsyncIterator[_I]:
        async for page in self._pages(paged):
            for item in paged.items(page):
                yield item

    # ---- any endpoint

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, QueryValue] | None = None,
        *,
        json: object = None,
        model: type[Any] | None = None,
    ) -> Any:
        """See :meth:`KalshiClient.request`."""
        return await self._run(self._raw_call(method, path, params, json, model))

    # ---- exchange and markets

    async def get_exchange_status(self) -> m.ExchangeStatus:
        return await self._run(self._exchange_status_call())

    async def get_markets(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.GetMarketsResponse:
        return await self._run(_MARKETS.page(self._core, filters, limit, cursor))

    def iter_market_pages(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> AsyncIterator[m.GetMarketsResponse]:
        return self._pages(_MARKETS.walk(self._core, filters, limit))

    def iter_markets(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> AsyncIterator[m.Market]:
        return self._items(_MARKETS.walk(self._core, filters, limit))

    async def get_all_markets(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> list[m.Market]:
        return [market async for market in self.iter_markets(limit=limit, **filters)]

    async def get_market(self, ticker: str) -> m.Market:
        return await self._run(self._market_call(ticker))

    async def get_orderbook(self, ticker: str, depth: int | None = None) -> m.Orderbook:
        return await self._run(self._orderbook_call(ticker, depth))

    async def get_trades(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.GetTradesResponse:
        return await self._run(_TRADES.page(self._core, filters, limit, cursor))

    def iter_trades(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> AsyncIterator[m.Trade]:
        return self._items(_TRADES.walk(self._core, filters, limit))

    async def get_market_candlesticks(
        self,
        series_ticker: str,
        ticker: str,
        *,
        start_ts: int | dt.datetime,
        end_ts: int | dt.datetime,
        period_interval: int,
        include_latest_before_start: bool | None = None,
    ) -> m.CandlesticksResponse:
        return await self._run(
            self._candles_call(
                series_ticker,
                ticker,
                start_ts,
                end_ts,
                period_interval,
                include_latest_before_start,
            )
        )

    # ---- events and series

    async def get_events(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        with_nested_markets: bool | None = None,
        **filters: QueryValue,
    ) -> m.GetEventsResponse:
        filters = {**filters, "with_nested_markets": with_nested_markets}
        return await self._run(_EVENTS.page(self._core, filters, limit, cursor))

    def iter_events(
        self,
        *,
        limit: int | None = None,
        with_nested_markets: bool | None = None,
        **filters: QueryValue,
    ) -> AsyncIterator[m.Event]:
        filters = {**filters, "with_nested_markets": with_nested_markets}
        return self._items(_EVENTS.walk(self._core, filters, limit))

    async def get_event(
        self, event_ticker: str, *, with_nested_markets: bool | None = None
    ) -> m.GetEventResponse:
        return await self._run(self._event_call(event_ticker, with_nested_markets))

    async def get_series(self, series_ticker: str) -> m.Series:
        return await self._run(self._series_call(series_ticker))

    async def get_series_list(self, **filters: QueryValue) -> list[m.Series]:
        return await self._run(self._series_list_call(filters))

    # ---- portfolio and account (signed)

    async def get_balance(self, *, subaccount: int | None = None) -> m.Balance:
        return await self._run(self._balance_call(subaccount))

    async def get_positions(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.PositionsResponse:
        return await self._run(_POSITIONS.page(self._core, filters, limit, cursor))

    def iter_position_pages(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> AsyncIterator[m.PositionsResponse]:
        return self._pages(_POSITIONS.walk(self._core, filters, limit))

    def iter_positions(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> AsyncIterator[m.MarketPosition]:
        return self._items(_POSITIONS.walk(self._core, filters, limit))

    async def get_all_positions(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> m.PositionsResponse:
        pages = [page async for page in self.iter_position_pages(limit=limit, **filters)]
        return _merge_positions(pages)

    async def get_fills(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.FillsResponse:
        return await self._run(_FILLS.page(self._core, filters, limit, cursor))

    def iter_fills(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> AsyncIterator[m.Fill]:
        return self._items(_FILLS.walk(self._core, filters, limit))

    async def get_settlements(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.SettlementsResponse:
        return await self._run(_SETTLEMENTS.page(self._core, filters, limit, cursor))

    def iter_settlements(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> AsyncIterator[m.Settlement]:
        return self._items(_SETTLEMENTS.walk(self._core, filters, limit))

    async def get_deposits(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> m.GetDepositsResponse:
        return await self._run(_DEPOSITS.page(self._core, {}, limit, cursor))

    def iter_deposits(self, *, limit: int | None = None) -> AsyncIterator[m.Deposit]:
        return self._items(_DEPOSITS.walk(self._core, {}, limit))

    async def get_withdrawals(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> m.GetWithdrawalsResponse:
        return await self._run(_WITHDRAWALS.page(self._core, {}, limit, cursor))

    def iter_withdrawals(self, *, limit: int | None = None) -> AsyncIterator[m.Withdrawal]:
        return self._items(_WITHDRAWALS.walk(self._core, {}, limit))

    async def get_orders(
        self, *, cursor: str | None = None, limit: int | None = None, **filters: QueryValue
    ) -> m.GetOrdersResponse:
        return await self._run(_ORDERS.page(self._core, filters, limit, cursor))

    def iter_orders(
        self, *, limit: int | None = None, **filters: QueryValue
    ) -> AsyncIterator[m.Order]:
        return self._items(_ORDERS.walk(self._core, filters, limit))

    async def get_order(self, order_id: str) -> m.Order:
        return await self._run(self._order_call(order_id))

    async def get_account_limits(self) -> m.AccountLimits:
        return await self._run(self._limits_call())

    async def order_call(
        self,
        method: str,
        path: str,
        model: type[_M],
        *,
        params: Mapping[str, QueryValue] | None = None,
        body: object = None,
        cost: float = 1.0,
        idempotent: bool = False,
    ) -> _M:
        """One order endpoint call with its bucket cost (see :mod:`shared.kalshi.orders`)."""
        call = self._costed_call(method, path, model, params, body, cost, idempotent)
        return await self._run(call)
