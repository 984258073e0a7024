"""Upstream: one Kalshi WebSocket per signed-in account, kept alive and kept honest.

Each :class:`AccountSession` holds one signed socket (``/trade-api/ws/v2``) subscribed to
``fill``, ``market_positions`` and ``user_orders`` (all private: Kalshi sends only this
account's), plus ``ticker`` for the markets the account holds, kept current with
``update_subscription`` as positions open and close.

Kalshi's private channels carry no ``seq``, so a lost message is caught by reconciling with
a REST snapshot of the positions (and the balance): after every (re)connect, every
``reconcile_every_s`` (60 s), and whenever a fill's ``post_position_fp`` disagrees with the
tracker. Each reconciliation is logged with what it changed and by how much.

Failures: reconnect with exponential backoff and jitter (2 s doubling to 32 s). After
``breaker_threshold`` (5) consecutive failed attempts the circuit opens: the account is
shown ``degraded`` and polled over REST while the socket keeps being probed at the backoff
pace; the first good connection closes it. An exchange that is paused or in maintenance
(``/exchange/status``) is shown as ``exchange_paused``, not as an error. A key Kalshi
rejects (401) ends the account's streams with ``kalshi_key_revoked``; the session stops.

Private keys are decrypted only to build the signer, in memory, by the
:class:`SignerSource` (the auth core's credential vault).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from shared.account.reads import MARKETS_PER_CALL, transfers
from shared.domain.pnl import BaselinePoint, net_transfers
from shared.kalshi.client import AsyncKalshiClient
from shared.kalshi.errors import AuthenticationError, KalshiError
from shared.kalshi.signing import KalshiSigner
from shared.kalshi.ws import KalshiWebSocket, backoff_delays
from shared.kalshi.ws.errors import (
    KalshiWSCommandError,
    KalshiWSError,
    KalshiWSHandshakeError,
)
from shared.kalshi.ws.messages import (
    ErrorReply,
    FillMessage,
    MarketPositionMessage,
    SubscriptionTerminated,
    TickerMessage,
    UnknownMessage,
    WsErrorCode,
)
from streamer.tracker import Difference, MarketState, PositionTracker

__all__ = [
    "AccountSession",
    "BaselineSource",
    "CircuitBreaker",
    "KeyRejected",
    "SignerSource",
    "UpstreamManager",
    "UpstreamSettings",
    "reconnect_delays",
]

log = logging.getLogger(__name__)

# The session's waits (backoff, start-up spread, degraded polls) go through this name, so a
# test replaces them here alone: patching ``asyncio.sleep`` itself would also reach every
# other event loop in the process (an in-process simulator's server thread, say).
_sleep = asyncio.sleep

PRIVATE_CHANNELS = ("fill", "market_positions")
ORDER_CHANNEL = "user_orders"


class KeyRejected(Exception):
    """Kalshi refused the account's key (401): nothing a retry can fix."""


class SignerSource(Protocol):
    """Builds the account's request signer from its stored (encrypted) key."""

    async def signer(self, user_id: uuid.UUID) -> KalshiSigner: ...


class BaselineSource(Protocol):
    """The account's baseline for the current trading day (``account_baselines``)."""

    async def baseline(self, user_id: uuid.UUID) -> BaselinePoint | None: ...


@dataclass(frozen=True)
class UpstreamSettings:
    ws_url: str
    rest_base_url: str
    backoff_initial_s: float = 2.0
    backoff_max_s: float = 32.0
    backoff_jitter: float = 0.25
    breaker_threshold: int = 5
    reconcile_every_s: float = 60.0
    degraded_poll_s: float = 5.0
    read_timeout_s: float = 1.0


