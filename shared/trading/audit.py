"""``order_audit``: every order request of a user and Kalshi's answer (migration 0009).

A request is recorded *before* it is sent (:func:`record_request`, status ``sent``) and
completed after (:func:`record_answer`): ``accepted`` with Kalshi's body, ``rejected`` with
Kalshi's (or our own checks') error, ``failed`` when no answer came (a timeout, Kalshi
down). A row left at ``sent`` is a request whose fate the function never learnt (it died
in between): the order may exist, and its client order id finds it on Kalshi. Requests our
own checks refuse before anything is sent (trading off, over a limit, off the price grid)
are recorded the same way, straight as ``rejected``.

Rows hold no secret: bodies are orders and Kalshi's answers, never headers or keys. The
audit also keeps how the person worded each order (``side``), which Kalshi's V2 book does
not: :func:`order_sides` reads it back when orders are shown.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from shared.auth.principal import Principal
from shared.db.autocommit import autocommitted

__all__ = [
    "AuditAnswer",
    "AuditRow",
    "autocommitted",
    "list_audit",
    "order_sides",
    "record_answer",
    "record_answer_alone",
    "record_request",
    "record_sent_reading_settings",
]


@dataclass(frozen=True)
class AuditAnswer:
    status: str  # accepted | rejected | failed
    http_status: int | None = None
    order_id: str | None = None
    response: Mapping[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class AuditRow:
    id: int
    action: str
    via: str
    ticker: str | None
    client_order_id: str | None
    order_id: str | None
    request: dict[str, Any]
    response: dict[str, Any] | None
    status: str
    http_status: int | None
    error_code: str | None
    requested_at: datetime
    answered_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "via": self.via,
            "ticker": self.ticker,
            "client_order_id": self.client_order_id,
            "order_id": self.order_id,
            "request": self.request,
            "response": self.response,
            "status": self.status,
            "http_status": self.http_status,
            "error_code": self.error_code,
            "requested_at": self.requested_at.isoformat(),
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
        }


_INSERT = text(
    "INSERT INTO order_audit (user_id, action, via, api_token_id, ticker, client_order_id, "
    "order_id, request, status, response, http_status, error_code, error_message, "
    "answered_at) VALUES (:user_id, :action, :via, :token_id, :ticker, :client_order_id, "
    ":order_id, CAST(:request AS jsonb), :status, CAST(:response AS jsonb), :http_status, "
    ":error_code, :error_message, CASE WHEN :status = 'sent' THEN NULL ELSE now() END) "
    "RETURNING id"
)
_INSERT_SENT_READING_SETTINGS = text(
    "INSERT INTO order_audit (user_id, action, via, api_token_id, ticker, client_order_id, "
    "request, status) VALUES (:user_id, :action, :via, :token_id, :ticker, :client_order_id, "
    "CAST(:request AS jsonb), 'sent') "
    "RETURNING id, (SELECT settings FROM user_settings WHERE user_id = :user_id) AS settings"
)
_UPDATE = text(
    "UPDATE order_audit SET status = :status, http_status = :http_status, "
    "order_id = COALESCE(:order_id, order_id), response = CAST(:response AS jsonb), "
    "error_code = :error_code, error_message = :error_message, answered_at = now() "
    "WHERE id = :id AND user_id = :user_id"
)


_UPDATE_UNSENT = text(
    "UPDATE order_audit SET status = :status, http_status = :http_status, "
    "order_id = COALESCE(:order_id, order_id), response = CAST(:response AS jsonb), "
    "error_code = :error_code, error_message = :error_message, answered_at = now(), "
    "request = request - 'kalshi' WHERE id = :id AND user_id = :user_id"
)


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str, separators=(",", ":"))


def record_request(
    conn: Connection,
    principal: Principal,
    action: str,
    request: Mapping[str, Any],
    *,
    ticker: str | None = None,
    client_order_id: str | None = None,
    order_id: str | None = None,
    answer: AuditAnswer | None = None,
) -> int:
    """Insert the request (``sent``, or already answered when ``answer`` is given)."""
    row_id = conn.execute(
        _INSERT,
        {
            "user_id": principal.user_id,
            "action": action,
            "via": principal.via,
            "token_id": principal.token_id,
            "ticker": ticker,
            "client_order_id": client_order_id,
            "order_id": order_id or (answer.order_id if answer else None),
            "request": _json(request),
            "status": answer.status if answer else "sent",
            "response": _json(answer.response) if answer else None,
            "http_status": answer.http_status if answer else None,
            "error_code": answer.error_code if answer else None,
            "error_message": (answer.error_message or "")[:500] or None if answer else None,
        },
    ).scalar_one()
    return int(row_id)


def record_sent_reading_settings(
    conn: Connection,
    principal: Principal,
    action: str,
    request: Mapping[str, Any],
    *,
    ticker: str,
    client_order_id: str,
) -> tuple[int, Any]:
    """Insert the request as ``sent`` and read the user's settings document in the same
    statement (one round trip on the hot path): ``(row id, settings or None)``. The caller
    decides with the settings and, when they refuse the order, completes the row with
    :func:`record_answer` (``unsent=True``) before answering; the order path sends both in
    the driver's autocommit (:func:`autocommitted`, ADR 0221)."""
    row = conn.execute(
        _INSERT_SENT_READING_SETTINGS,
        {
            "user_id": principal.user_id,
            "action": action,
            "via": principal.via,
            "token_id": principal.token_id,
            "ticker": ticker,
            "client_order_id": client_order_id,
            "request": _json(request),
        },
    ).one()
    return int(row.id), row.settings


