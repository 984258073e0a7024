"""The local gateway spreads ``/api/v1/stream`` across the split streamer's fan-outs."""

from __future__ import annotations

from devstack.gateway import _Spread, match_route


def test_a_route_naming_several_upstreams_is_served_round_robin() -> None:
    routes = {"/api/v1/stream": "http://127.0.0.1:1,http://127.0.0.1:2", "/api/v1/x": "http://h"}
    matched = match_route("/api/v1/stream", routes)
    assert matched is not None
    spread = _Spread()
    picks = [spread.pick(matched[1]) for _ in range(4)]
    assert picks == ["http://127.0.0.1:1", "http://127.0.0.1:2"] * 2
    assert spread.pick("http://h") == "http://h"  # one upstream: as before
