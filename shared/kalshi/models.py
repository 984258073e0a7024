"""Typed models of Kalshi Trade API v2 responses, in the current fixed-point units.

Field names are exactly the wire names (``yes_bid_dollars``, ``volume_fp``), so a model reads
like the JSON it came from and like Kalshi's docs. Prices and counts decode straight from
Kalshi's strings (``"0.4700"``, ``"3.00"``) to :class:`~decimal.Decimal` without ever being
floats; JSON numbers (older captures) decode exactly too, from their literal digits.
Non-finite values (``"NaN"``, ``"Infinity"``) are rejected, as :mod:`shared.kalshi.money`
does.

Tolerance rules (ADR 0010):

- unknown fields are ignored, so legacy twins (``yes_bid``, ``volume``) and fields Kalshi
  adds later never break parsing;
- fields that carry a market's identity, lifecycle and prices are required, so a body that
  lacks them fails loudly instead of turning into silent ``None`` prices;
- descriptive fields default to ``""`` (the value Kalshi itself uses for "unset" text),
  optional values to ``None`` and lists to empty.

Decode with :func:`decode`, which caches one msgspec decoder per type.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar

import msgspec

from shared.kalshi.money import ONE

__all__ = [
    "AccountLimits",
    "ApiUsageLevelGrant",
    "Balance",
    "BidAskDistribution",
    "BucketLimit",
    "CancelOrderV2Response",
    "Candlestick",
    "CandlesticksResponse",
    "Count",
    "CreateOrderV2Response",
    "Deposit",
    "Dollars",
    "EndpointCost",
    "EndpointCostsResponse",
    "Event",
    "EventPosition",
    "ExchangeIndexStatus",
    "ExchangeStatus",
    "Fill",
    "FillsResponse",
    "GetDepositsResponse",
    "GetEventResponse",
    "GetEventsResponse",
    "GetMarketResponse",
    "GetMarketsResponse",
    "GetOrderResponse",
    "GetOrdersResponse",
    "GetSeriesListResponse",
    "GetSeriesResponse",
    "GetTradesResponse",
    "GetWithdrawalsResponse",
    "IndexedBalance",
    "KalshiModel",
    "Level",
    "Market",
    "MarketPosition",
    "MarketStatus",
    "MarketStatusFilter",
    "Milestone",
    "MveSelectedLeg",
    "Order",
    "Orderbook",
    "OrderbookResponse",
    "PositionsResponse",
    "PriceDistribution",
    "PriceRange",
    "Series",
    "SeriesFeeChange",
    "SeriesFeeChangesResponse",
    "Settlement",
    "SettlementSource",
    "SettlementsResponse",
    "Trade",
    "Withdrawal",
    "decode",
]

#: A dollar amount or price, exact (``"0.4700"`` → ``Decimal("0.4700")``).
Dollars: TypeAlias = Decimal
#: A fixed-point contract count (``"3.00"``), possibly fractional or signed.
Count: TypeAlias = Decimal
#: One order-book level: ``[price_dollars, count_fp]``.
Level: TypeAlias = tuple[Decimal, Decimal]

_M = TypeVar("_M")
_NO_DECIMALS: Callable[[Any], tuple[Any, ...]] = lambda _: ()  # noqa: E731
_DECIMAL_GETTERS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _decimal_getter(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """The Decimal-typed field names of ``cls`` and one C-level getter for all of them."""
    cached = _DECIMAL_GETTERS.get(cls)
    if cached is None:
        names = tuple(
            f.name
            for f in msgspec.structs.fields(cls)
            if f.type is Decimal or f.type == (Decimal | None)
        )
        if not names:
            getter = _NO_DECIMALS
        elif len(names) == 1:
            single = operator.attrgetter(names[0])
            getter = lambda obj: (single(obj),)  # noqa: E731
        else:
            getter = operator.attrgetter(*names)
        cached = _DECIMAL_GETTERS[cls] = (names, getter)
    return cached


def _check_finite(obj: object) -> None:
    names, getter = _decimal_getter(type(obj))
    for value in getter(obj):
        if value is not None and not value.is_finite():
            bad = [(n, v) for n, v in zip(names, getter(obj), strict=True) if v is value]
            raise ValueError(f"{bad[0][0]}: {value} is not a finite fixed-point number")


class KalshiModel(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Base of every response model: immutable, keyword-only, unknown fields ignored.

    ``gc=False``: models are immutable trees without reference cycles, so the cycle
    collector need not track the thousands of them a market page creates (ADR 0010).
    """

    def __post_init__(self) -> None:
        # msgspec accepts "NaN"/"Infinity" as Decimals; an exact money value never is one.
        _check_finite(self)


