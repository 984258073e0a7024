"""Reading secrets: Secret Manager in the cloud, a directory of files locally.

Deployed code asks a :class:`SecretStore` for bytes by name; which store it gets is decided
once, from the environment (:func:`secret_store_from_env`). Google publishes no Secret
Manager emulator, so the local stack uses a directory store (one 0600 file per secret
version under the state directory), selected by ``SECRET_MANAGER_LOCAL_DIR``. The local
launcher hands that store's factory in (``local=``): deployed code never imports the local
stack, so ``shared/`` depends on neither ``emulators/`` nor ``devstack/``. Secret values
never appear in errors, logs or reprs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from shared import config

__all__ = [
    "SecretManagerStore",
    "SecretNotFound",
    "SecretStore",
    "SecretStoreError",
    "crc32c",
    "secret_store_from_env",
    "validate_secret_name",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_VERSION = re.compile(r"^(latest|[1-9][0-9]*)$")


class SecretStoreError(RuntimeError):
    """A secret could not be read (corrupt payload, backend failure)."""


class SecretNotFound(SecretStoreError, KeyError):
    """No such secret, or no such version of it."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "secret not found"


def validate_secret_name(name: str) -> str:
    """Secret Manager's own rule; also keeps local file paths inside the store."""
    if not _NAME.match(name):
        raise ValueError("secret names use letters, digits, '-' and '_' (at most 255)")
    return name


def validate_version(version: str) -> str:
    if not _VERSION.match(version):
        raise ValueError("a secret version is 'latest' or a positive integer")
    return version


@runtime_checkable
class SecretStore(Protocol):
    def get(self, name: str, version: str = "latest") -> bytes:
        """The secret's bytes; raises SecretNotFound when absent."""
        ...


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum Secret Manager returns with each payload.

    Pure Python (secrets are a few hundred bytes) so no C extension is needed.
    """
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class SecretManagerStore:
    """Google Secret Manager, verifying the CRC32C of every payload it returns."""

    def __init__(self, project: str, *, client: Any = None) -> None:
        if not project:
            raise ValueError("project is required")
        self.project = project
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import secretmanager

            self._client = secretmanager.SecretManagerServiceClient()
        return self._client

    def get(self, name: str, version: str = "latest") -> bytes:
        from google.api_core.exceptions import NotFound

        validate_secret_name(name)
        validate_version(version)
        path = f"projects/{self.project}/secrets/{name}/versions/{version}"
        try:
            response = self.client.access_secret_version(request={"name": path})
        except NotFound:
            raise SecretNotFound(f"secret {name} version {version} not found") from None
        data = bytes(response.payload.data)
        expected = response.payload.data_crc32c
        if expected is not None and crc32c(data) != int(expected):
            raise SecretStoreError(f"secret {name} version {version}: checksum mismatch")
        return data

    def __repr__(self) -> str:
        return f"SecretManagerStore(project={self.project!r})"


def secret_store_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    local: Callable[[str], SecretStore] | None = None,
) -> SecretStore:
    """``local(SECRET_MANAGER_LOCAL_DIR)`` when that is set, else Secret Manager.

    ``local`` is the local stack's store factory, handed in by the launcher; with the
    variable set and no factory this refuses rather than silently reaching for the cloud.
    The project comes from :func:`shared.config.project_id` (``GOOGLE_CLOUD_PROJECT``, set
    on every deployed function).
    """
    local_dir = config.text("SECRET_MANAGER_LOCAL_DIR", environ)
    if local_dir:
        if local is None:
            raise SecretStoreError(
                "SECRET_MANAGER_LOCAL_DIR is set but no local secret store was handed in "
                "(only the local stack uses it)"
            )
        return local(local_dir)
    project = config.project_id(environ)
    if not project:
        raise SecretStoreError(
            "set SECRET_MANAGER_LOCAL_DIR (local stack) or GOOGLE_CLOUD_PROJECT (cloud)"
        )
    return SecretManagerStore(project)
