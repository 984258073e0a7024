"""Accounts end to end, through the local gateway of a real ``kalshi-insights up``.

The whole stack runs as the launcher starts it (Postgres, the Kalshi simulator, the Pub/Sub,
Cloud Tasks and Secret Manager emulators, the functions, the gateway); every request below
goes through the gateway as a browser's or a script's would. Users are made with
``kalshi-insights demo-account`` and trade through the simulator's admin ``fill``.

What it shows: two users each see only their own positions, fills and settlements, with
figures equal to the simulator's to the cent; a script with an API token reads positions
and submits a backtest, and is refused once the token is revoked; after logout the same
cookie is refused; every attack below answers 4xx JSON; and no log line of any service
holds a private key, a session JWT or an API token (the last test, over all of the above,
failures included).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.devstack.test_up import Launcher
from tests.live_stack import live_stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Stack:
    origin: str
    state_dir: Path
    launcher: Launcher
    secrets_seen: set[str] = field(default_factory=set)
    """Every secret value the tests handled: the log scan looks for each of them."""

    @property
    def ports(self) -> dict[str, int]:
        return dict(json.loads((self.state_dir / "ports.json").read_text()))

    @property
    def simulator(self) -> str:
        return f"http://127.0.0.1:{self.ports['simulator']}"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Every request of this module comes from 127.0.0.1; the per-address budget is raised
    # so the per-key limit can be shown alone (it stays at its default, 5).
    with live_stack("ki-test-account-", {"AUTH_SIGNIN_MAX_PER_ADDRESS": "1000"}) as (
        origin,
        state,
        launcher,
    ):
        yield Stack(origin, state, launcher)


def demo_account(stack: Stack) -> Account:
    """A new funded simulator account, made by the command a developer would run."""
    done = subprocess.run(
        [sys.executable, "-m", "devstack.cli", "demo-account", "--state-dir", str(stack.state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    account = Account(json.loads(done.stdout))
    assert set(account) == {"key_id", "private_key_pem"}
    assert account["private_key_pem"].startswith("-----BEGIN " + "PRIVATE KEY-----")
    stack.secrets_seen.add(_pem_body_line(account["private_key_pem"]))
    return account


class Account(dict[str, str]):
    """A key id and private key; its repr (in a failed assertion's report) shows neither."""

    def __repr__(self) -> str:
        return f"Account(key_id={self.get('key_id', '')[:4]}...)"


def _pem_body_line(pem: str) -> str:
    """A line from the middle of a PEM: found in a log only if the key leaked."""
    lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return lines[len(lines) // 2]


class Browser:
    """A browser on the dashboard's origin: a cookie jar, Origin and the CSRF header."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.origin, timeout=60)

    def sign_in(self, account: dict[str, str]) -> dict[str, Any]:
        answer = self.http.post(
            "/api/v1/account/authenticate", json=account, headers={"Origin": self.stack.origin}
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert body["csrf_token"] == self.http.cookies["ki_csrf"]
        self.stack.secrets_seen.update({self.http.cookies["ki_session"], body["csrf_token"]})
        return body

    @property
    def session(self) -> str:
        return str(self.http.cookies["ki_session"])

    def changing(self) -> dict[str, str]:
        return {"Origin": self.stack.origin, "X-CSRF-Token": self.http.cookies["ki_csrf"]}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)


def admin_fill(stack: Stack, key_id: str, ticker: str | None = None) -> dict[str, Any]:
    answer = httpx.post(
        f"{stack.simulator}/_sim/accounts/{key_id}/fill",
        json={"ticker": ticker} if ticker else {},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def soonest_fill(stack: Stack, account: dict[str, str]) -> dict[str, Any]:
    """A fill in the open market closing soonest that has a book to fill against."""
    truth = kalshi_client(stack, account)
    try:
        markets = sorted(
            (m for m in truth.get_all_markets(status="open") if m.close_time is not None),
            key=lambda m: m.close_time,
        )
    finally:
        truth.close()
    for market in markets[:20]:
        answer = httpx.post(
            f"{stack.simulator}/_sim/accounts/{account['key_id']}/fill",
            json={"ticker": market.ticker},
            timeout=30,
        )
        if answer.status_code == 201:
            return dict(answer.json())
    raise AssertionError("no soon-closing market could be filled")


def kalshi_client(stack: Stack, account: dict[str, str]) -> Any:
    """The simulator itself, signed with the user's key: the ground truth."""
    from shared.kalshi.client import KalshiClient
    from shared.kalshi.signing import KalshiSigner

    signer = KalshiSigner.from_pem(account["key_id"], account["private_key_pem"])
    return KalshiClient(base_url=stack.simulator + "/trade-api/v2", signer=signer)


def assert_json_error(answer: httpx.Response, status: int, code: str | None = None) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/json"), answer.text
    body = answer.json()
    assert set(body) == {"error", "message"} and body["message"], body
    if code is not None:
        assert body["error"] == code, body


@pytest.fixture(scope="module")
def users(stack: Stack) -> dict[str, Any]:
    """Two signed-in users with fills of their own (A on three markets, B on two)."""
    a_account, b_account = demo_account(stack), demo_account(stack)
    a, b = Browser(stack), Browser(stack)
    a_user = a.sign_in(a_account)["user"]
    b_user = b.sign_in(b_account)["user"]
    # A's first fill is in the market that closes soonest, so one settles quickly below.
    a_fills = [
        soonest_fill(stack, a_account),
        *(admin_fill(stack, a_account["key_id"]) for _ in range(2)),
    ]
    b_fills = [admin_fill(stack, b_account["key_id"]) for _ in range(2)]
    time.sleep(3.5)  # the account cache keeps reads for 3 s
    return {
        "a": a, "b": b, "a_account": a_account, "b_account": b_account,
        "a_user": a_user, "b_user": b_user, "a_fills": a_fills, "b_fills": b_fills,
    }  # fmt: skip


# ---------------------------------------------------------------- the two users


def test_sign_in_answers_the_masked_user_and_sets_both_cookies(
    stack: Stack, users: dict[str, Any]
) -> None:
    user, key_id = users["a_user"], users["a_account"]["key_id"]
    assert user["key_id"] != key_id and user["key_id"].startswith(key_id[:4])
    assert user["credential_status"] == "valid" and user["via"] == "session"
    me = users["a"].get("/api/v1/account/me")
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    assert users["b"].get("/api/v1/account/me").json()["id"] == users["b_user"]["id"]


def test_each_user_sees_only_their_own_fills_positions_and_settlements(
    stack: Stack, users: dict[str, Any]
) -> None:
    for me, other in (("a", "b"), ("b", "a")):
        fills = users[me].get("/api/v1/account/fills", params={"limit": 200}).json()["fills"]
        truth = kalshi_client(stack, users[f"{me}_account"])
        try:
            held = {p.ticker for p in truth.get_all_positions().market_positions}
            settled = {s.ticker for s in truth.iter_settlements()}
            kalshi_fills = {f.fill_id for f in truth.iter_fills()}
        finally:
            truth.close()
        assert {f["fill_id"] for f in fills} == kalshi_fills
        assert {f["fill_id"] for f in users[f"{me}_fills"]} <= kalshi_fills
        assert not {f["fill_id"] for f in fills} & {f["fill_id"] for f in users[f"{other}_fills"]}
        positions = users[me].get("/api/v1/account/positions").json()["positions"]
        assert {p["ticker"] for p in positions} == held
        settlements = users[me].get("/api/v1/account/settlements").json()["settlements"]
        assert {s["ticker"] for s in settlements} == settled


@contextlib.contextmanager
def still_exchange(stack: Stack) -> Iterator[None]:
    """The simulator's clock paused, and the account cache's reads from before expired:
    prices move every tick, so figures marked at them are compared against a still world."""
    settings = f"{stack.simulator}/_sim/settings"
    httpx.post(settings, json={"paused": True}, timeout=10).raise_for_status()
    try:
        time.sleep(3.5)  # the account cache keeps reads for 3 s
        yield
    finally:
        httpx.post(settings, json={"paused": False}, timeout=10).raise_for_status()


def test_portfolio_and_positions_equal_the_simulator_to_the_cent(
    stack: Stack, users: dict[str, Any]
) -> None:
    with still_exchange(stack):
        truth = kalshi_client(stack, users["a_account"])
        try:
            balance = truth.get_balance()
            kalshi_positions = {p.ticker: p for p in truth.get_all_positions().market_positions}
        finally:
            truth.close()
        portfolio = users["a"].get("/api/v1/account/portfolio").json()
        rows = users["a"].get("/api/v1/account/positions").json()["positions"]
    assert Decimal(portfolio["cash"]) == balance.exact_balance_dollars
    assert portfolio["position_count"] == len(kalshi_positions)
    if balance.portfolio_value is not None:
        assert Decimal(portfolio["reported_positions_value"]) == Decimal(
            balance.portfolio_value
        ).scaleb(-2)
    assert rows
    for row in rows:
        kalshi = kalshi_positions[row["ticker"]]
        assert Decimal(row["contracts"]) == abs(kalshi.position_fp)
        assert row["side"] == ("yes" if kalshi.position_fp > 0 else "no")
        assert Decimal(row["cost_basis"]) == kalshi.market_exposure_dollars
        assert Decimal(row["realized_pnl"]) == kalshi.realized_pnl_dollars
        assert Decimal(row["fees_paid"]) == kalshi.fees_paid_dollars
    total = sum((Decimal(r["market_value"]) for r in rows), Decimal(0))
    assert Decimal(portfolio["positions_value"]) == total
    assert Decimal(portfolio["total_value"]) == balance.exact_balance_dollars + total


def test_a_settled_market_reaches_only_its_holder(stack: Stack, users: dict[str, Any]) -> None:
    rows = users["a"].get("/api/v1/account/positions").json()["positions"]
    soonest = next(r for r in rows if r["ticker"] == users["a_fills"][0]["ticker"])
    closes = datetime.fromisoformat(soonest["market_close_time"].replace("Z", "+00:00"))
    truth = kalshi_client(stack, users["a_account"])
    try:
        for _ in range(40):  # run the exchange's clock past the close (0.5 s a tick)
            clock = httpx.get(f"{stack.simulator}/_sim/state", timeout=10).json()
            now = datetime.fromtimestamp(clock["now_ms"] / 1000, UTC)
            steps = max(20, min(4_000, int((closes - now).total_seconds() * 2) + 20))
            httpx.post(f"{stack.simulator}/_sim/tick", json={"steps": steps}, timeout=120)
            if truth.get_settlements(ticker=soonest["ticker"]).settlements:
                break
        else:
            pytest.fail(f"{soonest['ticker']} did not settle")
    finally:
        truth.close()
    time.sleep(3.5)
    mine = users["a"].get("/api/v1/account/settlements").json()["settlements"]
    assert soonest["ticker"] in {s["ticker"] for s in mine}
    theirs = users["b"].get("/api/v1/account/settlements").json()["settlements"]
    assert soonest["ticker"] not in {s["ticker"] for s in theirs}


def test_settings_are_validated_and_kept_per_user(stack: Stack, users: dict[str, Any]) -> None:
    a, b = users["a"], users["b"]
    alerts = {
        "pnl_alerts": {
            "enabled": True,
            "loss_dollars": "50",
            "gain_percent": "7.5",
            "positions": {"KXDEMO-1": "12.5"},
        }
    }
    saved = a.http.put("/api/v1/account/settings", json=alerts, headers=a.changing())
    assert saved.status_code == 200, saved.text
    assert saved.json()["pnl_alerts"]["loss_dollars"] == "50.00"
    assert saved.json()["pnl_alerts"]["positions"] == {"KXDEMO-1": "12.50"}
    assert a.get("/api/v1/account/settings").json() == saved.json()
    assert b.get("/api/v1/account/settings").json()["pnl_alerts"]["enabled"] is False
    for bad in (
        {"pnl_alerts": {"enabled": "yes"}},
        {"pnl_alerts": {"loss_dollars": 50}},
        {"pnl_alerts": {"loss_dollars": "-1"}},
        {"pnl_alerts": {"loss_dollars": "0.001"}},
        {"pnl_alerts": {"positions": {"lower-case": "5"}}},
        {"colour": "blue"},
        [],
    ):
        answer = a.http.put("/api/v1/account/settings", json=bad, headers=a.changing())
        assert_json_error(answer, 400, "invalid_settings")


# ---------------------------------------------------------------- scripts with tokens


def _backtest_request(stack: Stack) -> dict[str, Any]:
    series = None
    for _ in range(30):
        markets = httpx.get(f"{stack.origin}/api/v1/markets", params={"limit": 5}, timeout=10)
        items = markets.json().get("items") or markets.json().get("markets") or []
        series = next((m.get("series_ticker") for m in items if m.get("series_ticker")), None)
        if series:
            break
        time.sleep(2)
    assert series, "the poller stored no market yet"
    now = datetime.now(UTC)
    return {
        "strategy": "momentum",
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(minutes=5)).isoformat(),
        "markets": {"series": [series]},
    }


def test_a_script_with_a_token_reads_positions_submits_a_backtest_and_is_cut_off(
    stack: Stack, users: dict[str, Any]
) -> None:
    a, b = users["a"], users["b"]
    created = a.http.post(
        "/api/v1/account/tokens", json={"name": "my script", "scope": "read"}, headers=a.changing()
    )
    assert created.status_code == 201, created.text
    token, token_id = created.json()["token"], created.json()["id"]
    stack.secrets_seen.add(token)
    listed = a.get("/api/v1/account/tokens").json()["items"]
    assert [t["id"] for t in listed] == [token_id] and "token" not in listed[0]

    script = httpx.Client(
        base_url=stack.origin, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    positions = script.get("/api/v1/account/positions")
    assert positions.status_code == 200, positions.text
    assert positions.json()["positions"] == a.get("/api/v1/account/positions").json()["positions"]
    submitted = script.post("/api/v1/backtests", json=_backtest_request(stack))
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["id"]
    assert script.get(f"/api/v1/backtests/{run_id}").status_code == 200
    assert [r["id"] for r in script.get("/api/v1/backtests").json()["items"]] == [run_id]
    # The browser of the same user sees it; the other user cannot find it by its id.
    assert a.get(f"/api/v1/backtests/{run_id}").status_code == 200
    assert_json_error(b.get(f"/api/v1/backtests/{run_id}"), 404, "not_found")
    assert_json_error(
        b.http.delete(f"/api/v1/backtests/{run_id}", headers=b.changing()), 404, "not_found"
    )
    assert run_id not in {r["id"] for r in b.get("/api/v1/backtests").json()["items"]}
    anonymous = httpx.get(f"{stack.origin}/api/v1/backtests/{run_id}", timeout=10)
    assert_json_error(anonymous, 404, "not_found")
    # Nor can the other user revoke the token; a script cannot manage tokens itself.
    assert_json_error(
        b.http.delete(f"/api/v1/account/tokens/{token_id}", headers=b.changing()), 404
    )
    assert_json_error(script.get("/api/v1/account/tokens"), 403, "session_required")

    revoked = a.http.delete(f"/api/v1/account/tokens/{token_id}", headers=a.changing())
    assert revoked.status_code == 204
    assert_json_error(script.get("/api/v1/account/positions"), 401, "invalid_token")
    assert_json_error(script.post("/api/v1/backtests", json={}), 401, "invalid_token")
    users["a_run"] = run_id


# ---------------------------------------------------------------- attacks: each a 4xx JSON


def _session_keys(stack: Stack) -> Any:
    from shared.auth.sessions import signing_keys_from_secret
    from shared.secrets import secret_manager_client

    client = secret_manager_client(f"127.0.0.1:{stack.ports['secret-manager']}")
    name = "projects/kalshi-insights-local/secrets/session-signing-keys/versions/latest"
    raw = client.access_secret_version(request={"name": name}).payload.data
    return signing_keys_from_secret(raw)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(header)}.{_b64(claims)}."


def _cookie_get(stack: Stack, session: str, path: str = "/api/v1/account/me") -> httpx.Response:
    return httpx.get(stack.origin + path, headers={"Cookie": f"ki_session={session}"}, timeout=30)


def test_forged_tampered_expired_and_foreign_sessions_are_refused(
    stack: Stack, users: dict[str, Any]
) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from shared.auth.sessions import SessionTokens

    a_id = uuid.UUID(users["a_user"]["id"])
    real = users["a"].session
    header = jwt.get_unverified_header(real)
    claims = jwt.decode(real, options={"verify_signature": False})
    stack.secrets_seen.add(real)

    head, body, signature = real.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert_json_error(_cookie_get(stack, f"{head}.{body}.{flipped}"), 401, "invalid_session")
    swapped = _b64(dict(claims, sub=users["b_user"]["id"]))  # A's signature on B's claims
    assert_json_error(_cookie_get(stack, f"{head}.{swapped}.{signature}"), 401, "invalid_session")
    assert_json_error(
        _cookie_get(stack, _unsigned({"alg": "none", "kid": header["kid"]}, claims)), 401
    )

    foreign = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]}
    )
    assert_json_error(_cookie_get(stack, foreign), 401, "invalid_session")

    keys = _session_keys(stack)
    tokens = SessionTokens(keys, "kalshi-insights", "kalshi-insights")
    expired = tokens.issue(a_id, now=datetime.now(UTC) - timedelta(days=2))
    stack.secrets_seen.add(expired.token)
    assert_json_error(_cookie_get(stack, expired.token), 401, "session_expired")
    # Well signed and in date, but never issued by sign-in (no session row): refused too.
    unrecorded = tokens.issue(a_id)
    stack.secrets_seen.add(unrecorded.token)
    assert_json_error(_cookie_get(stack, unrecorded.token), 401, "session_revoked")
    assert_json_error(_cookie_get(stack, "not-a-jwt"), 401, "invalid_session")
    assert_json_error(
        httpx.get(stack.origin + "/api/v1/account/me", timeout=10), 401, "not_signed_in"
    )


