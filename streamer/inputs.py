"""What the streamer consumes from Pub/Sub, and what it does with each message.

Three topics reach the single-instance streamer through pull subscriptions of its own:

- ``market-snapshots`` (the poller's latest prices, :mod:`shared.marketdata.snapshot_messages`):
  quotes for the tracker (holders revalued) and ``market_update`` for the clients asking for
  or holding a market;
- ``backtest-events`` (progress, completion, failure of a run): ``backtest_progress`` to the
  run's owner only (from the payload's ``owner_id`` when the worker sends it, else looked up
  once per run in ``backtest_runs``); a run with no owner goes to nobody;
- ``account-events`` (:mod:`shared.account.events`): ``connected`` starts the account's
  upstream, ``disconnected`` stops it and ends the user's streams.

Every handler tolerates redelivery and reordering: quotes are idempotent, progress is a
level not a delta, and account events older than the last one applied per user are ignored.
A message that does not decode is logged and acknowledged (redelivering it cannot help).

:class:`PullConsumer` pulls in a worker thread (the Pub/Sub client is synchronous) and runs
the handler on the event loop, acknowledging after it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from shared.account.events import decode_account_event
from shared.marketdata.snapshot_messages import decode_snapshot_batch
from shared.messaging.envelope import Envelope, InvalidMessage, decode
from streamer.fanout import FanOut
from streamer.tracker import PositionTracker

__all__ = [
    "AccountLifecycle",
    "BacktestRelay",
    "MarketRelay",
    "PullConsumer",
    "RunOwners",
]

log = logging.getLogger(__name__)


def _text(value: Any) -> str | None:
    return None if value is None else format(value, "f")


class MarketRelay:
    """``market-snapshots`` -> tracker quotes (optional) and ``market_update`` events."""

    def __init__(self, fanout: FanOut | None, tracker: PositionTracker | None) -> None:
        self._fanout = fanout
        self._tracker = tracker

    async def handle(self, envelope: Envelope) -> None:
        batch = decode_snapshot_batch(envelope)
        entries = []
        for item in batch.markets:
            if self._tracker is not None:
                self._tracker.on_quote(
                    item.ticker, item.yes_bid_dollars, item.yes_ask_dollars, item.last_price_dollars
                )
            entries.append(
                {
                    "ticker": item.ticker,
                    "yes_bid_dollars": _text(item.yes_bid_dollars),
                    "yes_ask_dollars": _text(item.yes_ask_dollars),
                    "last_price_dollars": _text(item.last_price_dollars),
                    "volume_fp": _text(item.volume_fp),
                    "open_interest_fp": _text(item.open_interest_fp),
                    "ts": batch.ts.isoformat(),
                }
            )
        if self._fanout is not None:
            self._fanout.relay_markets(entries)


class RunOwners(Protocol):
    """Who started a backtest run (None: nobody may see its progress)."""

    async def owner_of(self, run_id: uuid.UUID) -> uuid.UUID | None: ...


_BACKTEST_TYPES = {"backtest.progress", "backtest.completed", "backtest.failed"}


class BacktestRelay:
    """``backtest-events`` -> ``backtest_progress`` for the run's owner only."""

    def __init__(self, fanout: FanOut, owners: RunOwners) -> None:
        self._fanout = fanout
        self._owners = owners
        self._known: dict[uuid.UUID, uuid.UUID | None] = {}

    async def handle(self, envelope: Envelope) -> None:
        if envelope.type not in _BACKTEST_TYPES:
            return
        payload = envelope.payload
        try:
            run_id = uuid.UUID(str(payload.get("run_id")))
        except ValueError:
            raise InvalidMessage("backtest event run_id must be a UUID") from None
        owner = await self._owner(run_id, payload)
        if owner is None:
            return
        data = {
            "run_id": str(run_id),
            "status": payload.get("status"),
            "progress": payload.get("progress"),
            "stage": payload.get("stage"),
        }
        if "error" in payload:
            data["error"] = payload["error"]
        self._fanout.relay_to_user(owner, "backtest_progress", data)

    async def _owner(self, run_id: uuid.UUID, payload: Mapping[str, Any]) -> uuid.UUID | None:
        given = payload.get("owner_id")
        if isinstance(given, str):
            try:
                return uuid.UUID(given)
            except ValueError:
                return None
        if run_id not in self._known:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[run_id] = await self._owners.owner_of(run_id)
        return self._known[run_id]


class AccountLifecycle:
    """``account-events`` -> start or stop an account's upstream, in event order per user."""

    def __init__(
        self,
        start: Callable[[uuid.UUID], None],
        stop: Callable[[uuid.UUID], Awaitable[None]],
    ) -> None:
        self._start = start
        self._stop = stop
        self._latest: dict[uuid.UUID, datetime] = {}

    async def handle(self, envelope: Envelope) -> None:
        event = decode_account_event(envelope)
        last = self._latest.get(event.user_id)
        if last is not None and event.occurred_at <= last:
            return  # a redelivery or an older event than the one applied
        self._latest[event.user_id] = event.occurred_at
        if event.status == "connected":
            self._start(event.user_id)
        else:
            await self._stop(event.user_id)


class PullConsumer:
    """Pulls one subscription forever; each message's handler runs on the event loop."""

    def __init__(
        self,
        subscription_path: str,
        handler: Callable[[Envelope], Awaitable[None]],
        *,
        client: Any = None,
        max_messages: int = 100,
        pull_timeout_s: float = 5.0,
    ) -> None:
        self.subscription_path = subscription_path
        self._handler = handler
        self._client = client
        self._max = max_messages
        self._timeout = pull_timeout_s
        self.handled = 0

    def _subscriber(self) -> Any:
        if self._client is None:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]

            self._client = pubsub_v1.SubscriberClient()
        return self._client

    def _pull(self) -> list[Any]:
        from google.api_core import exceptions

        try:
            response = self._subscriber().pull(
                request={"subscription": self.subscription_path, "max_messages": self._max},
                timeout=self._timeout,
            )
        except exceptions.DeadlineExceeded:
            return []
        return list(response.received_messages)

    async def run(self) -> None:
        while True:
            try:
                received = await asyncio.to_thread(self._pull)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("pull from %s failed: %s", self.subscription_path, exc)
                await asyncio.sleep(1.0)
                continue
            ack_ids = []
            for item in received:
                await self._handle_one(item.message.data)
                ack_ids.append(item.ack_id)
            if ack_ids:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(
                        self._subscriber().acknowledge,
                        request={"subscription": self.subscription_path, "ack_ids": ack_ids},
                    )

    async def _handle_one(self, data: bytes) -> None:
        try:
            await self._handler(decode(data))
            self.handled += 1
        except InvalidMessage as exc:
            log.warning("dropping a message on %s: %s", self.subscription_path, exc)
        except Exception:
            log.exception("handling a message on %s failed", self.subscription_path)
