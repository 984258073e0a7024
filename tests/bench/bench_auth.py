"""Auth-core benchmarks: what authenticating a request and loading a user's key cost.

Run: ``.venv/bin/python -m tests.bench.bench_auth`` (about 30 seconds). It starts a
throwaway Postgres cluster of its own (the tests' harness), runs everything in this
process, prints each figure beside a baseline measured in the same run, and deletes the
cluster at the end.

1. ``authenticate`` of a cookie session (GET; and POST, which adds the CSRF checks): JWT
   verification plus one query (session live, not revoked, Kalshi key valid) vs the
   competent alternative without JWTs, an opaque session id looked up in Postgres (the
   same ``user_sessions`` primary-key lookup, nothing else). The ratio is the price of
   the signature check and the revocation and key-status lookups on top.
2. ``load_signer``: open the sealed key and build the signer, skipping OpenSSL's RSA
   consistency check for a key validated at upload (``validated=True``), vs the same with
   the check (the default every loader of an untrusted PEM uses).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from shared.auth.credentials import load_signer, save_credential
from shared.auth.csrf import new_csrf_token
from shared.auth.pem import load_rsa_private_key
from shared.auth.principal import authenticate
from shared.auth.session_store import record_session
from shared.auth.sessions import SessionTokens, SigningKeys
from shared.auth.settings import AuthSettings
from shared.auth.vault import CredentialVault, KeyRing, SealedCredential
from shared.db.migrate import upgrade
from shared.kalshi.signing import KalshiSigner, generate_private_key_pem
from tests.databases import recreate_database, throwaway_cluster

REQUESTS = 2000
LOADS = 200


class Request:
    def __init__(self, method: str, headers: dict[str, str]) -> None:
        self.method, self.path, self.headers = method, "/api/v1/backtests", headers


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(run: Callable[[], Any], n: int) -> list[float]:
    for _ in range(min(50, n)):  # warm the pool and the caches
        run()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return samples


def report(name: str, samples: list[float], baseline: list[float]) -> None:
    p50, p95 = statistics.median(samples), percentile(samples, 95)
    b50, b95 = statistics.median(baseline), percentile(baseline, 95)
    print(
        f"   {name}: p50 {p50 * 1e3:.3f} ms, p95 {p95 * 1e3:.3f} ms; baseline p50 "
        f"{b50 * 1e3:.3f} ms, p95 {b95 * 1e3:.3f} ms; baseline/ours at p50 {b50 / p50:.2f}x"
    )


def main() -> None:
    with throwaway_cluster("ki-bench-auth-") as postgres:
        url = recreate_database(postgres, "bench_auth")
        upgrade(url)
        engine = sa.create_engine(url, pool_size=2)
        try:
            run(engine)
        finally:
            engine.dispose()


def run(engine: sa.Engine) -> None:
    settings = AuthSettings()
    tokens = SessionTokens(SigningKeys.generate(), settings.issuer, settings.audience)
    vault = CredentialVault(KeyRing({"1": bytes(range(32))}, "1"))
    user = uuid.uuid4()
    pem = generate_private_key_pem()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, kalshi_key_id, environment) VALUES (:id, 'k', 'custom')"
            ),
            {"id": user},
        )
        save_credential(conn, vault, user, "k", pem)
        session = tokens.issue(user)
        record_session(conn, session)
    csrf = new_csrf_token()
    get = Request("GET", {"Cookie": f"ki_session={session.token}"})
    post = Request(
        "POST",
        {
            "Cookie": f"ki_session={session.token}; ki_csrf={csrf}",
            "X-CSRF-Token": csrf,
            "Origin": "https://insights.example.com",
            "Host": "insights.example.com",
        },
    )
    lookup = sa.text("SELECT user_id FROM user_sessions WHERE jti = :jti")

    def opaque() -> None:
        with engine.begin() as conn:
            assert conn.execute(lookup, {"jti": session.jti}).scalar_one() == user

    print(f"1. authenticate a cookie session, {REQUESTS} requests each")
    baseline = timed(opaque, REQUESTS)
    for name, request in (("GET", get), ("POST", post)):
        samples = timed(
            lambda r=request: authenticate(r, tokens=tokens, settings=settings, engine=engine),
            REQUESTS,
        )
        report(f"authenticate {name} vs opaque session id", samples, baseline)
    verify = timed(lambda: tokens.verify(session.token), REQUESTS)
    print(f"   of which JWT verification alone: p50 {statistics.median(verify) * 1e6:.0f} us")

    print(f"2. load_signer, {LOADS} loads each")
    select = sa.text(
        "SELECT key_version, nonce, ciphertext FROM user_credentials WHERE user_id = :u"
    )
    with engine.connect() as conn:
        fast = timed(lambda: load_signer(conn, vault, user), LOADS)

        def checked() -> None:
            row = conn.execute(select, {"u": user}).one()
            sealed = SealedCredential(row.key_version, bytes(row.nonce), bytes(row.ciphertext))
            KalshiSigner("k", load_rsa_private_key(vault.open(user, sealed)))

        slow = timed(checked, LOADS)
    report("load_signer (validated at upload) vs full RSA check", fast, slow)


if __name__ == "__main__":
    main()
