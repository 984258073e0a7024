"""Alembic migrations on a real Postgres: up to head, down to base, and up again."""

from __future__ import annotations

import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.pool import NullPool

from devstack import cli
from shared.db import migrate, models
from shared.db.models import Base

pytestmark = pytest.mark.integration

# The tables of the data model (shared/db/models.py): the first migration must create them.
DESIGN_TABLES = {
    "markets",
    "market_snapshots",
    "backtest_runs",
    "backtest_trades",
    "users",
    "user_credentials",
    "revoked_tokens",
    "position_cache",
    "fills",
    "processed_messages",
}
# Design tables a later revision reshapes: the head test compares them with the models.
RESHAPED_LATER = {"backtest_runs"}  # 0006_backtest_owners: user_id -> owner_id, owner_address
RESHAPED_LATER |= {"users", "user_credentials"}  # 0005_accounts: the vault's layout
RESHAPED_LATER |= {"market_snapshots"}  # 0007_history_storage: partitioned, PK (id, ts)
RESHAPED_LATER |= {"markets"}  # 0010_market_pruning: last_polled_at


@pytest.fixture
def engine(fresh_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(fresh_database, poolclass=NullPool)
    yield engine
    engine.dispose()


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def schema_diff(engine: sa.Engine) -> list[Any]:
    migrate.load_models()
    with engine.connect() as connection, warnings.catch_warnings():
        # Alembic notes it cannot compare computed columns (market_latest has one).
        warnings.filterwarnings("ignore", "Computed default", UserWarning)
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def test_foundation_creates_every_design_table_with_the_models_columns(
    fresh_database: str, engine: sa.Engine
) -> None:
    migrate.upgrade(fresh_database, "0001_foundation")

    assert tables(engine) == DESIGN_TABLES
    inspector = sa.inspect(engine)
    for name in DESIGN_TABLES - RESHAPED_LATER:
        model_table = models.Base.metadata.tables[name]
        columns = {c["name"]: c for c in inspector.get_columns(name)}
        assert set(columns) == set(model_table.columns.keys()), name
        for column in model_table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (name, column.name)
        primary_key = inspector.get_pk_constraint(name)["constrained_columns"]
        assert primary_key == [c.name for c in model_table.primary_key.columns], name


def test_money_columns_are_exact_numerics(fresh_database: str, engine: sa.Engine) -> None:
    migrate.upgrade(fresh_database, "0001_foundation")
    columns = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns("market_snapshots")}
    assert isinstance(columns["yes_bid_dollars"], sa.Numeric)
    assert (columns["yes_bid_dollars"].precision, columns["yes_bid_dollars"].scale) == (10, 4)
    assert (columns["volume_fp"].precision, columns["volume_fp"].scale) == (18, 2)


def test_head_matches_the_models_exactly(fresh_database: str, engine: sa.Engine) -> None:
    migrate.upgrade(fresh_database)
    assert migrate.current_revision(fresh_database) == migrate.head_revision()
    assert schema_diff(engine) == []


def test_downgrade_to_base_drops_everything_and_upgrade_works_again(
    fresh_database: str, engine: sa.Engine
) -> None:
    migrate.upgrade(fresh_database)
    assert tables(engine) >= DESIGN_TABLES

    migrate.downgrade(fresh_database, "base")
    assert tables(engine) == set()
    assert migrate.current_revision(fresh_database) is None

    migrate.upgrade(fresh_database)
    assert tables(engine) >= DESIGN_TABLES
    assert schema_diff(engine) == []


def test_every_revision_downgrades_one_step_at_a_time(
    fresh_database: str, engine: sa.Engine
) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = [r.revision for r in script.walk_revisions()]  # newest first
    migrate.upgrade(fresh_database)
    for revision in revisions:
        assert migrate.current_revision(fresh_database) == revision
        migrate.downgrade(fresh_database, "-1")
    assert tables(engine) == set()


def test_concurrent_upgrades_in_threads_serialise(fresh_database: str, engine: sa.Engine) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(fresh_database)
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert schema_diff(engine) == []


def test_concurrent_upgrades_in_processes_serialise(fresh_database: str, engine: sa.Engine) -> None:
    """Two deploy jobs (or launchers) migrating at once: the advisory lock makes the second
    wait and then find nothing to do, instead of failing on "relation already exists"."""
    command = [sys.executable, "-m", "devstack.cli", "migrate", "--database-url", fresh_database]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert schema_diff(engine) == []


def test_cli_migrate_upgrade_current_downgrade(
    fresh_database: str, engine: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate", "--database-url", fresh_database]) == 0
    assert f"at revision {migrate.head_revision()}" in capsys.readouterr().out
    assert tables(engine) >= DESIGN_TABLES

    assert cli.main(["migrate", "current", "--database-url", fresh_database]) == 0
    assert migrate.head_revision() in capsys.readouterr().out

    assert cli.main(["migrate", "downgrade", "base", "--database-url", fresh_database]) == 0
    assert tables(engine) == set()


def test_cli_migrate_reads_database_url_from_the_environment(
    fresh_database: str, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INSTANCE_CONNECTION_NAME", raising=False)
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    assert cli.main(["migrate"]) == 0
    assert tables(engine) >= DESIGN_TABLES


def test_cli_migrate_reports_an_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    from devstack.postgres import free_port

    url = f"postgresql://postgres:pw@127.0.0.1:{free_port()}/nothing"
    assert cli.main(["migrate", "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert "failed on postgresql+pg8000://postgres:***@127.0.0.1" in err or "failed on" in err
    assert ":pw@" not in err
