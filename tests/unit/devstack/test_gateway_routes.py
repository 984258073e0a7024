from __future__ import annotations

import pytest

from devstack.gateway import match_route

ROUTES = {
    "/api/v1/markets": "http://127.0.0.1:1001",
    "/api/v1/markets/history": "http://127.0.0.1:1002",
    "/api/v1/stream": "http://127.0.0.1:1003",
}


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/api/v1/markets", "http://127.0.0.1:1001"),
        ("/api/v1/markets/KXBTC-1", "http://127.0.0.1:1001"),
        ("/api/v1/markets/history", "http://127.0.0.1:1002"),
        ("/api/v1/markets/history/x", "http://127.0.0.1:1002"),
        ("/api/v1/stream", "http://127.0.0.1:1003"),
    ],
)
def test_longest_whole_segment_prefix_wins(path: str, upstream: str) -> None:
    matched = match_route(path, ROUTES)
    assert matched is not None and matched[1] == upstream


@pytest.mark.parametrize("path", ["/api/v1/marketsX", "/api/v1", "/", "/index.html"])
def test_no_partial_segment_matches(path: str) -> None:
    assert match_route(path, ROUTES) is None


def test_root_route_catches_pages_but_never_api_paths() -> None:
    routes = {**ROUTES, "/": "http://127.0.0.1:5173"}
    assert match_route("/backtests/7", routes) == ("/", "http://127.0.0.1:5173")
    assert match_route("/api/v1/unknown", routes) is None
    assert match_route("/api/v1/stream", routes) == ("/api/v1/stream", "http://127.0.0.1:1003")
