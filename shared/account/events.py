"""The ``account-events`` message contract: a user's Kalshi link came up or went down.

The ``account`` function publishes; the streamer (which holds one Kalshi WebSocket per
connected user) consumes. ``account.connected`` after a sign-in stored a working key, so the
streamer opens that user's socket; ``account.disconnected`` after logout, account deletion
or a key Kalshi started rejecting, so it closes it. Schema, keys and decoding live here,
apart from the sign-in code, so the consumer decodes with the definitions the publisher
encodes with (as :mod:`shared.marketdata.snapshot_messages` does for ``market-snapshots``).

Envelope (:mod:`shared.messaging.envelope`), version 1::

    type     "account.connected" | "account.disconnected"
    payload  {"status": "connected" | "disconnected", "user_id": UUID string,
              "kalshi_environment": "demo" | "production" | "custom" | ...,
              "reason": "sign_in" | "logout" | "account_deleted" | "key_revoked",
              "occurred_at": ISO 8601 time}

Idempotency key ``account:<user_id>:<status>:<event id>``: one key per event (a sign-in's
event id is its session id), so a redelivered message deduplicates while a later sign-in
is a new event. Consumers order events of one user by ``occurred_at`` and ignore one older
than the last they applied. No key material, key id, token or session ever goes in a
message: the streamer loads the credential from the vault itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from shared.messaging.envelope import Envelope, InvalidMessage, aware_time

__all__ = [
    "ACCOUNT_EVENTS_VERSION",
    "CONNECTED",
    "DISCONNECTED",
    "REASONS",
    "AccountEvent",
    "AccountEventSink",
    "account_envelope",
    "decode_account_event",
]

CONNECTED = "account.connected"
DISCONNECTED = "account.disconnected"
ACCOUNT_EVENTS_VERSION = 1
REASONS = frozenset({"sign_in", "logout", "account_deleted", "key_revoked"})
_STATUS = {CONNECTED: "connected", DISCONNECTED: "disconnected"}

Status = Literal["connected", "disconnected"]


@dataclass(frozen=True)
class AccountEvent:
    """One decoded ``account-events`` message."""

    status: Status
    user_id: uuid.UUID
    kalshi_environment: str
    reason: str
    occurred_at: datetime
    idempotency_key: str


class AccountEventSink(Protocol):
    """Where the account function sends its events (Pub/Sub in the cloud and locally)."""

    def publish(self, envelope: Envelope) -> None: ...


def account_envelope(
    status: Status,
    user_id: uuid.UUID,
    kalshi_environment: str,
    reason: str,
    *,
    event_id: str | None = None,
    now: datetime | None = None,
) -> Envelope:
    """The envelope announcing that ``user_id``'s Kalshi link is now ``status``.

    ``event_id`` names the event for deduplication (the session id of a sign-in); a fresh
    one is drawn when absent.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown account event reason {reason!r}")
    moment = now or datetime.now(UTC)
    event_type = CONNECTED if status == "connected" else DISCONNECTED
    return Envelope(
        type=event_type,
        version=ACCOUNT_EVENTS_VERSION,
        idempotency_key=f"account:{user_id}:{status}:{event_id or uuid.uuid4().hex}",
        payload={
            "status": status,
            "user_id": str(user_id),
            "kalshi_environment": kalshi_environment,
            "reason": reason,
            "occurred_at": moment.astimezone(UTC).isoformat(),
        },
        emitted_at=moment,
    )


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidMessage(f"account event {name} must be a non-empty string")
    return value


def decode_account_event(envelope: Envelope) -> AccountEvent:
    """The event an ``account-events`` envelope carries, or :class:`InvalidMessage`
    (a type or version this code does not know, a malformed payload)."""
    if envelope.type not in _STATUS:
        raise InvalidMessage(f"not an account event: {envelope.type}")
    if envelope.version != ACCOUNT_EVENTS_VERSION:
        raise InvalidMessage(f"unknown account event version {envelope.version}")
    payload = envelope.payload
    status = _text(payload, "status")
    if status != _STATUS[envelope.type]:
        raise InvalidMessage(f"account event status {status!r} contradicts {envelope.type}")
    try:
        user_id = uuid.UUID(_text(payload, "user_id"))
    except ValueError:
        raise InvalidMessage("account event user_id is not a UUID") from None
    reason = _text(payload, "reason")
    if reason not in REASONS:
        raise InvalidMessage(f"unknown account event reason {reason!r}")
    return AccountEvent(
        status="connected" if status == "connected" else "disconnected",
        user_id=user_id,
        kalshi_environment=_text(payload, "kalshi_environment"),
        reason=reason,
        occurred_at=aware_time(payload.get("occurred_at"), "occurred_at"),
        idempotency_key=envelope.idempotency_key,
    )
