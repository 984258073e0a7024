"""``emulator-compose.yml`` keeps the local stack on this machine and its key private.

The stack has no authentication: a port published on every interface would hand the
gateway (and through it the functions) to the whole network, so each published port is
bound to 127.0.0.1. The demo account's private key is written by a shell snippet in the
file itself; that snippet is run here, under the usual umask, to see the mode it gives.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[3] / "emulator-compose.yml"


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_every_published_port_is_bound_to_loopback() -> None:
    published = []
    for name, service in _compose()["services"].items():
        for port in service.get("ports") or []:
            published.append((name, str(port)))
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert ("gateway", "127.0.0.1:8080:8080") in published


# Built at run time so the repository holds no private-key block, not even a fake one.
FAKE_PEM = "-----BEGIN " + "PRIVATE KEY-----\n"


def _key_writing_snippets() -> list[str]:
    entrypoint = _compose()["services"]["poll-markets"]["entrypoint"]
    script = " ".join(map(str, entrypoint))
    snippets = [s for s in re.findall(r"python -c '([^']*)'", script) if ".pem" in s]
    assert snippets, "no snippet writes the demo key"
    return snippets


def test_the_demo_key_is_written_with_mode_0600(tmp_path: Path) -> None:
    (tmp_path / "demo-account.json").write_text(
        json.dumps({"key_id": "k", "private_key_pem": FAKE_PEM})
    )
    pem = tmp_path / "demo-account.pem"
    pem.write_text("left by an earlier run")
    pem.chmod(0o644)  # an existing, too-open file must be tightened too
    for snippet in _key_writing_snippets():
        code = snippet.replace("/state/", f"{tmp_path}/")
        old_umask = os.umask(0o022)
        try:
            subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        finally:
            os.umask(old_umask)
    assert pem.read_text() == FAKE_PEM
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600


def test_the_gateway_is_told_its_published_port() -> None:
    command = " ".join(_compose()["services"]["gateway"]["command"])
    assert "port=8080" in command.replace(" ", "")
