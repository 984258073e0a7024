"""Today's P&L on the stream is the account API's: measured from the day's
``account_baselines`` row, less the transfers since (a deposit is not a gain), over the real
simulator, database and streamer."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.account.baselines import baseline_for, record_sign_in_baseline
from shared.account.cache import AccountCache
from shared.account.reads import AccountReader
from shared.domain.pnl import today_pnl
from shared.kalshi.client import KalshiClient
from tests.integration.streamer.harness import SseClient
from tests.integration.streamer.stack import ALICE, Stack, eventually

pytestmark = pytest.mark.integration


def _portfolio(client: SseClient) -> dict[str, Any]:
    portfolio: dict[str, Any] = {}
    for event in client.events:
        if event.event == "snapshot":
            portfolio = event.json()["portfolio"]
        elif event.event == "portfolio_update":
            portfolio = event.json()
    return portfolio


def test_todays_pnl_is_measured_from_the_stored_baseline_less_transfers(
    stack: Stack, simulator: Any
) -> None:
    account = stack.accounts[ALICE]
    for _ in range(3):
        simulator.fill(account.key_id)
    kalshi = KalshiClient(base_url=simulator.base_url, signer=account.signer)
    reader = AccountReader(kalshi, cache=AccountCache(ttl_seconds=0))
    now = datetime.now(UTC)
    with stack.owner.begin() as conn:
        assert record_sign_in_baseline(conn, ALICE, reader.baseline_figures(), now)
        stored = baseline_for(conn, ALICE, now)
    assert stored is not None
    simulator.fill(account.key_id)  # a trade after the baseline: today's P&L moves
    server = stack.start(reconcile_every_s=1.0)
    client = SseClient(server.origin, stack.session(ALICE)).start()
    eventually(lambda: _portfolio(client).get("today_pnl") is not None)

    def consistent(transfers_since: Decimal) -> bool:
        shown = _portfolio(client)
        if shown.get("net_transfers_since_baseline") is None:
            return False
        pnl, _ = today_pnl(
            Decimal(shown["total_value"]), stored.point, stored.net_transfers + transfers_since
        )
        return (
            Decimal(shown["net_transfers_since_baseline"]) == transfers_since
            and Decimal(shown["today_pnl"]) == pnl
            and Decimal(shown["baseline_value"]) == stored.value
        )

    eventually(lambda: consistent(Decimal(0)))
    before = Decimal(_portfolio(client)["today_pnl"])
    with httpx.Client(timeout=10, trust_env=False) as http:
        answer = http.post(
            f"{simulator.admin_url}/accounts/{account.key_id}/funds",
            json={"kind": "deposit", "amount_cents": 10_000, "fee_cents": 150},
        )
    assert answer.status_code < 300, answer.text
    eventually(lambda: consistent(Decimal("98.50")))  # picked up by the next reconciliation
    assert Decimal(_portfolio(client)["today_pnl"]) == before  # money in is not a gain
    fields = ("cash", "total_value", "today_pnl", "net_transfers_since_baseline")
    fields += ("baseline_value", "realized_pnl", "unrealized_pnl", "position_count")

    def same_as_account_api() -> bool:
        api, shown = reader.portfolio(stored.point), _portfolio(client)
        return all(api[name] == shown[name] for name in fields)

    eventually(same_as_account_api)  # the account API's figures, to the ten-thousandth
    kalshi.close()
