"""Publishing, pulling and push delivery on the real Pub/Sub emulator."""

import json
import time
from pathlib import Path

import pytest

from devstack.functions_runner import FunctionServer
from devstack.postgres import free_port
from devstack.pubsub_admin import SubscriptionSettings, ensure_topology, push_url
from shared.messaging import topics
from shared.messaging.envelope import Envelope, decode
from shared.messaging.pubsub import Publisher
from tests.plugins.gcp_emulators import pull_envelopes, pull_messages

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).parent / "app"
# Short backoff keeps the five-attempt dead-letter test fast; the emulator honours it.
FAST = SubscriptionSettings(min_backoff_seconds=0.2, max_backoff_seconds=0.5)


def wait_for_lines(path: Path, count: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        time.sleep(0.1)
    lines = path.read_text().splitlines() if path.exists() else []
    raise AssertionError(f"expected {count} deliveries in {timeout}s, saw {len(lines)}")


def test_publish_then_pull_round_trip(pubsub_project):
    ensure_topology(
        pubsub_project,
        pull_subscriptions=[
            (topics.MARKET_SNAPSHOTS, "reader"),
            (topics.MARKET_SNAPSHOTS, "relay"),
        ],
    )
    publisher = Publisher(pubsub_project)
    sent = [Envelope(type="market_snapshots.batch", version=1, payload={"i": i}) for i in range(3)]
    ids = publisher.publish_many(topics.MARKET_SNAPSHOTS, sent)
    assert len(set(ids)) == 3
    one_more = Envelope(type="market_snapshots.batch", version=1, payload={"i": 3})
    publisher.publish(topics.MARKET_SNAPSHOTS, one_more, ordering_key="KXBTC")

    messages = pull_messages(
        topics.subscription_path(pubsub_project, "reader"), expect=4, timeout=30
    )
    by_key = {m.attributes["idempotency_key"]: m for m in messages}
    assert set(by_key) == {e.idempotency_key for e in [*sent, one_more]}
    # Every message carries type/version attributes so subscriptions can filter.
    assert {m.attributes["type"] for m in messages} == {"market_snapshots.batch"}
    assert {m.attributes["version"] for m in messages} == {"1"}
    # A second subscription gets its own copy of every message.
    relayed = pull_envelopes(topics.subscription_path(pubsub_project, "relay"), expect=4)
    assert sorted(e.payload["i"] for e in relayed) == [0, 1, 2, 3]


def test_ensure_topology_is_idempotent_and_updates_push_endpoints(pubsub_project):
    from google.cloud import pubsub_v1

    ensure_topology(pubsub_project, {topics.POLL_TRIGGER: "http://127.0.0.1:1/a"})
    ensure_topology(pubsub_project, {topics.POLL_TRIGGER: "http://127.0.0.1:1/a"})
    ensure_topology(pubsub_project, {topics.POLL_TRIGGER: "http://127.0.0.1:2/b"})
    with pubsub_v1.SubscriberClient() as subscriber:
        sub = subscriber.get_subscription(
            subscription=topics.subscription_path(
                pubsub_project, topics.push_subscription(topics.POLL_TRIGGER)
            )
        )
    assert sub.push_config.push_endpoint == "http://127.0.0.1:2/b"
    assert sub.dead_letter_policy.max_delivery_attempts == 5
    assert sub.dead_letter_policy.dead_letter_topic == topics.topic_path(
        pubsub_project, "poll-trigger-dead-letter"
    )
    publisher = pubsub_v1.PublisherClient()
    names = {t.name for t in publisher.list_topics(project=f"projects/{pubsub_project}")}
    for topic in topics.ALL_TOPICS:
        assert topics.topic_path(pubsub_project, topic) in names
        assert topics.topic_path(pubsub_project, topics.dead_letter_topic(topic)) in names


@pytest.fixture
def recording_function(pubsub_emulator, tmp_path):
    record_file = tmp_path / "deliveries.jsonl"
    server = FunctionServer(
        "record",
        APP_DIR / "main.py",
        free_port(),
        signature_type="cloudevent",
        env={"RECORD_FILE": str(record_file)},
        log_path=tmp_path / "function.log",
    )
    with server:
        yield server, record_file


def test_push_subscription_delivers_a_cloud_event(pubsub_project, recording_function):
    server, record_file = recording_function
    ensure_topology(
        pubsub_project,
        {topics.POLL_TRIGGER: push_url(server.url, pubsub_project, topics.POLL_TRIGGER)},
        settings=FAST,
    )
    sent = Envelope(type="poll.tick", version=1, payload={"tick": "2026-11-21T05:00Z"})
    message_id = Publisher(pubsub_project).publish(
        topics.POLL_TRIGGER, sent, attributes={"origin": "test"}
    )

    (delivery,) = wait_for_lines(record_file, 1, timeout=30)
    assert delivery["message_id"] == message_id == delivery["event_id"]
    assert delivery["idempotency_key"] == sent.idempotency_key
    assert delivery["payload"] == {"tick": "2026-11-21T05:00Z"}
    assert delivery["attributes"]["origin"] == "test"
    assert (
        delivery["source"]
        == f"//pubsub.googleapis.com/projects/{pubsub_project}/topics/poll-trigger"
    )
    time.sleep(1.5)  # a success is acknowledged: no redelivery follows
    assert len(wait_for_lines(record_file, 1, timeout=1)) == 1


def test_failing_handler_is_retried_then_dead_lettered(pubsub_project, recording_function):
    server, record_file = recording_function
    ensure_topology(
        pubsub_project,
        {topics.ACCOUNT_EVENTS: push_url(server.url, pubsub_project, topics.ACCOUNT_EVENTS)},
        settings=FAST,
    )
    poison = Envelope(type="account.fill", version=1, payload={"fail": True})
    message_id = Publisher(pubsub_project).publish(topics.ACCOUNT_EVENTS, poison)

    (dead,) = pull_messages(
        topics.subscription_path(
            pubsub_project, topics.dead_letter_subscription(topics.ACCOUNT_EVENTS)
        ),
        expect=1,
        timeout=60,
    )
    deliveries = wait_for_lines(record_file, 5, timeout=5)
    assert len(deliveries) == 5
    # Redeliveries keep the message id: the consumer's idempotency key.
    assert {d["message_id"] for d in deliveries} == {message_id}
    assert dead.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert dead.attributes["idempotency_key"] == poison.idempotency_key
    # The envelope survives dead-lettering intact.
    assert decode(dead.data).payload == {"fail": True}
