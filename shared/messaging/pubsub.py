"""Publishing envelopes to Pub/Sub and reading them back out of push CloudEvents.

The client is created lazily on first use (cold starts stay cheap; tests that never
publish never connect) and honours ``PUBSUB_EMULATOR_HOST`` by itself. ``publish`` waits
for the server's acknowledgement: a publish that fails raises, so the calling function
fails and its own trigger retries, instead of a message silently going missing.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, TypeVar

from shared.messaging.envelope import Envelope, InvalidMessage, decode, encode
from shared.messaging.lazy_client import LazyClient
from shared.messaging.topics import topic_path

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MessageTooLarge",
    "PublishError",
    "Publisher",
    "chunk_by_size",
    "cloud_event_message",
    "delivery_key",
    "envelope_attributes",
]

T = TypeVar("T")

# Pub/Sub's hard limit per message is 10 MB; batches are split far below it.
MAX_MESSAGE_BYTES = 10_000_000
DEFAULT_CHUNK_BYTES = 512_000


class PublishError(RuntimeError):
    """Pub/Sub did not accept a message (after the client library's own retries)."""


class MessageTooLarge(ValueError):
    """A message (or a single item of a batch) exceeds the size it must fit in."""


def envelope_attributes(envelope: Envelope) -> dict[str, str]:
    """Attributes every message carries, so subscriptions can filter without parsing data."""
    return {
        "type": envelope.type,
        "version": str(envelope.version),
        "idempotency_key": envelope.idempotency_key,
    }


class Publisher(LazyClient):
    """Publishes :class:`Envelope` objects to topics of one project."""

    def __init__(self, project_id: str, *, client_factory: Callable[[], Any] | None = None):
        if not project_id:
            raise ValueError("project_id is required")
        self.project_id = project_id
        self._client_factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()

    def _make_client(self) -> Any:
        """The PublisherClient (message ordering enabled), built on first use of ``client``."""
        if self._client_factory is not None:
            return self._client_factory()
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        options = pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
        return pubsub_v1.PublisherClient(publisher_options=options)

    def topic_path(self, topic: str) -> str:
        return topic_path(self.project_id, topic)

    def _submit(
        self,
        topic: str,
        envelope: Envelope,
        attributes: Mapping[str, str] | None,
        ordering_key: str | None,
    ) -> Future[str]:
        data = encode(envelope)
        if len(data) > MAX_MESSAGE_BYTES:
            raise MessageTooLarge(
                f"{envelope.type} message is {len(data)} bytes; split it with chunk_by_size"
            )
        merged = envelope_attributes(envelope)
        merged.update(attributes or {})
        future: Future[str] = self.client.publish(
            self.topic_path(topic), data, ordering_key=ordering_key or "", **merged
        )
        return future

    def _result(
        self, future: Future[str], topic: str, ordering_key: str | None, timeout: float
    ) -> str:
        try:
            return str(future.result(timeout=timeout))
        except Exception as exc:
            if ordering_key:
                # A failed ordered publish pauses its key until resumed.
                self.client.resume_publish(self.topic_path(topic), ordering_key)
            raise PublishError(f"publishing to {topic} failed: {exc}") from exc

    def publish(
        self,
        topic: str,
        envelope: Envelope,
        *,
        attributes: Mapping[str, str] | None = None,
        ordering_key: str | None = None,
        timeout: float = 30,
    ) -> str:
        """Publish one envelope and wait for Pub/Sub to accept it; return the message id."""
        future = self._submit(topic, envelope, attributes, ordering_key)
        return self._result(future, topic, ordering_key, timeout)

    def publish_many(
        self,
        topic: str,
        envelopes: Iterable[Envelope],
        *,
        attributes: Mapping[str, str] | None = None,
        ordering_key: str | None = None,
        timeout: float = 30,
    ) -> list[str]:
        """Publish several envelopes (batched by the client); wait for all; raise if any failed.

        Every future is awaited before raising, so the caller knows nothing is still in flight.
        """
        futures = [self._submit(topic, e, attributes, ordering_key) for e in envelopes]
        ids: list[str] = []
        failures: list[PublishError] = []
        for future in futures:
            try:
                ids.append(self._result(future, topic, ordering_key, timeout))
            except PublishError as exc:
                failures.append(exc)
        if failures:
            raise PublishError(
                f"{len(failures)} of {len(futures)} messages to {topic} failed: {failures[0]}"
            ) from failures[0]
        return ids


def chunk_by_size(
    items: Sequence[T],
    encode: Callable[[Sequence[T]], bytes],
    max_bytes: int = DEFAULT_CHUNK_BYTES,
) -> list[list[T]]:
    """Split ``items`` into consecutive chunks whose ``encode(chunk)`` fits in ``max_bytes``.

    ``encode`` turns a chunk into the message bytes that will be published (for example
    the encoded envelope whose payload lists the chunk). Sizes are estimated from each
    item encoded alone, then every chunk is checked with the real encoder and halved if
    the estimate was short, so the result is exact at the cost of O(n) small encodes.
    Raises :class:`MessageTooLarge` when a single item cannot fit.
    """
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    if not items:
        return []
    base = len(encode([]))
    chunks: list[list[T]] = []
    current: list[T] = []
    current_size = base
    for item in items:
        single = len(encode([item]))
        if single > max_bytes:
            raise MessageTooLarge(f"one item encodes to {single} bytes, over {max_bytes}")
        # +1 for the separator between list elements in a JSON-like encoding.
        if current and current_size + (single - base) + 1 > max_bytes:
            chunks.append(current)
            current, current_size = [], base
        current_size += (single - base) + (1 if current else 0)
        current.append(item)
    if current:
        chunks.append(current)
    return [piece for chunk in chunks for piece in _fit(chunk, encode, max_bytes)]


def _fit(chunk: list[T], encode: Callable[[Sequence[T]], bytes], max_bytes: int) -> list[list[T]]:
    if len(chunk) <= 1 or len(encode(chunk)) <= max_bytes:
        return [chunk]
    middle = len(chunk) // 2
    return _fit(chunk[:middle], encode, max_bytes) + _fit(chunk[middle:], encode, max_bytes)


def cloud_event_message(cloud_event: Any) -> tuple[Envelope, dict[str, str], str]:
    """Decode a Pub/Sub CloudEvent (push subscription or Eventarc) into our envelope.

    ``cloud_event.data`` is ``{"message": {"data": base64, "attributes": {...},
    "messageId": ..., "publishTime": ...}, "subscription": ...}``. Returns the envelope, the
    attributes and the Pub/Sub message id (stable across redeliveries). Raises
    :class:`InvalidMessage` for anything else: a permanent error to log and acknowledge.
    """
    data = getattr(cloud_event, "data", None)
    if data is None and isinstance(cloud_event, Mapping):
        data = cloud_event.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("message"), Mapping):
        raise InvalidMessage("CloudEvent data has no Pub/Sub message")
    message = data["message"]
    raw = message.get("data")
    if not isinstance(raw, str) or not raw:
        raise InvalidMessage("Pub/Sub message has no data")
    try:
        body = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidMessage("Pub/Sub message data is not base64") from None
    envelope = decode(body)
    attributes = {str(k): str(v) for k, v in (message.get("attributes") or {}).items()}
    message_id = message.get("messageId") or message.get("message_id")
    if not message_id:
        try:
            message_id = cloud_event["id"]
        except (KeyError, TypeError):
            message_id = None
    if not message_id:
        raise InvalidMessage("Pub/Sub message has no messageId")
    return envelope, attributes, str(message_id)


