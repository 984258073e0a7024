"""`terraform fmt -check -recursive infra`: the only Terraform command that works offline
(providers cannot be downloaded here, so init/validate/test are impossible)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.tf import INFRA


def test_terraform_fmt_is_clean(tmp_path: Path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed on this machine: fmt check skipped")
    config = tmp_path / "terraformrc"
    config.write_text("")  # no ~/.terraformrc warning noise, no plugin cache surprises
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "CHECKPOINT_DISABLE": "1"}
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change files:\n{result.stdout}"
