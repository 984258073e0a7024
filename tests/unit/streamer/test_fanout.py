"""The fan-out: SSE bytes, resume, coalescing, filtering, isolation, heartbeats, shutdown."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from shared.streaming.events import StreamEvent
from shared.streaming.sse import SseFormatError, comment, encode_event, retry
from streamer.fanout import Client, FanOut, FanOutSettings

T = TypeVar("T")
ALICE = uuid.UUID("00000000-0000-0000-0000-00000000000a")
BOB = uuid.UUID("00000000-0000-0000-0000-00000000000b")
EPOCH = 1_764_000_000_000


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Source:
    """A snapshot source standing in for the tracker: one state per user, numbered."""

    def __init__(self) -> None:
        self.calls = 0
        self.seq: dict[uuid.UUID, int] = {}
        self.positions: dict[uuid.UUID, list[dict[str, Any]]] = {}

    async def snapshot(self, user_id: uuid.UUID) -> StreamEvent | None:
        self.calls += 1
        return StreamEvent(
            user_id,
            EPOCH,
            self.seq.get(user_id, 0),
            "snapshot",
            {"positions": self.positions.get(user_id, []), "portfolio": {"total": "0"}},
        )


def position(user: uuid.UUID, seq: int, ticker: str, contracts: str = "1.00") -> StreamEvent:
    return StreamEvent(
        user, EPOCH, seq, "position_update", {"ticker": ticker, "contracts": contracts}
    )


def parse(raw: bytes) -> list[dict[str, str]]:
    """Split SSE bytes into events (comments as {"comment": ...})."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        event: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            if line.startswith(":"):
                event["comment"] = line[1:].strip()
            else:
                event[name] = value
        events.append(event)
    return events


async def take(fan: FanOut, client: Client, timeout: float = 0.2) -> bytes:
    """Whatever the client's stream yields within ``timeout`` (no heartbeat at 15 s)."""
    out = bytearray()
    gen = fan.frames(client)

    async def pump() -> None:
        async for chunk in gen:
            out.extend(chunk)

    task = asyncio.ensure_future(pump())
    await asyncio.sleep(timeout)
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return bytes(out)


# ---- the wire format -------------------------------------------------------------------


def test_event_bytes_are_exact() -> None:
    assert encode_event("position_update", '{"a":1}', "5-7") == (
        b'id: 5-7\nevent: position_update\ndata: {"a":1}\n\n'
    )
    assert encode_event("fill", "x") == b"event: fill\ndata: x\n\n"
    assert encode_event("e", "a\nb\r\nc") == b"event: e\ndata: a\ndata: b\ndata: c\n\n"
    assert comment("heartbeat") == b": heartbeat\n\n"
    assert retry(1000) == b"retry: 1000\n\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_ids_and_names_with_line_breaks_are_refused(bad: str) -> None:
    with pytest.raises(SseFormatError):
        encode_event("x", "{}", bad)
    with pytest.raises(SseFormatError):
        encode_event(bad, "{}")


def test_a_first_connection_gets_a_snapshot_with_the_current_id() -> None:
    async def scenario() -> bytes:
        source = Source()
        source.seq[ALICE] = 4
        source.positions[ALICE] = [{"ticker": "T1", "contracts": "2.00"}]
        fan = FanOut(source)
        client = await fan.connect(ALICE)
        return await take(fan, client)

    assert run(scenario()) == (
        b"id: 1764000000000-4\nevent: snapshot\n"
        b'data: {"positions":[{"ticker":"T1","contracts":"2.00"}],'
        b'"portfolio":{"total":"0"},"connection":null}\n\n'
    )


# ---- resume ----------------------------------------------------------------------------


def test_resume_replays_only_what_was_missed() -> None:
    async def scenario() -> list[dict[str, str]]:
        fan = FanOut(Source())
        first = await fan.connect(ALICE)
        for seq in range(1, 6):
            fan.publish(position(ALICE, seq, f"T{seq}"))
        fan.disconnect(first)
        again = await fan.connect(ALICE, last_event_id=f"{EPOCH}-3")
        return parse(await take(fan, again))

    events = run(scenario())
    assert [(e["id"], e["event"]) for e in events] == [
        (f"{EPOCH}-4", "position_update"),
        (f"{EPOCH}-5", "position_update"),
    ]


