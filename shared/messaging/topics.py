"""Topic names shared by publishers, subscribers, Terraform and the local stack."""

from __future__ import annotations

__all__ = [
    "ACCOUNT_EVENTS",
    "ALL_TOPICS",
    "BACKTEST_EVENTS",
    "MARKET_SNAPSHOTS",
    "POLL_TRIGGER",
    "POSITION_EVENTS",
    "dead_letter_subscription",
    "dead_letter_topic",
    "push_subscription",
    "subscription_path",
    "topic_path",
]

POLL_TRIGGER = "poll-trigger"
MARKET_SNAPSHOTS = "market-snapshots"
ACCOUNT_EVENTS = "account-events"
BACKTEST_EVENTS = "backtest-events"
POSITION_EVENTS = "position-events"
"""The streamer's split mode: tracker -> fan-outs (ordering key: the user id)."""

ALL_TOPICS: tuple[str, ...] = (
    POLL_TRIGGER,
    MARKET_SNAPSHOTS,
    ACCOUNT_EVENTS,
    BACKTEST_EVENTS,
    POSITION_EVENTS,
)


def dead_letter_topic(name: str) -> str:
    """Where messages of ``name`` go after the last failed delivery attempt."""
    return f"{name}-dead-letter"


def dead_letter_subscription(name: str) -> str:
    """The pull subscription that keeps dead-lettered messages (without one they are lost)."""
    return f"{dead_letter_topic(name)}-sub"


def push_subscription(name: str) -> str:
    """Name of the push subscription the local stack creates for a topic's consumer."""
    return f"{name}-push"


def topic_path(project: str, name: str) -> str:
    return f"projects/{project}/topics/{name}"


def subscription_path(project: str, name: str) -> str:
    return f"projects/{project}/subscriptions/{name}"
