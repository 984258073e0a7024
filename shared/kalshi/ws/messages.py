"""Typed Kalshi WebSocket frames, parsed exactly and fast.

Every frame Kalshi sends is a JSON object whose ``type`` names its shape; the payload sits under
``msg`` beside the envelope's ``sid``/``seq``/``id``. The classes below mirror that envelope
one-to-one (``OrderbookDelta.msg.price_dollars``) so a frame decodes straight into them with
:mod:`msgspec` in a single pass: no intermediate dicts, prices and counts as exact
:class:`~decimal.Decimal` (from strings, and from the JSON numbers some captures show, digit for
digit). Field names keep Kalshi's units (``*_dollars``, ``*_fp``).

Only the fields a consumer cannot do without are required; deprecated and recently added
fields default to ``None`` so a server that omits them (an older Kalshi, the simulator) still
parses. A frame whose ``type`` is unknown, or that does not fit its declared shape, becomes an
:class:`UnknownMessage` instead of an exception: the stream must survive Kalshi adding a type.

The client adds events of its own (:class:`SequenceGap`, :class:`BookInvalidated`,
:class:`SubscriptionTerminated`) to the same stream, so one ``async for`` sees everything in
order.
"""

from __future__ import annotations

from decimal import Decimal
from enum import IntEnum
from typing import Any, Literal, TypeAlias

import msgspec

from shared.kalshi.models import _check_finite

__all__ = [
    "TERMINAL_ERROR_CODES",
    "BookInvalidated",
    "ClientEvent",
    "CommandReply",
    "DataMessage",
    "ErrorPayload",
    "ErrorReply",
    "EventFeeUpdateMessage",
    "EventFeeUpdatePayload",
    "EventLifecycleMessage",
    "EventLifecyclePayload",
    "FillMessage",
    "FillPayload",
    "MarketLifecycleMessage",
    "MarketLifecyclePayload",
    "MarketPositionMessage",
    "MarketPositionPayload",
    "MultivariateMarketLifecycleMessage",
    "OkPayload",
    "OkReply",
    "OrderGroupUpdateMessage",
    "OrderbookDelta",
    "OrderbookDeltaPayload",
    "OrderbookSnapshot",
    "OrderbookSnapshotPayload",
    "PriceLevel",
    "PriceRange",
    "SequenceGap",
    "SubscribedPayload",
    "SubscribedReply",
    "SubscriptionInfo",
    "SubscriptionTerminated",
    "TickerMessage",
    "TickerPayload",
    "TradeMessage",
    "TradePayload",
    "UnknownMessage",
    "UnsubscribedReply",
    "WireMessage",
    "WsErrorCode",
    "WsEvent",
    "parse_frame",
]

Side = Literal["yes", "no"]
PriceLevel: TypeAlias = tuple[Decimal, Decimal]
"""One order-book level: ``(price_dollars, count_fp)``."""


class WsErrorCode(IntEnum):
    """Kalshi's WebSocket command error codes (AsyncAPI ``x-error-codes``)."""

    UNABLE_TO_PROCESS_MESSAGE = 1
    PARAMS_REQUIRED = 2
    CHANNELS_REQUIRED = 3
    SUBSCRIPTION_IDS_REQUIRED = 4
    UNKNOWN_COMMAND = 5
    ALREADY_SUBSCRIBED = 6
    UNKNOWN_SUBSCRIPTION_ID = 7
    UNKNOWN_CHANNEL_NAME = 8
    AUTHENTICATION_REQUIRED = 9
    CHANNEL_ERROR = 10
    INVALID_PARAMETER = 11
    EXACTLY_ONE_SUBSCRIPTION_ID_REQUIRED = 12
    UNSUPPORTED_ACTION = 13
    MARKET_TICKER_REQUIRED = 14
    ACTION_REQUIRED = 15
    MARKET_NOT_FOUND = 16
    INTERNAL_ERROR = 17
    COMMAND_TIMEOUT = 18
    SHARD_FACTOR_MUST_BE_POSITIVE = 19
    SHARD_FACTOR_REQUIRED_WITH_SHARD_KEY = 20
    SHARD_KEY_OUT_OF_RANGE = 21
    SHARD_FACTOR_TOO_LARGE = 22
    MATCH_IDS_REQUIRED = 23
    INDEX_IDS_REQUIRED = 24
    SUBSCRIPTION_BUFFER_OVERFLOW = 25
    SUBSCRIPTION_MARKET_LIMIT_EXCEEDED = 26
    TOO_MANY_REQUESTS = 27
    UNDERLYING_TICKERS_REQUIRED = 28


TERMINAL_ERROR_CODES = frozenset(
    {
        WsErrorCode.CHANNEL_ERROR,
        WsErrorCode.INTERNAL_ERROR,
        WsErrorCode.SUBSCRIPTION_BUFFER_OVERFLOW,
    }
)
"""Codes after which the subscription is dead and the caller must resubscribe."""