@pytest.mark.parametrize(
    "last_id",
    ["1-3", f"{EPOCH}-99", "garbage", f"{EPOCH}-1"],
    ids=["other tracker run", "from the future", "not ours", "older than the buffer"],
)
def test_resume_falls_back_to_a_fresh_snapshot(last_id: str) -> None:
    async def scenario() -> list[dict[str, str]]:
        fan = FanOut(Source(), FanOutSettings(replay_events=2))
        await fan.connect(ALICE)
        for seq in range(1, 6):
            fan.publish(position(ALICE, seq, "T1", f"{seq}.00"))
        again = await fan.connect(ALICE, last_event_id=last_id)
        return parse(await take(fan, again))

    events = run(scenario())
    assert [e["event"] for e in events] == ["snapshot"]
    assert events[0]["id"] == f"{EPOCH}-5"
    assert json.loads(events[0]["data"])["positions"] == [{"ticker": "T1", "contracts": "5.00"}]


def test_resume_at_the_last_id_sends_nothing_old() -> None:
    async def scenario() -> bytes:
        fan = FanOut(Source())
        await fan.connect(ALICE)
        fan.publish(position(ALICE, 1, "T1"))
        again = await fan.connect(ALICE, last_event_id=f"{EPOCH}-1")
        return await take(fan, again)

    assert run(scenario()) == b""


def test_duplicates_change_nothing_and_a_gap_reloads_the_state() -> None:
    async def scenario() -> tuple[list[dict[str, str]], int]:
        source = Source()
        fan = FanOut(source)
        client = await fan.connect(ALICE)
        fan.publish(position(ALICE, 1, "T1"))
        fan.publish(position(ALICE, 1, "T1", "9.00"))  # redelivery
        source.seq[ALICE] = 7
        source.positions[ALICE] = [{"ticker": "T1", "contracts": "7.00"}]
        fan.publish(position(ALICE, 7, "T1", "7.00"))  # 2-6 lost
        return parse(await take(fan, client)), source.calls

    events, calls = run(scenario())
    assert [e["event"] for e in events] == ["snapshot", "position_update", "snapshot"]
    assert json.loads(events[1]["data"])["contracts"] == "1.00"
    assert events[2]["id"] == f"{EPOCH}-7"
    assert calls == 2


# ---- slow clients ----------------------------------------------------------------------


def test_a_slow_client_gets_one_coalesced_snapshot_and_others_everything() -> None:
    async def scenario() -> tuple[list[dict[str, str]], list[dict[str, str]], Client]:
        fan = FanOut(Source(), FanOutSettings(client_queue=4))
        slow = await fan.connect(ALICE)
        fast = await fan.connect(ALICE)
        fast_out = bytearray()

        async def read_fast() -> None:
            async for chunk in fan.frames(fast):
                fast_out.extend(chunk)

        reader = asyncio.ensure_future(read_fast())
        for seq in range(1, 51):
            fan.publish(position(ALICE, seq, f"T{seq % 3}", f"{seq}.00"))
            await asyncio.sleep(0)  # the fast reader keeps up
        assert slow.queued <= 4
        slow_events = parse(await take(fan, slow))
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        return slow_events, parse(bytes(fast_out)), slow

    slow_events, fast_events, slow = run(scenario())
    assert slow.coalesced == 1
    snapshots = [e for e in slow_events if e["event"] == "snapshot"]
    assert len(snapshots) == 1 and snapshots[0]["id"] == f"{EPOCH}-50"
    assert json.loads(snapshots[0]["data"])["coalesced"] is True
    held = {p["ticker"]: p["contracts"] for p in json.loads(snapshots[0]["data"])["positions"]}
    assert held == {"T0": "48.00", "T1": "49.00", "T2": "50.00"}
    assert [e["id"] for e in fast_events[1:]] == [f"{EPOCH}-{n}" for n in range(1, 51)]