def test_state_changes_need_the_csrf_token_and_our_origin(
    stack: Stack, users: dict[str, Any]
) -> None:
    a = users["a"]
    body = {"pnl_alerts": {"enabled": False}}
    path = "/api/v1/account/settings"
    no_token = a.http.put(path, json=body, headers={"Origin": stack.origin})
    assert_json_error(no_token, 403, "csrf_rejected")
    wrong = a.http.put(path, json=body, headers={"Origin": stack.origin, "X-CSRF-Token": "x" * 43})
    assert_json_error(wrong, 403, "csrf_rejected")
    cross = a.http.put(path, json=body, headers={**a.changing(), "Origin": "https://evil.example"})
    assert_json_error(cross, 403)
    # A cross-site form post to sign in (login CSRF) is refused before Kalshi is asked.
    form = httpx.post(
        stack.origin + "/api/v1/account/authenticate",
        data={"key_id": users["b_account"]["key_id"]},
        files={"private_key": ("k.pem", users["b_account"]["private_key_pem"].encode())},
        headers={"Origin": "https://evil.example"},
        timeout=30,
    )
    assert_json_error(form, 403)


def test_bad_bodies_answer_4xx_json(stack: Stack, users: dict[str, Any]) -> None:
    a = users["a"]
    path = "/api/v1/account/settings"
    huge = {"pnl_alerts": {"enabled": True}, "padding": "x" * 70_000}
    assert_json_error(a.http.put(path, json=huge, headers=a.changing()), 413, "too_large")
    malformed = a.http.put(
        path,
        content=b'{"pnl_alerts": {',
        headers={**a.changing(), "Content-Type": "application/json"},
    )
    assert_json_error(malformed, 400, "invalid_json")
    sign_in = stack.origin + "/api/v1/account/authenticate"
    assert_json_error(
        httpx.post(
            sign_in, content=b"{nope", headers={"Content-Type": "application/json"}, timeout=10
        ),
        400,
        "invalid_json",
    )
    assert_json_error(
        httpx.post(sign_in, json={"key_id": 5, "private_key_pem": []}, timeout=10), 400
    )
    assert_json_error(httpx.post(sign_in, json=["key_id"], timeout=10), 400, "invalid_request")
    assert_json_error(
        httpx.post(sign_in, json={"key_id": "k", "private_key_pem": "x" * 70_000}, timeout=10), 413
    )
    assert_json_error(
        a.get("/api/v1/account/positions", params={"ticker": "X"}), 400, "unknown_parameter"
    )
    assert_json_error(a.get("/api/v1/account/fills", params={"limit": "lots"}), 400)
    assert_json_error(a.get("/api/v1/account/fills", params={"cursor": "forged"}), 400)


