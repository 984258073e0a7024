"""The poll trigger's idempotency key: one per published message, across emulator restarts."""

from __future__ import annotations

import base64
from typing import Any

from shared.messaging.envelope import Envelope, encode
from shared.messaging.pubsub import cloud_event_message, delivery_key


def push_event(message_id: str, publish_time: str | None, time: str | None = None) -> Any:
    envelope = Envelope(type="poll_markets.trigger", version=1, idempotency_key="tick")
    message: dict[str, Any] = {
        "data": base64.b64encode(encode(envelope)).decode(),
        "messageId": message_id,
        "attributes": {},
    }
    if publish_time is not None:
        message["publishTime"] = publish_time
    event: dict[str, Any] = {"id": f"ce-{message_id}", "data": {"message": message}}
    if time is not None:
        event["time"] = time
    return event


def key_of(event: Any) -> str:
    return delivery_key(cloud_event_message(event)[2], event)


def test_a_redelivery_has_the_key_of_the_first_delivery():
    first = key_of(push_event("7", "2026-11-28T19:00:00.123Z"))
    # The same message again, its publish time spelled with another precision.
    assert key_of(push_event("7", "2026-11-28T19:00:00.123000Z")) == first
    assert key_of(push_event("7", "2026-11-28T19:00:00.123000+00:00")) == first
    assert first == "7@2026-11-28T19:00:00.123000Z"


def test_a_restarted_emulator_reusing_a_message_id_gives_a_new_key():
    before = key_of(push_event("1", "2026-11-28T19:00:00.500Z"))
    after = key_of(push_event("1", "2026-11-28T19:05:00.250Z"))
    assert before != after


def test_without_publish_time_the_event_time_then_the_message_id_alone():
    assert key_of(push_event("3", None, time="2026-11-28T19:00:01Z")) == (
        "3@2026-11-28T19:00:01.000000Z"
    )
    assert key_of(push_event("3", None)) == "3"
    assert key_of(push_event("3", "not a time")) == "3@not a time"
