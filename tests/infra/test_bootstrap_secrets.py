"""Bootstrap never prints a password: the documented commands and the script that sets the
break-glass ``postgres`` password.

The script runs for real, with stand-ins for the three external programs it calls
(``openssl``, ``gcloud``, ``curl``) that record their arguments and standard input, so the
test sees exactly where the password went: into Secret Manager's and the Admin API's
stdin, and nowhere else (not stdout, not stderr, not any command line).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.infra.tf import INFRA

SCRIPT = INFRA / "bootstrap" / "set-postgres-password.sh"
PASSWORD = "S3cr3tGeneratedPassw0rd+/AbCdEfGh"
TOKEN = "ya29.fake-access-token"

_RECORDER = """#!/usr/bin/env bash
# Records argv and stdin of one call, then answers like the real program would.
n=$(ls "{log}" | grep -c "^{name}-" || true)
printf '%s\\n' "$@" > "{log}/{name}-$n.argv"
if [ ! -t 0 ]; then cat > "{log}/{name}-$n.stdin"; fi
{answer}
"""


def _fake(bin_dir: Path, log: Path, name: str, answer: str) -> None:
    path = bin_dir / name
    path.write_text(_RECORDER.format(log=log, name=name, answer=answer))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    log.mkdir()
    _fake(bin_dir, log, "openssl", f"echo '{PASSWORD}'")
    _fake(
        bin_dir,
        log,
        "gcloud",
        f'if [ "$1" = auth ]; then echo "{TOKEN}"; else echo "Created version [2]." >&2; fi',
    )
    _fake(bin_dir, log, "curl", "exit 0")
    result = subprocess.run(
        ["bash", str(SCRIPT), "demo-project", "ki-dev-pg"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        timeout=60,
        check=False,
    )
    return result, log


def test_the_password_script_never_prints_or_passes_the_password_as_an_argument(
    recorded: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, log = recorded
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert TOKEN not in result.stdout + result.stderr
    for argv in log.glob("*.argv"):
        text = argv.read_text()
        assert PASSWORD not in text, f"{argv.name}: the password is on a command line"
        assert TOKEN not in text, f"{argv.name}: the access token is on a command line"
    assert "ki-dev-pg" in result.stdout


def test_the_password_reaches_secret_manager_and_cloud_sql_through_stdin(
    recorded: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, log = recorded
    calls = {p.stem: p.read_text().split("\n") for p in log.glob("*.argv")}
    secret_call = next(k for k, argv in calls.items() if argv[:3] == ["secrets", "versions", "add"])
    assert "--data-file=-" in calls[secret_call]
    assert (log / f"{secret_call}.stdin").read_text() == PASSWORD
    curl_call = next(k for k in calls if k.startswith("curl-"))
    assert "--config" in calls[curl_call] and "-" in calls[curl_call]
    assert any("/instances/ki-dev-pg/users?name=postgres" in a for a in calls[curl_call])
    config = (log / f"{curl_call}.stdin").read_text()
    assert f'\\"password\\": \\"{PASSWORD}\\"' in config
    assert f"Authorization: Bearer {TOKEN}" in config


def test_the_script_refuses_to_run_without_its_arguments() -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2 and "usage" in result.stderr


# Shell fragments that would show a password: on a terminal (tee /dev/stderr, echo), or on
# a command line (--password=..., a secret read into an argument with versions access).
_PRINTS_A_PASSWORD = [
    re.compile(r"tee\s+/dev/(stderr|stdout|tty)"),
    re.compile(r"--password[= ]"),
    re.compile(r"\$\(\s*gcloud secrets versions access"),
    re.compile(r"echo\s+[\"']?\$\{?\w*(PASS|SECRET|password)", re.I),
    re.compile(r"^\s*openssl rand[^|\n]*$", re.M),  # a bare command prints what it generates
]


@pytest.mark.parametrize(
    "path",
    [INFRA / "README.md", *sorted((INFRA / "bootstrap").iterdir())],
    ids=lambda p: p.name,
)
def test_bootstrap_instructions_never_print_a_password(path: Path) -> None:
    text = path.read_text()
    for pattern in _PRINTS_A_PASSWORD:
        match = pattern.search(text)
        assert match is None, f"{path.name}: {match.group(0)!r} would expose a password"
