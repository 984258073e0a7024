"""The account service wired to the cloud (or its local emulators): Postgres, Secret
Manager through :class:`~shared.auth.principal.AuthContext`, and Pub/Sub for
``account-events``. Kept apart from :mod:`shared.account.service` so the use cases stay
testable without any of these clients."""

from __future__ import annotations

from shared.account.events import AccountEventSink
from shared.account.service import AccountService
from shared.account.settings import AccountSettings
from shared.auth.principal import AuthContext
from shared.messaging.envelope import Envelope

__all__ = ["PubSubAccountEvents", "service_from_settings"]


class PubSubAccountEvents:
    """Publishes account events to ``account-events``, ordered per user."""

    def __init__(self, project_id: str) -> None:
        from shared.messaging.pubsub import Publisher

        self.publisher = Publisher(project_id)

    def publish(self, envelope: Envelope) -> None:
        from shared.messaging.topics import ACCOUNT_EVENTS

        # One ordering key per user: a consumer with ordering on sees a user's connect and
        # disconnect in the order they happened.
        user = str(envelope.payload.get("user_id", ""))
        self.publisher.publish(ACCOUNT_EVENTS, envelope, ordering_key=user or None, timeout=10)


def service_from_settings(settings: AccountSettings) -> AccountService:
    """The service over the process database, the environment's Secret Manager and Pub/Sub
    (no events without a project id)."""
    from shared.db.engine import get_database

    events: AccountEventSink | None = (
        PubSubAccountEvents(settings.project_id) if settings.project_id else None
    )
    return AccountService(
        get_database().engine, AuthContext(settings.auth), settings, events=events
    )
