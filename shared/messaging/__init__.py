"""Messaging between deployables: Pub/Sub envelopes and topics, Cloud Tasks.

Every message is a JSON :class:`~shared.messaging.envelope.Envelope` with a ``type``, a
``version`` and an idempotency key, so consumers can tolerate redelivery and reordering.
"""

from shared.messaging.envelope import Envelope, InvalidMessage, decode, encode

__all__ = ["Envelope", "InvalidMessage", "decode", "encode"]
