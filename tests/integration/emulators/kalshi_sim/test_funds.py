"""Deposits and withdrawals on the simulator: the admin route moves money, the REST lists
page like Kalshi's, and the project's client reads them into typed models."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.domain.pnl import Transfer, net_transfers
from shared.kalshi.client import KalshiClient
from shared.kalshi.errors import KalshiAPIError

pytestmark = pytest.mark.integration

FIELDS = {"id", "status", "type", "amount_cents", "fee_cents", "created_ts", "finalized_ts"}


def _funds(simulator: Any, key_id: str, body: dict[str, Any] | None = None) -> httpx.Response:
    url = f"{simulator.admin_url}/accounts/{key_id}/funds"
    with httpx.Client(timeout=10, trust_env=False) as http:
        return http.post(url, json=body) if body is not None else http.get(url)


def _client(simulator: Any, account: Any) -> KalshiClient:
    return KalshiClient(base_url=simulator.base_url, signer=account.signer, rate_limit=False)


def test_deposit_and_withdrawal_move_the_balance_and_are_listed(
    simulator: Any, sim_account: Any
) -> None:
    made = _funds(
        simulator,
        sim_account.key_id,
        {"kind": "deposit", "amount_cents": 25_050, "fee_cents": 50, "type": "debit"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["balance_dollars"] == "1250.000000"  # 1000 + 250.50 - 0.50
    out = _funds(simulator, sim_account.key_id, {"kind": "withdrawal", "amount_cents": 10_000})
    assert out.status_code == 201, out.text
    pending = _funds(
        simulator,
        sim_account.key_id,
        {"kind": "deposit", "amount_cents": 5_000, "status": "pending"},
    )
    assert pending.json()["balance_dollars"] == "1150.000000"  # pending: not in the balance

    with _client(simulator, sim_account) as client:
        balance = client.get_balance()
        deposits = list(client.iter_deposits())
        withdrawals = list(client.iter_withdrawals())
    assert balance.exact_balance_dollars == Decimal("1150.0000")
    assert balance.balance == 115_000
    assert [(d.amount_cents, d.status) for d in deposits] == [
        (5_000, "pending"),
        (25_050, "applied"),
    ]
    assert deposits[0].finalized_ts is None and deposits[1].finalized_ts is not None
    assert deposits[1].fee_cents == 50 and deposits[1].type == "debit"
    assert [(w.amount_cents, w.status, w.type) for w in withdrawals] == [(10_000, "applied", "ach")]

    # The P&L rule reads the same lists back to the same net figure as the balance moved.
    transfers = [
        Transfer("deposit", d.status, Decimal(d.amount_cents) / 100, Decimal(d.fee_cents) / 100)
        for d in deposits
    ] + [
        Transfer("withdrawal", w.status, Decimal(w.amount_cents) / 100, Decimal(w.fee_cents) / 100)
        for w in withdrawals
    ]
    assert net_transfers(transfers) == Decimal("150.00")

    ledger = _funds(simulator, sim_account.key_id).json()
    assert ledger["balance_dollars"] == "1150.000000"
    assert len(ledger["deposits"]) == 2 and len(ledger["withdrawals"]) == 1


def test_wire_shape_matches_the_spec(simulator: Any, sim_account: Any) -> None:
    _funds(simulator, sim_account.key_id, {"kind": "deposit", "amount_cents": 100})
    with _client(simulator, sim_account) as client:
        raw = client.request("GET", "/portfolio/deposits")
    assert set(raw) == {"deposits", "cursor"}
    row = raw["deposits"][0]
    assert set(row) == FIELDS
    for name in ("amount_cents", "fee_cents", "created_ts", "finalized_ts"):
        assert isinstance(row[name], int)
    assert isinstance(row["id"], str) and row["status"] == "applied"
    assert raw["cursor"] == ""
    # Unsigned requests are refused like every portfolio endpoint.
    with httpx.Client(timeout=10, trust_env=False) as http:
        anonymous = http.get(simulator.base_url + "/portfolio/withdrawals")
    assert anonymous.status_code == 401


def test_cursor_paging_returns_each_transfer_once_newest_first(
    simulator: Any, sim_account: Any
) -> None:
    for cents in range(1, 8):
        _funds(simulator, sim_account.key_id, {"kind": "deposit", "amount_cents": cents})
    with _client(simulator, sim_account) as client:
        first = client.get_deposits(limit=3)
        assert [d.amount_cents for d in first.deposits] == [7, 6, 5]
        assert first.cursor
        second = client.get_deposits(limit=3, cursor=first.cursor)
        assert [d.amount_cents for d in second.deposits] == [4, 3, 2]
        third = client.get_deposits(limit=3, cursor=second.cursor)
        assert [d.amount_cents for d in third.deposits] == [1]
        assert third.cursor == ""
        assert [d.amount_cents for d in client.iter_deposits(limit=2)] == [7, 6, 5, 4, 3, 2, 1]
        # Kalshi's maximum is 500: more is a 400, as for its other lists.
        with pytest.raises(KalshiAPIError) as caught:
            client.get_withdrawals(limit=501)
        assert caught.value.status == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "gift", "amount_cents": 1}, "kind"),
        ({"kind": "deposit", "amount_cents": 0}, "amount_cents"),
        ({"kind": "deposit", "amount_cents": "10"}, "amount_cents"),
        ({"kind": "deposit", "amount_cents": 10, "fee_cents": 11}, "fee_cents"),
        ({"kind": "deposit", "amount_cents": 10, "status": "done"}, "status"),
        ({"kind": "deposit", "amount_cents": 10, "type": "cash"}, "type"),
        ({"kind": "withdrawal", "amount_cents": 100_000_01}, "insufficient"),
    ],
)
def test_bad_admin_requests_are_400_and_change_nothing(
    simulator: Any, sim_account: Any, body: dict[str, Any], message: str
) -> None:
    answer = _funds(simulator, sim_account.key_id, body)
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request"
    assert message in answer.json()["message"]
    ledger = _funds(simulator, sim_account.key_id).json()
    assert ledger["balance_dollars"] == "1000.000000"
    assert ledger["deposits"] == [] and ledger["withdrawals"] == []


def test_unknown_account_is_404(simulator: Any) -> None:
    answer = _funds(simulator, "no-such-key", {"kind": "deposit", "amount_cents": 1})
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_transfers_survive_a_saved_world(tmp_path: Any) -> None:
    from emulators.kalshi_sim.config import SimConfig
    from emulators.kalshi_sim.exchange import Exchange
    from emulators.kalshi_sim.funds import make_transfer
    from emulators.kalshi_sim.persist import load_world, save_world, world_path
    from shared.kalshi.signing import generate_private_key_pem, load_private_key

    config = SimConfig(seed=3, n_markets=5, tick_interval_s=None)
    exchange = Exchange(config)
    public = load_private_key(generate_private_key_pem()).public_key()
    account = exchange.accounts.register(public, 5_000_000, exchange.now_us)
    make_transfer(account, "deposit", 1_234, fee_cents=34, now_us=exchange.now_us)
    make_transfer(account, "withdrawal", 200, status="pending", now_us=exchange.now_us)
    path = world_path(tmp_path)
    save_world(exchange, path)
    loaded = load_world(path, config)
    assert loaded is not None
    (again,) = loaded.accounts.all()
    assert again.balance_micro == 5_000_000 + 1_200 * 10_000
    assert [(t.amount_cents, t.status) for t in again.deposits] == [(1_234, "applied")]
    assert [(t.amount_cents, t.status) for t in again.withdrawals] == [(200, "pending")]
