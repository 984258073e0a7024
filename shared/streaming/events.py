"""The position-event contract: what the tracker hands the fan-out, in process or by Pub/Sub.

The tracker (one Kalshi WebSocket per account, the P&L) and the fan-out (the browsers' SSE
streams) meet at one narrow interface, so the two can run in one process now and in
separate deployments later:

- the tracker pushes every per-user event into an :class:`EventSink` (in process: the
  fan-out itself; split: :class:`~streamer.split.PubSubEventSink`, one ``position-events``
  message per event, ordering key = the user id);
- the fan-out asks a :class:`SnapshotSource` for a user's full state when it has none (in
  process: the tracker; split: the ``position_cache`` table).

Event ids come from the tracker's per-user sequence, prefixed with the tracker's *epoch*
(the millisecond it started): ``"<epoch>-<seq>"``. Any fan-out instance can therefore resume
a browser's ``Last-Event-ID`` from its replay buffer, and an id from an earlier tracker run
(other epoch) is recognised as stale and answered with a fresh ``snapshot``. Events the
fan-out relays itself (``market_update``, ``backtest_progress``) are not part of the
sequence; their ids carry a third part (``"<epoch>-<seq>-<n>"``) that resumes at ``seq``.

Payloads are JSON-ready mappings with money as exact decimal strings. Wire form on
``position-events`` (inside the usual envelope, type ``position_events.event``)::

    {"user_id": uuid, "epoch": int, "seq": int, "event": "position_update", "data": {...}}
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from shared.messaging.envelope import Envelope, InvalidMessage
from shared.messaging.topics import POSITION_EVENTS

__all__ = [
    "POSITION_EVENTS",
    "POSITION_EVENT_TYPE",
    "POSITION_EVENT_VERSION",
    "RELAYED_TYPES",
    "STATE_TYPES",
    "TRACKER_TYPES",
    "EventSink",
    "SnapshotSource",
    "StreamEvent",
    "decode_position_event",
    "format_event_id",
    "parse_event_id",
    "position_event_envelope",
]

POSITION_EVENT_TYPE = "position_events.event"
POSITION_EVENT_VERSION = 1

STATE_TYPES = frozenset(
    {"snapshot", "position_update", "position_removed", "portfolio_update", "connection_status"}
)
"""Events that change what a ``snapshot`` shows (the fan-out's mirror applies them)."""
TRACKER_TYPES = STATE_TYPES | {"order_update", "fill", "error"}
"""Every type the tracker's sequence numbers."""
RELAYED_TYPES = frozenset({"market_update", "backtest_progress", "orderbook"})
"""Types the fan-out relays itself, outside the sequence (never replayed)."""


def format_event_id(epoch: int, seq: int, relayed: int | None = None) -> str:
    """``"<epoch>-<seq>"``, or ``"<epoch>-<seq>-<n>"`` for a relayed event after ``seq``."""
    if relayed is None:
        return f"{epoch}-{seq}"
    return f"{epoch}-{seq}-{relayed}"


def parse_event_id(text: str | None) -> tuple[int, int] | None:
    """``(epoch, seq)`` of a ``Last-Event-ID``; ``None`` when absent or not one of ours."""
    if not text or len(text) > 64:
        return None
    parts = text.strip().split("-")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One numbered event of one user's stream."""

    user_id: uuid.UUID
    epoch: int
    seq: int
    type: str
    data: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.type not in TRACKER_TYPES:
            raise ValueError(f"not a tracker event type: {self.type!r}")
        if self.seq < 0 or self.epoch < 0:
            raise ValueError("event epoch and seq must be non-negative")

    @property
    def event_id(self) -> str:
        return format_event_id(self.epoch, self.seq)


class EventSink(Protocol):
    """Where the tracker puts each event, in its per-user order."""

    def publish(self, event: StreamEvent) -> None: ...


class SnapshotSource(Protocol):
    """A user's whole current state as one ``snapshot`` event (``None``: nothing known)."""

    async def snapshot(self, user_id: uuid.UUID) -> StreamEvent | None: ...


def position_event_envelope(event: StreamEvent) -> Envelope:
    """The ``position-events`` message of ``event``; its key dedupes a redelivery."""
    return Envelope(
        type=POSITION_EVENT_TYPE,
        version=POSITION_EVENT_VERSION,
        idempotency_key=f"{event.user_id}:{event.epoch}:{event.seq}",
        payload={
            "user_id": str(event.user_id),
            "epoch": event.epoch,
            "seq": event.seq,
            "event": event.type,
            "data": dict(event.data),
        },
    )


def _non_negative(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidMessage(f"position event {name} must be a non-negative integer")
    return value


def decode_position_event(envelope: Envelope) -> StreamEvent:
    """The event an envelope carries; :class:`InvalidMessage` when it is not one we know."""
    if envelope.type != POSITION_EVENT_TYPE:
        raise InvalidMessage(f"not a {POSITION_EVENT_TYPE} message: {envelope.type}")
    if envelope.version != POSITION_EVENT_VERSION:
        raise InvalidMessage(f"unknown {POSITION_EVENT_TYPE} version {envelope.version}")
    payload = envelope.payload
    try:
        user_id = uuid.UUID(str(payload.get("user_id")))
    except ValueError:
        raise InvalidMessage("position event user_id must be a UUID") from None
    kind = payload.get("event")
    if not isinstance(kind, str) or kind not in TRACKER_TYPES:
        raise InvalidMessage("position event type is not one the stream knows")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise InvalidMessage("position event data must be a JSON object")
    return StreamEvent(
        user_id=user_id,
        epoch=_non_negative(payload, "epoch"),
        seq=_non_negative(payload, "seq"),
        type=kind,
        data=data,
    )
