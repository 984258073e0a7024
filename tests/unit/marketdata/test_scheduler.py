from datetime import UTC, datetime

import pytest

from devstack.scheduler import PollScheduler, parse_interval, tick_envelope
from shared.marketdata.poller import POLL_TRIGGER_TYPE


def test_parse_interval():
    assert parse_interval("5s") == 5
    assert parse_interval("1m") == 60
    assert parse_interval("2h") == 7200
    assert parse_interval("30") == 30
    assert parse_interval("500ms") == 0.5
    for bad in ("", "fast", "1d", "100ms", "-5s"):
        with pytest.raises(ValueError):
            parse_interval(bad)


def test_ticks_align_to_the_interval_and_name_the_tick():
    scheduler = PollScheduler("p", 60, publish=lambda e: None)
    assert scheduler.next_tick(120.0) == 180.0
    assert scheduler.next_tick(179.9) == 180.0
    envelope = tick_envelope(datetime(2026, 6, 11, 5, 0, tzinfo=UTC))
    assert envelope.type == POLL_TRIGGER_TYPE and envelope.version == 1
    assert envelope.idempotency_key == "poll-trigger@2026-06-11T05:00:00.000Z"


def test_scheduler_publishes_each_tick_and_skips_missed_ones():
    published = []
    now = [1000.0]
    scheduler = PollScheduler("p", 10, publish=published.append, clock=lambda: now[0])
    scheduler.fire(1000.0)
    assert [e.idempotency_key for e in published] == ["poll-trigger@1970-01-01T00:16:40.000Z"]
    failing = PollScheduler("p", 10, publish=lambda e: 1 / 0)
    failing.fire(0.0)  # a failed publish is counted, not raised
    assert failing.failures == 1 and "ZeroDivisionError" in failing.last_error


def test_scheduler_thread_ticks_until_stopped():
    published = []
    scheduler = PollScheduler("p", 0.5, publish=published.append).start(fire_now=True)
    try:
        import time

        deadline = time.monotonic() + 5
        while len(published) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.stop()
    assert len(published) >= 3
    keys = [e.idempotency_key for e in published]
    assert len(set(keys)) == len(keys)
