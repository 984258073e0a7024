"""REST fault injection, switched on and off while the simulator runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_rest_429_and_503_faults_then_recovery(simulator: Any) -> None:
    url = simulator.base_url + "/markets"
    with httpx.Client(timeout=30, trust_env=False) as http:
        try:
            simulator.set_faults(rest_429_rate=1.0)
            response = http.get(url, params={"limit": 1})
            assert response.status_code == 429
            assert response.json() == {"error": "too many requests"}

            simulator.set_faults(rest_429_rate=0.0, rest_503_rate=1.0)
            response = http.get(url, params={"limit": 1})
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "service_unavailable"

            simulator.set_faults(rest_503_rate=0.5)
            statuses = [http.get(url, params={"limit": 1}).status_code for _ in range(60)]
            assert set(statuses) == {200, 503}
        finally:
            simulator.set_faults()
        assert http.get(url, params={"limit": 1}).status_code == 200
        # Admin endpoints are never faulted, and bad settings are refused.
        bad = http.post(simulator.admin_url + "/faults", json={"rest_429_rate": 3})
        assert bad.status_code == 400
        bad = http.post(simulator.admin_url + "/faults", json={"no_such_fault": 1})
        assert bad.status_code == 400