def record_answer(
    conn: Connection,
    user_id: uuid.UUID,
    audit_id: int,
    answer: AuditAnswer,
    *,
    unsent: bool = False,
) -> None:
    """Complete row ``audit_id``; ``unsent``: it was refused before sending, so the V2 body
    it was going to send is dropped from its request."""
    conn.execute(
        _UPDATE_UNSENT if unsent else _UPDATE,
        {
            "id": audit_id,
            "user_id": user_id,
            "status": answer.status,
            "http_status": answer.http_status,
            "order_id": answer.order_id,
            "response": _json(answer.response),
            "error_code": answer.error_code,
            "error_message": (answer.error_message or "")[:500] or None,
        },
    )


def record_answer_alone(
    conn: Connection, user_id: uuid.UUID, audit_id: int, answer: AuditAnswer
) -> None:
    """Complete row ``audit_id`` in one statement outside any transaction
    (:func:`autocommitted`), on a connection whose earlier work is then committed."""
    with autocommitted(conn):
        record_answer(conn, user_id, audit_id, answer)


def order_sides(conn: Connection, user_id: uuid.UUID, order_ids: Iterable[str]) -> dict[str, str]:
    """The side (``yes``/``no``) each of these orders was placed with through this API."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT DISTINCT ON (order_id) order_id, request->>'side' AS side FROM order_audit "
            "WHERE user_id = :user_id AND order_id IN :ids "
            "AND request->>'side' IS NOT NULL ORDER BY order_id, id"
        ).bindparams(bindparam("ids", expanding=True)),
        {"user_id": user_id, "ids": ids},
    )
    return {str(r.order_id): str(r.side) for r in rows if r.side in ("yes", "no")}


def list_audit(conn: Connection, user_id: uuid.UUID, limit: int = 100) -> list[AuditRow]:
    """The user's newest audit rows first."""
    rows = conn.execute(
        text(
            "SELECT id, action, via, ticker, client_order_id, order_id, request, response, "
            "status, http_status, error_code, requested_at, answered_at FROM order_audit "
            "WHERE user_id = :user_id ORDER BY id DESC LIMIT :limit"
        ),
        {"user_id": user_id, "limit": limit},
    )
    return [
        AuditRow(
            id=int(r.id),
            action=r.action,
            via=r.via,
            ticker=r.ticker,
            client_order_id=r.client_order_id,
            order_id=r.order_id,
            request=dict(r.request),
            response=dict(r.response) if r.response is not None else None,
            status=r.status,
            http_status=r.http_status,
            error_code=r.error_code,
            requested_at=r.requested_at,
            answered_at=r.answered_at,
        )
        for r in rows
    ]
