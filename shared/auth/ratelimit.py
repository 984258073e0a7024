"""The sign-in rate limiter, shared by every instance through Postgres.

Signing in costs a signed Kalshi request, and a key id guessed with stolen PEMs would be
worth trying many times: attempts are limited per client address and per Kalshi key id.
Functions scale to many instances, so an in-memory counter would let an attacker spread
attempts across them; the counters live in ``rate_limit_counters`` instead, one row per
bucket, and each check is one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (the row
lock makes concurrent increments from any instance exact). Windows are fixed: a bucket's
window starts at its first hit and the count resets when it ends
(docs/decisions/0145-signin-limiter-in-postgres.md).

An attempt is counted *before* it is tried (so a burst of concurrent attempts cannot all
slip through) and refunded on success (:meth:`SigninLimiter.record_success`), so in effect
failures are what count. Call :meth:`~SigninLimiter.check_and_count` in a transaction of
its own that commits before the sign-in is attempted: a failed attempt must stay counted.

Client addresses: :func:`client_address` takes the address our own load balancer appended
to ``X-Forwarded-For``, never the client-supplied leftmost entries. IPv6 addresses are
bucketed by their /64 (one subscriber's allocation) so rotating through it buys nothing.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from shared.auth.settings import SigninLimits

__all__ = ["RateLimited", "SigninLimiter", "address_bucket", "client_address", "purge_counters"]

UNKNOWN_ADDRESS = "unknown"
_MAX_KEY_ID = 128

_HIT = text(
    "INSERT INTO rate_limit_counters AS c (bucket, window_start, hits, expires_at) "
    "VALUES (:bucket, :now, 1, :expires_at) "
    "ON CONFLICT (bucket) DO UPDATE SET "
    "window_start = CASE WHEN c.expires_at <= EXCLUDED.window_start "
    "THEN EXCLUDED.window_start ELSE c.window_start END, "
    "hits = CASE WHEN c.expires_at <= EXCLUDED.window_start THEN 1 ELSE c.hits + 1 END, "
    "expires_at = CASE WHEN c.expires_at <= EXCLUDED.window_start "
    "THEN EXCLUDED.expires_at ELSE c.expires_at END "
    "RETURNING hits, expires_at"
)


class RateLimited(Exception):
    """Too many attempts: answer 429 with ``Retry-After: retry_after_seconds``."""

    def __init__(self, retry_after_seconds: int, scope: str = "address") -> None:
        super().__init__(f"too many sign-in attempts; try again in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds
        self.scope = scope

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    candidate = value.strip()
    if candidate.startswith("[") and "]" in candidate:  # "[v6]:port"
        candidate = candidate[1 : candidate.index("]")]
    elif candidate.count(":") == 1:  # "v4:port"
        candidate = candidate.split(":", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def client_address(
    headers: Mapping[str, str] | Any, trusted_hops: int, peer: str | None = None
) -> str:
    """The client's address as our own proxies saw it.

    ``X-Forwarded-For`` is ``<whatever the client sent>, <hop 1>, ... <hop n>``: each proxy
    appends the address it received the request from. Only the last ``trusted_hops``
    entries were written by proxies we run, so the client is the entry ``trusted_hops``
    from the right; everything left of it is the client's own claim and is ignored.

    - Google's external HTTPS load balancer appends ``<client>, <load balancer>``: the
      header reaching the function is ``<supplied...>, <client>, <lb>`` and
      ``trusted_hops`` is 2 (the cloud default, ``AUTH_TRUSTED_PROXY_HOPS``).
    - The local gateway (``devstack/gateway.py``) appends one hop, the client: 1.

    With fewer entries than ``trusted_hops`` the request did not come through the proxies
    (a direct call), and with ``trusted_hops=0`` proxies are not trusted at all: the peer
    address is used. Returns a normalised IP, or ``"unknown"``.
    """
    raw = headers.get("X-Forwarded-For") if headers is not None else None
    entries = [e.strip() for e in str(raw).split(",")] if raw else []
    if trusted_hops > 0 and len(entries) >= trusted_hops:
        parsed = _parse_ip(entries[-trusted_hops])
        if parsed is not None:
            return str(parsed)
    parsed = _parse_ip(peer) if peer else None
    return str(parsed) if parsed is not None else UNKNOWN_ADDRESS


def address_bucket(address: str) -> str:
    """IPv4 as is; IPv6 by its /64 prefix (one subscriber's allocation)."""
    parsed = _parse_ip(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False))
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed) if parsed is not None else UNKNOWN_ADDRESS


def _key_bucket(key_id: str) -> str:
    return "signin:key:" + key_id.strip().lower()[:_MAX_KEY_ID]


@dataclass(frozen=True)
class SigninLimiter:
    limits: SigninLimits = field(default_factory=SigninLimits)

    def _hit(self, conn: Connection, bucket: str, limit: int, now: datetime, scope: str) -> None:
        row = conn.execute(
            _HIT, {"bucket": bucket, "now": now, "expires_at": now + self.limits.window}
        ).one()
        if row.hits > limit:
            wait = max(1, math.ceil((row.expires_at - now).total_seconds()))
            raise RateLimited(wait, scope)

    def check_and_count(
        self,
        conn: Connection,
        client_address: str,
        key_id: str | None,
        now: datetime | None = None,
    ) -> None:
        """Count one attempt from ``client_address`` for ``key_id``; raise
        :class:`RateLimited` when either budget is spent. The address is checked first, so
        a blocked address does not also burn the key's budget."""
        moment = now or datetime.now(UTC)
        address = address_bucket(client_address)
        self._hit(conn, "signin:addr:" + address, self.limits.per_address, moment, "address")
        if key_id:
            self._hit(conn, _key_bucket(key_id), self.limits.per_key, moment, "key")

    def record_success(self, conn: Connection, client_address: str, key_id: str | None) -> None:
        """A sign-in succeeded: the key's counter resets and the address gets its attempt
        back (what is left counted is failures)."""
        if key_id:
            conn.execute(
                text("DELETE FROM rate_limit_counters WHERE bucket = :bucket"),
                {"bucket": _key_bucket(key_id)},
            )
        conn.execute(
            text(
                "UPDATE rate_limit_counters SET hits = greatest(hits - 1, 0) WHERE bucket = :bucket"
            ),
            {"bucket": "signin:addr:" + address_bucket(client_address)},
        )


def purge_counters(
    conn: Connection, now: datetime | None = None, grace: timedelta = timedelta(0)
) -> int:
    """Delete counters whose window ended (they would reset on the next hit anyway)."""
    moment = (now or datetime.now(UTC)) - grace
    return int(
        conn.execute(
            text("DELETE FROM rate_limit_counters WHERE expires_at < :now"), {"now": moment}
        ).rowcount
    )
