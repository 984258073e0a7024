"""One market as one poll saw it: the row type between the Kalshi client and the ingest.

The row type is free of the client's model classes so the ingest (and its benchmark) can
be fed from any source: the REST poller, a backfill, a test that writes exact numbers by
hand. :func:`observation_from_market`, the one mapping from a Kalshi market to a row,
lives here beside it; it reads the market's attributes only, so the client's models are
imported for type checking alone and loading this module never loads the client.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from shared.kalshi import models as km

__all__ = [
    "DETERMINED_STATUSES",
    "FINAL_STATUS",
    "SNAPSHOT_RAW_EXCLUDED_FIELDS",
    "CleanedPoll",
    "EventInfo",
    "MarketObservation",
    "blank_to_none",
    "clean_observations",
    "clean_text",
    "observation_from_market",
    "snapshot_raw",
]

DETERMINED_STATUSES = frozenset({"determined", "amended", "finalized"})
"""Kalshi market statuses after which the result is known."""

FINAL_STATUS = "finalized"
"""Kalshi's REST word for "settled": positions have been paid out."""

_ONE = Decimal("1.0000")
_ZERO = Decimal("0.0000")


@dataclass(frozen=True, slots=True)
class MarketObservation:
    """Metadata and top-of-book prices of one market at one poll.

    Prices are exact dollars (``Decimal``, 4 places on the wire) and counts exact
    fixed-point contracts; ``raw`` is the market object's JSON exactly as stored.
    """

    ticker: str
    event_ticker: str
    status: str
    title: str = ""
    series_ticker: str | None = None
    event_title: str | None = None
    yes_sub_title: str | None = None
    category: str | None = None
    market_type: str = "binary"
    open_time: datetime | None = None
    close_time: datetime | None = None
    # "yes", "no", "scalar" ... once determined; None while the result is unknown.
    result: str | None = None
    settlement_value_dollars: Decimal | None = None
    settlement_ts: datetime | None = None
    yes_bid_dollars: Decimal | None = None
    yes_ask_dollars: Decimal | None = None
    no_bid_dollars: Decimal | None = None
    no_ask_dollars: Decimal | None = None
    last_price_dollars: Decimal | None = None
    previous_price_dollars: Decimal | None = None
    volume_fp: Decimal | None = None
    volume_24h_fp: Decimal | None = None
    open_interest_fp: Decimal | None = None
    raw: bytes | None = None

    @property
    def is_determined(self) -> bool:
        return self.result is not None or self.status in DETERMINED_STATUSES


SNAPSHOT_RAW_EXCLUDED_FIELDS = frozenset(
    {
        # Stored in the snapshot's typed columns.
        "ticker",
        "yes_bid_dollars",
        "yes_ask_dollars",
        "no_bid_dollars",
        "no_ask_dollars",
        "last_price_dollars",
        "volume_fp",
        "open_interest_fp",
        # Stored in ``markets``.
        "event_ticker",
        "title",
        "yes_sub_title",
        "market_type",
        "open_time",
        "close_time",
        # Descriptive or contractual text and structure that does not move between polls.
        "subtitle",
        "no_sub_title",
        "rules_primary",
        "rules_secondary",
        "early_close_condition",
        "custom_strike",
        "functional_strike",
        "floor_strike",
        "cap_strike",
        "strike_type",
        "price_ranges",
        "price_level_structure",
        "mve_collection_ticker",
        "mve_selected_legs",
        "primary_participant_key",
        "settlement_timer_seconds",
        "can_close_early",
        "notional_value_dollars",
        "created_time",
        "expiration_time",
        "latest_expiration_time",
        "expected_expiration_time",
        "occurrence_datetime",
        "fee_waiver_expiration_time",
        # Deprecated constants (``liquidity_dollars`` is always 0 since 2026-02).
        "liquidity_dollars",
        "response_price_units",
        "fractional_trading_enabled",
    }
)
"""Market fields a snapshot's ``raw`` leaves out (ADR 0051).

The full object is ~2.2 KB, mostly rules text; stored 10,000 times a minute it would cost
~30 GB a day and most of a poll's write budget. ``raw`` keeps every other field (status,
result, sizes, previous prices, 24 h volume, ``updated_time`` and anything Kalshi adds
later), ~300 bytes.
"""

_ENCODER = msgspec.json.Encoder(decimal_format="string")


@dataclass(frozen=True)
class EventInfo:
    """What a market's event adds to its row: series, event title, category."""

    series_ticker: str | None
    title: str | None
    category: str | None


def blank_to_none(value: str | None) -> str | None:
    """Kalshi sends ``""`` for an absent text field; the tables store NULL."""
    return value if value else None


