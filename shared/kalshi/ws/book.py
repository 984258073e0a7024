"""A local copy of one market's order book, kept from ``orderbook_snapshot`` + ``orderbook_delta``.

Kalshi's book has bids only: YES bids and NO bids, each a list of ``(price_dollars, count_fp)``
levels. A snapshot replaces both sides; a delta adds a signed change at one ``(side, price)``.
Sizes are accumulated with :class:`~decimal.Decimal` because deltas can be fractional and float
sums leave phantom ``1e-17`` levels behind. A level whose size reaches exactly zero is removed;
one that would go negative means the copy has diverged from the exchange, so the book refuses
the delta and marks itself invalid until the next snapshot.

Prices are kept exactly as Kalshi sent them. With the default ``use_yes_price=false``
subscription NO levels are in NO-leg pricing (a NO bid at 0.48 is a YES ask at 0.52); with
``use_yes_price=true`` they are already in YES terms. The book needs to know which, to derive
the YES ask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from shared.kalshi.money import ONE, ZERO, format_count, format_dollars
from shared.kalshi.ws.errors import OrderBookError
from shared.kalshi.ws.messages import OrderbookDeltaPayload, OrderbookSnapshotPayload, PriceLevel

__all__ = ["OrderBook"]


def _levels(levels: Iterable[PriceLevel], side: str) -> dict[Decimal, Decimal]:
    book: dict[Decimal, Decimal] = {}
    for price, size in levels:
        if not (price.is_finite() and size.is_finite()):
            raise OrderBookError(f"{side} level is not a finite number")
        if size < ZERO:
            raise OrderBookError(f"{side} level at {price} has negative size {size}")
        if size == ZERO:
            continue
        book[price] = book.get(price, ZERO) + size
    return book


@dataclass
class OrderBook:
    """One market's book. ``valid`` is False until a snapshot and after a refused delta."""

    market_ticker: str
    use_yes_price: bool = False
    valid: bool = False
    yes: dict[Decimal, Decimal] = field(default_factory=dict)
    no: dict[Decimal, Decimal] = field(default_factory=dict)

    @classmethod
    def from_snapshot(
        cls, snapshot: OrderbookSnapshotPayload, *, use_yes_price: bool = False
    ) -> OrderBook:
        book = cls(market_ticker=snapshot.market_ticker, use_yes_price=use_yes_price)
        book.apply_snapshot(snapshot)
        return book

    def apply_snapshot(self, snapshot: OrderbookSnapshotPayload) -> None:
        """Replace both sides. The book is valid afterwards (or raises and stays as it was)."""
        if snapshot.market_ticker != self.market_ticker:
            raise OrderBookError(
                f"snapshot for {snapshot.market_ticker} applied to book {self.market_ticker}"
            )
        yes = _levels(snapshot.yes_dollars_fp, "yes")
        no = _levels(snapshot.no_dollars_fp, "no")
        self.yes, self.no, self.valid = yes, no, True

    def apply_delta(self, delta: OrderbookDeltaPayload) -> None:
        """Add ``delta_fp`` at ``(side, price_dollars)``; drop the level when it reaches 0.

        Raises :class:`OrderBookError` and marks the book invalid when the book has no
        snapshot yet or the level would go negative: the copy no longer matches the exchange.
        """
        if delta.market_ticker != self.market_ticker:
            raise OrderBookError(
                f"delta for {delta.market_ticker} applied to book {self.market_ticker}"
            )
        if not self.valid:
            raise OrderBookError(f"book {self.market_ticker} has no valid snapshot")
        price, change = delta.price_dollars, delta.delta_fp
        if not (price.is_finite() and change.is_finite()):
            self.valid = False
            raise OrderBookError("delta price or size is not a finite number")
        levels = self.yes if delta.side == "yes" else self.no
        size = levels.get(price, ZERO) + change
        if size > ZERO:
            levels[price] = size
        elif size == ZERO:
            levels.pop(price, None)
        else:
            self.valid = False
            raise OrderBookError(
                f"{delta.side} level {price} would go negative ({size}) in {self.market_ticker}"
            )

    def invalidate(self) -> None:
        self.valid = False

    # ---- reading ---------------------------------------------------------------------------

    def yes_levels(self) -> list[PriceLevel]:
        """YES bids ascending by price (best last), the order Kalshi uses on the wire."""
        return sorted(self.yes.items())

    def no_levels(self) -> list[PriceLevel]:
        """NO bids ascending by price (best last), in the subscription's NO pricing."""
        return sorted(self.no.items())

    def best_yes_bid(self) -> PriceLevel | None:
        return max(self.yes.items()) if self.yes else None

    def best_no_bid(self) -> PriceLevel | None:
        """Best NO bid in NO-leg terms (the highest NO price someone pays)."""
        if not self.no:
            return None
        if self.use_yes_price:
            # In YES pricing a NO bid at p (no-leg) appears as 1 - p: the best is the lowest.
            price, size = min(self.no.items())
            return ONE - price, size
        return max(self.no.items())

    def best_yes_ask(self) -> PriceLevel | None:
        """The cheapest YES a taker can buy: the complement of the best NO bid."""
        best_no = self.best_no_bid()
        if best_no is None:
            return None
        return ONE - best_no[0], best_no[1]

    def to_rest_orderbook(self) -> dict[str, list[list[str]]]:
        """The book in REST ``orderbook_fp`` shape and NO-leg pricing, for comparison with
        ``GET /markets/{ticker}/orderbook``. Empty sides are left out, as Kalshi does."""
        no_levels = (
            sorted((ONE - price, size) for price, size in self.no.items())
            if self.use_yes_price
            else self.no_levels()
        )
        result: dict[str, list[list[str]]] = {}
        if self.yes:
            result["yes_dollars"] = [
                [format_dollars(p), format_count(s)] for p, s in self.yes_levels()
            ]
        if no_levels:
            result["no_dollars"] = [[format_dollars(p), format_count(s)] for p, s in no_levels]
        return result
