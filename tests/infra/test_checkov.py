"""checkov over infra/: no failed check, and every skip carries a written justification.

checkov lives in its own venv (.venv-checkov, devstack/checkov_venv.py): its
bc-python-hcl2 would shadow the project's python-hcl2. The first run builds that venv
from PyPI (about 30 s). When that fails, CI (``CI=true``) fails: a scan that silently
did not run is not a pass. Only a local run without PyPI skips, and says why.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devstack.checkov_venv import DEFAULT_VENV_DIR, CheckovSetupError, ensure_checkov
from devstack.tool_venv import lock_path
from tests.infra.tf import INFRA, REPO_ROOT


def running_in_ci(env: dict[str, str] | None = None) -> bool:
    """``CI=true`` (or 1/yes), as CI systems set it and cloudbuild.yaml / .ci/run do."""
    value = (os.environ if env is None else env).get("CI", "")
    return value.strip().lower() in ("1", "true", "yes")


def checkov_or_skip(ensure: Callable[[], Path] = ensure_checkov) -> Path:
    """The checkov executable; in CI a failed install fails the test, locally it skips."""
    try:
        return ensure()
    except CheckovSetupError as error:
        if running_in_ci():
            pytest.fail(f"CI=true and checkov could not be installed: {error}", pytrace=False)
        pytest.skip(
            "checkov could not be installed into .venv-checkov (no PyPI?); skipped locally "
            f"only, CI fails here: {error}"
        )


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    binary = checkov_or_skip()
    result = subprocess.run(
        [
            str(binary),
            "--directory",
            str(INFRA),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    if isinstance(report, list):  # several frameworks answer as a list
        report = next(r for r in report if r.get("check_type") == "terraform")
    assert isinstance(report, dict)
    return report


def test_checkov_finds_nothing_unjustified(checkov_report: dict[str, Any]) -> None:
    results = checkov_report["results"]
    failed = [
        f"{r['check_id']} {r['resource']} ({r['file_path']}:{r['file_line_range']})"
        for r in results["failed_checks"]
    ]
    assert not failed, "checkov findings (fix, or skip inline with a reason):\n" + "\n".join(failed)
    assert len(results["passed_checks"]) > 50, "checkov scanned suspiciously little"
    assert not results["parsing_errors"], results["parsing_errors"]


def test_every_checkov_skip_is_justified(checkov_report: dict[str, Any]) -> None:
    skipped = checkov_report["results"]["skipped_checks"]
    for result in skipped:
        reason = (result.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason.strip()) >= 20, (
            f"{result['check_id']} on {result['resource']}: {reason!r}"
        )


# ------------------------------------------------------------------ install failures, lock path


def _broken_requirements(tmp_path: Path) -> Path:
    """A requirements file pip rejects at once (no network involved)."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{tmp_path / 'no-such-package-dir'}\n")
    return requirements


def _failing_install(tmp_path: Path) -> Callable[[], Path]:
    venv = tmp_path / ".venv-checkov"
    requirements = _broken_requirements(tmp_path)
    return lambda: ensure_checkov(venv, requirements, timeout=120)


def _outcome(ensure: Callable[[], Path]) -> tuple[str, str]:
    """What :func:`checkov_or_skip` does to the calling test: ("failed" | "skipped", why)."""
    try:
        checkov_or_skip(ensure)
    except pytest.fail.Exception as error:
        return "failed", str(error)
    except pytest.skip.Exception as error:
        return "skipped", str(error)
    return "ran", ""


def test_a_failed_checkov_install_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    outcome, why = _outcome(_failing_install(tmp_path))
    assert outcome == "failed", f"with CI=true a broken checkov install must fail, not {outcome}"
    assert "CI=true" in why and "no-such-package-dir" in why


def test_a_failed_checkov_install_skips_locally_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    outcome, why = _outcome(_failing_install(tmp_path))
    assert outcome == "skipped"
    assert "skipped locally only, CI fails" in why and "no-such-package-dir" in why


@pytest.mark.parametrize(("value", "ci"), [("true", True), ("1", True), ("", False), ("0", False)])
def test_ci_detection(value: str, ci: bool) -> None:
    assert running_in_ci({"CI": value}) is ci


def test_tool_venv_lock_files_sit_beside_the_venv_and_are_ignored(tmp_path: Path) -> None:
    assert lock_path(DEFAULT_VENV_DIR) == REPO_ROOT / ".venv-checkov.lock"
    assert lock_path(REPO_ROOT / ".venv-tasks") == REPO_ROOT / ".venv-tasks.lock"
    # The builder really takes its lock there (and nowhere else), even when pip fails.
    with pytest.raises(CheckovSetupError):
        _failing_install(tmp_path)()
    assert sorted(p.name for p in tmp_path.glob("*.lock")) == [".venv-checkov.lock"]
    assert not list(tmp_path.glob("..*"))
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", ".venv-checkov.lock", ".venv-tasks.lock"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.stdout.split() == [".venv-checkov.lock", ".venv-tasks.lock"], ignored.stderr
