"""shared.config: the one environment reader, its parsers and the settings built from them."""

from __future__ import annotations

import math

import pytest

from shared import config
from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import ApiError
from shared.backtest.settings import BacktestSettings, WorkerSettings
from shared.config import ConfigError, KalshiSettings, LoggingSettings, Secret
from shared.marketdata.settings import MarketDataSettings


@pytest.mark.parametrize("raw", ["1", "true", "YES", " on "])
def test_flag_true(raw: str) -> None:
    assert config.flag("F", False, {"F": raw}) is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "off"])
def test_flag_false(raw: str) -> None:
    assert config.flag("F", True, {"F": raw}) is False


@pytest.mark.parametrize("default", [True, False])
def test_unset_or_blank_is_always_the_default(default: bool) -> None:
    for env in ({}, {"V": ""}, {"V": "   "}):
        assert config.flag("V", default, env) is default
        assert config.integer("V", 7, env) == 7
        assert config.number("V", 2.5, env) == 2.5
        assert config.seconds("V", 1.5, env) == 1.5
        assert config.text("V", env, "d") == "d"
        assert config.text("V", env) is None


def test_malformed_values_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="F must be true or false"):
        config.flag("F", True, {"F": "maybe"})
    with pytest.raises(ConfigError, match="N must be a whole number"):
        config.integer("N", 1, {"N": "2Gi"})
    with pytest.raises(ConfigError, match="N must be at least 1"):
        config.integer("N", 1, {"N": "0"}, minimum=1)
    with pytest.raises(ConfigError, match="N must be at most 9"):
        config.integer("N", 1, {"N": "10"}, maximum=9)
    with pytest.raises(ConfigError, match="X must be a number"):
        config.number("X", 1.0, {"X": "fast"})
    with pytest.raises(ConfigError, match="X must be a finite number"):
        config.number("X", 1.0, {"X": "inf"})
    for raw in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(ConfigError, match="S must be"):
            config.seconds("S", 1.0, {"S": raw})
    assert config.seconds("S", 1.0, {"S": "0.25"}) == 0.25
    assert math.isclose(config.number("X", 1.0, {"X": "1e3"}), 1000.0)


def test_secret_keeps_its_value_exactly_and_out_of_reprs() -> None:
    pem = "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"
    value = config.secret("K", {"K": pem})
    assert value is not None and value.reveal() == pem
    assert "abc" not in repr(value) and "abc" not in f"{value}"
    assert config.secret("K", {"K": ""}) is None and config.secret("K", {}) is None


def test_project_id_has_one_precedence_rule() -> None:
    both = {"GOOGLE_CLOUD_PROJECT": "cloud", "PUBSUB_PROJECT_ID": "emulator", "GCP_PROJECT": "old"}
    assert config.project_id(both) == "cloud"
    assert config.project_id({"PUBSUB_PROJECT_ID": "emulator", "GCP_PROJECT": "old"}) == "emulator"
    assert config.project_id({"GCP_PROJECT": "old"}) == "old"
    assert config.project_id({"GOOGLE_CLOUD_PROJECT": " ", "PUBSUB_PROJECT_ID": "e"}) == "e"
    assert config.project_id({}) is None
    # Every settings object that names a project uses the same rule.
    assert MarketDataSettings.from_env(both).project_id == "cloud"
    assert BacktestSettings.from_env(both).project_id == "cloud"
    assert LoggingSettings.from_env(both).project == "cloud"


def test_poll_publish_is_an_ordinary_flag() -> None:
    assert MarketDataSettings.from_env({}).publish_snapshots
    assert MarketDataSettings.from_env({"POLL_PUBLISH": ""}).publish_snapshots
    assert MarketDataSettings.from_env({"POLL_PUBLISH": " "}).publish_snapshots
    assert not MarketDataSettings.from_env({"POLL_PUBLISH": "no"}).publish_snapshots
    with pytest.raises(ConfigError, match="POLL_PUBLISH"):
        MarketDataSettings.from_env({"POLL_PUBLISH": "sometimes"})


