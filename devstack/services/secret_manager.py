"""The local stack's Secret Manager: the local emulator, seeded with generated keys.

Publishes ``SECRET_MANAGER_EMULATOR_HOST`` to later services, so functions read secrets
through the same ``google-cloud-secret-manager`` client as in the cloud
(:func:`shared.secrets.secret_store_from_env`). Data lives under
``<state-dir>/secret-manager``. On first start it creates ``credential-key-ring`` (one
random 256-bit AES key, version id "1") and ``session-signing-keys`` (one Ed25519 private
key and its ``kid``); later starts find them and keep them. Key material is never printed.
The formats are the auth core's (:mod:`shared.auth.vault`, :mod:`shared.auth.sessions`);
``kalshi-insights rotate-keys`` adds later versions of both.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from devstack.pubsub_emulator import DEFAULT_PROJECT
from devstack.secret_manager_emulator import SecretManagerEmulator
from devstack.services.base import StackContext, add_port_option, first_failure, stop_all
from devstack.state import remembered_port
from shared import config

__all__ = ["SEEDED_SECRETS", "SecretManagerService", "seed_secrets"]


def credential_key_ring() -> bytes:
    """A key ring for the credential vault: one random AES-256 key, id "1"."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    return json.dumps({"active": "1", "keys": [{"id": "1", "aes256_key": key}]}).encode()


def session_signing_keys() -> bytes:
    """A signing ring for sessions: one Ed25519 private key (PKCS#8 PEM) and its ``kid``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kid = secrets.token_hex(8)
    return json.dumps(
        {"active": kid, "keys": [{"kid": kid, "private_key_pem": pem.decode()}]}
    ).encode()


SEEDED_SECRETS: dict[str, Callable[[], bytes]] = {
    "credential-key-ring": credential_key_ring,
    "session-signing-keys": session_signing_keys,
}
"""Secret id -> generator of its first version, created only when the secret has none."""


def seed_secrets(client: Any, project: str) -> list[str]:
    """Create each of :data:`SEEDED_SECRETS` that has no version yet; return the ids created.

    ALREADY_EXISTS on create counts as present (another launcher won the race); a secret
    left without versions by an interrupted run gets its first one.
    """
    from google.api_core.exceptions import AlreadyExists

    created = []
    parent = f"projects/{project}"
    for secret_id, generate in SEEDED_SECRETS.items():
        name = f"{parent}/secrets/{secret_id}"
        with contextlib.suppress(AlreadyExists):
            client.create_secret(
                request={
                    "parent": parent,
                    "secret_id": secret_id,
                    "secret": {"replication": {"automatic": {}}},
                }
            )
        versions = client.list_secret_versions(request={"parent": name})
        if any(True for _ in versions):
            continue
        client.add_secret_version(request={"parent": name, "payload": {"data": generate()}})
        created.append(secret_id)
    return created


class SecretManagerService:
    name = "secret-manager"

    def __init__(self) -> None:
        self.emulator: SecretManagerEmulator | None = None
        self.project: str = DEFAULT_PROJECT
        self.seeded: list[str] = []

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        add_port_option(parser, "--secret-manager-port", "Secret Manager emulator")

    def start(self, ctx: StackContext) -> None:
        from shared.secrets import secret_manager_client

        port = remembered_port(
            ctx.state_dir, "secret-manager", getattr(ctx.options, "secret_manager_port", None)
        )
        self.project = config.project_id(ctx.env) or DEFAULT_PROJECT
        self.emulator = SecretManagerEmulator(
            port,
            data_dir=ctx.state_dir / "secret-manager",
            log_path=ctx.logs_dir / "secret-manager-emulator.log",
        )
        self.emulator.start()
        ctx.env.update(self.emulator.env)
        self.seeded = seed_secrets(secret_manager_client(self.emulator.host), self.project)

    def stop(self) -> None:
        stop_all(self.emulator)

    def check(self) -> str | None:
        return first_failure(self.emulator)

    def describe(self) -> list[str]:
        if self.emulator is None:
            return []
        seeded = ", ".join(self.seeded) if self.seeded else "none (all present)"
        return [
            f"Secrets      emulator {self.emulator.host}  project {self.project}",
            f"             seeded this run: {seeded}",
            f"             log {self.emulator.log_path}",
        ]
