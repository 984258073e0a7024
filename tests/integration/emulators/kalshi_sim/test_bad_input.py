"""Bad requests get Kalshi's status codes and exact error bodies (the recorded ones)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.kalshi.signing import HEADER_SIGNATURE, KalshiSigner, generate_private_key_pem

pytestmark = pytest.mark.integration

RECORDED = Path(__file__).resolve().parents[3] / "fixtures" / "kalshi_recorded"
BALANCE = "/trade-api/v2/portfolio/balance"


def recorded(name: str) -> tuple[int, Any]:
    meta = json.loads((RECORDED / f"{name}.meta.json").read_text())
    return meta["status"], json.loads((RECORDED / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def http() -> Any:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


def balance(http: httpx.Client, simulator: Any, headers: dict[str, str]) -> httpx.Response:
    return http.get(simulator.origin + BALANCE, headers=headers)


def test_good_signature_and_small_skews_pass(http: Any, simulator: Any, sim_account: Any) -> None:
    now = int(time.time() * 1000)
    for skew_ms in (0, -5_000, 5_000):
        response = balance(
            http, simulator, sim_account.signer.headers("GET", BALANCE, now_ms=now + skew_ms)
        )
        assert response.status_code == 200, (skew_ms, response.text)
        assert response.json()["balance"] == 100_000


def test_auth_failures_match_the_recordings(http: Any, simulator: Any, sim_account: Any) -> None:
    signer = sim_account.signer
    now = int(time.time() * 1000)

    wrong_message = signer.headers("GET", "/trade-api/v2/portfolio/positions")
    cases: list[tuple[str, dict[str, str]]] = [("auth__bad_signature", wrong_message)]

    missing = signer.headers("GET", BALANCE)
    del missing[HEADER_SIGNATURE]
    cases.append(("auth__missing_signature_header", missing))

    cases.append(("auth__skew_minus30s", signer.headers("GET", BALANCE, now_ms=now - 60_000)))
    cases.append(("auth__skew_minus5min", signer.headers("GET", BALANCE, now_ms=now - 300_000)))
    cases.append(("auth__skew_plus5min", signer.headers("GET", BALANCE, now_ms=now + 300_000)))

    stranger = KalshiSigner.from_pem(
        "00000000-0000-0000-0000-000000000000", generate_private_key_pem()
    )
    cases.append(("auth__unknown_key_id", stranger.headers("GET", BALANCE)))

    for name, headers in cases:
        status, body = recorded(name)
        response = balance(http, simulator, headers)
        assert response.status_code == status, name
        assert response.json() == body, name


def test_query_string_must_not_be_signed(http: Any, simulator: Any, sim_account: Any) -> None:
    path = "/trade-api/v2/portfolio/fills"
    good = http.get(
        simulator.origin + path + "?limit=5", headers=sim_account.signer.headers("GET", path)
    )
    assert good.status_code == 200
    signed_query = sim_account.signer.headers("GET", path + "-with-query?limit=5")
    bad = http.get(simulator.origin + path + "?limit=5", headers=signed_query)
    assert bad.status_code == 401
    assert bad.json() == recorded("auth__bad_signature")[1]


def test_limit_over_max_and_unknown_ticker(http: Any, simulator: Any) -> None:
    status, body = recorded("markets__limit_over_max")
    response = http.get(simulator.base_url + "/markets", params={"limit": 1001})
    assert (response.status_code, response.json()) == (status, body)

    response = http.get(simulator.base_url + "/markets/KXNOSUCH-26JUN11-T1")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "not found"}}

    response = http.get(simulator.base_url + "/markets", params={"status": "active"})
    assert response.status_code == 400
    assert response.json()["msg"].startswith("Parameter validation failed for GetMarkets")


def test_public_endpoints_accept_no_auth_but_reject_bad_auth(
    http: Any, simulator: Any, sim_account: Any
) -> None:
    assert http.get(simulator.base_url + "/markets", params={"limit": 2}).status_code == 200
    wrong = sim_account.signer.headers("GET", "/trade-api/v2/somewhere-else")
    response = http.get(simulator.base_url + "/markets", params={"limit": 2}, headers=wrong)
    assert response.status_code == 401


def test_garbage_cursor_restarts_at_page_one(http: Any, simulator: Any) -> None:
    first = http.get(simulator.base_url + "/markets", params={"limit": 5}).json()
    garbage = http.get(
        simulator.base_url + "/markets", params={"limit": 5, "cursor": "garbage-cursor-fixture"}
    ).json()
    assert [mk["ticker"] for mk in garbage["markets"]] == [mk["ticker"] for mk in first["markets"]]
    assert garbage["cursor"] == first["cursor"] != ""


def test_admin_bad_bodies_are_json_400s_not_500s(http: Any, simulator: Any) -> None:
    """Wrong JSON types and non-finite money are the caller's mistake, answered as such."""
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/accounts", {"balance_dollars": "Infinity"}),
        ("/accounts", {"balance_dollars": "NaN"}),
        ("/accounts", {"balance_dollars": "1e999999"}),
        ("/accounts", {"public_key_pem": 5}),
        ("/accounts", {"key_id": ["x"]}),
        ("/tick", {"steps": None}),
        ("/tick", {"steps": [1]}),
    ]
    for path, body in cases:
        response = http.post(simulator.admin_url + path, json=body)
        assert response.status_code == 400, (path, body, response.text)
        assert set(response.json()) == {"error", "message"}, (path, body)