class MarketStatus(StrEnum):
    """Market ``status`` values in REST responses (recorded: ``markets__status_*.json``).

    Models keep ``status`` as a plain ``str`` so a status Kalshi adds tomorrow still parses;
    compare against these members (``market.status == MarketStatus.ACTIVE``).
    """

    INITIALIZED = "initialized"
    INACTIVE = "inactive"
    ACTIVE = "active"
    CLOSED = "closed"
    DETERMINED = "determined"
    DISPUTED = "disputed"
    AMENDED = "amended"
    FINALIZED = "finalized"


class MarketStatusFilter(StrEnum):
    """Words the ``GET /markets?status=`` filter accepts; they differ from response statuses."""

    UNOPENED = "unopened"
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"
    SETTLED = "settled"


# --------------------------------------------------------------------------- markets


class PriceRange(KalshiModel, frozen=True, kw_only=True):
    """A band of valid prices with its tick (``price_ranges``: the source of truth)."""

    start: Dollars
    end: Dollars
    step: Dollars


class MveSelectedLeg(KalshiModel, frozen=True, kw_only=True):
    event_ticker: str = ""
    market_ticker: str = ""
    side: str = ""
    yes_settlement_value_dollars: Dollars | None = None


class Market(KalshiModel, frozen=True, kw_only=True):
    """A market in the CURRENT wire format (OpenAPI 3.28; recorded: ``markets__single.json``).

    ``no_bid_dollars``/``no_ask_dollars`` are Kalshi's own derivations (1 - yes ask/bid). There
    is no ``series_ticker`` on a market: get it from the market's event.
    """

    ticker: str
    event_ticker: str
    market_type: str
    status: str
    open_time: dt.datetime
    close_time: dt.datetime
    yes_bid_dollars: Dollars
    yes_ask_dollars: Dollars
    no_bid_dollars: Dollars
    no_ask_dollars: Dollars
    last_price_dollars: Dollars
    volume_fp: Count
    open_interest_fp: Count

    yes_bid_size_fp: Count | None = None
    yes_ask_size_fp: Count | None = None
    volume_24h_fp: Count | None = None
    previous_yes_bid_dollars: Dollars | None = None
    previous_yes_ask_dollars: Dollars | None = None
    previous_price_dollars: Dollars | None = None
    notional_value_dollars: Dollars | None = None
    liquidity_dollars: Dollars | None = None
    settlement_value_dollars: Dollars | None = None

    title: str = ""
    subtitle: str = ""
    yes_sub_title: str = ""
    no_sub_title: str = ""
    result: str = ""
    expiration_value: str = ""
    rules_primary: str = ""
    rules_secondary: str = ""
    price_level_structure: str = ""
    strike_type: str | None = None
    early_close_condition: str | None = None
    mve_collection_ticker: str | None = None
    primary_participant_key: str | None = None
    functional_strike: str | None = None

    created_time: dt.datetime | None = None
    updated_time: dt.datetime | None = None
    expected_expiration_time: dt.datetime | None = None
    expiration_time: dt.datetime | None = None
    latest_expiration_time: dt.datetime | None = None
    settlement_ts: dt.datetime | None = None
    occurrence_datetime: dt.datetime | None = None
    fee_waiver_expiration_time: dt.datetime | None = None

    settlement_timer_seconds: int | None = None
    can_close_early: bool | None = None
    is_provisional: bool | None = None
    exchange_index: int | None = None
    floor_strike: Decimal | None = None
    cap_strike: Decimal | None = None
    custom_strike: dict[str, Any] | None = None
    price_ranges: list[PriceRange] = []
    mve_selected_legs: list[MveSelectedLeg] = []

    @property
    def is_active(self) -> bool:
        return self.status == MarketStatus.ACTIVE

    @property
    def mid_dollars(self) -> Dollars | None:
        """Midpoint of the YES quote, or None when one side has no quote (0 or 1)."""
        bid, ask = self.yes_bid_dollars, self.yes_ask_dollars
        if bid <= 0 or ask <= 0 or ask >= ONE or ask < bid:
            return None
        return (bid + ask) / 2