def test_bad_keys_are_named_and_a_key_kalshi_does_not_know_is_refused(stack: Stack) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from shared.kalshi.signing import generate_private_key_pem

    sign_in = stack.origin + "/api/v1/account/authenticate"
    key_id = str(uuid.uuid4())
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    elliptic = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = serialization.PrivateFormat.PKCS8
    cases = {
        "garbage": "not a key",
        "public": short.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "short": short.private_bytes(
            serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()
        ).decode(),
        "ec": elliptic.private_bytes(
            serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()
        ).decode(),
    }
    for pem in cases.values():
        stack.secrets_seen.add(_pem_body_line(pem) if "BEGIN" in pem else pem)
        answer = httpx.post(
            sign_in, json={"key_id": key_id + "x", "private_key_pem": pem}, timeout=30
        )
        assert_json_error(answer, 400, "invalid_key")
        assert "BEGIN" not in answer.text
    unknown = generate_private_key_pem()
    stack.secrets_seen.add(_pem_body_line(unknown))
    answer = httpx.post(sign_in, json={"key_id": key_id, "private_key_pem": unknown}, timeout=30)
    assert_json_error(answer, 401, "kalshi_rejected")


def test_repeated_failed_sign_ins_for_one_key_get_429(stack: Stack) -> None:
    from shared.kalshi.signing import generate_private_key_pem

    key_id, pem = str(uuid.uuid4()), generate_private_key_pem()
    stack.secrets_seen.add(_pem_body_line(pem))
    sign_in = stack.origin + "/api/v1/account/authenticate"
    statuses = [
        httpx.post(sign_in, json={"key_id": key_id, "private_key_pem": pem}, timeout=30)
        for _ in range(7)
    ]
    assert [r.status_code for r in statuses[:5]] == [401] * 5
    assert_json_error(statuses[-1], 429, "rate_limited")
    assert int(statuses[-1].headers["Retry-After"]) > 0


