"""Key rotation against the real Secret Manager emulator and Postgres: the rotate-keys
command, rotate_all over many rows, and sessions that keep verifying throughout."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from devstack import cli
from devstack.secret_manager_emulator import SecretManagerEmulator
from shared.auth.credentials import rotate_all, save_credential
from shared.auth.principal import AuthContext
from shared.auth.session_store import record_session
from shared.auth.settings import AuthSettings
from shared.auth.vault import CredentialVault, key_ring_from_secret
from shared.db.roles import deployable_url
from shared.kalshi.signing import generate_private_key_pem
from shared.secrets import SecretManagerStore
from tests.integration.auth.conftest import PROJECT

pytestmark = pytest.mark.integration

ROWS = 240  # more than one rotation batch (200)
EngineAs = Callable[..., sa.Engine]
PEM = generate_private_key_pem()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def context(emulator: SecretManagerEmulator, clock: Clock) -> AuthContext:
    store = SecretManagerStore(PROJECT, emulator_host=emulator.host)
    return AuthContext(AuthSettings(keys_refresh_s=3600), store, clock=clock)


def get(token: str) -> Request:
    return Request(
        EnvironBuilder(
            path="/api/v1/account/me", headers={"Cookie": f"ki_session={token}"}
        ).get_environ()
    )


def populate(url: str, ctx: AuthContext) -> list[uuid.UUID]:
    users = [uuid.uuid4() for _ in range(ROWS)]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, kalshi_key_id, environment) "
                    "VALUES (:id, :key, 'custom')"
                ),
                [{"id": u, "key": f"key-{u}"} for u in users],
            )
            # Two through the real path; the rest sealed the same way in one statement
            # (save_credential validates the PEM each time: 50 ms of RSA checks per row).
            for user in users[:2]:
                save_credential(conn, ctx.vault, user, f"key-{user}", PEM)
            rows = []
            for user in users[2:]:
                sealed = ctx.vault.seal(user, PEM.encode())
                rows.append(
                    {
                        "u": user,
                        "k": f"key-{user}",
                        "v": sealed.key_version,
                        "n": sealed.nonce,
                        "c": sealed.ciphertext,
                    }
                )
            conn.execute(
                sa.text(
                    "INSERT INTO user_credentials (user_id, kalshi_key_id, key_version, "
                    "nonce, ciphertext) VALUES (:u, :k, :v, :n, :c)"
                ),
                rows,
            )
    finally:
        engine.dispose()
    return users


def secret_json(emulator: SecretManagerEmulator, name: str) -> dict[str, object]:
    return json.loads(SecretManagerStore(PROJECT, emulator_host=emulator.host).get(name))


def test_rotate_keys_command_rotates_both_rings_and_reseals_every_row(
    auth_database: str,
    engine_as: EngineAs,
    seeded_secrets: SecretManagerEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = Clock()
    old_ctx = context(seeded_secrets, clock)
    users = populate(auth_database, old_ctx)
    account = engine_as(auth_database, "account")
    sessions = []
    with account.begin() as conn:
        for user in users[:5]:
            issued = old_ctx.tokens.issue(user)
            record_session(conn, issued)
            sessions.append(issued.token)
    old_kid = old_ctx.tokens.keys.active
    old_ring_text = json.dumps(secret_json(seeded_secrets, "credential-key-ring"))

    # Sessions keep verifying while the command runs (as the streamer would, meanwhile).
    stop, failures = threading.Event(), []

    verified = []

    def verify_meanwhile() -> None:
        checker = sa.create_engine(deployable_url(auth_database, "streamer"), pool_size=1)
        try:
            while not stop.wait(0.05):
                for token in sessions:
                    try:
                        verified.append(old_ctx.authenticate(get(token), engine=checker))
                    except Exception as error:
                        failures.append(repr(error))
        finally:
            checker.dispose()

    checker = threading.Thread(target=verify_meanwhile)
    checker.start()
    (tmp_path / "ports.json").write_text(json.dumps({"secret-manager": seeded_secrets.port}))
    try:
        code = cli.main(
            [
                "rotate-keys",
                "--state-dir",
                str(tmp_path),
                "--database-url",
                auth_database,
                "--project",
                PROJECT,
                "--sessions",
            ]
        )
    finally:
        stop.set()
        checker.join(timeout=60)
    output = capsys.readouterr()
    assert code == 0, output.err
    assert failures == []
    assert verified
    assert f"credentials: {ROWS} stored, {ROWS} re-sealed under version 2, 0 unreadable" in (
        output.out
    )
    assert "new active kid" in output.out
    # Counts and ids only: no key material of either ring, old or new.
    ring = secret_json(seeded_secrets, "credential-key-ring")
    signing = secret_json(seeded_secrets, "session-signing-keys")
    assert ring["active"] == "2" and [k["id"] for k in ring["keys"]] == ["1", "2"]  # type: ignore[index]
    printed = output.out + output.err
    for entry in ring["keys"]:  # type: ignore[union-attr]
        assert entry["aes256_key"] not in printed
    for entry in signing["keys"]:  # type: ignore[union-attr]
        body = entry["private_key_pem"].splitlines()[1]
        assert body not in printed
    assert "BEGIN" not in printed and base64.b64encode(PEM.encode())[:40].decode() not in printed
    assert old_ring_text != json.dumps(ring)

    with account.connect() as conn:
        versions = conn.execute(
            sa.text("SELECT key_version, count(*) FROM user_credentials GROUP BY 1")
        ).all()
    assert versions == [("2", ROWS)]

    # An instance still holding the old rings reads the new ones when it meets them.
    clock.now += 60
    with account.connect() as conn:
        signer = old_ctx.load_signer(conn, users[0])
    assert signer.key_id == f"key-{users[0]}"
    assert old_ctx.vault.ring.newest == "2"
    new_ctx = context(seeded_secrets, Clock())
    assert new_ctx.tokens.keys.active != old_kid
    fresh = new_ctx.tokens.issue(users[0])
    with account.begin() as conn:
        record_session(conn, fresh)
    clock.now += 60
    assert old_ctx.authenticate(get(fresh.token), engine=account).user_id == users[0]
    # The retired key still verifies its sessions.
    assert new_ctx.authenticate(get(sessions[0]), engine=account).session.kid == old_kid  # type: ignore[union-attr]


def test_rotate_all_is_idempotent_and_counts_unreadable_rows(
    auth_database: str, seeded_secrets: SecretManagerEmulator, engine_as: EngineAs
) -> None:
    ctx = context(seeded_secrets, Clock())
    populate(auth_database, ctx)
    engine = engine_as(auth_database)
    rotated = CredentialVault(ctx.vault.ring.with_new_key())
    first = rotate_all(engine, rotated, batch_size=50)
    assert (first.rows, first.rewrapped, first.unreadable) == (ROWS, ROWS, 0)
    again = rotate_all(engine, rotated, batch_size=50)
    assert (again.rows, again.rewrapped, again.unreadable) == (ROWS, 0, 0)
    # A ring that lost every key the rows use: nothing re-sealed, all counted.
    stranger = CredentialVault(
        key_ring_from_secret(
            json.dumps(
                {
                    "active": "9",
                    "keys": [{"id": "9", "aes256_key": base64.b64encode(bytes(32)).decode()}],
                }
            ).encode()
        )
    )
    lost = rotate_all(engine, stranger, batch_size=100)
    assert (lost.rewrapped, lost.unreadable) == (0, ROWS)


def test_command_without_a_stack_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["rotate-keys", "--state-dir", str(tmp_path)]) == 1
    assert "no running stack" in capsys.readouterr().err