class GetMarketsResponse(KalshiModel, frozen=True, kw_only=True):
    markets: list[Market] = []
    cursor: str | None = None


class GetMarketResponse(KalshiModel, frozen=True, kw_only=True):
    market: Market


# --------------------------------------------------------------------------- events, series


class SettlementSource(KalshiModel, frozen=True, kw_only=True):
    name: str = ""
    url: str = ""


class Event(KalshiModel, frozen=True, kw_only=True):
    """``EventData``: groups markets; carries the ``series_ticker`` markets lack."""

    event_ticker: str
    series_ticker: str
    title: str = ""
    sub_title: str = ""
    category: str | None = None
    collateral_return_type: str = ""
    mutually_exclusive: bool | None = None
    strike_date: dt.datetime | None = None
    strike_period: str | None = None
    markets: list[Market] | None = None
    available_on_brokers: bool | None = None
    product_metadata: dict[str, Any] | None = None
    settlement_sources: list[SettlementSource] | None = None
    last_updated_ts: dt.datetime | None = None
    fee_type_override: str | None = None
    fee_multiplier_override: Decimal | None = None
    exchange_index: int | None = None


class Milestone(KalshiModel, frozen=True, kw_only=True):
    id: str
    category: str = ""
    type: str = ""
    title: str = ""
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    related_event_tickers: list[str] = []
    primary_event_tickers: list[str] = []
    last_updated_ts: dt.datetime | None = None


class GetEventsResponse(KalshiModel, frozen=True, kw_only=True):
    events: list[Event] = []
    milestones: list[Milestone] | None = None
    cursor: str | None = None


class GetEventResponse(KalshiModel, frozen=True, kw_only=True):
    """``GET /events/{ticker}``; top-level ``markets`` is deprecated for ``event.markets``."""

    event: Event
    markets: list[Market] = []

    @property
    def all_markets(self) -> list[Market]:
        return self.event.markets if self.event.markets else self.markets


class Series(KalshiModel, frozen=True, kw_only=True):
    ticker: str
    title: str = ""
    frequency: str = ""
    category: str = ""
    tags: list[str] | None = None
    settlement_sources: list[SettlementSource] | None = None
    contract_url: str = ""
    contract_terms_url: str = ""
    product_metadata: dict[str, Any] | None = None
    fee_type: str = ""
    fee_multiplier: Decimal | None = None
    additional_prohibitions: list[str] | None = None
    volume_fp: Count | None = None
    last_updated_ts: dt.datetime | None = None
    exchange_index: int | None = None


class GetSeriesResponse(KalshiModel, frozen=True, kw_only=True):
    series: Series


class GetSeriesListResponse(KalshiModel, frozen=True, kw_only=True):
    series: list[Series] | None = None


class SeriesFeeChange(KalshiModel, frozen=True, kw_only=True):
    id: str
    series_ticker: str
    fee_type: str = ""
    fee_multiplier: Decimal | None = None
    scheduled_ts: dt.datetime | None = None


class SeriesFeeChangesResponse(KalshiModel, frozen=True, kw_only=True):
    series_fee_change_arr: list[SeriesFeeChange] = []


