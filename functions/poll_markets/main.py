"""CloudEvent function ``poll_markets``: one Kalshi poll per ``poll-trigger`` message.

Cloud Scheduler publishes to ``poll-trigger``; the push subscription delivers here. The
contract with Pub/Sub, as in Google's samples: return to acknowledge, raise to have the
message redelivered. So:

- a malformed trigger, an unknown version, or a new event older than
  ``POLL_MAX_EVENT_AGE_SECONDS``: log and return (redelivery cannot help; a redelivery of a
  poll that was written but not yet announced is announced whatever its age);
- Kalshi 429/5xx/transport failures after the client's retries, or the database being
  unreachable: raise (Pub/Sub redelivers with backoff, then dead-letters);
- any other failure the poller classifies as permanent: log with context and return.

The idempotency key is the Pub/Sub message id with its publish time
(:func:`shared.messaging.pubsub.delivery_key`: the emulator reuses message ids after a
restart); :mod:`shared.marketdata.poller` records it in the same transaction as the
writes, so a duplicate delivery writes nothing.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import functions_framework

from shared.logging import configure_logging
from shared.marketdata.poller import (
    POLL_TRIGGER_TYPE,
    PollMarkets,
    is_transient_failure,
)
from shared.marketdata.settings import MarketDataSettings

# 1. At import, before any event: every record is scrubbed, whichever handler writes it.
configure_logging()
SETTINGS = MarketDataSettings.from_env()
log = logging.getLogger("functions.poll_markets")

# 2. One service per instance, built on the first event.
_service: PollMarkets | None = None
_lock = threading.Lock()


def service() -> PollMarkets:
    """Lazy global: database pool, Kalshi client and publisher are built once per instance."""
    global _service
    with _lock:
        if _service is None:
            from shared.db.engine import get_database
            from shared.kalshi.client import KalshiClient, signer_from_env
            from shared.messaging.pubsub import Publisher

            publisher = Publisher(SETTINGS.project_id) if SETTINGS.project_id else None
            _service = PollMarkets(
                get_database().engine,
                KalshiClient(signer=signer_from_env()),
                publisher,
                SETTINGS,
            )
        return _service


def _event_time(cloud_event: Any) -> datetime | None:
    try:
        raw = cloud_event["time"]
    except KeyError:
        return None
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# 3. The handler: adapt the event, nothing else.
@functions_framework.cloud_event
def poll_markets(cloud_event: Any) -> None:
    from shared.logging import log_context
    from shared.messaging.envelope import InvalidMessage
    from shared.messaging.pubsub import cloud_event_message, delivery_key

    with log_context(event_id=cloud_event["id"], consumer="poll_markets"):
        try:
            envelope, _attributes, message_id = cloud_event_message(cloud_event)
        except InvalidMessage as exc:
            log.error("poll trigger is not a valid message; acknowledged: %s", exc)
            return
        if envelope.type != POLL_TRIGGER_TYPE or envelope.version != 1:
            log.error(
                "unexpected message %s v%s on poll-trigger; acknowledged",
                envelope.type,
                envelope.version,
            )
            return
        published_at = _event_time(cloud_event)
        key = delivery_key(message_id, cloud_event)
        try:
            outcome = service().run(key, published_at=published_at)
        except Exception as exc:
            context = {"message_id": message_id, "key": key, "error": type(exc).__name__}
            if is_transient_failure(exc):
                log.warning(
                    "poll failed transiently; raising for redelivery: %s",
                    exc,
                    extra={"json_fields": context},
                )
                raise
            log.exception("poll failed permanently; acknowledged", extra={"json_fields": context})
            return
        if outcome.status == "stale":
            log.warning(
                "poll trigger older than the configured maximum age; acknowledged",
                extra={
                    "json_fields": {"message_id": message_id, "published_at": str(published_at)}
                },
            )
            return
        log.info(
            "poll %s",
            outcome.status,
            extra={"json_fields": {"message_id": message_id, "key": key, **outcome.log_fields()}},
        )
