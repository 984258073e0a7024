"""The catalog: which series, events and markets the exchange lists, and how they are made.

Generation draws from the shared :class:`~emulators.kalshi_sim.model.Clock` generator in a
fixed order, so a seed always lists the same catalog. Where a new market starts out (open,
closed, settled, scheduled to open) is the lifecycle's business: ``build`` and
``new_event`` take it as a ``place`` callback, called for each market right after it is
made, because its random draws interleave with the catalog's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from emulators.kalshi_sim import wire
from emulators.kalshi_sim.model import (
    DAY_US,
    HOUR_US,
    MINUTE_US,
    SECOND_US,
    Clock,
    Event,
    Market,
    Series,
    SeriesTemplate,
)
from emulators.kalshi_sim.wire import PRICE_ONE

__all__ = ["Catalog", "Place"]

# Puts a just-listed market into its starting state for the lifecycle plan it was made with.
Place = Callable[[Market, str], None]

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_CLOSE_AFTER_EVENT = "This market will close and expire after the event occurs."
_CLOSE_AFTER_WINNER = "This market will close and expire after a winner is declared."

_TEMPLATES = [
    SeriesTemplate(
        "KXHIGHNY",
        "Highest temperature in NYC",
        "Climate and Weather",
        "daily",
        "temp",
        "New York City",
    ),
    SeriesTemplate(
        "KXHIGHCHI",
        "Highest temperature in Chicago",
        "Climate and Weather",
        "daily",
        "temp",
        "Chicago",
    ),
    SeriesTemplate(
        "KXHIGHMIA", "Highest temperature in Miami", "Climate and Weather", "daily", "temp", "Miami"
    ),
    SeriesTemplate("KXBTCD", "Bitcoin price range", "Crypto", "hourly", "crypto", "Bitcoin"),
    SeriesTemplate("KXETHD", "Ethereum price range", "Crypto", "hourly", "crypto", "Ethereum"),
    SeriesTemplate(
        "KXNBAGAME", "Professional basketball game", "Sports", "custom", "game", "basketball"
    ),
    SeriesTemplate(
        "KXMLBGAME", "Professional baseball game", "Sports", "custom", "game", "baseball"
    ),
    SeriesTemplate("KXWTAMATCH", "WTA tennis match", "Sports", "custom", "game", "tennis"),
    SeriesTemplate("KXCPI", "CPI month over month", "Economics", "monthly", "econ", "CPI"),
    SeriesTemplate("KXPAYROLLS", "Nonfarm payrolls", "Economics", "monthly", "econ", "payrolls"),
    SeriesTemplate(
        "KXMVESPORTSMULTIGAMEEXTENDED", "Multi-game combos", "Sports", "custom", "combo", "combo"
    ),
]
_TEAMS = [
    ("NYK", "New York"),
    ("BOS", "Boston"),
    ("LAL", "Los Angeles L"),
    ("SAS", "San Antonio"),
    ("MIA", "Miami"),
    ("CHI", "Chicago"),
    ("DEN", "Denver"),
    ("PHX", "Phoenix"),
    ("HOU", "Houston"),
    ("LAA", "Los Angeles A"),
    ("SEA", "Seattle"),
    ("ATL", "Atlanta"),
]
_PLAYERS = [
    ("LEP", "Varvara Lepchenko"),
    ("JIM", "Jimenez Kasintseva"),
    ("SWI", "Iga Swiatek"),
    ("GAU", "Coco Gauff"),
    ("SAB", "Aryna Sabalenka"),
    ("RYB", "Elena Rybakina"),
]


class Catalog:
    """Series, events and markets by ticker and in listing order; which markets trade."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.series: dict[str, Series] = {}
        self.events: dict[str, Event] = {}
        self.event_list: list[Event] = []
        self.markets: dict[str, Market] = {}
        self.market_list: list[Market] = []  # creation order == pagination order
        self.active_dirty = True
        self._active: list[Market] = []
        self._event_counter: dict[str, int] = {}

    def active_markets(self) -> list[Market]:
        if self.active_dirty:
            self._active = [m for m in self.market_list if m.status == "active"]
            self.active_dirty = False
        return self._active

    def date_code(self, when_us: int) -> str:
        t = time.gmtime(when_us // SECOND_US)
        return f"{t.tm_year % 100:02d}{_MONTHS[t.tm_mon - 1]}{t.tm_mday:02d}"

    def build(self, n_markets: int, place: Place) -> None:
        """List the series, then events until ``n_markets`` markets exist."""
        rng = self.clock.rng
        for template in _TEMPLATES:
            created = self.clock.start_us - rng.randint(30, 400) * DAY_US
            self.series[template.ticker] = Series(template=template, created_us=created)
        kinds = [s for s in self.series.values() if s.template.kind != "combo"]
        combo = self.series["KXMVESPORTSMULTIGAMEEXTENDED"]
        i = 0
        while len(self.market_list) < n_markets:
            remaining = n_markets - len(self.market_list)
            if i % 9 == 8 and len(self.market_list) > 20:
                self.new_event(combo, remaining, place, at_start=True)
            else:
                self.new_event(kinds[i % len(kinds)], remaining, place, at_start=True)
            i += 1

    def new_event(self, series: Series, max_markets: int, place: Place, *, at_start: bool) -> Event:
        rng = self.clock.rng
        t = series.template
        now = self.clock.now_us
        # Lifecycle plan for the event's markets.
        if at_start:
            plan = rng.choices(
                ["upcoming", "long", "short", "determined", "finalized"],
                weights=[8, 66, 16, 5, 5],
            )[0]
        else:
            plan = rng.choice(["upcoming_short", "upcoming"])
        if plan in ("upcoming", "upcoming_short"):
            created = now - rng.randint(60, 7200) * SECOND_US if at_start else now
            open_us = now + rng.randint(20, 600) * SECOND_US
            if plan == "upcoming_short":
                close_us = open_us + rng.randint(120, 1800) * SECOND_US
            else:
                close_us = open_us + rng.randint(1, 48) * HOUR_US
        elif plan == "long":
            created = now - rng.randint(1, 120) * HOUR_US
            open_us = created + rng.randint(0, 3600) * SECOND_US
            open_us = min(open_us, now - SECOND_US)
            close_us = now + rng.randint(2, 14 * 24) * HOUR_US
        elif plan == "short":
            created = now - rng.randint(1, 48) * HOUR_US
            open_us = created + rng.randint(0, 600) * SECOND_US
            close_us = now + rng.randint(30, 900) * SECOND_US
        elif plan == "determined":
            close_us = now - rng.randint(60, 1800) * SECOND_US
            created = close_us - rng.randint(2, 48) * HOUR_US
            open_us = created + rng.randint(0, 600) * SECOND_US
        else:  # finalized
            close_us = now - rng.randint(1, 48) * HOUR_US
            created = close_us - rng.randint(2, 72) * HOUR_US
            open_us = created + rng.randint(0, 600) * SECOND_US
        created = created // 1000 * 1000 + rng.randint(0, 999)
        open_us = open_us // SECOND_US * SECOND_US
        close_us = (
            close_us // MINUTE_US * MINUTE_US
            if plan in ("long", "upcoming")
            else close_us // SECOND_US * SECOND_US
        )

        n = self._event_counter.get(t.ticker, 0) + 1
        self._event_counter[t.ticker] = n
        code = self.date_code(close_us)
        if t.kind == "game":
            a, b = rng.sample(_TEAMS if t.subject != "tennis" else _PLAYERS, 2)
            event_ticker = f"{t.ticker}-{code}{a[0]}{b[0]}{n}"
            title = f"{a[1]} vs {b[1]}"
            sub_title = f"{a[0]} vs {b[0]} ({code})"
            exclusive = True
        elif t.kind == "combo":
            start_s = self.clock.start_us // SECOND_US
            event_ticker = f"{t.ticker}-S{start_s % 10000:04d}{rng.getrandbits(40):010X}"
            title = "Multi-game combo"
            sub_title = ""
            exclusive = False
        else:
            event_ticker = f"{t.ticker}-{code}{'' if n == 1 else f'N{n}'}"
            title = f"{t.title} on {code}"
            sub_title = f"On {code}"
            exclusive = t.kind == "temp"
        event = Event(
            event_ticker=event_ticker,
            series=series,
            title=title,
            sub_title=sub_title,
            mutually_exclusive=exclusive,
            strike_date_us=close_us if t.kind in ("temp", "econ") else None,
            updated_us=created,
        )
        series.events.append(event)
        self.events[event_ticker] = event
        self.event_list.append(event)
        specs = self._market_specs(t, event, max_markets)
        settlement_timer = (
            rng.choice([60, 120, 300, 600]) if plan != "long" else rng.choice([300, 1800, 3600])
        )
        for suffix, static, step in specs:
            market = self._new_market(
                event,
                suffix,
                static,
                step,
                created,
                open_us,
                close_us,
                settlement_timer,
                plan,
                place,
            )
            event.markets.append(market)
        return event

    def _market_specs(
        self, t: SeriesTemplate, event: Event, max_markets: int
    ) -> list[tuple[str, dict[str, Any], int]]:
        rng = self.clock.rng
        specs: list[tuple[str, dict[str, Any], int]] = []
        if t.kind == "temp":
            base = rng.randint(60, 92)
            specs.append(
                (
                    f"T{base}",
                    {
                        "strike_type": "less",
                        "cap_strike": base,
                        "yes_sub_title": f"{base - 1}° or below",
                        "no_sub_title": f"{base - 1}° or below",
                    },
                    100,
                )
            )
            for j in range(4):
                lo = base + 2 * j
                specs.append(
                    (
                        f"B{lo}.5",
                        {
                            "strike_type": "between",
                            "floor_strike": lo,
                            "cap_strike": lo + 1,
                            "yes_sub_title": f"{lo}° to {lo + 1}°",
                            "no_sub_title": f"{lo}° to {lo + 1}°",
                        },
                        100,
                    )
                )
            top = base + 8
            specs.append(
                (
                    f"T{top}",
                    {
                        "strike_type": "greater",
                        "floor_strike": top,
                        "yes_sub_title": f"{top + 1}° or above",
                        "no_sub_title": f"{top + 1}° or above",
                    },
                    100,
                )
            )
            for _suffix, static, _step in specs:
                static["title"] = (
                    f"Will the high temp in {t.subject} be {static['yes_sub_title']} "
                    f"on {event.sub_title[3:]}?"
                )
                static["early_close_condition"] = (
                    "This market will close and expire early if the event occurs."
                )
        elif t.kind == "crypto":
            center = rng.randint(60, 120) * 1000
            for j in range(-3, 5):
                strike = center + j * 500 - 0.01
                static = {
                    "strike_type": "greater",
                    "floor_strike": strike,
                    "yes_sub_title": f"${strike + 0.01:,.0f} or above",
                    "no_sub_title": f"${strike + 0.01:,.0f} or above",
                    "title": f"{t.subject} price on {event.sub_title[3:]}?",
                    "early_close_condition": _CLOSE_AFTER_EVENT,
                }
                specs.append((f"T{strike:.2f}", static, 100))
        elif t.kind == "game":
            names = event.title.split(" vs ")
            codes = event.sub_title.split(" (")[0].split(" vs ")
            for name, code in zip(names, codes, strict=True):
                static = {
                    "strike_type": "structured",
                    "custom_strike": {f"{t.subject}_competitor": self.clock.new_uuid()},
                    "yes_sub_title": name,
                    "no_sub_title": name,
                    "title": f"Will {name} win the {event.title} {t.subject} game?",
                    "early_close_condition": _CLOSE_AFTER_WINNER,
                    "primary_participant_key": f"{t.subject}_competitor",
                }
                specs.append((code, static, 100))
        elif t.kind == "econ":
            base_tenths = rng.randint(0, 4)
            for j in range(5):
                strike_pct = (base_tenths + j) / 10
                static = {
                    "strike_type": "greater",
                    "floor_strike": strike_pct,
                    "subtitle": f"Above {strike_pct}%",
                    "yes_sub_title": f"Above {strike_pct}%",
                    "no_sub_title": f"Above {strike_pct}%",
                    "title": f"{t.subject} above {strike_pct}% on {event.sub_title[3:]}?",
                    "early_close_condition": "This market will not close early.",
                }
                specs.append((f"T{strike_pct}", static, 100))
        else:  # combo: legs drawn from listed game markets
            games = [m for m in self.market_list if m.event.series.template.kind == "game"]
            for _ in range(3):
                legs = rng.sample(games, 2) if len(games) >= 2 else []
                legs_title = ",".join(f"yes {leg.static['yes_sub_title']}" for leg in legs)
                legs_title = legs_title or "combo"
                static = {
                    "strike_type": "custom",
                    "custom_strike": {
                        "Associated Events": ",".join(leg.event_ticker for leg in legs),
                        "Associated Market Sides": ",".join("yes" for _ in legs),
                        "Associated Markets": ",".join(leg.ticker for leg in legs),
                        "Multivariate Event Ticker": event.event_ticker,
                    },
                    "mve_collection_ticker": f"{t.ticker}-R",
                    "mve_selected_legs": [
                        {
                            "event_ticker": leg.event_ticker,
                            "market_ticker": leg.ticker,
                            "side": "yes",
                        }
                        for leg in legs
                    ],
                    "is_provisional": True,
                    "yes_sub_title": legs_title,
                    "no_sub_title": legs_title,
                    "title": legs_title,
                }
                specs.append((f"{rng.getrandbits(44):011X}", static, 10))
        return specs[: max(1, max_markets)]

    def _new_market(
        self,
        event: Event,
        suffix: str,
        static: dict[str, Any],
        step: int,
        created: int,
        open_us: int,
        close_us: int,
        settlement_timer: int,
        plan: str,
        place: Place,
    ) -> Market:
        rng = self.clock.rng
        ticker = f"{event.event_ticker}-{suffix}"
        while ticker in self.markets:  # never list two markets under one ticker
            ticker += "X"
        kind = event.series.template.kind
        latest = close_us + (14 * DAY_US if kind == "game" else 0)
        static = dict(static)
        static.setdefault(
            "rules_primary",
            f"If {static['yes_sub_title']} for {event.title}, then the market resolves to Yes.",
        )
        static["rules_secondary"] = (
            "If the outcome cannot be determined from the settlement source, the market "
            "resolves to a fair price in accordance with the rules."
        )
        static["price_level_structure"] = "linear_cent" if step == 100 else "deci_cent"
        static["price_ranges"] = [{"end": "1.0000", "start": "0.0000", "step": wire.price(step)}]
        static["market_type"] = "binary"
        static["can_close_early"] = True
        static["notional_value_dollars"] = "1.0000"
        static["liquidity_dollars"] = "0.0000"
        static["expiration_value"] = ""
        static["created_time"] = wire.rfc3339_us(created)
        static["open_time"] = wire.rfc3339_us(open_us)
        static["close_time"] = wire.rfc3339_us(close_us)
        static["expiration_time"] = wire.rfc3339_us(latest)
        static["latest_expiration_time"] = wire.rfc3339_us(latest)
        static["expected_expiration_time"] = wire.rfc3339_us(
            close_us + rng.choice([0, 0, 3600]) * SECOND_US
        )
        if kind != "combo":
            static["occurrence_datetime"] = static["expected_expiration_time"]
        static["settlement_timer_seconds"] = settlement_timer
        fair = rng.randint(3, 97) * PRICE_ONE // 100
        market = Market(
            seq=len(self.market_list),
            ticker=ticker,
            event=event,
            market_id=self.clock.new_uuid(),
            static=static,
            step=step,
            created_us=created,
            open_us=open_us,
            close_us=close_us,
            settlement_timer_s=settlement_timer,
            status="initialized",
            fair=fair,
            n_levels=rng.randint(2, 6),
            updated_us=max(created, min(open_us, self.clock.now_us)),
        )
        self.markets[ticker] = market
        self.market_list.append(market)
        place(market, plan)
        self.active_dirty = True
        return market