# ---- filtering and isolation -----------------------------------------------------------


def test_market_updates_go_to_clients_asking_for_or_holding_the_market() -> None:
    async def scenario() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        fan = FanOut(Source())
        alice = await fan.connect(ALICE, markets=["ASKED"])
        bob = await fan.connect(BOB)
        fan.publish(position(ALICE, 1, "HELD"))
        sent = fan.relay_markets(
            [{"ticker": t, "yes_bid_dollars": "0.4100"} for t in ("ASKED", "HELD", "OTHER")]
        )
        assert sent == 2
        return parse(await take(fan, alice)), parse(await take(fan, bob))

    alice_events, bob_events = run(scenario())
    updates = [e for e in alice_events if e["event"] == "market_update"]
    assert [e["id"] for e in updates] == [f"{EPOCH}-1-1", f"{EPOCH}-1-2"]
    assert [json.loads(e["data"])["ticker"] for e in updates] == ["ASKED", "HELD"]
    assert json.loads(updates[0]["data"])["yes_bid_dollars"] == "0.4100"
    assert [e["event"] for e in bob_events] == ["snapshot"]


def test_a_users_events_and_backtests_never_reach_another_user() -> None:
    async def scenario() -> tuple[bytes, bytes]:
        fan = FanOut(Source())
        alice = await fan.connect(ALICE)
        bob = await fan.connect(BOB)
        fan.publish(position(ALICE, 1, "SECRET"))
        fan.relay_to_user(ALICE, "backtest_progress", {"run_id": "r1", "progress": 0.5})
        return await take(fan, alice), await take(fan, bob)

    alice_raw, bob_raw = run(scenario())
    assert b"SECRET" in alice_raw and b"backtest_progress" in alice_raw
    assert b"SECRET" not in bob_raw and b"backtest_progress" not in bob_raw


def test_an_error_event_closes_every_stream_of_that_user() -> None:
    async def scenario() -> tuple[list[dict[str, str]], bool]:
        fan = FanOut(Source())
        alice = await fan.connect(ALICE)
        bob = await fan.connect(BOB)
        fan.publish(StreamEvent(ALICE, EPOCH, 1, "error", {"error": "kalshi_key_revoked"}))
        events = parse(await take(fan, alice))
        return events, bob.closed

    events, bob_closed = run(scenario())
    assert events[-1]["event"] == "error" and "kalshi_key_revoked" in events[-1]["data"]
    assert not bob_closed


# ---- timers and the end ----------------------------------------------------------------


def test_a_quiet_stream_gets_heartbeats() -> None:
    async def scenario() -> list[dict[str, str]]:
        fan = FanOut(Source(), FanOutSettings(heartbeat_s=0.05))
        client = await fan.connect(ALICE)
        return parse(await take(fan, client, timeout=0.18))

    events = run(scenario())
    assert events[0]["event"] == "snapshot"
    assert [e.get("comment") for e in events[1:]] == ["heartbeat"] * (len(events) - 1)
    assert len(events) >= 3


def test_an_expired_session_gets_an_error_and_the_stream_ends() -> None:
    now = [1000.0]

    async def scenario() -> list[dict[str, str]]:
        fan = FanOut(Source(), clock=lambda: now[0])
        client = await fan.connect(ALICE, expires_at=1000.05)
        now[0] = 1001.0
        return parse(await take(fan, client))

    events = run(scenario())
    assert [e["event"] for e in events] == ["snapshot", "error"]
    assert json.loads(events[1]["data"])["error"] == "session_expired"


def test_shutdown_tells_every_stream_to_retry_and_ends_it() -> None:
    async def scenario() -> tuple[bytes, bool]:
        fan = FanOut(Source(), FanOutSettings(shutdown_retry_ms=250))
        client = await fan.connect(ALICE)

        async def later() -> None:
            await asyncio.sleep(0.02)
            fan.shutdown()

        stopper = asyncio.ensure_future(later())
        raw = await take(fan, client, timeout=0.5)
        await stopper
        return raw, fan.client_count() == 0

    raw, empty = run(scenario())
    assert raw.endswith(b"\n\nretry: 250\n\n")
    assert empty