# --------------------------------------------------------------------------- order book


class Orderbook(KalshiModel, frozen=True, kw_only=True):
    """Bids only, each side ascending by price (best bid last), NO side in NO-leg prices.

    A NO bid at 0.48 is a YES ask at 0.52, hence the derived asks. An empty side may arrive
    as a missing key, ``null`` or ``[]``; all three read as "no levels".
    """

    yes_dollars: list[Level] | None = None
    no_dollars: list[Level] | None = None

    def __post_init__(self) -> None:
        for side in (self.yes_dollars, self.no_dollars):
            for price, count in side or ():
                if not (price.is_finite() and count.is_finite()):
                    raise ValueError(f"order book level {price}, {count} is not finite")

    @property
    def yes_bids(self) -> list[Level]:
        return self.yes_dollars or []

    @property
    def no_bids(self) -> list[Level]:
        return self.no_dollars or []

    @staticmethod
    def _best(levels: list[Level] | None) -> Level | None:
        live = [level for level in levels or () if level[1] > 0]
        return max(live, key=lambda level: level[0]) if live else None

    @property
    def best_yes_bid(self) -> Level | None:
        """Highest YES bid ``(price, size)``, or None."""
        return self._best(self.yes_dollars)

    @property
    def best_no_bid(self) -> Level | None:
        """Highest NO bid ``(price, size)`` in NO-leg pricing, or None."""
        return self._best(self.no_dollars)

    @property
    def best_yes_ask(self) -> Level | None:
        """Cheapest YES ask ``(1 - best NO bid, size)``, or None."""
        best = self.best_no_bid
        return (ONE - best[0], best[1]) if best else None

    @property
    def best_no_ask(self) -> Level | None:
        """Cheapest NO ask ``(1 - best YES bid, size)``, or None."""
        best = self.best_yes_bid
        return (ONE - best[0], best[1]) if best else None

    @property
    def spread_dollars(self) -> Dollars | None:
        """YES ask minus YES bid, or None when either side is empty."""
        bid, ask = self.best_yes_bid, self.best_yes_ask
        return ask[0] - bid[0] if bid and ask else None


class OrderbookResponse(KalshiModel, frozen=True, kw_only=True):
    """``GET /markets/{ticker}/orderbook``: ``orderbook_fp`` now; ``orderbook`` in early 2026.

    The transitional ``orderbook`` object carried the same ``yes_dollars``/``no_dollars``
    levels (counts as ints) beside cent arrays, so it is read as a fallback.
    """

    orderbook_fp: Orderbook | None = None
    orderbook: Orderbook | None = None

    @property
    def book(self) -> Orderbook:
        return self.orderbook_fp or self.orderbook or Orderbook()


# --------------------------------------------------------------------------- trades, candles


class Trade(KalshiModel, frozen=True, kw_only=True):
    trade_id: str
    ticker: str
    count_fp: Count
    yes_price_dollars: Dollars
    no_price_dollars: Dollars
    created_time: dt.datetime
    taker_outcome_side: str | None = None
    taker_book_side: str | None = None
    taker_side: str | None = None
    is_block_trade: bool | None = None


class GetTradesResponse(KalshiModel, frozen=True, kw_only=True):
    trades: list[Trade] = []
    cursor: str | None = None


class BidAskDistribution(KalshiModel, frozen=True, kw_only=True):
    """OHLC of the best YES bid or ask over one candle (null in a synthetic lead candle)."""

    open_dollars: Dollars | None = None
    low_dollars: Dollars | None = None
    high_dollars: Dollars | None = None
    close_dollars: Dollars | None = None


class PriceDistribution(KalshiModel, frozen=True, kw_only=True):
    """Trade prices over one candle; every field is null when nothing traded."""

    open_dollars: Dollars | None = None
    low_dollars: Dollars | None = None
    high_dollars: Dollars | None = None
    close_dollars: Dollars | None = None
    mean_dollars: Dollars | None = None
    previous_dollars: Dollars | None = None
    min_dollars: Dollars | None = None
    max_dollars: Dollars | None = None


