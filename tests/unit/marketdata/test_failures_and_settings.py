import pytest
import sqlalchemy.exc

from shared.config import ConfigError
from shared.kalshi.errors import (
    AuthenticationError,
    KalshiTransportError,
    RateLimitedError,
    ServerError,
    UnexpectedResponseError,
)
from shared.marketdata.poller import is_transient_failure
from shared.marketdata.settings import MarketDataSettings
from shared.messaging.envelope import InvalidMessage


class PgError(Exception):
    def __init__(self, code):
        super().__init__({"C": code, "M": "x"})


def db_error(cls, code):
    return cls.instance("SELECT 1", None, PgError(code), Exception)


def test_transient_and_permanent_failures():
    assert is_transient_failure(RateLimitedError(429, None, "slow down"))
    assert is_transient_failure(ServerError(503, None, "unavailable"))
    assert is_transient_failure(KalshiTransportError("refused"))
    assert not is_transient_failure(AuthenticationError(401, "authentication_error", "bad"))
    assert not is_transient_failure(UnexpectedResponseError("changed"))
    assert not is_transient_failure(InvalidMessage("junk"))
    assert is_transient_failure(sqlalchemy.exc.OperationalError("x", None, Exception("down")))
    assert is_transient_failure(db_error(sqlalchemy.exc.DBAPIError, "57P01"))  # admin shutdown
    assert is_transient_failure(db_error(sqlalchemy.exc.DBAPIError, "40001"))  # serialization
    assert not is_transient_failure(db_error(sqlalchemy.exc.DBAPIError, "22001"))  # too long
    assert not is_transient_failure(db_error(sqlalchemy.exc.DBAPIError, "42P01"))  # no table
    assert not is_transient_failure(ValueError("bug in data"))
    assert is_transient_failure(ConnectionResetError())


def test_settings_from_env():
    s = MarketDataSettings.from_env(
        {"GOOGLE_CLOUD_PROJECT": "p", "POLL_MAX_EVENT_AGE_SECONDS": "90"}
    )
    assert s.project_id == "p" and s.max_event_age_seconds == 90 and s.publish_snapshots
    assert MarketDataSettings.from_env({"PUBSUB_PROJECT_ID": "q"}).project_id == "q"
    assert not MarketDataSettings.from_env({"POLL_PUBLISH": "off"}).publish_snapshots
    for bad in (
        {"POLL_PAGE_LIMIT": "5000"},
        {"POLL_MAX_EVENT_AGE_SECONDS": "x"},
        {"POLL_PUBLISH": "maybe"},
    ):
        with pytest.raises(ConfigError):
            MarketDataSettings.from_env(bad)


def test_stale_new_triggers_are_skipped_before_any_kalshi_work():
    from datetime import UTC, datetime, timedelta

    from shared.marketdata.poller import PollMarkets

    class NeverProcessed(PollMarkets):
        # The dedup lookup comes first (a stale redelivery of an unannounced poll is still
        # announced: tests/integration/marketdata/test_republish.py); this trigger is new.
        def _already_processed(self, message_id: str) -> bool:
            return False

    poller = NeverProcessed(None, None, None, MarketDataSettings(max_event_age_seconds=60))  # type: ignore[arg-type]
    now = datetime(2026, 6, 11, tzinfo=UTC)
    assert poller.is_stale(now - timedelta(seconds=61), now)
    assert not poller.is_stale(now - timedelta(seconds=59), now)
    assert not poller.is_stale(None, now)
    old = datetime.now(UTC) - timedelta(minutes=5)
    assert poller.run("m-1", published_at=old).status == "stale"  # no Kalshi, no writes
