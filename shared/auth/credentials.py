"""Users' Kalshi keys at rest: store, load as a signer, mark invalid, re-seal on rotation.

The PEM is validated (:mod:`shared.auth.pem`), sealed by the vault
(:mod:`shared.auth.vault`) and stored in ``user_credentials``; it is opened only in memory,
only to build the :class:`~shared.kalshi.signing.KalshiSigner` a request needs, and never
logged or returned. Rotation (:func:`rotate_all`) re-seals every row sealed by an older key
version under the newest one, in small batches of short transactions, skipping rows
already current, so it can run while the system serves and be re-run after an
interruption.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from shared.auth.pem import load_rsa_private_key
from shared.auth.vault import CredentialUnreadable, CredentialVault, SealedCredential
from shared.kalshi.signing import KalshiSigner

__all__ = [
    "MAX_REASON_CHARS",
    "CredentialMissing",
    "RotationReport",
    "StoredCredential",
    "credential_status",
    "delete_credential",
    "load_signer",
    "mark_invalid",
    "rotate_all",
    "save_credential",
]

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 500
ROTATION_BATCH = 200


class CredentialMissing(LookupError):
    """The user has no stored Kalshi key (never signed in, or logged out)."""

    def __init__(self) -> None:
        super().__init__("no Kalshi key is stored for this user")


@dataclass(frozen=True)
class StoredCredential:
    """A row's non-secret facts."""

    user_id: uuid.UUID
    kalshi_key_id: str
    key_version: str
    status: str
    invalid_reason: str | None


def save_credential(
    conn: Connection,
    vault: CredentialVault,
    user_id: uuid.UUID,
    key_id: str,
    pem: str | bytes,
    *,
    validated: bool = False,
) -> StoredCredential:
    """Validate, seal and store the user's key, replacing any earlier one (status back to
    ``valid``). Raises :class:`~shared.auth.pem.InvalidPrivateKey` for a bad PEM.

    ``validated=True``: the caller has just loaded this PEM with
    :func:`~shared.auth.pem.load_rsa_private_key` (a sign-in does, to sign the check with
    Kalshi), so the 35 ms RSA consistency check is not run a second time, inside the
    transaction."""
    if not validated:
        load_rsa_private_key(pem)
    plaintext = pem.encode() if isinstance(pem, str) else bytes(pem)
    sealed = vault.seal(user_id, plaintext)
    conn.execute(
        text(
            "INSERT INTO user_credentials (user_id, kalshi_key_id, key_version, nonce, "
            "ciphertext, status, invalid_reason) VALUES (:user_id, :key_id, :version, "
            ":nonce, :ciphertext, 'valid', NULL) ON CONFLICT (user_id) DO UPDATE SET "
            "kalshi_key_id = EXCLUDED.kalshi_key_id, key_version = EXCLUDED.key_version, "
            "nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext, status = 'valid', "
            "invalid_reason = NULL, updated_at = now()"
        ),
        {
            "user_id": user_id,
            "key_id": key_id,
            "version": sealed.key_version,
            "nonce": sealed.nonce,
            "ciphertext": sealed.ciphertext,
        },
    )
    return StoredCredential(user_id, key_id, sealed.key_version, "valid", None)


def load_signer(conn: Connection, vault: CredentialVault, user_id: uuid.UUID) -> KalshiSigner:
    """The user's Kalshi signer, decrypted in memory. Raises :class:`CredentialMissing`
    or :class:`~shared.auth.vault.CredentialUnreadable` (neither says more)."""
    row = conn.execute(
        text(
            "SELECT kalshi_key_id, key_version, nonce, ciphertext FROM user_credentials "
            "WHERE user_id = :user_id"
        ),
        {"user_id": user_id},
    ).one_or_none()
    if row is None:
        raise CredentialMissing
    sealed = SealedCredential(row.key_version, bytes(row.nonce), bytes(row.ciphertext))
    pem = vault.open(user_id, sealed)
    try:
        key = load_rsa_private_key(pem, validated=True)  # validated at save_credential
        return KalshiSigner(key_id=row.kalshi_key_id, private_key=key)
    except ValueError:
        raise CredentialUnreadable from None