class Candlestick(KalshiModel, frozen=True, kw_only=True):
    """One market candle; ``end_period_ts`` is the inclusive end, Unix seconds."""

    end_period_ts: int
    yes_bid: BidAskDistribution | None = None
    yes_ask: BidAskDistribution | None = None
    price: PriceDistribution | None = None
    volume_fp: Count | None = None
    open_interest_fp: Count | None = None


class CandlesticksResponse(KalshiModel, frozen=True, kw_only=True):
    ticker: str = ""
    candlesticks: list[Candlestick] = []


# --------------------------------------------------------------------------- portfolio


class IndexedBalance(KalshiModel, frozen=True, kw_only=True):
    balance: Dollars
    exchange_index: int | None = None


class Balance(KalshiModel, frozen=True, kw_only=True):
    """``GET /portfolio/balance``. ``balance``/``portfolio_value`` are still integer CENTS.

    ``balance`` truncates sub-cent amounts; ``balance_dollars`` is exact when present.
    """

    balance: int
    balance_dollars: Dollars | None = None
    portfolio_value: int | None = None
    updated_ts: int | None = None
    balance_breakdown: list[IndexedBalance] | None = None

    @property
    def exact_balance_dollars(self) -> Dollars:
        """The exact balance: ``balance_dollars`` if sent, else the cents converted."""
        if self.balance_dollars is not None:
            return self.balance_dollars
        return Decimal(self.balance).scaleb(-2)


class MarketPosition(KalshiModel, frozen=True, kw_only=True):
    """Unsettled position in one market; ``position_fp`` > 0 is YES, < 0 is NO.

    ``last_updated_ts`` is an RFC 3339 string on the wire despite its name.
    """

    ticker: str
    position_fp: Count
    total_traded_dollars: Dollars | None = None
    market_exposure_dollars: Dollars | None = None
    realized_pnl_dollars: Dollars | None = None
    fees_paid_dollars: Dollars | None = None
    last_updated_ts: dt.datetime | None = None
    resting_orders_count: int | None = None
    exchange_index: int | None = None


class EventPosition(KalshiModel, frozen=True, kw_only=True):
    event_ticker: str
    total_cost_dollars: Dollars | None = None
    total_cost_shares_fp: Count | None = None
    event_exposure_dollars: Dollars | None = None
    realized_pnl_dollars: Dollars | None = None
    fees_paid_dollars: Dollars | None = None
    exchange_index: int | None = None


class PositionsResponse(KalshiModel, frozen=True, kw_only=True):
    market_positions: list[MarketPosition] = []
    event_positions: list[EventPosition] = []
    cursor: str | None = None


class Fill(KalshiModel, frozen=True, kw_only=True):
    """One fill. ``fee_cost`` is DOLLARS (6 dp) on the wire, whatever older specs say."""

    fill_id: str
    order_id: str
    ticker: str
    count_fp: Count
    yes_price_dollars: Dollars
    no_price_dollars: Dollars
    is_taker: bool
    fee_cost: Dollars
    trade_id: str | None = None
    market_ticker: str | None = None
    outcome_side: str | None = None
    book_side: str | None = None
    side: str | None = None
    action: str | None = None
    created_time: dt.datetime | None = None
    subaccount_number: int | None = None
    ts: int | None = None
    exchange_index: int | None = None


class FillsResponse(KalshiModel, frozen=True, kw_only=True):
    fills: list[Fill] = []
    cursor: str | None = None


class Settlement(KalshiModel, frozen=True, kw_only=True):
    """A settled market position; ``revenue`` and ``value`` are integer CENTS."""

    ticker: str
    market_result: str
    revenue: int
    settled_time: dt.datetime
    event_ticker: str | None = None
    yes_count_fp: Count | None = None
    yes_total_cost_dollars: Dollars | None = None
    no_count_fp: Count | None = None
    no_total_cost_dollars: Dollars | None = None
    fee_cost: Dollars | None = None
    value: int | None = None
    exchange_index: int | None = None


