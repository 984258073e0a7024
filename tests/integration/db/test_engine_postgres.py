"""The engine factory and the models against a real Postgres: exact decimals both ways."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pg8000.dbapi
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from shared.config import DatabaseSettings, Secret
from shared.db.engine import create_database
from shared.db.models import Fill, Market, MarketSnapshot, PositionCache, User
from shared.db.session import session_scope

pytestmark = pytest.mark.integration

TS = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_decimal_columns_round_trip_exactly(migrated_database: str) -> None:
    database = create_database(DatabaseSettings(database_url=migrated_database))
    try:
        user_id = uuid.uuid4()
        with session_scope(database) as session:
            session.add(Market(ticker="KXT-1", event_ticker="KXT", status="active"))
            session.add(
                MarketSnapshot(
                    ticker="KXT-1",
                    ts=TS,
                    source="poll",
                    yes_bid_dollars=Decimal("0.4700"),
                    yes_ask_dollars=Decimal("0.0001"),
                    no_bid_dollars=Decimal("0.9999"),
                    last_price_dollars=Decimal("0.5250"),
                    volume_fp=Decimal("9999999999999999.99"),
                    open_interest_fp=Decimal("3.00"),
                    raw={"yes_bid_dollars": "0.4700"},
                )
            )
            session.add(User(id=user_id, kalshi_key_id="k1", environment="demo"))
            session.flush()
            session.add(
                PositionCache(
                    user_id=user_id,
                    ticker="KXT-1",
                    position_fp=Decimal("-12.50"),
                    market_exposure_dollars=Decimal("123456789012.123456"),
                    realized_pnl_dollars=Decimal("-0.000001"),
                    fees_paid_dollars=Decimal("0.070000"),
                    total_traded_dollars=Decimal("0.1"),
                    updated_at=TS,
                )
            )
            session.add(
                Fill(
                    user_id=user_id,
                    fill_id="f1",
                    ticker="KXT-1",
                    outcome_side="yes",
                    book_side="bid",
                    count_fp=Decimal("3.00"),
                    yes_price_dollars=Decimal("0.0150"),
                    no_price_dollars=Decimal("0.9850"),
                    fee_cost_dollars=Decimal("0.001747"),
                    is_taker=True,
                    created_time=TS,
                )
            )

        with session_scope(database) as session:
            snapshot = session.scalars(sa.select(MarketSnapshot)).one()
            position = session.scalars(sa.select(PositionCache)).one()
            fill = session.scalars(sa.select(Fill)).one()
            market = session.get(Market, "KXT-1")

        values: dict[str, Any] = {
            "yes_bid": snapshot.yes_bid_dollars,
            "yes_ask": snapshot.yes_ask_dollars,
            "no_bid": snapshot.no_bid_dollars,
            "volume": snapshot.volume_fp,
            "exposure": position.market_exposure_dollars,
            "pnl": position.realized_pnl_dollars,
            "fee": fill.fee_cost_dollars,
        }
        assert all(type(v) is Decimal for v in values.values())
        assert str(snapshot.yes_bid_dollars) == "0.4700"
        assert snapshot.yes_ask_dollars == Decimal("0.0001")
        assert str(snapshot.volume_fp) == "9999999999999999.99"
        assert str(snapshot.open_interest_fp) == "3.00"
        assert str(position.position_fp) == "-12.50"
        assert str(position.market_exposure_dollars) == "123456789012.123456"
        assert position.realized_pnl_dollars == Decimal("-0.000001")
        assert str(position.total_traded_dollars) == "0.100000"
        assert str(fill.fee_cost_dollars) == "0.001747"
        assert fill.yes_price_dollars + fill.no_price_dollars == Decimal("1.0000")
        assert snapshot.raw == {"yes_bid_dollars": "0.4700"}
        # Server defaults fill what the ORM left out.
        assert market is not None and market.title == "" and market.market_type == "binary"
    finally:
        database.dispose()


def test_server_defaults_apply_to_plain_sql(migrated_database: str) -> None:
    database = create_database(DatabaseSettings(database_url=migrated_database))
    try:
        with database.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO backtest_runs (id, status, strategy, strategy_version, "
                    "start_ts, end_ts) VALUES (:id, 'queued', 's', '1', now(), now())"
                ),
                {"id": uuid.uuid4()},
            )
            row = connection.execute(
                sa.text("SELECT params, market_filter, progress, created_at FROM backtest_runs")
            ).one()
        assert row.params == {} and row.market_filter == {}
        assert row.progress == 0
        assert row.created_at is not None
    finally:
        database.dispose()


def test_rounding_beyond_the_column_scale_is_postgres_numeric_rounding(
    migrated_database: str,
) -> None:
    """A price with more than 4 decimals is rounded by Postgres (half away from zero), so
    callers must quantize first; this pins the behaviour down."""
    database = create_database(DatabaseSettings(database_url=migrated_database))
    try:
        with session_scope(database) as session:
            session.add(
                MarketSnapshot(ticker="T", ts=TS, source="poll", yes_bid_dollars=Decimal("0.12345"))
            )
        with session_scope(database) as session:
            value = session.scalars(sa.select(MarketSnapshot.yes_bid_dollars)).one()
        assert value == Decimal("0.1235")
    finally:
        database.dispose()


class LoopbackConnector:
    """Stands in for Google's connector (no Cloud SQL here): opens pg8000 connections to the
    test server, so the engine's creator path runs for real."""

    def __init__(self, port: int, **kwargs: Any) -> None:
        self.port = port
        self.init_kwargs = kwargs
        self.connects: list[tuple[str, str, dict[str, Any]]] = []
        self.closed = False

    def connect(self, instance: str, driver: str, **kwargs: Any) -> Any:
        self.connects.append((instance, driver, kwargs))
        assert driver == "pg8000"
        return pg8000.dbapi.connect(
            user=kwargs["user"], database=kwargs["db"], host="127.0.0.1", port=self.port
        )

    def close(self) -> None:
        self.closed = True


def test_cloud_sql_engine_runs_queries_through_the_connector(migrated_database: str) -> None:
    url = make_url(migrated_database)
    created: list[LoopbackConnector] = []

    def factory(**kwargs: Any) -> LoopbackConnector:
        created.append(LoopbackConnector(int(url.port or 5432), **kwargs))
        return created[0]

    settings = DatabaseSettings(
        instance_connection_name="proj:region:instance",
        db_user="postgres",
        db_name=str(url.database),
        db_pass=Secret("unused-with-trust-auth"),
    )
    database = create_database(settings, connector_factory=factory)
    with database.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM markets")).scalar_one() == 0
    with database.engine.connect() as connection:  # reused from the pool
        assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
    connector = created[0]
    assert connector.init_kwargs["refresh_strategy"] == "LAZY"
    assert len(connector.connects) == 1
    database.dispose()
    assert connector.closed
