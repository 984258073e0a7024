"""Create the Pub/Sub topology on the emulator (local and test use only).

In the cloud Terraform owns topics and subscriptions. Locally the same shape is created
here: every topic gets a dead-letter topic with a pull subscription that keeps what lands
there, and consumers get push subscriptions *we* own (not Eventarc triggers, whose
subscriptions cannot carry a dead-letter policy; docs/decisions/0040) with a retry policy
and ``max_delivery_attempts``. Running it again is harmless: what exists and matches is
kept, a subscription whose settings changed (a new port after a restart) is recreated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.messaging.topics import (
    ALL_TOPICS,
    dead_letter_subscription,
    dead_letter_topic,
    push_subscription,
    subscription_path,
    topic_path,
)

__all__ = ["SubscriptionSettings", "ensure_topology", "push_url"]


@dataclass(frozen=True)
class SubscriptionSettings:
    """Delivery settings of the subscriptions ensure_topology creates."""

    min_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 10.0
    max_delivery_attempts: int = 5
    ack_deadline_seconds: int = 60


def push_url(function_url: str, project: str, topic: str) -> str:
    """A push endpoint keeping ``/projects/P/topics/T`` in the path.

    functions-framework derives the CloudEvent ``source`` from that path when it converts
    a raw Pub/Sub push into a CloudEvent; any path reaches the same function.
    """
    return f"{function_url.rstrip('/')}/{topic_path(project, topic)}"


def ensure_topology(
    project: str,
    push_endpoints: Mapping[str, str] | None = None,
    pull_subscriptions: Sequence[tuple[str, str]] = (),
    *,
    topics: Iterable[str] = ALL_TOPICS,
    push_subscriptions: Sequence[tuple[str, str, str]] = (),
    settings: SubscriptionSettings | None = None,
) -> None:
    """Create topics, dead-letter topics and subscriptions; idempotent.

    ``push_endpoints`` maps a topic to the URL its push subscription (named
    ``<topic>-push``) delivers to; ``push_subscriptions`` lists extra ``(topic, name, url)``
    push subscriptions; ``pull_subscriptions`` lists ``(topic, name)`` pull subscriptions.
    Every topic mentioned anywhere is created along with its dead-letter topic.
    """
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    settings = settings or SubscriptionSettings()
    pushes = [(t, push_subscription(t), url) for t, url in (push_endpoints or {}).items()]
    pushes.extend(push_subscriptions)
    all_topics = list(dict.fromkeys([*topics, *(p[0] for p in pushes)]))
    all_topics.extend(t for t, _ in pull_subscriptions if t not in all_topics)

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        for topic in all_topics:
            _ensure_topic(publisher, topic_path(project, topic))
            dead_letter = topic_path(project, dead_letter_topic(topic))
            _ensure_topic(publisher, dead_letter)
            _ensure_subscription(
                subscriber,
                {
                    "name": subscription_path(project, dead_letter_subscription(topic)),
                    "topic": dead_letter,
                    "ack_deadline_seconds": settings.ack_deadline_seconds,
                },
            )
        for topic, name, url in pushes:
            _ensure_subscription(
                subscriber,
                _subscription(project, topic, name, settings, push_endpoint=url),
            )
        for topic, name in pull_subscriptions:
            _ensure_subscription(subscriber, _subscription(project, topic, name, settings))
    finally:
        subscriber.close()


def _subscription(
    project: str,
    topic: str,
    name: str,
    settings: SubscriptionSettings,
    *,
    push_endpoint: str | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "name": subscription_path(project, name),
        "topic": topic_path(project, topic),
        "ack_deadline_seconds": settings.ack_deadline_seconds,
        "retry_policy": {
            "minimum_backoff": timedelta(seconds=settings.min_backoff_seconds),
            "maximum_backoff": timedelta(seconds=settings.max_backoff_seconds),
        },
        "dead_letter_policy": {
            "dead_letter_topic": topic_path(project, dead_letter_topic(topic)),
            "max_delivery_attempts": settings.max_delivery_attempts,
        },
    }
    if push_endpoint is not None:
        request["push_config"] = {"push_endpoint": push_endpoint}
    return request


def _ensure_topic(publisher: Any, path: str) -> None:
    from google.api_core.exceptions import AlreadyExists

    with contextlib.suppress(AlreadyExists):
        publisher.create_topic(request={"name": path})


def _ensure_subscription(subscriber: Any, request: dict[str, Any]) -> None:
    from google.api_core.exceptions import AlreadyExists, NotFound

    try:
        subscriber.create_subscription(request=request)
        return
    except AlreadyExists:
        pass
    existing = subscriber.get_subscription(request={"subscription": request["name"]})
    if _matches(existing, request):
        return
    with contextlib.suppress(NotFound):
        subscriber.delete_subscription(request={"subscription": request["name"]})
    subscriber.create_subscription(request=request)


def _matches(existing: Any, wanted: dict[str, Any]) -> bool:
    if existing.topic != wanted["topic"]:
        return False
    if existing.push_config.push_endpoint != wanted.get("push_config", {}).get("push_endpoint", ""):
        return False
    if existing.ack_deadline_seconds != wanted["ack_deadline_seconds"]:
        return False
    policy = wanted.get("dead_letter_policy")
    if policy is not None:
        if existing.dead_letter_policy.dead_letter_topic != policy["dead_letter_topic"]:
            return False
        attempts = existing.dead_letter_policy.max_delivery_attempts
        if attempts != policy["max_delivery_attempts"]:
            return False
    retry = wanted.get("retry_policy")
    if retry is not None:
        have = existing.retry_policy
        if (have.minimum_backoff, have.maximum_backoff) != (
            retry["minimum_backoff"],
            retry["maximum_backoff"],
        ):
            return False
    return True