def credential_status(conn: Connection, user_id: uuid.UUID) -> StoredCredential | None:
    """The row's non-secret facts, or ``None`` when nothing is stored."""
    row = conn.execute(
        text(
            "SELECT kalshi_key_id, key_version, status, invalid_reason FROM user_credentials "
            "WHERE user_id = :user_id"
        ),
        {"user_id": user_id},
    ).one_or_none()
    if row is None:
        return None
    return StoredCredential(
        user_id, row.kalshi_key_id, row.key_version, row.status, row.invalid_reason
    )


def mark_invalid(conn: Connection, user_id: uuid.UUID, reason: str) -> bool:
    """Kalshi rejected the stored key: every session of the user now answers 401
    ``kalshi_key_revoked`` until they sign in again. ``reason`` is Kalshi's message (no key
    material), trimmed. ``False`` when nothing is stored."""
    updated = conn.execute(
        text(
            "UPDATE user_credentials SET status = 'invalid', invalid_reason = :reason, "
            "updated_at = now() WHERE user_id = :user_id"
        ),
        {"user_id": user_id, "reason": (reason or "rejected by Kalshi")[:MAX_REASON_CHARS]},
    ).rowcount
    return bool(updated)


def delete_credential(conn: Connection, user_id: uuid.UUID) -> bool:
    """Forget the stored key (logout). ``False`` when nothing was stored."""
    deleted = conn.execute(
        text("DELETE FROM user_credentials WHERE user_id = :user_id"), {"user_id": user_id}
    ).rowcount
    return bool(deleted)


@dataclass(frozen=True)
class RotationReport:
    """``rows``: credentials seen; ``rewrapped``: re-sealed under the newest key now;
    ``unreadable``: rows no key in the ring opens (left untouched, counted, never logged
    with content)."""

    rows: int
    rewrapped: int
    unreadable: int = 0


def rotate_all(
    engine: Engine, vault: CredentialVault, *, batch_size: int = ROTATION_BATCH
) -> RotationReport:
    """Re-seal every credential not sealed by the newest key, ``batch_size`` rows per
    transaction. Idempotent: a second run re-seals nothing. Each batch locks its rows
    (``FOR UPDATE``: a concurrent sign-in replacing one waits a moment, or is waited for),
    so a freshly saved key is never overwritten with an older plaintext."""
    newest = vault.ring.newest
    with engine.connect() as conn:
        rows = int(conn.execute(text("SELECT count(*) FROM user_credentials")).scalar_one())
    rewrapped = unreadable = 0
    after = uuid.UUID(int=0)
    while True:
        with engine.begin() as conn:
            batch = conn.execute(
                text(
                    "SELECT user_id, key_version, nonce, ciphertext FROM user_credentials "
                    "WHERE user_id > :after AND key_version <> :newest "
                    "ORDER BY user_id LIMIT :limit FOR UPDATE"
                ),
                {"after": after, "newest": newest, "limit": batch_size},
            ).all()
            if not batch:
                break
            for row in batch:
                after = row.user_id
                sealed = SealedCredential(row.key_version, bytes(row.nonce), bytes(row.ciphertext))
                try:
                    plaintext = vault.open(row.user_id, sealed)
                except CredentialUnreadable:
                    unreadable += 1
                    continue
                resealed = vault.seal(row.user_id, plaintext)
                conn.execute(
                    text(
                        "UPDATE user_credentials SET key_version = :version, nonce = :nonce, "
                        "ciphertext = :ciphertext, updated_at = now() "
                        "WHERE user_id = :user_id AND key_version = :old"
                    ),
                    {
                        "version": resealed.key_version,
                        "nonce": resealed.nonce,
                        "ciphertext": resealed.ciphertext,
                        "user_id": row.user_id,
                        "old": row.key_version,
                    },
                )
                rewrapped += 1
    if unreadable:
        log.warning("credential rotation: %d row(s) no key in the ring opens", unreadable)
    return RotationReport(rows=rows, rewrapped=rewrapped, unreadable=unreadable)
