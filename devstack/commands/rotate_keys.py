"""``kalshi-insights rotate-keys``: rotate the running local stack's key rings.

    kalshi-insights rotate-keys [--state-dir .local] [--sessions] [--skip-credentials]

By default it rotates the credential vault's key ring: a new AES-256 key version is added
to the ``credential-key-ring`` secret (as a new secret version, the older ones kept) and
becomes the one that seals; then every stored Kalshi key is re-sealed under it
(:func:`shared.auth.credentials.rotate_all`, in batches, idempotent). Old key versions stay
in the ring, so nothing is unreadable at any moment: instances still holding the old ring
re-read it when they meet a row sealed by a version they do not know.

``--sessions`` also rotates ``session-signing-keys``: a new Ed25519 key becomes active;
the previous one is kept, marked retired, and keeps verifying the sessions it signed until
they expire (keys retired longer ago than a session lives are dropped).

The stack is found through its state directory (``ports.json``: the Secret Manager
emulator's and Postgres's ports), as ``kalshi-insights backtest`` finds the database. The
output is counts and version ids only, never key material.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

NAME = "rotate-keys"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="rotate the local stack's credential (and session) keys",
        description=(
            "Add a new credential-vault key version and re-seal every stored Kalshi key "
            "under it; with --sessions, also make a new session signing key active."
        ),
    )
    parser.add_argument(
        "--state-dir",
        default=".local",
        help="state directory of 'kalshi-insights up' (default: .local)",
    )
    parser.add_argument(
        "--sessions",
        action="store_true",
        help="also rotate the session signing keys (old keys keep verifying)",
    )
    parser.add_argument(
        "--skip-credentials",
        action="store_true",
        help="do not rotate the credential vault's key ring",
    )
    parser.add_argument(
        "--database-url", help="Postgres URL (default: the local stack's in --state-dir)"
    )
    parser.add_argument(
        "--secret-manager-host",
        help="host:port of the Secret Manager emulator (default: the stack's in --state-dir)",
    )
    parser.add_argument("--project", help="the project id (default: the local stack's)")
    parser.set_defaults(handler=run)


def secret_manager_host(state_dir: Path) -> str | None:
    """``127.0.0.1:PORT`` of the Secret Manager emulator the stack in ``state_dir`` runs."""
    import json

    try:
        ports = json.loads((state_dir / "ports.json").read_text())
    except (OSError, ValueError):
        return None
    port = ports.get("secret-manager") if isinstance(ports, dict) else None
    return f"127.0.0.1:{port}" if isinstance(port, int) else None


def add_version(client: Any, project: str, secret_id: str, payload: bytes) -> str:
    """Add ``payload`` as the newest version of ``secret_id``; its version number."""
    response = client.add_secret_version(
        request={"parent": f"projects/{project}/secrets/{secret_id}", "payload": {"data": payload}}
    )
    return str(response.name).rsplit("/", 1)[-1]


def rotate_credential_ring(client: Any, project: str, secret_id: str) -> tuple[str, list[str]]:
    """Add a key to the credential ring secret; ``(new active version, all versions)``."""
    from shared.auth.vault import key_ring_from_secret, key_ring_to_secret
    from shared.secrets import SecretManagerStore

    store = SecretManagerStore(project, client=client)
    ring = key_ring_from_secret(store.get(secret_id)).with_new_key()
    add_version(client, project, secret_id, key_ring_to_secret(ring))
    return ring.newest, ring.versions


def rotate_session_ring(client: Any, project: str, secret_id: str) -> tuple[str, list[str]]:
    """A new active session signing key; ``(new active kid, every kid still verifying)``."""
    from shared.auth.sessions import (
        rotate_signing_keys,
        signing_keys_from_secret,
        signing_keys_to_secret,
    )
    from shared.secrets import SecretManagerStore

    store = SecretManagerStore(project, client=client)
    ring = rotate_signing_keys(signing_keys_from_secret(store.get(secret_id)))
    add_version(client, project, secret_id, signing_keys_to_secret(ring))
    return ring.active, ring.kids


def run(args: Any) -> int:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from devstack.pubsub_emulator import DEFAULT_PROJECT
    from devstack.state import local_database_url
    from shared import config
    from shared.auth.credentials import rotate_all
    from shared.auth.settings import AuthSettings
    from shared.auth.vault import CredentialVault, key_ring_from_secret
    from shared.db.engine import pg8000_url
    from shared.secrets import SecretManagerStore, secret_manager_client

    state_dir = Path(args.state_dir)
    host = args.secret_manager_host or secret_manager_host(state_dir)
    if not host:
        print(
            f"no running stack found in {state_dir} (no Secret Manager port); start it with "
            "'kalshi-insights up' or pass --secret-manager-host",
            file=sys.stderr,
        )
        return 1
    project = args.project or config.project_id() or DEFAULT_PROJECT
    settings = AuthSettings()
    client = secret_manager_client(host)
    try:
        if args.sessions:
            active, kids = rotate_session_ring(client, project, settings.session_keys_secret)
            print(f"session signing keys: new active kid {active}; {len(kids)} key(s) verify")
        if args.skip_credentials:
            return 0
        url = args.database_url or local_database_url(state_dir)
        if not url:
            print(f"no database found in {state_dir}; pass --database-url", file=sys.stderr)
            return 1
        newest, versions = rotate_credential_ring(
            client, project, settings.credential_key_ring_secret
        )
        print(f"credential key ring: new key version {newest} (versions {', '.join(versions)})")
        ring = key_ring_from_secret(
            SecretManagerStore(project, client=client).get(settings.credential_key_ring_secret)
        )
        engine = create_engine(pg8000_url(url), poolclass=NullPool, hide_parameters=True)
        try:
            report = rotate_all(engine, CredentialVault(ring))
        finally:
            engine.dispose()
    except Exception as error:  # a clear line, not a traceback with who knows what in it
        print(f"rotate-keys failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(
        f"credentials: {report.rows} stored, {report.rewrapped} re-sealed under version "
        f"{newest}, {report.unreadable} unreadable"
    )
    return 0 if report.unreadable == 0 else 1