class SettlementsResponse(KalshiModel, frozen=True, kw_only=True):
    settlements: list[Settlement] = []
    cursor: str | None = None


class Deposit(KalshiModel, frozen=True, kw_only=True):
    """``GET /portfolio/deposits`` row. Amounts are integer CENTS, times Unix seconds;
    ``status`` ``applied`` means the money is in the balance (pending|applied|failed|returned)."""

    id: str
    status: str
    type: str
    amount_cents: int
    fee_cents: int
    created_ts: int
    finalized_ts: int | None = None


class Withdrawal(Deposit, frozen=True, kw_only=True):
    """``GET /portfolio/withdrawals`` row: the same fields as a :class:`Deposit`."""


class GetDepositsResponse(KalshiModel, frozen=True, kw_only=True):
    deposits: list[Deposit] = []
    cursor: str | None = None


class GetWithdrawalsResponse(KalshiModel, frozen=True, kw_only=True):
    withdrawals: list[Withdrawal] = []
    cursor: str | None = None


# --------------------------------------------------------------------------- orders


class Order(KalshiModel, frozen=True, kw_only=True):
    order_id: str
    ticker: str
    status: str
    yes_price_dollars: Dollars
    no_price_dollars: Dollars
    user_id: str | None = None
    client_order_id: str | None = None
    side: str | None = None
    action: str | None = None
    outcome_side: str | None = None
    book_side: str | None = None
    type: str | None = None
    fill_count_fp: Count | None = None
    remaining_count_fp: Count | None = None
    initial_count_fp: Count | None = None
    taker_fill_cost_dollars: Dollars | None = None
    maker_fill_cost_dollars: Dollars | None = None
    taker_fees_dollars: Dollars | None = None
    maker_fees_dollars: Dollars | None = None
    expiration_time: dt.datetime | None = None
    created_time: dt.datetime | None = None
    last_update_time: dt.datetime | None = None
    self_trade_prevention_type: str | None = None
    order_group_id: str | None = None
    cancel_order_on_pause: bool | None = None
    subaccount_number: int | None = None
    exchange_index: int | None = None


class GetOrderResponse(KalshiModel, frozen=True, kw_only=True):
    """``GET /portfolio/orders/{id}``; also the legacy create and cancel answers."""

    order: Order
    reduced_by_fp: Count | None = None


class GetOrdersResponse(KalshiModel, frozen=True, kw_only=True):
    orders: list[Order] = []
    cursor: str | None = None


class CreateOrderV2Response(KalshiModel, frozen=True, kw_only=True):
    """``POST /portfolio/events/orders`` (V2): counts and prices as fixed-point strings."""

    order_id: str
    client_order_id: str | None = None
    fill_count: Count | None = None
    remaining_count: Count | None = None
    average_fill_price: Dollars | None = None
    average_fee_paid: Dollars | None = None
    ts_ms: int | None = None


class CancelOrderV2Response(KalshiModel, frozen=True, kw_only=True):
    order_id: str
    reduced_by: Count | None = None
    ts_ms: int | None = None


class AmendOrderV2Response(KalshiModel, frozen=True, kw_only=True):
    """``POST /portfolio/events/orders/{id}/amend`` (V2)."""

    order_id: str
    client_order_id: str | None = None
    remaining_count: Count | None = None
    fill_count: Count | None = None
    average_fill_price: Dollars | None = None
    average_fee_paid: Dollars | None = None
    ts_ms: int | None = None


class DecreaseOrderV2Response(KalshiModel, frozen=True, kw_only=True):
    """``POST /portfolio/events/orders/{id}/decrease`` (V2)."""

    order_id: str
    remaining_count: Count
    client_order_id: str | None = None
    ts_ms: int | None = None


