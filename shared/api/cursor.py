"""Opaque pagination cursors: base64url JSON with a short MAC against casual tampering.

A cursor records where the previous page ended plus a fingerprint of the query it belongs
to, so reusing it with other filters or another sort is a clean 400, not a wrong page.
The MAC key only needs to be stable across instances of one deployment; it guards
against accidents and fiddling, not against an attacker with the source (a forged cursor
can only name another position in data the caller may read anyway).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from shared import config
from shared.api.errors import invalid_cursor

__all__ = ["MAX_CURSOR_LENGTH", "decode_cursor", "encode_cursor"]

MAX_CURSOR_LENGTH = 1024


def _key() -> bytes:
    """``API_CURSOR_KEY``, read per call (cheap) so a test can change it; the built-in key
    only on the local stack (:func:`shared.config.cursor_key`)."""
    return config.cursor_key().reveal().encode()


def _mac(payload: bytes) -> bytes:
    return hmac.new(_key(), payload, hashlib.sha256).digest()[:8]


def encode_cursor(position: Mapping[str, Any]) -> str:
    payload = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(_mac(payload) + payload).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The position inside ``cursor``; ApiError 400 ``invalid_cursor`` for anything else."""
    invalid = invalid_cursor()
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise invalid from None
    mac, payload = raw[:8], raw[8:]
    if len(mac) < 8 or not hmac.compare_digest(mac, _mac(payload)):
        raise invalid
    try:
        position = json.loads(payload)
    except ValueError:
        raise invalid from None
    if not isinstance(position, dict):
        raise invalid
    return position