def test_poll_interval_falls_back_rather_than_breaking_health() -> None:
    assert MarketDataSettings.from_env({}).poll_interval_seconds == 60
    assert (
        MarketDataSettings.from_env({"POLL_INTERVAL_SECONDS": "300"}).poll_interval_seconds == 300
    )
    for raw in ("soon", "0", "-5", "inf"):
        settings = MarketDataSettings.from_env({"POLL_INTERVAL_SECONDS": raw})
        assert settings.poll_interval_seconds == 60


def test_backtest_settings() -> None:
    settings = BacktestSettings.from_env(
        {
            "CLOUD_TASKS_QUEUE": "projects/p/locations/l/queues/q",
            "BACKTEST_WORKER_URL": "https://worker",
            "BACKTEST_WORKER_AUDIENCE": "https://aud",
            "TASKS_INVOKER_SA": "sa@p.iam.gserviceaccount.com",
            "KALSHI_STRATEGY_MODULES": " a.b , ,c ",
            "BACKTEST_WORKER_MEMORY_MB": "4096",
            "BACKTEST_MAX_ATTEMPTS": "3",
        }
    )
    assert settings.queue == "projects/p/locations/l/queues/q"
    assert (settings.worker_url, settings.audience) == ("https://worker", "https://aud")
    assert settings.invoker == "sa@p.iam.gserviceaccount.com"
    assert settings.strategy_modules == ("a.b", "c")
    assert settings.worker == WorkerSettings(memory_mb=4096, timeout_s=1800, max_attempts=3)
    assert settings.max_attempts == 3
    empty = BacktestSettings.from_env({})
    assert empty.queue is None and empty.strategy_modules == () and empty.worker == WorkerSettings()


def test_kalshi_settings() -> None:
    settings = KalshiSettings.from_env(
        {"KALSHI_ENV": " production ", "KALSHI_KEY_ID": "k1", "KALSHI_PRIVATE_KEY": "pem"}
    )
    assert settings.environment == "production" and settings.key_id == "k1"
    assert settings.private_key == Secret("pem") and "pem" not in repr(settings)
    assert KalshiSettings.from_env({}) == KalshiSettings()


def test_logging_settings() -> None:
    assert LoggingSettings.from_env({}) == LoggingSettings(level="INFO", project=None)
    assert LoggingSettings.from_env({"LOG_LEVEL": "debug"}).level == "debug"


def test_cursor_key_in_cloud_mode_is_required() -> None:
    assert config.cursor_key({"API_CURSOR_KEY": "k"}) == Secret("k")
    for env in ({}, {"APP_ENVIRONMENT": "production"}, {"API_CURSOR_KEY": ""}):
        with pytest.raises(ConfigError, match="API_CURSOR_KEY"):
            config.cursor_key(env)


def test_cursor_key_falls_back_only_on_the_local_stack() -> None:
    local = config.cursor_key({"APP_ENVIRONMENT": "local"})
    assert local.reveal() == config.LOCAL_CURSOR_KEY
    assert config.cursor_key({"APP_ENVIRONMENT": "local", "API_CURSOR_KEY": "k"}) == Secret("k")


def test_cursors_are_signed_with_the_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_CURSOR_KEY", "first")
    cursor = encode_cursor({"after": 1})
    assert decode_cursor(cursor) == {"after": 1}
    monkeypatch.setenv("API_CURSOR_KEY", "second")
    with pytest.raises(ApiError):
        decode_cursor(cursor)
    monkeypatch.delenv("API_CURSOR_KEY")
    monkeypatch.setenv("APP_ENVIRONMENT", "local")
    assert decode_cursor(encode_cursor({"after": 2})) == {"after": 2}
    monkeypatch.delenv("APP_ENVIRONMENT")
    with pytest.raises(ConfigError, match="API_CURSOR_KEY"):
        encode_cursor({"after": 3})


def test_is_local_needs_to_be_asked_for_by_name() -> None:
    assert config.is_local({"APP_ENVIRONMENT": "local"})
    assert config.is_local({"APP_ENVIRONMENT": " local "})
    for env in ({}, {"APP_ENVIRONMENT": "Local"}, {"CLOUD_TASKS_EMULATOR_HOST": "127.0.0.1:1"}):
        assert not config.is_local(env)
