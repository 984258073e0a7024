"""Tables of order entry (migration ``0009_trading``).

- ``order_audit``: one row per order request a user sent through the account API (place,
  amend, cancel, cancel-all, close), written *before* the request goes to Kalshi and
  completed with Kalshi's answer, so an order Kalshi accepted is never missing from the
  record even when the function dies before it can answer the browser. It also keeps the
  user's own wording of an order (``buy no at 0.55``), which Kalshi's V2 book does not
  (it stores ``ask`` at the YES price ``0.45``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.models import Base

__all__ = ["AUDIT_ACTIONS", "AUDIT_STATUSES", "OrderAudit"]

AUDIT_ACTIONS = ("place", "amend", "cancel", "cancel_all", "close")
AUDIT_STATUSES = ("sent", "accepted", "rejected", "failed")


class OrderAudit(Base):
    """One order request of a user and Kalshi's answer to it."""

    __tablename__ = "order_audit"
    __table_args__ = (
        CheckConstraint(
            "action IN ('place', 'amend', 'cancel', 'cancel_all', 'close')", name="action"
        ),
        CheckConstraint("status IN ('sent', 'accepted', 'rejected', 'failed')", name="status"),
        Index("ix_order_audit_user_id_requested_at", "user_id", "requested_at"),
        Index("ix_order_audit_user_id_order_id", "user_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(16))
    # The caller: "session" or "token" (and which token), for "who placed this?".
    via: Mapped[str] = mapped_column(String(8))
    api_token_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    ticker: Mapped[str | None] = mapped_column(String(128))
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    # Kalshi's order id, once known (the create's answer, or the order acted on).
    order_id: Mapped[str | None] = mapped_column(String(64))
    # What the user asked (our API's body, normalised) and what was sent to Kalshi (V2).
    request: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Kalshi's answer: its body on success, its error body (code, message) on refusal.
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10))
    http_status: Mapped[int | None] = mapped_column(SmallInteger)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