# --------------------------------------------------------------------------------------------
# Command replies


class SubscribedPayload(msgspec.Struct, frozen=True):
    channel: str
    sid: int


class SubscriptionInfo(msgspec.Struct, frozen=True):
    """One row of ``list_subscriptions`` (and what :meth:`subscribe` returns)."""

    channel: str
    sid: int


class OkPayload(msgspec.Struct, frozen=True):
    """``update_subscription`` reply body: the full ticker list after the update."""

    market_tickers: list[str] | None = None
    market_ids: list[str] | None = None


class ErrorPayload(msgspec.Struct, frozen=True):
    code: int
    msg: str = ""
    market_ticker: str | None = None
    market_id: str | None = None


class SubscribedReply(msgspec.Struct, frozen=True, tag_field="type", tag="subscribed"):
    id: int | None = None
    msg: SubscribedPayload | None = None


class UnsubscribedReply(msgspec.Struct, frozen=True, tag_field="type", tag="unsubscribed"):
    id: int | None = None
    sid: int | None = None
    seq: int | None = None


class OkReply(msgspec.Struct, frozen=True, tag_field="type", tag="ok"):
    """Reply to ``update_subscription`` (object ``msg``) or ``list_subscriptions`` (array).

    ``market_tickers`` and ``subscriptions`` at the top level are the January-2026 shapes.
    """

    id: int | None = None
    sid: int | None = None
    seq: int | None = None
    msg: OkPayload | list[SubscriptionInfo] | None = None
    market_tickers: list[str] | None = None
    subscriptions: list[SubscriptionInfo] | None = None

    @property
    def tickers(self) -> list[str] | None:
        if isinstance(self.msg, OkPayload) and self.msg.market_tickers is not None:
            return self.msg.market_tickers
        return self.market_tickers

    @property
    def subscription_list(self) -> list[SubscriptionInfo] | None:
        if isinstance(self.msg, list):
            return self.msg
        return self.subscriptions


class ErrorReply(msgspec.Struct, frozen=True, tag_field="type", tag="error"):
    id: int | None = None
    sid: int | None = None
    msg: ErrorPayload = ErrorPayload(code=0)

    @property
    def code(self) -> int:
        return self.msg.code

    @property
    def terminal(self) -> bool:
        return self.msg.code in TERMINAL_ERROR_CODES


# --------------------------------------------------------------------------------------------
# Channel data


class OrderbookSnapshotPayload(msgspec.Struct, frozen=True):
    """Levels ascend by price (best bid last); a side's key is absent when the side is empty."""

    market_ticker: str
    market_id: str | None = None
    yes_dollars_fp: tuple[PriceLevel, ...] = ()
    no_dollars_fp: tuple[PriceLevel, ...] = ()


class OrderbookDeltaPayload(msgspec.Struct, frozen=True):
    """``delta_fp`` is a signed change of resting size at ``(side, price_dollars)``."""

    market_ticker: str
    price_dollars: Decimal
    delta_fp: Decimal
    side: Side
    market_id: str | None = None
    client_order_id: str | None = None
    subaccount: int | None = None
    ts: str | int | None = None
    ts_ms: int | None = None


class _FinitePayload(msgspec.Struct, frozen=True):
    """Money and counts must be finite: msgspec accepts "NaN"/"Infinity" as Decimals, and a
    NaN price reaching a position or P&L would poison every sum after it. Such a frame
    becomes an :class:`UnknownMessage` with the reason, like any other malformed frame.
    (Order book levels are checked where they are applied, in ``book.py``.)"""

    def __post_init__(self) -> None:
        _check_finite(self)


class TickerPayload(_FinitePayload, frozen=True):
    market_ticker: str
    market_id: str | None = None
    price_dollars: Decimal | None = None
    yes_bid_dollars: Decimal | None = None
    yes_ask_dollars: Decimal | None = None
    yes_bid_size_fp: Decimal | None = None
    yes_ask_size_fp: Decimal | None = None
    last_trade_size_fp: Decimal | None = None
    volume_fp: Decimal | None = None
    open_interest_fp: Decimal | None = None
    dollar_volume: int | None = None
    dollar_open_interest: int | None = None
    ts: int | None = None
    ts_ms: int | None = None
    time: str | None = None


class TradePayload(_FinitePayload, frozen=True):
    trade_id: str
    market_ticker: str
    yes_price_dollars: Decimal
    count_fp: Decimal
    no_price_dollars: Decimal | None = None
    taker_outcome_side: Side | None = None
    taker_book_side: Literal["bid", "ask"] | None = None
    taker_side: Side | None = None
    is_block_trade: bool | None = None
    ts: int | None = None
    ts_ms: int | None = None


