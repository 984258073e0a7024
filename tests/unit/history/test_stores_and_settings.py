"""Archive stores and the history settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.history.stores import ArchiveError, LocalArchive, open_archive
from shared.marketdata.settings import MarketDataSettings


def test_a_local_archive_round_trips_and_stays_inside_its_directory(tmp_path: Path) -> None:
    store = LocalArchive(tmp_path / "a")
    store.put("snapshots/day=2026-06-01/part-0000.parquet", b"data")
    assert store.exists("snapshots/day=2026-06-01/part-0000.parquet")
    assert store.get("snapshots/day=2026-06-01/part-0000.parquet") == b"data"
    assert not list((tmp_path / "a").rglob("*.partial"))
    with pytest.raises(ArchiveError):
        store.put("../escape", b"x")


def test_open_archive_understands_directories_and_files(tmp_path: Path) -> None:
    assert open_archive(None) is None and open_archive("") is None
    assert isinstance(open_archive(str(tmp_path)), LocalArchive)
    local = open_archive(f"file://{tmp_path}")
    assert isinstance(local, LocalArchive) and local.root == tmp_path


def test_history_settings_from_the_environment() -> None:
    default = MarketDataSettings.from_env({})
    assert default.snapshot_heartbeat_seconds == 3600
    assert default.snapshot_retention_days == 90
    assert default.minute_candle_retention_days == 365
    assert default.archive_url is None
    custom = MarketDataSettings.from_env(
        {
            "SNAPSHOT_HEARTBEAT_SECONDS": "0",
            "SNAPSHOT_RETENTION_DAYS": "30",
            "HISTORY_ARCHIVE_URL": "gs://bucket/history",
        }
    )
    assert custom.snapshot_heartbeat_seconds == 0
    assert custom.snapshot_retention_days == 30
    assert custom.archive_url == "gs://bucket/history"
