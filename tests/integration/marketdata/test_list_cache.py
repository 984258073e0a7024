"""The market list's per-poll page cache (ADR 0215) against real Postgres: a page is
rendered once per poll, a new poll serves fresh data, conditional requests still get 304,
and ``list_revalidate_seconds=0`` turns the cache off."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.test import EnvironBuilder

from shared.api.routing import handle
from shared.marketdata.http_api import MarketsApi, build_router, unexpected_error

pytestmark = pytest.mark.integration


class CountingEngine:
    """The real engine, counting the list queries that reach Postgres."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.list_queries = 0
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM market_latest" in statement and "LIMIT" in statement:
            self.list_queries += 1


def _seed(engine: sa.Engine) -> None:
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO markets (ticker, event_ticker, status) VALUES "
                "('KXC-1', 'KXC', 'active'), ('KXC-2', 'KXC', 'active')"
            )
        )
        c.execute(
            sa.text(
                "INSERT INTO market_latest (ticker, ts, sequence, status, volume_fp) VALUES "
                "('KXC-1', now(), 1, 'active', 10), ('KXC-2', now(), 1, 'active', 5)"
            )
        )
        c.execute(
            sa.text(
                "INSERT INTO market_polls (message_id, polled_at, market_count) "
                "VALUES ('p1', now(), 2)"
            )
        )


def _get(router: Any, headers: dict[str, str] | None = None) -> Any:
    request = EnvironBuilder(path="/api/v1/markets", headers=headers or {}).get_request()
    return handle(router, request, on_unexpected=unexpected_error)


def _volumes(response: Any) -> list[str]:
    return [m["volume_fp"] for m in json.loads(response.body)["markets"]]


def test_a_page_is_rendered_once_per_poll(engine: sa.Engine) -> None:
    _seed(engine)
    counting = CountingEngine(engine)
    router = build_router(
        MarketsApi(lambda: engine, lambda: None, list_revalidate_seconds=0.001)  # type: ignore[arg-type,return-value]
    )
    first = _get(router)
    assert first.status == 200
    for _ in range(5):
        again = _get(router)
        assert again.body == first.body
    assert counting.list_queries == 1

    # Between polls a change in the table is not seen; the next poll's id shows it.
    with engine.begin() as c:
        c.execute(sa.text("UPDATE market_latest SET volume_fp = 99 WHERE ticker = 'KXC-2'"))
    assert _volumes(_get(router)) == _volumes(first)
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO market_polls (message_id, polled_at, market_count) "
                "VALUES ('p2', now(), 2)"
            )
        )
    time.sleep(0.01)
    fresh = _get(router)
    assert _volumes(fresh) == ["99.00", "10.00"]
    assert counting.list_queries == 2

    # The cached page keeps its ETag: a client holding it gets a bodiless 304.
    tag = fresh.headers["ETag"]
    not_modified = _get(router, {"If-None-Match": tag})
    assert not_modified.status == 304 and not_modified.body == b""
    assert counting.list_queries == 2


def test_revalidate_zero_turns_the_cache_off(engine: sa.Engine) -> None:
    _seed(engine)
    counting = CountingEngine(engine)
    router = build_router(
        MarketsApi(lambda: engine, lambda: None, list_revalidate_seconds=0)  # type: ignore[arg-type,return-value]
    )
    for _ in range(3):
        assert _get(router).status == 200
    assert counting.list_queries == 3


class SlowEngine:
    """The real engine whose connections open slowly, so concurrent misses overlap."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def connect(self) -> Any:
        time.sleep(0.2)
        return self.engine.connect()


def test_concurrent_misses_render_a_page_once(engine: sa.Engine) -> None:
    import threading

    _seed(engine)
    counting = CountingEngine(engine)
    slow = SlowEngine(engine)
    router = build_router(
        MarketsApi(lambda: slow, lambda: None, list_revalidate_seconds=60)  # type: ignore[arg-type,return-value]
    )
    barrier = threading.Barrier(8)
    bodies: list[bytes] = []

    def client() -> None:
        barrier.wait()
        bodies.append(_get(router).body)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(bodies) == 8 and len(set(bodies)) == 1
    assert counting.list_queries == 1