class FillPayload(_FinitePayload, frozen=True):
    """One of your fills. ``outcome_side``/``book_side`` are canonical; ``side``/``action`` and
    ``purchased_side`` are deprecated but still sent."""

    trade_id: str
    order_id: str
    market_ticker: str
    yes_price_dollars: Decimal
    count_fp: Decimal
    is_taker: bool | None = None
    fee_cost: Decimal | None = None
    outcome_side: Side | None = None
    book_side: Literal["bid", "ask"] | None = None
    post_position_fp: Decimal | None = None
    side: Side | None = None
    action: Literal["buy", "sell"] | None = None
    purchased_side: Side | None = None
    client_order_id: str | None = None
    exchange_index: int | None = None
    subaccount: int | None = None
    ts: int | None = None
    ts_ms: int | None = None


class MarketPositionPayload(_FinitePayload, frozen=True):
    market_ticker: str
    position_fp: Decimal
    position_cost_dollars: Decimal | None = None
    realized_pnl_dollars: Decimal | None = None
    fees_paid_dollars: Decimal | None = None
    position_fee_cost_dollars: Decimal | None = None
    volume_fp: Decimal | None = None
    user_id: str | None = None
    subaccount: int | None = None


class PriceRange(msgspec.Struct, frozen=True):
    start: Decimal
    end: Decimal
    step: Decimal


class MarketLifecyclePayload(msgspec.Struct, frozen=True):
    """Which keys are present depends on ``event_type`` (AsyncAPI); times are Unix s."""

    market_ticker: str
    event_type: str
    exchange_index: int | None = None
    open_ts: int | None = None
    close_ts: int | None = None
    result: str | None = None
    determination_ts: int | None = None
    settlement_value: Decimal | None = None
    settled_ts: int | None = None
    is_deactivated: bool | None = None
    price_level_structure: str | None = None
    price_ranges: list[PriceRange] | None = None
    strike_type: str | None = None
    floor_strike: Decimal | None = None
    cap_strike: Decimal | None = None
    custom_strike: dict[str, Any] | None = None
    yes_sub_title: str | None = None
    additional_metadata: dict[str, Any] | None = None


class EventLifecyclePayload(msgspec.Struct, frozen=True):
    event_ticker: str
    title: str = ""
    subtitle: str | None = None
    series_ticker: str | None = None
    collateral_return_type: str | None = None
    exchange_index: int | None = None
    strike_date: int | None = None
    strike_period: str | None = None
    sub_title: str | None = None  # legacy spelling of ``subtitle``


class EventFeeUpdatePayload(msgspec.Struct, frozen=True):
    event_ticker: str
    fee_type_override: str | None = None
    fee_multiplier_override: Decimal | None = None


class OrderbookSnapshot(msgspec.Struct, frozen=True, tag_field="type", tag="orderbook_snapshot"):
    sid: int
    seq: int
    msg: OrderbookSnapshotPayload

    @property
    def market_ticker(self) -> str:
        return self.msg.market_ticker


class OrderbookDelta(msgspec.Struct, frozen=True, tag_field="type", tag="orderbook_delta"):
    sid: int
    seq: int
    msg: OrderbookDeltaPayload

    @property
    def market_ticker(self) -> str:
        return self.msg.market_ticker


class TickerMessage(msgspec.Struct, frozen=True, tag_field="type", tag="ticker"):
    sid: int
    msg: TickerPayload

    @property
    def market_ticker(self) -> str:
        return self.msg.market_ticker


class TradeMessage(msgspec.Struct, frozen=True, tag_field="type", tag="trade"):
    sid: int
    msg: TradePayload
    seq: int | None = None  # production captures "sometimes" carry one; it is not checked

    @property
    def market_ticker(self) -> str:
        return self.msg.market_ticker


class FillMessage(msgspec.Struct, frozen=True, tag_field="type", tag="fill"):
    sid: int
    msg: FillPayload

    @property
    def market_ticker(self) -> str:
        return self.msg.market_ticker


class MarketPositionMessage(msgspec.Struct, frozen=True, tag_field="type", tag="market_position"):
    """Sent on the ``market_positions`` channel; note the singular message type."""

    sid: int
    msg: MarketPositionPayload

    @property
    def market_ticker(self) -> str:
        return self.msg.market_ticker


class MarketLifecycleMessage(
    msgspec.Struct, frozen=True, tag_field="type", tag="market_lifecycle_v2"
):
    sid: int
    msg: MarketLifecyclePayload

    @property
    def market_ticker(self) -> str:
        return self.msg.market_ticker


