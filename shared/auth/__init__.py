"""The security core every deployable uses: who is calling, and what they may do.

Where the API differs from (or adds to) the brief it was built from:

- ``authenticate(request, *, tokens, settings, engine=... | conn=..., now=None)``: an
  engine (a short transaction of its own) or the caller's connection; no ``conn_factory``.
- ``Principal(user_id, via, scope, session, token_id)``; ``principal.jti`` is the
  session's id (``None`` for tokens); ``principal.allows(scope)``.
- ``InvalidSession`` codes add ``missing_key_id``, ``bad_algorithm`` and ``not_yet_valid``.
- ``IssuedSession`` also carries ``user_id`` (``record_session`` needs it).
- ``is_revoked`` is true for a session that was never recorded, not only for a revoked
  one (``user_sessions`` is an allowlist); ``revoke_session(conn, jti)`` revokes one.
- The limiter's table is ``rate_limit_counters``; ``SigninLimiter.record_success`` resets
  the key's counter and refunds the address's attempt; ``RateLimited.scope`` says which.
- ``users.last_login_at`` (0001) is renamed ``signed_in_at`` by ``0005_accounts``.
- Extras: ``credentials.credential_status`` / ``delete_credential``,
  ``AuthContext.load_signer`` (re-reads the ring on an unknown key version),
  ``load_rsa_private_key(pem, validated=True)`` for keys this system already validated.

- :mod:`shared.auth.pem`: validating an uploaded Kalshi private key.
- :mod:`shared.auth.vault`: sealing stored Kalshi keys with AES-256-GCM under a key ring.
- :mod:`shared.auth.sessions` / :mod:`shared.auth.session_store`: EdDSA-signed session
  JWTs and their revocation in Postgres.
- :mod:`shared.auth.csrf`: the double-submit CSRF check and the cookie headers.
- :mod:`shared.auth.api_tokens`: long-lived bearer tokens for scripts.
- :mod:`shared.auth.principal`: the one entry point a function calls (``authenticate``).
- :mod:`shared.auth.ratelimit`: the sign-in limiter shared by every instance.
- :mod:`shared.auth.credentials`: storing, loading and rotating users' Kalshi keys.

Nothing here reads the environment (settings come from :mod:`shared.config`), and no
message, repr or log line carries key material, a token or a JWT.
"""
