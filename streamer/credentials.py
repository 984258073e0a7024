"""Each account's Kalshi signer, from the credential vault; and marking a rejected key.

The private key is decrypted by the auth core (:func:`shared.auth.credentials.load_signer`)
in memory, only to build the signer, which the account's session keeps for its lifetime;
it is never logged, cached elsewhere or sent anywhere. The database read runs in a worker
thread so the event loop keeps streaming.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from sqlalchemy import Engine

from shared.auth.credentials import load_signer, mark_invalid
from shared.auth.vault import CredentialVault
from shared.kalshi.signing import KalshiSigner

__all__ = ["VaultSigners"]


class VaultSigners:
    """:class:`streamer.upstream.SignerSource` over ``user_credentials`` and the vault."""

    def __init__(self, engine: Engine, vault: Callable[[], CredentialVault]) -> None:
        self._engine = engine
        self._vault = vault  # ``lambda: auth_context.vault``: follows key-ring rotations

    async def signer(self, user_id: uuid.UUID) -> KalshiSigner:
        def load() -> KalshiSigner:
            with self._engine.connect() as conn:
                return load_signer(conn, self._vault(), user_id)

        return await asyncio.to_thread(load)

    async def mark_rejected(self, user_id: uuid.UUID) -> None:
        """Kalshi refused the key: its sessions now answer 401 ``kalshi_key_revoked``."""

        def mark() -> None:
            with self._engine.begin() as conn:
                mark_invalid(conn, user_id, "Kalshi rejected the key on the live connection")

        await asyncio.to_thread(mark)
