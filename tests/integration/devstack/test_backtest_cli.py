"""``kalshi-insights backtest run`` on a real database, as the README's "Try it" runs it."""

from __future__ import annotations

import pytest

from devstack.cli import main
from shared.config import DatabaseSettings
from shared.db.engine import create_database, dispose_database
from tests.integration.backtest.test_backtest_service_db import REQUEST, _seed

pytestmark = pytest.mark.integration


def test_a_run_with_more_trades_than_it_prints_completes_without_a_cursor_key(
    migrated_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No API_CURSOR_KEY and no APP_ENVIRONMENT, as in a newcomer's shell: the run pages its
    # trades with a cursor, which must not need a cloud secret.
    monkeypatch.delenv("API_CURSOR_KEY", raising=False)
    monkeypatch.delenv("APP_ENVIRONMENT", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the command sets it; undone after
    database = create_database(DatabaseSettings(database_url=migrated_database))
    try:
        _seed(database)
    finally:
        database.dispose()
    try:
        code = main(
            [
                "backtest",
                "run",
                REQUEST["strategy"],
                "--start",
                REQUEST["start"],
                "--end",
                REQUEST["end"],
                "--series",
                "KXSV",
                "--param",
                "lookback=1",
                "--param",
                "threshold=0.05",
                "--database-url",
                migrated_database,
                "--json",
            ]
        )
    finally:
        dispose_database()  # the command's lazy global engine, bound to this test's database
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"status": "completed"' in out
    assert '"trades_next_cursor": "' in out or '"next_cursor": "' in out, out[-2000:]
    # Owned by the local anonymous visitor (127.0.0.1), so the dashboard lists it; never by
    # nobody (a run with no owner is listed to no one).
    from shared.backtest.runs import RunOwner
    from shared.backtest.service import BacktestService

    database = create_database(DatabaseSettings(database_url=migrated_database))
    try:
        service = BacktestService(database)
        listed = service.list_runs(owner=RunOwner(address="127.0.0.1"))["items"]
        elsewhere = service.list_runs(owner=RunOwner(address="203.0.113.7"))["items"]
    finally:
        database.dispose()
    assert len(listed) == 1 and listed[0]["status"] == "completed"
    assert elsewhere == []
