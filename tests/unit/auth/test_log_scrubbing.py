"""What the auth core hands out never survives into a log line."""

from __future__ import annotations

import secrets
import uuid

from shared.auth.api_tokens import TOKEN_PREFIX
from shared.auth.sessions import SessionTokens, SigningKeys
from shared.logging import redact


def test_api_tokens_sessions_and_cookies_are_redacted() -> None:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session = SessionTokens(SigningKeys.generate(), "i", "a").issue(uuid.uuid4()).token
    for line in (
        f"script used {token} to submit",
        f"Authorization: Bearer {token}",
        f"Cookie: ki_session={session}; ki_csrf=abc",
        f"renewed session {session}",
        f"token={token},",
    ):
        scrubbed = redact(line)
        assert token not in scrubbed and session not in scrubbed, scrubbed
        assert session.split(".")[2] not in scrubbed
    # Ordinary words starting with ki_ are left alone.
    assert redact("table ki_markets granted") == "table ki_markets granted"
