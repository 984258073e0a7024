from __future__ import annotations

import pytest

from shared.config import ConfigError, DatabaseSettings, Secret


def test_reads_cloud_sql_settings() -> None:
    settings = DatabaseSettings.from_env(
        {
            "INSTANCE_CONNECTION_NAME": "p:r:i",
            "DB_USER": "app",
            "DB_NAME": "ki",
            "DB_PASS": "pw",
            "DB_IAM_AUTH": "false",
            "DB_POOL_SIZE": "5",
            "DB_IP_TYPE": "private",
        }
    )
    assert settings.uses_cloud_sql
    assert (settings.db_user, settings.db_name, settings.db_ip_type) == ("app", "ki", "PRIVATE")
    assert settings.db_pass == Secret("pw")
    assert settings.pool_size == 5
    assert settings.db_iam_auth is False


def test_plain_url_only() -> None:
    settings = DatabaseSettings.from_env({"DATABASE_URL": "postgresql://u@h/d"})
    assert not settings.uses_cloud_sql
    assert settings.database_url == "postgresql://u@h/d"
    assert settings.db_pass is None


def test_secret_never_shows_in_repr() -> None:
    settings = DatabaseSettings.from_env({"DATABASE_URL": "postgresql://h/d", "DB_PASS": "hunter2"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in f"{settings.db_pass}"
    assert settings.db_pass is not None and settings.db_pass.reveal() == "hunter2"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://h/d", "DB_IAM_AUTH": "maybe"}, "DB_IAM_AUTH"),
        ({"DATABASE_URL": "postgresql://h/d", "DB_POOL_SIZE": "0"}, "DB_POOL_SIZE"),
        ({"DATABASE_URL": "postgresql://h/d", "DB_POOL_TIMEOUT": "x"}, "DB_POOL_TIMEOUT"),
        ({"DATABASE_URL": "postgresql://h/d", "DB_IP_TYPE": "carrier-pigeon"}, "DB_IP_TYPE"),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        DatabaseSettings.from_env(env)
