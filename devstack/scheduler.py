"""A local stand-in for Cloud Scheduler: publish ``poll-trigger`` on a fixed schedule.

Cloud Scheduler has no emulator. In the cloud a job publishes to ``poll-trigger`` every
minute; locally a thread of ``kalshi-insights up`` does the same on the Pub/Sub emulator,
on ticks aligned to the interval (``--poll-every 5s`` for a lively demo, ``1m`` default).

Each tick publishes one envelope of type ``poll_markets.trigger`` whose idempotency key
names the tick (``poll-trigger@2026-11-21T05:00:00Z``), so a tick published twice is
recognisably the same tick. A tick the thread slept through (the laptop was suspended)
is skipped, as Cloud Scheduler skips missed runs, rather than published late in a burst.

:class:`DailyJob` stands in for an HTTP Cloud Scheduler job that runs once a day at a
wall-clock time in a time zone (the account function's day-boundary baselines at midnight
America/New_York, ``infra/modules/platform/main.tf``; with ``up --backfill-daily`` also the
backfill function's job at 07:00 UTC, ``devstack/services/backfill.py``): it POSTs
``{"day": "YYYY-MM-DD"}`` to a URL, the day being the one that just began in that zone.
DST is the zone's business (:mod:`zoneinfo`): the job runs at local midnight, 23 or 25
hours apart on change days.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["DailyJob", "PollScheduler", "next_local_time", "parse_interval", "tick_envelope"]

log = logging.getLogger("devstack.scheduler")

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_interval(text: str) -> float:
    """``"5s"``, ``"1m"``, ``"2h"``, ``"500ms"`` or plain seconds (``"30"``) -> seconds."""
    match = _INTERVAL.match(text)
    if match is None:
        raise ValueError(f"not an interval: {text!r} (use e.g. 5s, 1m, 2h)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0.5:
        raise ValueError(f"interval {text!r} is shorter than half a second")
    return seconds


def tick_envelope(tick: datetime) -> Any:
    """The ``poll-trigger`` message for the schedule tick at ``tick``."""
    from shared.marketdata.poller import POLL_TRIGGER_TYPE
    from shared.messaging.envelope import Envelope

    stamp = tick.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Envelope(
        type=POLL_TRIGGER_TYPE,
        version=1,
        idempotency_key=f"poll-trigger@{stamp}",
        emitted_at=tick,
        payload={"scheduled_for": stamp},
    )


class PollScheduler:
    """Publishes one trigger per tick from a daemon thread until :meth:`stop`."""

    def __init__(
        self,
        project: str,
        interval_seconds: float,
        *,
        publish: Callable[[Any], object] | None = None,
        topic: str = "poll-trigger",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.project = project
        self.interval = interval_seconds
        self.topic = topic
        self._clock = clock
        self._publish = publish
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0
        self.failures = 0
        self.last_error: str | None = None

    def _publisher(self) -> Callable[[Any], object]:
        if self._publish is None:
            from shared.messaging.pubsub import Publisher

            publisher = Publisher(self.project)
            self._publish = lambda envelope: publisher.publish(self.topic, envelope)
        return self._publish

    def next_tick(self, now: float) -> float:
        """The first interval boundary strictly after ``now`` (Unix seconds)."""
        return (math.floor(now / self.interval) + 1) * self.interval

    def fire(self, tick: float) -> None:
        """Publish the trigger of ``tick``; errors are logged, the schedule goes on."""
        try:
            self._publisher()(tick_envelope(datetime.fromtimestamp(tick, UTC)))
            self.published += 1
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("could not publish poll trigger: %s", self.last_error)

    def _run(self) -> None:
        tick = self.next_tick(self._clock())
        while not self._stop.is_set():
            if self._stop.wait(max(0.0, tick - self._clock())):
                return
            late = self._clock() - tick
            if late <= self.interval:
                self.fire(tick)
            else:  # slept through ticks: skip them, like Cloud Scheduler
                log.info("skipped %d missed poll ticks", int(late // self.interval))
            tick = self.next_tick(self._clock())

    def start(self, fire_now: bool = False) -> PollScheduler:
        """Start ticking; ``fire_now`` also publishes at once (so data shows up sooner)."""
        if fire_now:
            self.fire(self._clock())
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="poll-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


TRADING_ZONE = ZoneInfo("America/New_York")
"""Kalshi's trading day turns at midnight Eastern time."""


def next_local_time(now: datetime, at: wall_time, zone: ZoneInfo) -> datetime:
    """The first instant strictly after ``now`` whose wall clock in ``zone`` reads ``at``."""
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    while candidate <= local:
        candidate = datetime.combine(candidate.date() + timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(UTC)


class DailyJob:
    """POSTs ``{"day": ...}`` to ``url`` every day at ``at`` in ``zone``, from a daemon thread.

    A run the thread slept through (a suspended laptop) is made on waking if it is less than
    an hour late, else skipped; the receiver is idempotent per day anyway.
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        at: wall_time = wall_time(0, 0),
        zone: ZoneInfo = TRADING_ZONE,
        post: Callable[[str, dict[str, str]], object] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.url = url
        self.at = at
        self.zone = zone
        self._post = post or _post_json
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.failures = 0
        self.last_error: str | None = None

    def describe(self) -> str:
        return f"{self.at.strftime('%H:%M')} {self.zone.key}"

    def fire(self, scheduled: datetime) -> None:
        """Run the job for the day that begins at ``scheduled``; errors are logged."""
        day = scheduled.astimezone(self.zone).date().isoformat()
        try:
            self._post(self.url, {"day": day})
            self.runs += 1
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("daily job %s for %s failed: %s", self.name, day, self.last_error)

    def _run(self) -> None:
        due = next_local_time(self._clock(), self.at, self.zone)
        while not self._stop.is_set():
            wait = (due - self._clock()).total_seconds()
            # Wake at least once a minute: a suspended laptop's clock jumps.
            if wait > 0 and self._stop.wait(min(wait, 60.0)):
                return
            if self._clock() < due:
                continue
            if self._clock() - due <= timedelta(hours=1):
                self.fire(due)
            else:
                log.info("daily job %s skipped its run due at %s", self.name, due.isoformat())
            due = next_local_time(self._clock(), self.at, self.zone)

    def start(self) -> DailyJob:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"job-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def _post_json(url: str, body: dict[str, str]) -> object:
    import httpx

    response = httpx.post(url, json=body, timeout=120.0)
    response.raise_for_status()
    return response.json() if response.content else None
