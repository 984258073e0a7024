"""Split mode over real Pub/Sub (the emulator): one tracker publishing ``position-events``
with the user id as ordering key, two fan-out instances each on their own ordered
subscription, SSE clients on both, sockets dropped meanwhile: every client ends equal to
Kalshi, and user B's stream never carries user A's events."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from shared.messaging.pubsub import Publisher
from shared.messaging.topics import subscription_path, topic_path
from shared.streaming.events import POSITION_EVENTS
from streamer.cache import SqlPositionCache
from streamer.credentials import VaultSigners
from streamer.fanout import FanOut, FanOutSettings
from streamer.inputs import PullConsumer
from streamer.service import StreamerService
from streamer.sessions import AuthSessionVerifier
from streamer.split import CacheSnapshots, PositionEventRelay, PubSubEventSink
from streamer.tracker import PositionTracker
from streamer.upstream import UpstreamManager, UpstreamSettings
from tests.integration.streamer.harness import RunningServer, SseClient
from tests.integration.streamer.stack import ALICE, BOB, Stack, eventually, free_port, shown

pytestmark = pytest.mark.integration


def _topology(project: str, fanouts: int) -> list[str]:
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic = topic_path(project, POSITION_EVENTS)
    publisher.create_topic(name=topic)
    paths = []
    for n in range(fanouts):
        path = subscription_path(project, f"{POSITION_EVENTS}-fanout-{n}")
        subscriber.create_subscription(
            request={"name": path, "topic": topic, "enable_message_ordering": True}
        )
        paths.append(path)
    subscriber.close()
    return paths


def test_one_tracker_two_fanouts_every_client_ends_equal_to_kalshi(
    stack: Stack,
    simulator: Any,
    pubsub_project: str,
) -> None:
    subscriptions = _topology(pubsub_project, 2)
    sink = PubSubEventSink(Publisher(pubsub_project))
    tracker = PositionTracker(sink)
    signers = VaultSigners(stack.engine, lambda: stack.vault)
    upstream = UpstreamManager(
        tracker,
        signers,
        UpstreamSettings(
            ws_url=simulator.ws_url,
            rest_base_url=simulator.base_url,
            backoff_initial_s=0.2,
            backoff_max_s=1.0,
        ),
    )

    async def known() -> list[uuid.UUID]:
        return list(stack.accounts)

    verifier = AuthSessionVerifier(stack.tokens, stack.engine)
    tracker_service = StreamerService(
        fanout=None,
        verifier=verifier,
        tracker=tracker,
        cache=SqlPositionCache(stack.engine),
        upstream=upstream,
        known_accounts=known,
        snapshot_every_s=2.0,
    )
    servers = [RunningServer(tracker_service, free_port()).start()]
    stack.servers.extend(servers)
    origins = []
    for path in subscriptions:
        fanout = FanOut(CacheSnapshots(stack.engine), FanOutSettings(heartbeat_s=1.0))
        service = StreamerService(
            fanout=fanout,
            verifier=verifier,
            revocations=verifier,
            consumers=[PullConsumer(path, PositionEventRelay(fanout).handle, pull_timeout_s=1)],
        )
        server = RunningServer(service, free_port()).start()
        stack.servers.append(server)
        origins.append(server.origin)
    clients = {
        ("alice", 0): SseClient(origins[0], stack.session(ALICE)).start(),
        ("alice", 1): SseClient(origins[1], stack.session(ALICE)).start(),
        ("bob", 1): SseClient(origins[1], stack.session(BOB)).start(),
    }
    for client in clients.values():
        client.wait_for(lambda c: c.connection() == "connected", timeout=30)
    try:
        simulator.set_faults(ws_delay_ms=20)
        for round_ in range(16):
            simulator.fill(stack.accounts[ALICE].key_id)
            if round_ % 2:
                simulator.fill(stack.accounts[BOB].key_id)
            if round_ % 5 == 4:
                simulator.set_faults(ws_drop=True)
            time.sleep(0.15)
    finally:
        simulator.set_faults()
    simulator.advance(1)
    for (name, _), client in clients.items():
        user = ALICE if name == "alice" else BOB
        eventually(lambda c=client, u=user: shown(c) == stack.kalshi_positions(u), timeout=40)
    alice_tickers = set(stack.kalshi_positions(ALICE)) - set(stack.kalshi_positions(BOB))
    bob_raw = bytes(clients[("bob", 1)].raw).decode()
    assert not any(f'"ticker":"{t}"' in bob_raw for t in alice_tickers)
    assert sink.published > 0 and sink.failures == 0
    assert httpx.get(servers[0].origin + "/api/v1/stream").status_code == 404  # tracker
    sink.close()