# ---- split mode ------------------------------------------------------------------------


class CacheSource:
    """A source like the split fan-out's position_cache reader: no tracker id (epoch 0)."""

    async def snapshot(self, user_id: uuid.UUID) -> StreamEvent | None:
        return StreamEvent(
            user_id, 0, 0, "snapshot", {"positions": [{"ticker": "T1", "contracts": "1.00"}]}
        )


def test_a_cache_built_state_adopts_the_trackers_ids_and_periodic_snapshots_are_quiet() -> None:
    async def scenario() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        fan = FanOut(CacheSource())
        client = await fan.connect(ALICE)
        fan.publish(position(ALICE, 41, "T2"))  # the tracker is far along: build on the cache
        fan.publish(StreamEvent(ALICE, EPOCH, 42, "snapshot", {"positions": [{"ticker": "T2"}]}))
        fan.publish(position(ALICE, 43, "T3"))
        resumed = await fan.connect(ALICE, last_event_id=f"{EPOCH}-41")
        return parse(await take(fan, client)), parse(await take(fan, resumed))

    live, resumed = run(scenario())
    assert [(e["event"], e.get("id")) for e in live] == [
        ("snapshot", "0-0"),
        ("position_update", f"{EPOCH}-41"),
        ("position_update", f"{EPOCH}-43"),
    ]
    assert [e["event"] for e in resumed] == ["snapshot", "position_update"]
    assert json.loads(resumed[0]["data"])["positions"] == [{"ticker": "T2"}]


def test_the_replay_buffer_forgets_events_older_than_its_age_bound() -> None:
    now = [100.0]

    async def scenario() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        fan = FanOut(Source(), FanOutSettings(replay_max_age_s=60), monotonic=lambda: now[0])
        await fan.connect(ALICE)
        fan.publish(position(ALICE, 1, "T1"))
        now[0] += 61
        fan.publish(position(ALICE, 2, "T2"))
        too_old = await fan.connect(ALICE, last_event_id=f"{EPOCH}-0")
        recent = await fan.connect(ALICE, last_event_id=f"{EPOCH}-1")
        return parse(await take(fan, too_old)), parse(await take(fan, recent))

    too_old, recent = run(scenario())
    assert [e["event"] for e in too_old] == ["snapshot"]
    assert [(e["event"], e["id"]) for e in recent] == [("position_update", f"{EPOCH}-2")]


def test_books_go_only_to_the_streams_that_opened_the_market_and_feeds_follow_them() -> None:
    wanted: list[tuple[uuid.UUID, frozenset[str]]] = []

    async def scenario() -> tuple[list[dict[str, str]], list[dict[str, str]], int]:
        fan = FanOut(Source())
        fan.on_markets = lambda user, markets: wanted.append((user, markets))
        page = await fan.connect(ALICE, markets=["M1", "M2"])
        plain = await fan.connect(ALICE)
        other = await fan.connect(BOB, markets=["M1"])
        sent = fan.relay_book(ALICE, "M1", {"ticker": "M1", "orderbook_fp": {}})
        sent += fan.relay_book(ALICE, "M9", {"ticker": "M9", "orderbook_fp": {}})
        page_events, plain_events = parse(await take(fan, page)), parse(await take(fan, plain))
        other_events = parse(await take(fan, other))
        assert [e["event"] for e in other_events] == ["snapshot"]
        return page_events, plain_events, sent

    page_events, plain_events, sent = run(scenario())
    assert sent == 1
    assert [e["event"] for e in page_events] == ["snapshot", "orderbook"]
    assert json.loads(page_events[1]["data"])["ticker"] == "M1"
    assert [e["event"] for e in plain_events] == ["snapshot"]
    # Told on connect, and again as each stream with markets ends (take() ends them).
    assert wanted[:2] == [(ALICE, frozenset({"M1", "M2"})), (BOB, frozenset({"M1"}))]
    assert (ALICE, frozenset()) in wanted and (BOB, frozenset()) in wanted
