"""A backtest request survives ``to_json`` -> (JSON, the database) -> ``from_json`` exactly:
the API parses the body once, and the worker rebuilds the very same request, engine
configuration included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.backtest.engine import EngineConfig
from shared.backtest.metrics import RANKABLE
from shared.backtest.service import BacktestRequest, parse_request
from shared.domain.fees import FeeModel, FeeSchedule

_NAMES = st.text(alphabet="ABCDEFGHKXZ-0123456789", min_size=1, max_size=12)


def _decimal(low: int, high: int, places: int) -> st.SearchStrategy[str]:
    return st.integers(min_value=low, max_value=high).map(lambda n: str(Decimal(n).scaleb(-places)))


_SCHEDULE = st.fixed_dictionaries(
    {},
    optional={
        "taker_rate": _decimal(0, 20_000, 5),
        "maker_rate": _decimal(0, 20_000, 5),
        "quantum": st.sampled_from(["0.01", "0.0001", "0.000001", "1"]),
    },
)
_FEES = st.one_of(
    st.none(),
    _SCHEDULE,
    st.builds(
        lambda base, series: {**base, "series": series},
        _SCHEDULE,
        st.dictionaries(_NAMES, _SCHEDULE, max_size=3),
    ),
)


@st.composite
def _bodies(draw: st.DrawFn) -> dict[str, Any]:
    offset = timezone(timedelta(minutes=15 * draw(st.integers(min_value=-48, max_value=56))))
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(
        seconds=draw(st.integers(min_value=0, max_value=3 * 365 * 86_400)),
        microseconds=draw(st.integers(min_value=0, max_value=999_999)),
    )
    end = start + timedelta(seconds=draw(st.integers(min_value=1, max_value=366 * 86_400)))
    body: dict[str, Any] = {
        "strategy": "momentum",
        "start": start.astimezone(offset).isoformat(),
        "end": end.astimezone(offset).isoformat(),
    }
    params = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "lookback": st.integers(min_value=1, max_value=500),
                "threshold": st.sampled_from([0.005, 0.05, 0.1, 0.25]),
                "stop_loss": st.sampled_from([None, 0.0001, 0.1]),
                "contracts": st.integers(min_value=1, max_value=100_000),
            },
        )
    )
    if params or draw(st.booleans()):
        body["params"] = params
    if draw(st.booleans()):
        body["grid"] = {
            "lookback": draw(
                st.lists(
                    st.integers(min_value=1, max_value=500), min_size=1, max_size=4, unique=True
                )
            )
        }
    markets = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "tickers": st.lists(_NAMES, min_size=1, max_size=3),
                "series": st.one_of(_NAMES, st.lists(_NAMES, min_size=1, max_size=3)),
                "event": _NAMES,
            },
        )
    )
    if markets:
        body["markets"] = markets
    if draw(st.booleans()):
        body["rank_by"] = draw(st.sampled_from(RANKABLE))
    fees = draw(_FEES)
    if fees is not None:
        body["fees"] = fees
    if draw(st.booleans()):
        body["slippage"] = draw(_decimal(0, 1_000, 4))
    if draw(st.booleans()):
        body["capital"] = draw(_decimal(1, 10**11, 2) | _decimal(10**5, 10**12 - 1, 7))
    return body


@settings(max_examples=300, deadline=None)
@given(_bodies())
def test_a_parsed_request_round_trips_through_json_exactly(body: dict[str, Any]) -> None:
    request = parse_request(body)
    document = request.to_json()
    stored = json.loads(json.dumps(document))  # what the database hands back
    assert stored == document
    rebuilt = BacktestRequest.from_json(stored)
    assert rebuilt == request
    assert rebuilt.config == request.config
    assert rebuilt.to_json() == document


def test_the_engine_config_is_in_the_document() -> None:
    request = parse_request(
        {
            "strategy": "momentum",
            "start": "2026-06-01T00:00:00Z",
            "end": "2026-06-02T00:00:00Z",
            "fees": {"taker_rate": "0.035", "series": {"KXA": {"quantum": "0.0001"}}},
            "slippage": "0.0003",
            "capital": "250.5",
        }
    )
    assert request.to_json()["config"] == {
        "fees": {
            "taker_rate": "0.035",
            "maker_rate": "0.0175",
            "quantum": "0.01",
            "series": {"KXA": {"taker_rate": "0.035", "maker_rate": "0.0175", "quantum": "0.0001"}},
        },
        "slippage_dollars": "0.000300",
        "capital_dollars": "250.500000",
        "refund_fees_on_void": False,
    }
    config = BacktestRequest.from_json(request.to_json()).config
    assert config.slippage_ticks == 3
    assert config.capital_micro == 250_500_000
    assert config.fees.for_series("KXA") == FeeSchedule(
        taker_rate=Decimal("0.035"), maker_rate=Decimal("0.0175"), quantum=Decimal("0.0001")
    )


def test_an_empty_stored_config_is_the_default_engine_config() -> None:
    """Runs stored before their config was recorded run with the defaults."""
    assert EngineConfig.from_json({}) == EngineConfig()
    assert EngineConfig.from_json(None) == EngineConfig(fees=FeeModel())
