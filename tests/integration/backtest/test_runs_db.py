"""The stored request is the request: what the API parsed once is what the worker's claim
hands back (through Postgres's JSONB and timestamptz), engine configuration included."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.backtest.runs import Runs
from shared.backtest.service import BacktestRequest, BacktestService, parse_request
from shared.backtest.settings import STALE_AFTER_S
from shared.config import DatabaseSettings
from shared.db.engine import Database, create_database

pytestmark = pytest.mark.integration

BODY: dict[str, Any] = {
    "strategy": "momentum",
    "params": {"lookback": 3, "stop_loss": None},
    "markets": {"series": "KXSV", "tickers": ["KXSV-1"]},
    "start": "2026-06-01T02:30:00.123456+02:30",
    "end": "2026-06-03T00:00:00Z",
    "rank_by": "total_pnl",
    "fees": {"maker_rate": "0.01", "series": {"KXSV": {"taker_rate": "0.035"}}},
    "slippage": "0.0002",
    "capital": "1234.5678901",
}


@pytest.fixture
def database(migrated_database: str) -> Iterator[Database]:
    db = create_database(DatabaseSettings(database_url=migrated_database))
    try:
        yield db
    finally:
        db.dispose()


@pytest.mark.parametrize("grid", [None, {"lookback": [2, 5, 9]}])
def test_the_claim_hands_back_the_request_the_api_parsed(
    database: Database, grid: dict[str, list[int]] | None
) -> None:
    body = BODY if grid is None else {**BODY, "grid": grid}
    request = parse_request(body)
    run_id = BacktestService(database).create_run(request)
    runs = Runs(database)
    with runs.transaction() as tx:
        claim = tx.claim(run_id, stale_after_s=STALE_AFTER_S)
    assert claim.status == "claimed"
    rebuilt = BacktestRequest.from_json(claim.request)
    assert rebuilt.variants == request.variants
    assert rebuilt.config == request.config
    assert (rebuilt.markets, rebuilt.start, rebuilt.end, rebuilt.rank_by, rebuilt.grid) == (
        request.markets,
        request.start,
        request.end,
        request.rank_by,
        request.grid,
    )
    if grid is not None:
        assert rebuilt == request
    with runs.transaction() as tx:  # a second delivery while this attempt is alive
        assert tx.claim(run_id, stale_after_s=STALE_AFTER_S).status == "running"
    with runs.transaction() as tx:
        assert tx.claim(uuid.uuid4(), stale_after_s=STALE_AFTER_S).status == "gone"
