"""Fixtures for the Pub/Sub and Cloud Tasks emulators.

One emulator of each kind per test session (the JVM is slow to start on a busy machine);
each starts only when a test asks for it. Tests stay independent by using a Pub/Sub
project of their own (fixture ``pubsub_project``: the emulator keeps projects apart, so
topics, subscriptions and leftover messages never leak between tests) and their own task
ids.

Helpers importable from tests::

    from tests.plugins.gcp_emulators import pull_envelopes, pull_messages
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.postgres import free_port
from devstack.pubsub_emulator import PubSubEmulator
from devstack.tasks_emulator import CloudTasksEmulator
from shared.messaging.envelope import Envelope, decode
from tests.function_env import restore_env, set_env

__all__ = ["PulledMessage", "pull_envelopes", "pull_messages"]


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[PubSubEmulator]:
    """The Pub/Sub emulator for the session; sets PUBSUB_EMULATOR_HOST / PUBSUB_PROJECT_ID.

    Yields the :class:`PubSubEmulator` (``.host``, ``.project``, ``.env``, ``.log_path``).
    """
    base = Path(tempfile.mkdtemp(prefix="ki-test-pubsub-"))
    emulator = PubSubEmulator(
        free_port(), data_dir=base / "data", log_path=base / "pubsub-emulator.log"
    )
    emulator.start(timeout=180)
    previous = set_env(emulator.env)
    try:
        yield emulator
    finally:
        restore_env(previous)
        emulator.stop()


@pytest.fixture
def pubsub_project(pubsub_emulator: PubSubEmulator) -> str:
    """A Pub/Sub project id of this test's own on the session emulator."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def tasks_emulator() -> Iterator[CloudTasksEmulator]:
    """The Cloud Tasks emulator for the session; sets CLOUD_TASKS_EMULATOR_HOST/_QUEUE.

    Yields the :class:`CloudTasksEmulator` (``.host``, ``.queue_path``, ``.env``,
    ``.log_text()``). The first run builds ``.venv-tasks`` (a minute or so).
    """
    base = Path(tempfile.mkdtemp(prefix="ki-test-tasks-"))
    emulator = CloudTasksEmulator(free_port(), log_path=base / "tasks-emulator.log")
    emulator.start(timeout=120)
    previous = set_env(emulator.env)
    try:
        yield emulator
    finally:
        restore_env(previous)
        emulator.stop()


@dataclass(frozen=True)
class PulledMessage:
    data: bytes
    attributes: dict[str, str]
    message_id: str
    delivery_attempt: int


def pull_messages(
    subscription_path: str, *, expect: int, timeout: float = 30.0
) -> list[PulledMessage]:
    """Synchronously pull and ack until ``expect`` messages arrived; fail after ``timeout``.

    Returns exactly what arrived (possibly more than ``expect`` if they came in one
    response). Raises AssertionError naming how many arrived when too few did.
    """
    from google.api_core.exceptions import DeadlineExceeded
    from google.cloud import pubsub_v1

    received: list[PulledMessage] = []
    deadline = time.monotonic() + timeout
    with pubsub_v1.SubscriberClient() as subscriber:
        while len(received) < expect:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{subscription_path}: expected {expect} messages within {timeout:.0f}s, "
                    f"got {len(received)}"
                )
            try:
                response = subscriber.pull(
                    request={"subscription": subscription_path, "max_messages": 100},
                    timeout=min(remaining, 5.0),
                )
            except DeadlineExceeded:
                continue
            if not response.received_messages:
                time.sleep(0.05)
                continue
            subscriber.acknowledge(
                request={
                    "subscription": subscription_path,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )
            received.extend(
                PulledMessage(
                    data=bytes(m.message.data),
                    attributes=dict(m.message.attributes),
                    message_id=m.message.message_id,
                    delivery_attempt=m.delivery_attempt,
                )
                for m in response.received_messages
            )
    return received


def pull_envelopes(subscription_path: str, *, expect: int, timeout: float = 30.0) -> list[Envelope]:
    """Like :func:`pull_messages`, decoded into envelopes."""
    return [
        decode(m.data) for m in pull_messages(subscription_path, expect=expect, timeout=timeout)
    ]