def test_sign_in_by_pem_upload_works_too(stack: Stack) -> None:
    account = demo_account(stack)
    upload = httpx.post(
        stack.origin + "/api/v1/account/authenticate",
        data={"key_id": account["key_id"]},
        files={"private_key": ("kalshi.pem", account["private_key_pem"].encode(), "text/plain")},
        headers={"Origin": stack.origin},
        timeout=30,
    )
    assert upload.status_code == 200, upload.text
    stack.secrets_seen.add(upload.cookies["ki_session"])


# ---------------------------------------------------------------- leaving


def test_logout_revokes_the_session_and_account_deletion_takes_the_runs(
    stack: Stack, users: dict[str, Any]
) -> None:
    a, b = users["a"], users["b"]
    old_cookie = a.session
    out = a.http.delete("/api/v1/account/logout", headers=a.changing())
    assert out.status_code == 204
    cleared = out.headers.get_list("set-cookie")
    assert any(c.startswith("ki_session=;") and "Max-Age=0" in c for c in cleared)
    assert_json_error(_cookie_get(stack, old_cookie), 401, "session_revoked")
    assert_json_error(_cookie_get(stack, old_cookie, "/api/v1/backtests"), 401)

    # B deletes the account: its session, data and backtest runs go.
    submitted = b.http.post(
        "/api/v1/backtests", json=_backtest_request(stack), headers=b.changing()
    )
    assert submitted.status_code == 202, submitted.text
    b_cookie = b.session
    gone = b.http.delete("/api/v1/account", headers=b.changing())
    assert gone.status_code == 204
    assert_json_error(_cookie_get(stack, b_cookie), 401)
    again = Browser(stack)
    again.sign_in(users["b_account"])
    assert again.get("/api/v1/backtests").json()["items"] == []
    assert again.get("/api/v1/account/me").json()["id"] != users["b_user"]["id"]


