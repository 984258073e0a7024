"""The JSON envelope every Pub/Sub message of this system carries.

Pub/Sub delivers at least once and, without ordering keys, in any order. So each message
says what it is (``type``, ``version``: a consumer can refuse a version it does not know
instead of misreading it) and carries an ``idempotency_key`` the consumer records (table
``processed_messages``) in the same transaction as its side effect. ``emitted_at`` lets a
consumer drop a message older than the state it already holds.

Wire form (UTF-8 JSON object)::

    {"type": "market_snapshots.batch", "version": 1, "idempotency_key": "...",
     "emitted_at": "2026-11-21T05:00:00.000000Z", "payload": {...}}

Decimals in a payload are written as strings ("0.4700"), never floats, so money stays
exact; datetimes as ISO 8601. Unknown top-level fields are ignored (forward compatible).
A message that does not parse is an :class:`InvalidMessage`: a permanent error the
consumer logs and acknowledges, because redelivering it can never succeed.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.domain.units import json_default

__all__ = [
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "Envelope",
    "InvalidMessage",
    "aware_time",
    "decode",
    "encode",
]

MAX_IDEMPOTENCY_KEY_LENGTH = 256
_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_.\-]{0,127}$")


class InvalidMessage(ValueError):
    """The bytes are not a valid envelope. Permanent: log and ack, never retry."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_key() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Envelope:
    """One message: what it is, which schema version, how to deduplicate it, and the data."""

    type: str
    version: int
    idempotency_key: str = field(default_factory=_new_key)
    payload: Mapping[str, Any] = field(default_factory=dict)
    emitted_at: datetime = field(default_factory=_utc_now)

    def __post_init__(self) -> None:
        _check_type(self.type)
        _check_version(self.version)
        _check_key(self.idempotency_key)
        if not isinstance(self.payload, Mapping):
            raise InvalidMessage("payload must be a JSON object")
        if self.emitted_at.tzinfo is None:
            raise InvalidMessage("emitted_at must carry a time zone")


def _check_type(value: object) -> None:
    if not isinstance(value, str) or not _TYPE_PATTERN.match(value):
        raise InvalidMessage(
            "type must be a lowercase dotted name such as 'market_snapshots.batch'"
        )


def _check_version(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidMessage("version must be a positive integer")


def _check_key(value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidMessage("idempotency_key must be a non-empty string")
    if len(value) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidMessage(f"idempotency_key is longer than {MAX_IDEMPOTENCY_KEY_LENGTH}")


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode(envelope: Envelope) -> bytes:
    """Serialise to compact UTF-8 JSON (the Pub/Sub message data)."""
    document = {
        "type": envelope.type,
        "version": envelope.version,
        "idempotency_key": envelope.idempotency_key,
        "emitted_at": _format_time(envelope.emitted_at),
        "payload": envelope.payload,
    }
    return json.dumps(
        document, default=json_default, separators=(",", ":"), ensure_ascii=False
    ).encode()


def aware_time(value: object, what: str) -> datetime:
    """``value`` as a time with its zone, or :class:`InvalidMessage` naming ``what``.

    Messages carry times as ISO 8601 strings; one without a zone is refused rather than
    guessed. The envelope's ``emitted_at`` and a payload's own times share these rules and
    these words.
    """
    if not isinstance(value, str):
        raise InvalidMessage(f"{what} must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidMessage(f"{what} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidMessage(f"{what} must carry a time zone")
    return moment


def decode(data: bytes) -> Envelope:
    """Parse and validate message data; raise :class:`InvalidMessage` when it is not ours."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidMessage(f"message data is not UTF-8 JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidMessage("message data must be a JSON object")
    missing = [k for k in ("type", "version", "idempotency_key", "payload") if k not in document]
    if missing:
        raise InvalidMessage(f"message lacks {', '.join(missing)}")
    emitted_at = aware_time(document.get("emitted_at"), "emitted_at")
    payload = document["payload"]
    if not isinstance(payload, dict):
        raise InvalidMessage("payload must be a JSON object")
    return Envelope(
        type=document["type"],
        version=document["version"],
        idempotency_key=document["idempotency_key"],
        payload=payload,
        emitted_at=emitted_at,
    )