def _publish_time(cloud_event: Any) -> str | None:
    """The message's publish time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; None if it has none.

    From ``message.publishTime``, else the CloudEvent's ``time`` (which Eventarc sets to
    the publish time). Normalised, so a redelivery whose timestamp is spelled with another
    number of fractional digits still yields the same key.
    """
    data = getattr(cloud_event, "data", None)
    if data is None and isinstance(cloud_event, Mapping):
        data = cloud_event.get("data")
    message = data.get("message") if isinstance(data, Mapping) else None
    raw = message.get("publishTime") if isinstance(message, Mapping) else None
    if not raw:
        try:
            raw = cloud_event["time"]
        except (KeyError, TypeError):
            raw = None
    if not raw:
        return None
    text = str(raw).strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def delivery_key(message_id: str, cloud_event: Any) -> str:
    """The idempotency key of a push delivery: ``<messageId>@<publishTime>``.

    The Pub/Sub message id alone is unique in the cloud, but the emulator numbers
    messages from 1 again after every restart, so after ``make up`` each new message
    would collide with one processed before the restart and be dropped as a duplicate.
    The publish time is fixed when the message is published, so it is the same in every
    redelivery of that message and differs between a message and the one the restarted
    emulator numbers alike (ADR 0090). Without a publish time, the message id alone.
    ``message_id`` is what :func:`cloud_event_message` returned for ``cloud_event``.
    """
    published = _publish_time(cloud_event)
    return message_id if published is None else f"{message_id}@{published}"
