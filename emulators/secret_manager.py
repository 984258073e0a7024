"""The Secret Manager stand-in of the local stack: one file per secret version.

Layout: ``<directory>/<name>/<version>`` with versions 1, 2, ...; "latest" is the highest.
Directories are 0700 and files 0600, created atomically (written to a private temporary
file, then hard-linked into place, which fails if another process won the race), so two
processes bootstrapping the same key at once end up with one key, never a torn file.
``create_if_missing`` is how the local stack makes the credential-encryption key and the
JWT signing key on first start and finds the same ones on every later start.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from shared.secrets import SecretNotFound, validate_secret_name, validate_version

__all__ = ["LocalSecretStore"]


class LocalSecretStore:
    """Implements :class:`shared.secrets.SecretStore` on a local directory."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def _secret_dir(self, name: str) -> Path:
        return self.directory / validate_secret_name(name)

    def versions(self, name: str) -> list[int]:
        folder = self._secret_dir(name)
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())

    def get(self, name: str, version: str = "latest") -> bytes:
        validate_version(version)
        if version == "latest":
            known = self.versions(name)
            if not known:
                raise SecretNotFound(f"secret {name} has no versions")
            version = str(known[-1])
        try:
            return (self._secret_dir(name) / version).read_bytes()
        except FileNotFoundError:
            raise SecretNotFound(f"secret {name} version {version} not found") from None

    def add_version(self, name: str, data: bytes) -> str:
        """Store ``data`` as the next version of ``name``; return the version number."""
        folder = self._secret_dir(name)
        self._make_private_dirs(folder)
        while True:
            known = self.versions(name)
            version = str(known[-1] + 1 if known else 1)
            if self._publish(folder, version, data):
                return version

    def create_if_missing(self, name: str, generator: Callable[[], bytes]) -> bytes:
        """The latest version of ``name``; when there is none, version 1 from ``generator()``."""
        folder = self._secret_dir(name)
        if not self.versions(name):
            self._make_private_dirs(folder)
            self._publish(folder, "1", generator())
        return self.get(name)

    def _make_private_dirs(self, folder: Path) -> None:
        for path in (self.directory, folder):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.chmod(0o700)

    @staticmethod
    def _publish(folder: Path, version: str, data: bytes) -> bool:
        """Atomically create ``folder/version``; False when it already exists."""
        fd, temp_name = tempfile.mkstemp(dir=folder, prefix=".tmp-")  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp_name, folder / version)
            except FileExistsError:
                return False
            return True
        finally:
            os.unlink(temp_name)

    def __repr__(self) -> str:
        return f"LocalSecretStore({str(self.directory)!r})"