class OrderErrorBody(KalshiModel, frozen=True, kw_only=True):
    """The per-item ``error`` of a batch answer (Kalshi's ErrorResponse)."""

    code: str | None = None
    message: str | None = None
    details: str | None = None


class BatchCreatedOrder(KalshiModel, frozen=True, kw_only=True):
    order_id: str | None = None
    client_order_id: str | None = None
    fill_count: Count | None = None
    remaining_count: Count | None = None
    average_fill_price: Dollars | None = None
    average_fee_paid: Dollars | None = None
    ts_ms: int | None = None
    error: OrderErrorBody | None = None


class BatchCreateOrdersV2Response(KalshiModel, frozen=True, kw_only=True):
    orders: list[BatchCreatedOrder]


class BatchCanceledOrder(KalshiModel, frozen=True, kw_only=True):
    order_id: str
    reduced_by: Count
    client_order_id: str | None = None
    ts_ms: int | None = None
    error: OrderErrorBody | None = None


class BatchCancelOrdersV2Response(KalshiModel, frozen=True, kw_only=True):
    orders: list[BatchCanceledOrder]


class QueuePositionResponse(KalshiModel, frozen=True, kw_only=True):
    """``GET /portfolio/orders/{id}/queue_position``: contracts ahead of the order."""

    queue_position_fp: Count


class OrderQueuePosition(KalshiModel, frozen=True, kw_only=True):
    order_id: str
    market_ticker: str
    queue_position_fp: Count


class QueuePositionsResponse(KalshiModel, frozen=True, kw_only=True):
    queue_positions: list[OrderQueuePosition] = []


# --------------------------------------------------------------------------- exchange, account


class ExchangeIndexStatus(KalshiModel, frozen=True, kw_only=True):
    exchange_index: int | str | None = None
    description: str = ""
    exchange_active: bool | None = None
    trading_active: bool | None = None
    intra_exchange_transfers_active: bool | None = None


class ExchangeStatus(KalshiModel, frozen=True, kw_only=True):
    """``GET /exchange/status`` (also the body of its 500/503/504 answers)."""

    exchange_active: bool
    trading_active: bool
    exchange_estimated_resume_time: dt.datetime | None = None
    intra_exchange_transfers_active: bool | None = None
    exchange_index_statuses: list[ExchangeIndexStatus] | None = None


class BucketLimit(KalshiModel, frozen=True, kw_only=True):
    """One of the key's token buckets, in Kalshi tokens (a default request costs 10)."""

    refill_rate: int
    bucket_capacity: int


class ApiUsageLevelGrant(KalshiModel, frozen=True, kw_only=True):
    level: str
    exchange_instance: str | None = None
    source: str | None = None
    expires_ts: int | None = None


class AccountLimits(KalshiModel, frozen=True, kw_only=True):
    """``GET /account/limits``: the key's tier and its Read/Write buckets."""

    usage_tier: str
    read: BucketLimit
    write: BucketLimit
    grants: list[ApiUsageLevelGrant] = []


class EndpointCost(KalshiModel, frozen=True, kw_only=True):
    method: str
    path: str
    cost: int


class EndpointCostsResponse(KalshiModel, frozen=True, kw_only=True):
    """``GET /account/endpoint_costs``: token costs that differ from ``default_cost``."""

    default_cost: int
    endpoint_costs: list[EndpointCost] = []


# --------------------------------------------------------------------------- decoding

_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def decoder_for(model: type[_M]) -> msgspec.json.Decoder[_M]:
    """A cached msgspec JSON decoder for ``model`` (building one is the costly part)."""
    decoder = _DECODERS.get(model)
    if decoder is None:
        decoder = msgspec.json.Decoder(model)
        _DECODERS[model] = decoder
    return decoder


def decode(body: bytes | str, model: type[_M]) -> _M:
    """Decode one JSON body into ``model``; raises ``msgspec.ValidationError`` on mismatch."""
    return decoder_for(model).decode(body)
