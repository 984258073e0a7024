"""The emulator's state: one JSON file per secret, written atomically, private to the user.

Layout: ``<data-dir>/<project>/<secret-id>.json`` holding the serialized ``Secret`` and its
versions (state, payload, checksum). Directories are 0700 and files 0600; every write goes
to a private temporary file that is fsynced and renamed into place, so a crash never leaves
a torn secret. All access goes through one lock: the emulator serves one developer.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SecretRecord", "SecretStorage", "VersionRecord"]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@dataclass
class VersionRecord:
    number: int
    state: str  # "ENABLED" | "DISABLED" | "DESTROYED"
    data: bytes
    crc32c: int
    create_time: float
    destroy_time: float | None = None


@dataclass
class SecretRecord:
    project: str
    secret_id: str
    secret: bytes  # the serialized google.cloud.secretmanager.v1.Secret
    versions: list[VersionRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "secret_id": self.secret_id,
            "secret": base64.b64encode(self.secret).decode(),
            "versions": [
                {
                    "number": v.number,
                    "state": v.state,
                    "data": base64.b64encode(v.data).decode(),
                    "crc32c": v.crc32c,
                    "create_time": v.create_time,
                    "destroy_time": v.destroy_time,
                }
                for v in self.versions
            ],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SecretRecord:
        return cls(
            project=raw["project"],
            secret_id=raw["secret_id"],
            secret=base64.b64decode(raw["secret"]),
            versions=[
                VersionRecord(
                    number=int(v["number"]),
                    state=str(v["state"]),
                    data=base64.b64decode(v["data"]),
                    crc32c=int(v["crc32c"]),
                    create_time=float(v["create_time"]),
                    destroy_time=v.get("destroy_time"),
                )
                for v in raw["versions"]
            ],
        )


def valid_id(value: str) -> bool:
    """Project and secret ids: also what keeps file paths inside the data directory."""
    return bool(_ID.match(value))


class SecretStorage:
    """Secrets in memory, written through to ``directory`` on every change."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.lock = threading.RLock()
        self._make_private(self.directory)
        self.secrets: dict[tuple[str, str], SecretRecord] = {}
        for path in sorted(self.directory.glob("*/*.json")):
            record = SecretRecord.from_json(json.loads(path.read_text()))
            self.secrets[(record.project, record.secret_id)] = record

    @staticmethod
    def _make_private(path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.chmod(0o700)

    def _path(self, project: str, secret_id: str) -> Path:
        return self.directory / project / f"{secret_id}.json"

    def save(self, record: SecretRecord) -> None:
        path = self._path(record.project, record.secret_id)
        self._make_private(path.parent)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(record.to_json(), handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, path)
        except BaseException:
            os.unlink(temp_name)
            raise

    def delete(self, project: str, secret_id: str) -> None:
        self.secrets.pop((project, secret_id), None)
        self._path(project, secret_id).unlink(missing_ok=True)