def reconnect_delays(
    settings: UpstreamSettings, rng: Callable[[], float] = random.random
) -> Iterator[float]:
    """2 s doubling to 32 s, each shortened by up to the jitter fraction."""
    return backoff_delays(
        initial=settings.backoff_initial_s,
        maximum=settings.backoff_max_s,
        factor=2.0,
        jitter=settings.backoff_jitter,
        rng=rng,
    )


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; one success closes it."""

    def __init__(self, threshold: int = 5) -> None:
        self.threshold = threshold
        self.failures = 0

    @property
    def open(self) -> bool:
        return self.failures >= self.threshold

    def failure(self) -> bool:
        """Count a failure; True when this one opened the circuit."""
        self.failures += 1
        return self.failures == self.threshold

    def success(self) -> None:
        self.failures = 0


def _state(position: Any) -> MarketState:
    zero = Decimal(0)
    return MarketState(
        ticker=position.ticker,
        position_fp=position.position_fp,
        exposure_dollars=position.market_exposure_dollars or zero,
        realized_pnl_dollars=position.realized_pnl_dollars or zero,
        fees_paid_dollars=position.fees_paid_dollars or zero,
        total_traded_dollars=position.total_traded_dollars or zero,
    )


class AccountSession:
    """One account's upstream: socket, subscriptions, reconciliation, breaker."""

    def __init__(
        self,
        user_id: uuid.UUID,
        tracker: PositionTracker,
        signers: SignerSource,
        settings: UpstreamSettings,
        *,
        on_key_rejected: Callable[[uuid.UUID], Awaitable[None]] | None = None,
        baselines: BaselineSource | None = None,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user_id = user_id
        self._baselines = baselines
        self.tracker = tracker
        self._signers = signers
        self.settings = settings
        self._on_key_rejected = on_key_rejected
        self._rng = rng
        self._clock = clock
        self.breaker = CircuitBreaker(settings.breaker_threshold)
        self.reconciliations: list[tuple[str, list[Difference]]] = []
        self.connects = 0
        self._rest: AsyncKalshiClient | None = None
        self._signer: KalshiSigner | None = None
        self._ticker_sid: int | None = None
        self._ticker_markets: set[str] = set()
        self._orders_supported = True

    # ---- the loop ----------------------------------------------------------------------

    async def run(self, start_delay: float = 0.0) -> None:
        """Hold the account's socket until cancelled or the key is rejected.

        ``start_delay`` spreads a start-up's connections (and their REST reconciliations)
        so a restart does not hit Kalshi's rate limit with every account at once.
        """
        delays = reconnect_delays(self.settings, self._rng)
        if start_delay > 0:
            await _sleep(start_delay)
        try:
            while True:
                connected_before = self.connects
                try:
                    await self._connected_session()
                except KeyRejected:
                    await self._reject()
                    return
                except KalshiWSHandshakeError as exc:
                    if exc.status == 401:  # Kalshi refuses the key itself
                        await self._reject()
                        return
                    log.warning("account %s: handshake refused: %s", self.user_id, exc)
                except asyncio.CancelledError:
                    raise
                except (KalshiWSError, KalshiError, OSError, TimeoutError) as exc:
                    log.warning("account %s: Kalshi socket ended: %s", self.user_id, exc)
                except Exception:
                    log.exception("account %s: upstream session failed", self.user_id)
                if self.connects != connected_before:
                    delays = reconnect_delays(self.settings, self._rng)
                    self.breaker.success()
                if self.breaker.failure():
                    log.warning(
                        "account %s: %d consecutive failures, REST polling (degraded)",
                        self.user_id,
                        self.breaker.failures,
                    )
                status = "degraded" if self.breaker.open else "kalshi_reconnecting"
                if await self._exchange_paused():
                    status = "exchange_paused"
                self.tracker.set_connection(self.user_id, status)
                wait = next(delays)
                if self.breaker.open:
                    await self._poll_for(wait)
                else:
                    await _sleep(wait)
        finally:
            if self._rest is not None:
                with contextlib.suppress(Exception):
                    await self._rest.aclose()

    async def _connected_session(self) -> None:
        signer = await self._ensure_signer()
        async with KalshiWebSocket.connect(self.settings.ws_url, signer, track_books=False) as ws:
            self.connects += 1
            self._ticker_sid, self._ticker_markets = None, set()
            await ws.subscribe(list(PRIVATE_CHANNELS))
            await self._subscribe_orders(ws)
            self.breaker.success()
            await self.reconcile("reconnect" if self.connects > 1 else "connect", ws)
            await self._sync_tickers(ws)
            self.tracker.set_connection(self.user_id, "connected")
            await self._read(ws)

    async def _read(self, ws: KalshiWebSocket) -> None:
        next_reconcile = self._clock() + self.settings.reconcile_every_s
        while True:
            try:
                message = await ws.next_message(self.settings.read_timeout_s)
            except TimeoutError:
                message = None
            if message is not None:
                await self._handle(ws, message)
            if self._clock() >= next_reconcile:
                await self.reconcile("timer", ws)
                next_reconcile = self._clock() + self.settings.reconcile_every_s
            if self.tracker.held_tickers(self.user_id) != self._ticker_markets:
                await self._sync_tickers(ws)

    async def _handle(self, ws: KalshiWebSocket, message: object) -> None:
        if isinstance(message, TickerMessage):
            self.tracker.on_ticker(message.msg)
        elif isinstance(message, MarketPositionMessage):
            self.tracker.on_market_position(self.user_id, message.msg)
        elif isinstance(message, FillMessage):
            off_by = self.tracker.on_fill(self.user_id, message.msg)
            if off_by is not None:
                log.warning(
                    "account %s: fill in %s says position %s, tracker is off by %s",
                    self.user_id,
                    message.msg.market_ticker,
                    message.msg.post_position_fp,
                    off_by,
                )
                await self.reconcile("fill_mismatch", ws)
        elif isinstance(message, UnknownMessage) and message.type == "user_order":
            raw = message.raw.get("msg") if isinstance(message.raw, Mapping) else None
            if isinstance(raw, Mapping):
                self.tracker.on_order(self.user_id, raw)
        elif isinstance(message, SubscriptionTerminated):
            raise KalshiWSError(f"subscription ended by Kalshi: {message.code} {message.message}")
        elif isinstance(message, ErrorReply):
            log.warning("account %s: Kalshi error %s", self.user_id, message.msg.code)

    # ---- subscriptions -----------------------------------------------------------------

    async def _subscribe_orders(self, ws: KalshiWebSocket) -> None:
        if not self._orders_supported:
            return
        try:
            await ws.subscribe([ORDER_CHANNEL])
        except KalshiWSCommandError as exc:
            if exc.code != WsErrorCode.UNKNOWN_CHANNEL_NAME:
                raise
            self._orders_supported = False
            log.info("account %s: this Kalshi has no user_orders channel", self.user_id)

    async def _sync_tickers(self, ws: KalshiWebSocket) -> None:
        """Make the ``ticker`` subscription cover exactly the held markets."""
        held = self.tracker.held_tickers(self.user_id)
        if held == self._ticker_markets:
            return
        if self._ticker_sid is None:
            if held:
                subs = await ws.subscribe(["ticker"], sorted(held))
                self._ticker_sid = subs[0].sid if subs else None
        elif not held:
            await ws.unsubscribe([self._ticker_sid])
            self._ticker_sid = None
        else:
            added, removed = held - self._ticker_markets, self._ticker_markets - held
            if added:
                await ws.update_subscription(self._ticker_sid, "add_markets", sorted(added))
            if removed:
                await ws.update_subscription(self._ticker_sid, "delete_markets", sorted(removed))
        self._ticker_markets = held

    # ---- REST --------------------------------------------------------------------------

    async def _ensure_signer(self) -> KalshiSigner:
        if self._signer is None:
            self._signer = await self._signers.signer(self.user_id)
        return self._signer

    async def _client(self) -> AsyncKalshiClient:
        if self._rest is None:
            self._rest = AsyncKalshiClient(
                base_url=self.settings.rest_base_url, signer=await self._ensure_signer()
            )
        return self._rest

    async def reconcile(self, reason: str, ws: KalshiWebSocket | None = None) -> list[Difference]:
        """Make the tracker equal Kalshi's REST positions and balance; log what changed."""
        if ws is not None:  # apply what arrived first: the REST answer is newer than it
            for message in ws.take_received():
                if not isinstance(message, FillMessage):
                    await self._handle(ws, message)
                else:
                    self.tracker.on_fill(self.user_id, message.msg)
        client = await self._client()
        try:
            positions = await client.get_all_positions()
            balance = await client.get_balance()
        except AuthenticationError:
            raise KeyRejected("Kalshi rejected the key on a REST read") from None
        differences = self.tracker.reconcile(
            self.user_id,
            [_state(p) for p in positions.market_positions],
            balance.exact_balance_dollars,
        )
        await self._refresh_quotes(client)
        await self._refresh_day(client)
        self.reconciliations.append((reason, differences))
        if differences:
            log.warning(
                "account %s: reconciliation (%s) corrected %d market(s): %s",
                self.user_id,
                reason,
                len(differences),
                ", ".join(
                    f"{d.ticker} {d.tracked_position}->{d.kalshi_position} (off by {d.size})"
                    for d in differences
                ),
            )
        else:
            log.info("account %s: reconciliation (%s): no differences", self.user_id, reason)
        return differences

    async def _refresh_quotes(self, client: AsyncKalshiClient) -> None:
        """The held markets' quotes from ``GET /markets?tickers=``, with each
        reconciliation: ``ticker`` sends only changes, so a market that has not moved since
        the subscription (or moved while the socket was down) would otherwise be valued
        without a quote, unlike the account API, which reads the same REST quotes."""
        held = sorted(self.tracker.held_tickers(self.user_id))
        try:
            for start in range(0, len(held), MARKETS_PER_CALL):
                chunk = held[start : start + MARKETS_PER_CALL]
                page = await client.get_markets(tickers=chunk, limit=len(chunk))
                for market in page.markets:
                    self.tracker.on_quote(
                        market.ticker,
                        market.yes_bid_dollars,
                        market.yes_ask_dollars,
                        market.last_price_dollars,
                    )
        except AuthenticationError:
            raise KeyRejected("Kalshi rejected the key on a REST read") from None
        except Exception as exc:
            log.warning("account %s: quotes not refreshed: %s", self.user_id, exc)

    async def _refresh_day(self, client: AsyncKalshiClient) -> None:
        """Today's P&L inputs, read with each reconciliation: the day's baseline (it changes
        at the trading-day boundary) and Kalshi's cumulative net transfers (a deposit is not
        a gain). A failed read keeps the previous figures rather than fail the reconcile."""
        if self._baselines is None:
            return
        try:
            baseline = await self._baselines.baseline(self.user_id)
            if baseline is None:
                self.tracker.set_day(self.user_id, None, None)
                return
            rows = transfers(
                [d async for d in client.iter_deposits()],
                [w async for w in client.iter_withdrawals()],
            )
        except AuthenticationError:
            raise KeyRejected("Kalshi rejected the key on a REST read") from None
        except Exception as exc:
            log.warning("account %s: today's P&L inputs not read: %s", self.user_id, exc)
            return
        self.tracker.set_day(self.user_id, baseline, net_transfers(rows))

    async def _poll_for(self, seconds: float) -> None:
        """Degraded: REST snapshots every ``degraded_poll_s`` for ``seconds``."""
        deadline = self._clock() + seconds
        while True:
            try:
                await self.reconcile("degraded_poll")
            except KeyRejected:
                raise
            except Exception as exc:
                log.warning("account %s: degraded poll failed: %s", self.user_id, exc)
            left = deadline - self._clock()
            if left <= 0:
                return
            await _sleep(min(self.settings.degraded_poll_s, left))

    async def _exchange_paused(self) -> bool:
        try:
            status = await (await self._client()).get_exchange_status()
        except KalshiError as exc:
            # Kalshi answers 503 with the status body during maintenance.
            body = getattr(exc, "body", None)
            return isinstance(body, Mapping) and body.get("exchange_active") is False
        except Exception:
            return False
        return not (status.exchange_active and status.trading_active)

    async def _reject(self) -> None:
        log.warning("account %s: Kalshi rejected the key; closing its streams", self.user_id)
        self.tracker.set_connection(self.user_id, "disconnected", "kalshi_key_revoked")
        self.tracker.reject(
            self.user_id,
            "kalshi_key_revoked",
            "Kalshi no longer accepts your API key; sign in again with a valid key.",
        )
        if self._on_key_rejected is not None:
            try:
                await self._on_key_rejected(self.user_id)
            except Exception:
                log.exception("account %s: could not mark the key invalid", self.user_id)


class UpstreamManager:
    """One :class:`AccountSession` task per account; started and stopped by user id."""

    def __init__(
        self,
        tracker: PositionTracker,
        signers: SignerSource,
        settings: UpstreamSettings,
        *,
        on_key_rejected: Callable[[uuid.UUID], Awaitable[None]] | None = None,
        baselines: BaselineSource | None = None,
    ) -> None:
        self.tracker = tracker
        self._signers = signers
        self.settings = settings
        self._on_key_rejected = on_key_rejected
        self._baselines = baselines
        self.sessions: dict[uuid.UUID, AccountSession] = {}
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    def ensure(self, user_id: uuid.UUID, start_delay: float = 0.0) -> AccountSession:
        """Start the account's session unless it runs (idempotent: redelivered events)."""
        task = self._tasks.get(user_id)
        if task is not None and not task.done():
            return self.sessions[user_id]
        self.tracker.open(user_id)
        session = AccountSession(
            user_id,
            self.tracker,
            self._signers,
            self.settings,
            on_key_rejected=self._on_key_rejected,
            baselines=self._baselines,
        )
        self.sessions[user_id] = session
        self._tasks[user_id] = asyncio.create_task(
            session.run(start_delay), name=f"upstream-{user_id}"
        )
        return session

    async def stop(self, user_id: uuid.UUID) -> None:
        task = self._tasks.pop(user_id, None)
        self.sessions.pop(user_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def stop_all(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
