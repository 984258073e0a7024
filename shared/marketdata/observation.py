"""One market as one poll saw it: the row type between the Kalshi client and the ingest.

Kept free of the client's model classes so the ingest (and its benchmark) can be fed from
any source: the REST poller, a backfill, a test that writes exact numbers by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

__all__ = ["DETERMINED_STATUSES", "FINAL_STATUS", "MarketObservation"]

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