def test_account_events_were_published(stack: Stack, users: dict[str, Any]) -> None:
    """The sign-ins, logout and deletion above went to ``account-events`` (the stack's
    streamer-to-be has no subscription yet, so this test's own pull subscription, made at
    the start of the module, is where they are)."""
    events = pulled_account_events(stack)
    statuses = {(e["payload"]["user_id"], e["type"]) for e in events}
    assert (users["a_user"]["id"], "account.connected") in statuses
    assert (users["a_user"]["id"], "account.disconnected") in statuses
    assert (users["b_user"]["id"], "account.disconnected") in statuses
    text = json.dumps(events)
    assert "BEGIN" not in text and users["a_account"]["key_id"] not in text


def test_no_log_line_holds_a_key_a_jwt_or_a_token(stack: Stack, users: dict[str, Any]) -> None:
    """Run last: every flow above, failures included, is in these logs."""
    jwt_shape = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
    token_shape = re.compile(r"ki_[A-Za-z0-9_-]{43}")
    logs = sorted((stack.state_dir / "logs").glob("*.log"))
    assert any(p.name == "account.log" for p in logs), logs
    secrets = {s for s in stack.secrets_seen if len(s) >= 16}
    assert len(secrets) >= 10
    for path in logs:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            where = f"{path.name}:{number}"
            assert "PRIVATE KEY" not in line, where
            assert not jwt_shape.search(line), where
            assert not token_shape.search(line), where
            leaked = [s for s in secrets if s in line]
            assert not leaked, where


