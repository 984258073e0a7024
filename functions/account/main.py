"""HTTP function ``account``: the /api/v1/account API (thin adapter over the service).

The same three parts as every function: logging and settings at import, one lazily built
service, the decorated handler adapting the request. Routes, body parsing, cookies and the
error statuses live in :mod:`shared.account.http_api`; sign-in and the reads in
:mod:`shared.account.service`.
"""

from __future__ import annotations

import threading
from typing import Any

import functions_framework

from shared.account.http_api import AccountApi, build_router, respond
from shared.account.jobs import scheduler_auth
from shared.account.service import AccountService
from shared.account.settings import AccountSettings
from shared.api.framework import register_json_framework_errors
from shared.config import cursor_key
from shared.logging import configure_logging

# 1. At import, before any request: every record is scrubbed, whichever handler writes it.
configure_logging()
# Malformed settings (a cookie without Secure outside the local stack, a bad Kalshi URL)
# stop the instance starting; so does a missing cursor key (cursors could be forged).
SETTINGS = AccountSettings.from_env()
cursor_key()

# 2. One service per instance, built on the first request that needs it.
_service: AccountService | None = None
_lock = threading.Lock()


def service() -> AccountService:
    """Lazy global: the database pool, the key rings from Secret Manager and the Pub/Sub
    client are built on the first request and reused by every later one."""
    global _service
    with _lock:
        if _service is None:
            from shared.account.adapters import service_from_settings

            _service = service_from_settings(SETTINGS)
        return _service


router = build_router(AccountApi(service, job_auth=scheduler_auth(SETTINGS)))


# 3. The handler: adapt the request, nothing else.
@functions_framework.http
def account(request: Any) -> tuple[bytes, int, list[tuple[str, str]]]:
    return respond(router, request)


register_json_framework_errors()
