"""Deposits and withdrawals: ``GET /portfolio/deposits``, ``GET /portfolio/withdrawals`` and
the admin route that makes them.

The account function's "today's P&L" subtracts money moved in or out since the day's
baseline (a deposit is not a gain), so the simulator has to move money the way Kalshi
reports it. Shapes follow Kalshi's OpenAPI pages (``GetDeposits``/``GetWithdrawals``,
3.28): ``{"deposits"|"withdrawals": [{id, status, type, amount_cents, fee_cents,
created_ts, finalized_ts}], "cursor"}``, amounts in integer cents, times in Unix seconds,
``limit`` 1..500 (default 100) and an opaque cursor, newest first like the simulator's other
portfolio lists.

Balance rule (the one :func:`shared.domain.pnl.net_transfers` assumes): only an
``applied`` transfer is reflected in the balance; a deposit adds ``amount - fee``, a
withdrawal removes ``amount + fee``. A withdrawal the balance cannot cover is refused.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.kalshi_sim import errors, rest, wire
from emulators.kalshi_sim.accounts import Transfer
from emulators.kalshi_sim.model import SECOND_US

if TYPE_CHECKING:
    from emulators.kalshi_sim.accounts import Account
    from emulators.kalshi_sim.state import SimState

__all__ = [
    "KINDS",
    "STATUSES",
    "TYPES",
    "admin_funds",
    "make_transfer",
    "routes",
    "transfer_dict",
]

STATUSES = ("pending", "applied", "failed", "returned")
TYPES = ("ach", "wire", "crypto", "debit", "apm")
KINDS = ("deposit", "withdrawal")
MICRO_PER_CENT = 10_000
MAX_LIMIT = 500
# A transfer larger than this is a typo in a test, not a deposit ($1 billion).
MAX_AMOUNT_CENTS = 100_000_000_000


def make_transfer(
    account: Account,
    kind: str,
    amount_cents: int,
    *,
    fee_cents: int = 0,
    type_: str = "ach",
    status: str = "applied",
    now_us: int,
) -> Transfer:
    """Record a transfer on ``account``; an ``applied`` one moves the balance now.

    Raises ``ValueError`` for a bad kind, type, status or amount, or a withdrawal the
    balance cannot cover.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    if type_ not in TYPES:
        raise ValueError(f"type must be one of {', '.join(TYPES)}")
    if not 0 < amount_cents <= MAX_AMOUNT_CENTS:
        raise ValueError("amount_cents must be a positive whole number of cents")
    if not 0 <= fee_cents <= amount_cents:
        raise ValueError("fee_cents must be between 0 and amount_cents")
    change = 0
    if status == "applied":
        change = (amount_cents - fee_cents) if kind == "deposit" else -(amount_cents + fee_cents)
        if account.balance_micro + change * MICRO_PER_CENT < 0:
            raise ValueError("insufficient balance for this withdrawal")
    transfer = Transfer(
        id=account._uuid(),
        status=status,
        type=type_,
        amount_cents=amount_cents,
        fee_cents=fee_cents,
        created_us=now_us,
        finalized_us=None if status == "pending" else now_us,
        seq=account._seq(),
    )
    (account.deposits if kind == "deposit" else account.withdrawals).append(transfer)
    if change:
        account.balance_micro += change * MICRO_PER_CENT
        account.updated_us = now_us
    return transfer


def transfer_dict(t: Transfer) -> dict[str, Any]:
    return {
        "id": t.id,
        "status": t.status,
        "type": t.type,
        "amount_cents": t.amount_cents,
        "fee_cents": t.fee_cents,
        "created_ts": t.created_us // SECOND_US,
        "finalized_ts": None if t.finalized_us is None else t.finalized_us // SECOND_US,
    }


def _page(request: Request, op: str, kind: str, rows: list[Transfer], key: str) -> Response:
    """Newest first; the cursor names the last row returned (garbage restarts at page one,
    as Kalshi does)."""
    limit = rest._limit(request, op, 100, MAX_LIMIT)
    before = rest.decode_cursor(kind, request.query_params.get("cursor"))
    start = len(rows)
    if before is not None:
        start = next((i for i in range(len(rows) - 1, -1, -1) if rows[i].seq < before), -1) + 1
    page = rows[max(0, start - limit) : start][::-1]
    more = start - limit > 0
    cursor = rest.encode_cursor(kind, page[-1].seq) if more and page else ""
    return errors.json_response(
        rest._join(key, [wire.encode(transfer_dict(t)) for t in page], cursor)
    )


@rest.endpoint(auth_required=True)
async def deposits(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    return _page(request, "GetDeposits", "d", account.deposits, "deposits")


@rest.endpoint(auth_required=True)
async def withdrawals(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    return _page(request, "GetWithdrawals", "w", account.withdrawals, "withdrawals")


def routes() -> list[Route]:
    """Mounted under the REST prefix beside :func:`emulators.kalshi_sim.rest.routes`."""
    return [
        Route("/portfolio/deposits", deposits),
        Route("/portfolio/withdrawals", withdrawals),
    ]


def _ledger(account: Account) -> dict[str, Any]:
    """The account's money as the simulator keeps it (exact), for tests to compare with."""
    return {
        "key_id": account.key_id,
        "balance_dollars": wire.micro(account.balance_micro),
        "deposits": [transfer_dict(t) for t in account.deposits],
        "withdrawals": [transfer_dict(t) for t in account.withdrawals],
    }


def _int_field(body: dict[str, Any], name: str, default: int | None = None) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number of cents")
    return value


def _text_field(body: dict[str, Any], name: str, default: str) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


async def admin_funds(request: Request) -> Response:
    """``GET``: the account's balance and transfers. ``POST {"kind": "deposit"|"withdrawal",
    "amount_cents", "fee_cents"?, "type"?, "status"?}``: make one (201 with the transfer
    and the new ledger)."""
    state: SimState = request.app.state.sim
    account = state.exchange.accounts.by_key(request.path_params["key_id"])
    if account is None:
        return JSONResponse({"error": "not_found", "message": "unknown account"}, 404)
    if request.method == "GET":
        return JSONResponse(_ledger(account))
    try:
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        transfer = make_transfer(
            account,
            _text_field(body, "kind", ""),
            _int_field(body, "amount_cents"),
            fee_cents=_int_field(body, "fee_cents", 0),
            type_=_text_field(body, "type", "ach"),
            status=_text_field(body, "status", "applied"),
            now_us=state.exchange.now_us,
        )
    except ValueError as exc:  # json.JSONDecodeError is one
        return JSONResponse({"error": "bad_request", "message": str(exc)}, 400)
    return JSONResponse({"transfer": transfer_dict(transfer), **_ledger(account)}, 201)
