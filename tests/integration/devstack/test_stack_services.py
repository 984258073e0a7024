"""The Pub/Sub and Cloud Tasks services of ``kalshi-insights up``: start, publish env, stop."""

import argparse
import os

import pytest

from devstack.services.base import StackContext
from devstack.services.pubsub import PubSubService
from devstack.services.tasks import CloudTasksService
from shared.messaging import topics

pytestmark = pytest.mark.integration


def test_services_start_publish_their_env_and_stop(tmp_path, monkeypatch):
    # The Pub/Sub service points the launcher's own clients at its emulator; undo afterwards.
    for key in ("PUBSUB_EMULATOR_HOST", "PUBSUB_PROJECT_ID"):
        monkeypatch.setenv(key, os.environ.get(key, ""))
    ctx = StackContext(state_dir=tmp_path, options=argparse.Namespace())
    pubsub, tasks = PubSubService(), CloudTasksService()
    try:
        pubsub.start(ctx)
        tasks.start(ctx)
        assert ctx.env["PUBSUB_EMULATOR_HOST"].startswith("127.0.0.1:")
        assert ctx.env["PUBSUB_PROJECT_ID"] == "kalshi-insights-local"
        assert ctx.env["CLOUD_TASKS_EMULATOR_HOST"].startswith("127.0.0.1:")
        assert ctx.env["CLOUD_TASKS_QUEUE"].endswith("/queues/backtests")
        assert pubsub.check() is None and tasks.check() is None
        assert any("Pub/Sub" in line for line in pubsub.describe())
        assert any("Cloud Tasks" in line for line in tasks.describe())
        assert (tmp_path / "logs" / "pubsub-emulator.log").exists()

        from google.cloud import pubsub_v1

        names = {
            t.name
            for t in pubsub_v1.PublisherClient().list_topics(
                project="projects/kalshi-insights-local"
            )
        }
        for topic in topics.ALL_TOPICS:
            assert topics.topic_path("kalshi-insights-local", topic) in names
            dead = topics.topic_path("kalshi-insights-local", topics.dead_letter_topic(topic))
            assert dead in names
    finally:
        tasks.stop()
        pubsub.stop()
    assert not pubsub.emulator.is_running() and not tasks.emulator.is_running()
