"""client_address: the load balancer's hop, never what the client wrote itself."""

from __future__ import annotations

import pytest

from shared.auth.ratelimit import RateLimited, address_bucket, client_address


def xff(value: str) -> dict[str, str]:
    return {"X-Forwarded-For": value}


def test_google_load_balancer_shape_ignores_the_spoofed_leftmost_entries() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4, 5.6.7.8"; the LB appended client, itself.
    headers = xff("1.2.3.4, 5.6.7.8, 203.0.113.9, 130.211.0.1")
    assert client_address(headers, trusted_hops=2, peer="169.254.1.1") == "203.0.113.9"


def test_local_gateway_appends_one_hop() -> None:
    assert client_address(xff("10.9.9.9, 127.0.0.1"), trusted_hops=1) == "127.0.0.1"


def test_spoofed_header_without_our_proxy_falls_back_to_the_peer() -> None:
    # A direct call that brought its own header: fewer entries than hops we trust.
    assert client_address(xff("1.2.3.4"), trusted_hops=2, peer="198.51.100.7") == "198.51.100.7"


def test_zero_hops_trusts_only_the_peer() -> None:
    assert client_address(xff("1.2.3.4, 5.6.7.8"), trusted_hops=0, peer="198.51.100.7") == (
        "198.51.100.7"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("garbage, 203.0.113.9, 130.211.0.1", "203.0.113.9"),
        ("203.0.113.9:4711, 130.211.0.1", "203.0.113.9"),
        ("[2001:db8::1]:443, 130.211.0.1", "2001:db8::1"),
        ("2001:DB8:0::1, 130.211.0.1", "2001:db8::1"),
        ("not-an-ip, 130.211.0.1", "198.51.100.7"),
        ("", "198.51.100.7"),
    ],
)
def test_parsing(value: str, expected: str) -> None:
    assert client_address(xff(value), trusted_hops=2, peer="198.51.100.7") == expected


def test_nothing_usable_is_unknown() -> None:
    assert client_address({}, trusted_hops=2) == "unknown"
    assert client_address({}, trusted_hops=2, peer="nope") == "unknown"


def test_case_insensitive_headers_object() -> None:
    from werkzeug.datastructures import Headers

    headers = Headers([("x-forwarded-for", "1.1.1.1, 203.0.113.9, 130.211.0.1")])
    assert client_address(headers, trusted_hops=2) == "203.0.113.9"


def test_address_buckets() -> None:
    assert address_bucket("203.0.113.9") == "203.0.113.9"
    assert address_bucket("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_bucket("2001:db8:1:2:ffff::1") == address_bucket("2001:db8:1:2::9")
    assert address_bucket("::ffff:203.0.113.9") == "203.0.113.9"
    assert address_bucket("unknown") == "unknown"


def test_rate_limited_carries_retry_after() -> None:
    error = RateLimited(42, "key")
    assert error.headers == {"Retry-After": "42"} and error.scope == "key"
