"""JSON responses with conditional-request support.

``ETag`` is a strong validator over the exact body bytes, so a client (or the CDN in
front of the load balancer) that sends ``If-None-Match`` with it gets ``304 Not Modified``
and no body: market data changes once per poll, so most refreshes between polls are 304s.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.api.errors import ApiError
from shared.domain.units import json_default

__all__ = ["NO_STORE", "JsonResponse", "dumps", "error_response", "json_response", "public_cache"]

NO_STORE = "no-store"


def public_cache(max_age: int, stale_while_revalidate: int | None = None) -> str:
    """A Cache-Control value for data everyone may share for ``max_age`` seconds."""
    value = f"public, max-age={max_age}"
    if stale_while_revalidate:
        value += f", stale-while-revalidate={stale_while_revalidate}"
    return value


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON; Decimals as strings (exact), datetimes as ISO 8601."""
    return json.dumps(
        data, default=json_default, separators=(",", ":"), ensure_ascii=False
    ).encode()


@dataclass
class JsonResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def as_flask(self) -> tuple[bytes, int, dict[str, str]]:
        """The ``(body, status, headers)`` triple a Flask view may return."""
        return self.body, self.status, self.headers


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = [c.strip() for c in if_none_match.split(",")]
    return "*" in candidates or etag in candidates or f"W/{etag}" in candidates


def json_response(
    data: Any,
    status: int = 200,
    *,
    cache_control: str = NO_STORE,
    request_headers: Mapping[str, str] | None = None,
    etag: bool = True,
    extra_headers: Mapping[str, str] | None = None,
) -> JsonResponse:
    """A JSON answer; with ``etag`` (2xx only) it may become a bodiless 304."""
    body = dumps(data)
    headers = {"Content-Type": "application/json", "Cache-Control": cache_control}
    headers.update(extra_headers or {})
    if etag and 200 <= status < 300:
        tag = _etag(body)
        headers["ETag"] = tag
        if request_headers is not None and _matches(request_headers.get("If-None-Match"), tag):
            headers.pop("Content-Type")
            return JsonResponse(304, b"", headers)
    return JsonResponse(status, body, headers)


def error_response(error: ApiError) -> JsonResponse:
    headers = {"Content-Type": "application/json", "Cache-Control": NO_STORE, **error.headers}
    return JsonResponse(error.status, dumps(error.body()), headers)
