from __future__ import annotations

import logging
from pathlib import Path

import pytest

from devstack import cli


def test_commands_are_listed_in_one_tuple() -> None:
    assert cli.COMMANDS[:4] == ("up", "migrate", "sim", "backtest")
    assert "rotate-keys" in cli.COMMANDS
    assert len(set(cli.COMMANDS)) == len(cli.COMMANDS)


def test_missing_command_modules_are_skipped_with_a_debug_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(cli, "COMMANDS", ("up", "not_written_yet", "migrate"))
    with caplog.at_level(logging.DEBUG, logger="devstack.cli"):
        parser = cli.build_parser()
    help_text = parser.format_help()
    assert "up" in help_text and "migrate" in help_text
    assert "not_written_yet" not in help_text
    assert any(
        "not_written_yet" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records
    )


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_migrate_without_a_database_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("INSTANCE_CONNECTION_NAME", raising=False)
    # No local stack in this state directory either.
    assert cli.main(["migrate", "--state-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL" in err and "INSTANCE_CONNECTION_NAME" in err


def test_migrate_downgrade_needs_a_revision(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate", "downgrade", "--database-url", "postgresql://h/d"]) == 2
    assert "needs a revision" in capsys.readouterr().err


def test_up_has_its_options() -> None:
    args = cli.build_parser().parse_args(["up"])
    assert args.port == 8080
    assert args.state_dir == ".local"
    assert args.postgres_port is None
    args = cli.build_parser().parse_args(
        ["up", "--port", "9000", "--state-dir", "state-x", "--postgres-port", "5555"]
    )
    assert (args.port, args.state_dir, args.postgres_port) == (9000, "state-x", 5555)
