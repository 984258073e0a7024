"""Reconnect waits, the circuit breaker, and the session loop's states when Kalshi fails."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.kalshi.signing import KalshiSigner
from shared.kalshi.ws.errors import KalshiWSHandshakeError
from shared.streaming.events import StreamEvent
from streamer import upstream as upstream_module
from streamer.tracker import PositionTracker
from streamer.upstream import (
    AccountSession,
    CircuitBreaker,
    UpstreamSettings,
    reconnect_delays,
)

ALICE = uuid.UUID("00000000-0000-0000-0000-00000000000a")
SETTINGS = UpstreamSettings(ws_url="ws://127.0.0.1:9/trade-api/ws/v2", rest_base_url="http://x")


def test_reconnect_waits_double_from_2_to_32_seconds() -> None:
    no_jitter = list(itertools.islice(reconnect_delays(SETTINGS, rng=lambda: 0.0), 7))
    assert no_jitter == [2.0, 4.0, 8.0, 16.0, 32.0, 32.0, 32.0]
    full_jitter = list(itertools.islice(reconnect_delays(SETTINGS, rng=lambda: 1.0), 5))
    assert full_jitter == [1.5, 3.0, 6.0, 12.0, 24.0]  # at most a quarter shorter


def test_the_breaker_opens_after_five_consecutive_failures_and_one_success_closes_it() -> None:
    breaker = CircuitBreaker(5)
    opened = [breaker.failure() for _ in range(6)]
    assert opened == [False, False, False, False, True, False]
    assert breaker.open
    breaker.success()
    assert not breaker.open and breaker.failures == 0


class Sink:
    def __init__(self) -> None:
        self.events: list[StreamEvent] = []

    def publish(self, event: StreamEvent) -> None:
        self.events.append(event)


class NoSigner:
    async def signer(self, user_id: uuid.UUID) -> KalshiSigner:
        return None  # type: ignore[return-value]  # the fake socket never signs


def _session(monkeypatch: pytest.MonkeyPatch, failure: BaseException) -> tuple[Any, Sink]:
    sink = Sink()
    tracker = PositionTracker(sink, epoch=1)
    tracker.open(ALICE)
    rejected: list[uuid.UUID] = []

    async def on_rejected(user_id: uuid.UUID) -> None:
        rejected.append(user_id)

    session = AccountSession(
        ALICE, tracker, NoSigner(), SETTINGS, on_key_rejected=on_rejected, rng=lambda: 0.0
    )

    async def fail() -> None:
        raise failure

    async def paused() -> bool:
        return False

    polls: list[str] = []

    async def reconcile(reason: str, ws: Any = None) -> list[Any]:
        polls.append(reason)
        return []

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > 12:
            raise asyncio.CancelledError

    monkeypatch.setattr(session, "_connected_session", fail)
    monkeypatch.setattr(session, "_exchange_paused", paused)
    monkeypatch.setattr(session, "reconcile", reconcile)
    monkeypatch.setattr(upstream_module, "_sleep", sleep)
    session.test_record = (rejected, polls, slept)
    return session, sink


@pytest.fixture
def another_event_loop() -> Iterator[None]:
    """An event loop sleeping in another thread, as an in-process simulator's server does
    while unit tests run: the session's patched waits must not reach it (they once did,
    through ``asyncio.sleep`` itself, and its sleeps used up the test's budget)."""
    stop = threading.Event()

    async def keep_sleeping() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.001)

    thread = threading.Thread(target=lambda: asyncio.run(keep_sleeping()), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def test_repeated_failures_show_reconnecting_then_degraded_with_rest_polls(
    monkeypatch: pytest.MonkeyPatch, another_event_loop: None
) -> None:
    session, sink = _session(monkeypatch, OSError("connection refused"))
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(session.run())
    statuses = [e.data["status"] for e in sink.events if e.type == "connection_status"]
    assert statuses == ["kalshi_reconnecting", "degraded"]
    _, polls, slept = session.test_record
    assert session.breaker.failures >= 5
    assert polls and set(polls) == {"degraded_poll"}  # polled while the socket is probed
    assert slept[:4] == [2.0, 4.0, 8.0, 16.0]


def test_a_rejected_key_ends_the_streams_and_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    session, sink = _session(monkeypatch, KalshiWSHandshakeError(401, "authentication_error"))
    asyncio.run(session.run())
    rejected, _, _ = session.test_record
    assert rejected == [ALICE]
    assert sink.events[-1].type == "error"
    assert sink.events[-1].data["error"] == "kalshi_key_revoked"
