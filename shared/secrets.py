"""Reading secrets: the real Secret Manager client, in the cloud and locally alike.

Deployed code asks a :class:`SecretStore` for bytes by name; which store it gets is decided
once, from the environment (:func:`secret_store_from_env`). Local and deployed code take the
same path through ``google-cloud-secret-manager``; only the endpoint differs: with
``SECRET_MANAGER_EMULATOR_HOST`` set (the local stack sets it) the client talks to the local
emulator over an insecure gRPC channel, the pattern the Pub/Sub emulator uses. ``shared/``
imports neither ``emulators/`` nor ``devstack/``. Secret values never appear in errors, logs
or reprs. Every payload's CRC32C is verified with ``google-crc32c``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import google_crc32c

from shared import config

__all__ = [
    "SecretManagerStore",
    "SecretNotFound",
    "SecretStore",
    "SecretStoreError",
    "crc32c",
    "secret_manager_client",
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
    """Secret Manager's own rule for secret ids."""
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


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum Secret Manager returns with each payload."""
    return int(google_crc32c.value(data))


def secret_manager_client(emulator_host: str | None = None) -> Any:
    """The real ``SecretManagerServiceClient``; with ``emulator_host``, pointed at it.

    The emulator speaks plain gRPC on loopback, so the client gets an insecure channel and
    anonymous credentials (no Google credentials are looked up locally).
    """
    from google.cloud import secretmanager

    if not emulator_host:
        return secretmanager.SecretManagerServiceClient()
    import grpc  # type: ignore[import-untyped]
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
        SecretManagerServiceGrpcTransport,
    )

    transport = SecretManagerServiceGrpcTransport(
        channel=grpc.insecure_channel(emulator_host),
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
    return secretmanager.SecretManagerServiceClient(
        transport=transport, client_options={"api_endpoint": emulator_host}
    )


class SecretManagerStore:
    """Google Secret Manager (or its local emulator), verifying every payload's CRC32C."""

    def __init__(
        self, project: str, *, emulator_host: str | None = None, client: Any = None
    ) -> None:
        if not project:
            raise ValueError("project is required")
        self.project = project
        self.emulator_host = emulator_host
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = secret_manager_client(self.emulator_host)
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
        where = f", emulator_host={self.emulator_host!r}" if self.emulator_host else ""
        return f"SecretManagerStore(project={self.project!r}{where})"


def secret_store_from_env(environ: Mapping[str, str] | None = None) -> SecretStore:
    """Secret Manager for :func:`shared.config.project_id`, at the configured endpoint.

    ``SECRET_MANAGER_EMULATOR_HOST`` (see :func:`shared.config.secret_manager_emulator_host`)
    points the same client at the local emulator; unset, it is the cloud. The project comes
    from ``GOOGLE_CLOUD_PROJECT`` (set on every deployed function and by the local stack).
    """
    project = config.project_id(environ)
    if not project:
        raise SecretStoreError("set GOOGLE_CLOUD_PROJECT to read secrets")
    return SecretManagerStore(project, emulator_host=config.secret_manager_emulator_host(environ))