def observation_from_market(market: km.Market, event: EventInfo | None) -> MarketObservation:
    """The row the ingest writes for one Kalshi market.

    ``result`` is None until Kalshi reports one; a binary market's settlement value, when
    Kalshi omits it, follows from the result (yes pays 1.0000, no pays 0).
    """
    result = blank_to_none(market.result)
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
        yes_sub_title=blank_to_none(market.yes_sub_title),
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


def snapshot_raw(market: Mapping[str, Any] | msgspec.Struct) -> bytes:
    """The JSON stored in ``market_snapshots.raw`` for one market object.

    Takes the wire dict or a decoded model; drops the excluded fields and unset (None or
    empty) values so the document stays small.
    """
    doc = msgspec.to_builtins(market) if isinstance(market, msgspec.Struct) else market
    kept = {
        k: v
        for k, v in doc.items()
        if k not in SNAPSHOT_RAW_EXCLUDED_FIELDS and v is not None and v != [] and v != {}
    }
    return _ENCODER.encode(kept)


# Characters a Postgres ``text`` (or a ``jsonb`` string) refuses: NUL, and UTF-16
# surrogates, which no UTF-8 encoding can carry (a Python str holds them when it was
# decoded from JSON with a lone ``\\udXXX`` escape).
_SURROGATES = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"
# In JSON bytes: a NUL escape (jsonb refuses it: 22P05) or any surrogate escape (a lone
# one is refused too; a valid pair only costs the slow path a look).
_RAW_SUSPECTS = (b"\\u0000", b"\\ud", b"\\uD")


def clean_text(value: str) -> str:
    """``value`` without NULs and with every surrogate replaced by U+FFFD.

    A NUL carries no meaning in a title or a rule, so it is dropped; a surrogate stood for
    a character the sender mangled, so it stays visible as the replacement character.
    """
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        value = _SURROGATES.sub(_REPLACEMENT, value)
    return value


def _is_clean(value: str) -> bool:
    return "\x00" not in value and (value.isascii() or _SURROGATES.search(value) is None)


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean_json(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean_json(v) for k, v in value.items()}
    return value


def _clean_raw(raw: bytes) -> bytes | None:
    """``raw`` with every string cleaned; None when it is not UTF-8 JSON at all."""
    try:
        # json, not msgspec: it accepts lone surrogate escapes, which are what is cleaned.
        document = json.loads(raw.decode("utf-8"))
    except ValueError:
        return None
    return _ENCODER.encode(_clean_json(document))


_OPTIONAL_TEXT = ("series_ticker", "event_title", "yes_sub_title", "category", "result")


def _clean(o: MarketObservation) -> MarketObservation:
    changes: dict[str, Any] = {
        name: clean_text(getattr(o, name))
        for name in ("event_ticker", "status", "title", "market_type")
    }
    for name in _OPTIONAL_TEXT:
        value = getattr(o, name)
        if value is not None:
            changes[name] = clean_text(value)
    if o.raw is not None:
        changes["raw"] = _clean_raw(o.raw)
    return replace(o, **changes)


@dataclass(frozen=True)
class CleanedPoll:
    """What :func:`clean_observations` kept, and what it had to change or leave out."""

    observations: list[MarketObservation]
    cleaned: list[str]
    skipped: list[str]


def clean_observations(observations: Sequence[MarketObservation]) -> CleanedPoll:
    """The observations with every character Postgres would refuse removed.

    One NUL in one market's title used to fail the whole poll's transaction with an error
    no redelivery can fix, so that market blocked every later poll too. Now a market whose
    text is dirty is stored cleaned (:func:`clean_text`, and the same for every string in
    ``raw``); one whose *ticker* is dirty is left out, because a cleaned ticker would name
    another market. ``cleaned`` and ``skipped`` list the original tickers, for the log.

    Built for the poll's hot path (~10 ms for 10,000 markets on a busy 2-core machine):
    all text of the poll is checked at once, and only when that finds something is each
    market looked at.
    """
    texts = [
        f"{o.ticker}{o.event_ticker}{o.status}{o.title}{o.market_type}{o.series_ticker or ''}"
        f"{o.event_title or ''}{o.yes_sub_title or ''}{o.category or ''}{o.result or ''}"
        for o in observations
    ]
    raws = b"".join([o.raw for o in observations if o.raw is not None])
    if _is_clean("".join(texts)) and not any(s in raws for s in _RAW_SUSPECTS):
        return CleanedPoll(list(observations), [], [])
    kept: list[MarketObservation] = []
    cleaned: list[str] = []
    skipped: list[str] = []
    for o, joined in zip(observations, texts, strict=True):
        raw = o.raw
        if _is_clean(joined) and (raw is None or not any(s in raw for s in _RAW_SUSPECTS)):
            kept.append(o)
        elif not o.ticker or not _is_clean(o.ticker):
            skipped.append(o.ticker)
        else:
            fixed = _clean(o)
            if fixed != o:
                cleaned.append(o.ticker)
            kept.append(fixed)
    return CleanedPoll(kept, cleaned, skipped)
