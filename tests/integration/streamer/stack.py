"""The streamer's integration stack: users with sealed Kalshi keys on the simulator, their
sessions, and streamer services on real uvicorn servers (as the ki_streamer role)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from shared.auth.credentials import save_credential
from shared.auth.session_store import record_session
from shared.auth.sessions import SessionTokens, SigningKeys
from shared.auth.vault import CredentialVault, KeyRing
from shared.db.roles import deployable_url, ensure_local_logins
from shared.kalshi.client import KalshiClient
from shared.kalshi.signing import KalshiSigner
from streamer.baselines import SqlBaselines
from streamer.books import BookFeeds, BookFeedSettings
from streamer.cache import SqlPositionCache
from streamer.credentials import VaultSigners
from streamer.fanout import FanOut, FanOutSettings
from streamer.service import StreamerService
from streamer.sessions import AuthSessionVerifier
from streamer.tracker import PositionTracker
from streamer.upstream import UpstreamManager, UpstreamSettings
from tests.integration.streamer.harness import RunningServer, SseClient

ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
BOB = uuid.UUID("00000000-0000-4000-8000-000000000b0b")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    def __init__(
        self, url: str, simulator: Any, accounts: dict[uuid.UUID, Any], vault: CredentialVault
    ) -> None:
        self.url = url
        self.vault = vault
        self.simulator = simulator
        self.accounts = accounts
        self.tokens = SessionTokens(SigningKeys.generate(), "kalshi-insights", "kalshi-insights")
        self.owner = sa.create_engine(url, poolclass=NullPool)
        self.engine = sa.create_engine(deployable_url(url, "streamer"), poolclass=NullPool)
        self.servers: list[RunningServer] = []

    def session(self, user_id: uuid.UUID) -> str:
        issued = self.tokens.issue(user_id)
        with self.owner.begin() as conn:
            record_session(conn, issued)
        return issued.token

    def service(self, **overrides: Any) -> StreamerService:
        """An in-process streamer; ``overrides`` replace :class:`UpstreamSettings` fields."""
        fanout_holder: list[FanOut] = []

        class Sink:
            def publish(self, event: Any) -> None:
                fanout_holder[0].publish(event)

        tracker = PositionTracker(Sink())
        fanout = FanOut(tracker, FanOutSettings(heartbeat_s=1.0))
        fanout_holder.append(fanout)
        verifier = AuthSessionVerifier(self.tokens, self.engine)
        signers = VaultSigners(self.engine, lambda: self.vault)
        upstream = UpstreamManager(
            tracker,
            signers,
            UpstreamSettings(
                ws_url=self.simulator.ws_url,
                rest_base_url=self.simulator.base_url,
                backoff_initial_s=0.2,
                backoff_max_s=1.0,
                **{"reconcile_every_s": 60.0, **overrides},
            ),
            on_key_rejected=signers.mark_rejected,
            baselines=SqlBaselines(self.engine),
        )

        async def known() -> list[uuid.UUID]:
            return list(self.accounts)

        books = BookFeeds(
            signers,
            BookFeedSettings(
                ws_url=self.simulator.ws_url,
                backoff_initial_s=0.2,
                backoff_max_s=1.0,
                refresh_s=2.0,
            ),
            fanout.relay_book,
        )
        return StreamerService(
            books=books,
            fanout=fanout,
            verifier=verifier,
            revocations=verifier,
            tracker=tracker,
            cache=SqlPositionCache(self.engine),
            upstream=upstream,
            known_accounts=known,
            revocation_every_s=0.3,
        )

    def start(self, **overrides: Any) -> RunningServer:
        server = RunningServer(self.service(**overrides), free_port()).start()
        self.servers.append(server)
        return server

    def kalshi_positions(self, user_id: uuid.UUID) -> dict[str, tuple[Decimal, Decimal]]:
        account = self.accounts[user_id]
        with KalshiClient(base_url=self.simulator.base_url, signer=account.signer) as client:
            positions = client.get_all_positions().market_positions
        return {p.ticker: (p.position_fp, p.market_exposure_dollars) for p in positions}

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.engine.dispose()
        self.owner.dispose()


def build_stack(
    migrated_database: str, simulator: Any, users: tuple[uuid.UUID, ...] = (ALICE, BOB)
) -> Iterator[Stack]:
    """Users (ALICE, BOB by default) with funded simulator accounts and sealed keys;
    closes after."""
    from tests.plugins.kalshi_sim import SimAccount

    accounts = {}
    vault = CredentialVault(KeyRing({"1": os.urandom(32)}, "1"))
    owner = sa.create_engine(migrated_database, poolclass=NullPool)
    with owner.begin() as conn:
        ensure_local_logins(conn)
        for user_id in users:
            key_id, pem = simulator.create_account(balance_dollars=1000)
            accounts[user_id] = SimAccount(key_id, pem, KalshiSigner.from_pem(key_id, pem))
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, kalshi_key_id, environment) VALUES (:id, :k, 'custom')"
                ),
                {"id": user_id, "k": key_id},
            )
            save_credential(conn, vault, user_id, key_id, pem)  # the account function's part
    owner.dispose()
    built = Stack(migrated_database, simulator, accounts, vault)
    yield built
    built.close()


def kalshi_books(stack: Stack, user_id: uuid.UUID) -> dict[str, tuple[Decimal | None, ...]]:
    """Kalshi's (the simulator's) positions with their P&L: contracts, cost, realized, fees."""
    account = stack.accounts[user_id]
    with KalshiClient(base_url=stack.simulator.base_url, signer=account.signer) as client:
        positions = client.get_all_positions().market_positions
    zero = Decimal(0)
    return {
        p.ticker: (
            p.position_fp,
            p.market_exposure_dollars,
            p.realized_pnl_dollars or zero,
            p.fees_paid_dollars or zero,
        )
        for p in positions
    }


def shown_books(client: SseClient) -> dict[str, tuple[Decimal | None, ...]]:
    """What a client shows, in :func:`kalshi_books`' terms."""
    return {
        t: (
            Decimal(p["position_fp"]),
            Decimal(p["cost_basis"]),
            Decimal(p["realized_pnl"]),
            Decimal(p["fees_paid"]),
        )
        for t, p in client.positions().items()
    }


def shown(client: SseClient) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        t: (Decimal(p["position_fp"]), Decimal(p["cost_basis"]))
        for t, p in client.positions().items()
    }


def eventually(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
