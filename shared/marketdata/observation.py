"""One market as one poll saw it: the row type between the Kalshi client and the ingest.

Kept free of the client's model classes so the ingest (and its benchmark) can be fed from
any source: the REST poller, a backfill, a test that writes exact numbers by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

__all__ = [
    "DETERMINED_STATUSES",
    "FINAL_STATUS",
    "SNAPSHOT_RAW_EXCLUDED_FIELDS",
    "MarketObservation",
    "snapshot_raw",
]

DETERMINED_STATUSES = frozenset({"determined", "amended", "finalized"})
"""Kalshi market statuses after which the result is known (kalshi-api.md §4.2)."""

FINAL_STATUS = "finalized"
"""Kalshi's REST word for "settled": positions have been paid out."""


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