# ---------------------------------------------------------------- account-events plumbing


_SUBSCRIPTION = "account-events-e2e"


@pytest.fixture(scope="module", autouse=True)
def account_events_subscription(stack: Stack) -> Iterator[None]:
    """A pull subscription on the stack's ``account-events``, made before any sign-in."""
    from devstack.pubsub_admin import ensure_topology
    from shared.messaging.topics import ACCOUNT_EVENTS
    from tests.function_env import restore_env, set_env

    previous = set_env({"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{stack.ports['pubsub']}"})
    try:
        ensure_topology(
            "kalshi-insights-local", pull_subscriptions=[(ACCOUNT_EVENTS, _SUBSCRIPTION)]
        )
        yield
    finally:
        restore_env(previous)


def pulled_account_events(stack: Stack) -> list[dict[str, Any]]:
    from google.cloud import pubsub_v1

    from shared.messaging.topics import subscription_path
    from tests.function_env import restore_env, set_env

    previous = set_env({"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{stack.ports['pubsub']}"})
    try:
        path = subscription_path("kalshi-insights-local", _SUBSCRIPTION)
        found: list[dict[str, Any]] = []
        with pubsub_v1.SubscriberClient() as subscriber:
            for _ in range(10):
                response = subscriber.pull(
                    request={"subscription": path, "max_messages": 100}, timeout=10
                )
                if not response.received_messages:
                    if found:
                        break
                    continue
                subscriber.acknowledge(
                    request={
                        "subscription": path,
                        "ack_ids": [m.ack_id for m in response.received_messages],
                    }
                )
                found += [json.loads(m.message.data) for m in response.received_messages]
        return found
    finally:
        restore_env(previous)
