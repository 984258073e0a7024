"""Kalshi's request authentication: three headers, an RSA-PSS signature, a skew window.

The checks run in the order that yields Kalshi's recorded answers: a missing header
first, then the timestamp window, then the key id, then the signature. Every failure is
a 401 with the exact body recorded on Kalshi's demo environment (``auth__*.json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.responses import Response

from emulators.kalshi_sim import errors
from shared.kalshi.signing import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify_signature

if TYPE_CHECKING:
    from emulators.kalshi_sim.accounts import Account, AccountBook


@dataclass(frozen=True)
class AuthFailure:
    """Why a request was refused; :meth:`response` renders Kalshi's exact body."""

    code: str
    message: str
    details: str | None = None

    def response(self) -> Response:
        return errors.nested(401, self.code, self.message, self.details)


SIGNATURE_MISSING = AuthFailure(
    "signature_is_missing_from_headers", "signature is missing from headers"
)
# Not recorded: by analogy with the recorded signature case.
TIMESTAMP_MISSING = AuthFailure(
    "timestamp_is_missing_from_headers", "timestamp is missing from headers"
)
KEY_MISSING = AuthFailure("key_id_is_missing_from_headers", "key id is missing from headers")
TIMESTAMP_EXPIRED = AuthFailure("header_timestamp_expired", "header timestamp expired")
UNKNOWN_KEY = AuthFailure("authentication_error", "authentication_error", "NOT_FOUND")
BAD_SIGNATURE = AuthFailure(
    "authentication_error", "authentication_error", "INCORRECT_API_KEY_SIGNATURE"
)


def has_any_auth_header(headers: Mapping[str, str]) -> bool:
    return any(name in headers for name in (HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP))


def authenticate(
    headers: Mapping[str, str],
    method: str,
    path: str,
    accounts: AccountBook,
    now_ms: int,
    skew_past_ms: int,
    skew_future_ms: int,
) -> Account | AuthFailure:
    """Check one request's KALSHI-ACCESS-* headers (``headers`` must be case-insensitive)."""
    signature = headers.get(HEADER_SIGNATURE)
    timestamp = headers.get(HEADER_TIMESTAMP)
    key_id = headers.get(HEADER_KEY)
    if not signature:
        return SIGNATURE_MISSING
    if not timestamp:
        return TIMESTAMP_MISSING
    if not key_id:
        return KEY_MISSING
    try:
        stamp = int(timestamp)
    except ValueError:
        return TIMESTAMP_EXPIRED
    if stamp < now_ms - skew_past_ms or stamp > now_ms + skew_future_ms:
        return TIMESTAMP_EXPIRED
    account = accounts.by_key(key_id)
    if account is None:
        return UNKNOWN_KEY
    if not verify_signature(account.public_key, timestamp, method, path, signature):
        return BAD_SIGNATURE
    return account