class MultivariateMarketLifecycleMessage(
    msgspec.Struct, frozen=True, tag_field="type", tag="multivariate_market_lifecycle"
):
    sid: int
    msg: MarketLifecyclePayload

    @property
    def market_ticker(self) -> str:
        return self.msg.market_ticker


class EventLifecycleMessage(msgspec.Struct, frozen=True, tag_field="type", tag="event_lifecycle"):
    sid: int
    msg: EventLifecyclePayload


class EventFeeUpdateMessage(msgspec.Struct, frozen=True, tag_field="type", tag="event_fee_update"):
    sid: int
    msg: EventFeeUpdatePayload


class OrderGroupUpdateMessage(
    msgspec.Struct, frozen=True, tag_field="type", tag="order_group_updates"
):
    """Carries a per-sid ``seq`` like the order book; the payload is kept as a plain dict."""

    sid: int
    seq: int
    msg: dict[str, Any]


# --------------------------------------------------------------------------------------------
# Events the client adds to the stream, and the fallback


class UnknownMessage(msgspec.Struct, frozen=True):
    """A frame of a type this client does not model, or one that did not fit its shape.

    ``error`` is ``None`` for an unknown ``type`` and says what did not fit otherwise. ``raw``
    is the decoded JSON (``None`` when the frame was not JSON at all).
    """

    type: str
    sid: int | None = None
    seq: int | None = None
    raw: Any = None
    error: str | None = None


class SequenceGap(msgspec.Struct, frozen=True):
    """``seq`` on ``sid`` jumped: messages were lost. The sid's books are invalid until a fresh
    ``orderbook_snapshot`` arrives (ask for one with :meth:`KalshiWebSocket.resync`)."""

    sid: int
    expected: int
    got: int
    market_tickers: tuple[str, ...] = ()


class BookInvalidated(msgspec.Struct, frozen=True):
    """A local book can no longer be trusted for a reason other than a seq gap (a delta that
    would drive a level negative, a delta before any snapshot, an unparseable book frame)."""

    sid: int
    market_ticker: str | None
    reason: str


class SubscriptionTerminated(msgspec.Struct, frozen=True):
    """Kalshi ended a subscription with a terminal error (10, 17 or 25): resubscribe."""

    code: int
    message: str
    sid: int | None = None
    command_id: int | None = None


CommandReply: TypeAlias = SubscribedReply | UnsubscribedReply | OkReply | ErrorReply
DataMessage: TypeAlias = (
    OrderbookSnapshot
    | OrderbookDelta
    | TickerMessage
    | TradeMessage
    | FillMessage
    | MarketPositionMessage
    | MarketLifecycleMessage
    | MultivariateMarketLifecycleMessage
    | EventLifecycleMessage
    | EventFeeUpdateMessage
    | OrderGroupUpdateMessage
)
WireMessage: TypeAlias = CommandReply | DataMessage
ClientEvent: TypeAlias = SequenceGap | BookInvalidated | SubscriptionTerminated
WsEvent: TypeAlias = DataMessage | ErrorReply | UnknownMessage | ClientEvent
"""Everything ``async for msg in ws`` can yield."""

_DECODER: msgspec.json.Decoder[WireMessage] = msgspec.json.Decoder(WireMessage)
_ANY_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_frame(frame: str | bytes) -> WireMessage | UnknownMessage:
    """Decode one text frame. Never raises: anything unrecognised becomes UnknownMessage."""
    try:
        return _DECODER.decode(frame)
    except msgspec.ValidationError as exc:
        problem = str(exc)
    except msgspec.DecodeError as exc:
        return UnknownMessage(type="", error=f"frame is not JSON: {exc}")
    try:
        raw = _ANY_DECODER.decode(frame)
    except msgspec.DecodeError:  # pragma: no cover - the typed decoder would have said so
        return UnknownMessage(type="", error=problem)
    if not isinstance(raw, dict):
        return UnknownMessage(type="", raw=raw, error="frame is not a JSON object")
    kind = raw.get("type")
    kind_text = kind if isinstance(kind, str) else ""
    known = kind_text in _KNOWN_TYPES
    return UnknownMessage(
        type=kind_text,
        sid=_int_or_none(raw.get("sid")),
        seq=_int_or_none(raw.get("seq")),
        raw=raw,
        error=problem if known or not kind_text else None,
    )


_KNOWN_TYPES = frozenset(
    str(cls.__struct_config__.tag)
    for cls in (
        SubscribedReply,
        UnsubscribedReply,
        OkReply,
        ErrorReply,
        OrderbookSnapshot,
        OrderbookDelta,
        TickerMessage,
        TradeMessage,
        FillMessage,
        MarketPositionMessage,
        MarketLifecycleMessage,
        MultivariateMarketLifecycleMessage,
        EventLifecycleMessage,
        EventFeeUpdateMessage,
        OrderGroupUpdateMessage,
    )
)
