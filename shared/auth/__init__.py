"""The security core every deployable uses: who is calling, and what they may do.

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
