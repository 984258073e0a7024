"""The CSRF matrix and the cookie headers."""

from __future__ import annotations

import pytest

from shared.auth.csrf import (
    CsrfRejected,
    check_csrf,
    clear_cookies,
    csrf_cookie,
    new_csrf_token,
    normalise_origin,
    session_cookie,
)

SITE = "https://insights.example.com"
TOKEN = new_csrf_token()
COOKIES = {"ki_csrf": TOKEN, "ki_session": "jwt"}


def good_headers(**extra: str) -> dict[str, str]:
    headers = {"Host": "insights.example.com", "Origin": SITE, "X-CSRF-Token": TOKEN}
    headers.update(extra)
    return {k: v for k, v in headers.items() if v}


def rejected(code: str, method: str = "POST", **kwargs: object) -> None:
    headers = kwargs.pop("headers", good_headers())
    cookies = kwargs.pop("cookies", COOKIES)
    allowed = kwargs.pop("allowed", [SITE])
    with pytest.raises(CsrfRejected) as caught:
        check_csrf(method, headers, cookies, allowed, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert TOKEN not in caught.value.message


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_safe_methods_pass_without_anything(method: str) -> None:
    check_csrf(method, {}, {}, [])


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_unsafe_methods_pass_with_origin_and_matching_token(method: str) -> None:
    check_csrf(method, good_headers(), COOKIES, [SITE])


def test_no_token() -> None:
    rejected("missing_csrf_token", headers=good_headers(**{"X-CSRF-Token": ""}))
    rejected("missing_csrf_token", cookies={"ki_session": "jwt"})


def test_wrong_token() -> None:
    rejected("csrf_token_mismatch", headers=good_headers(**{"X-CSRF-Token": new_csrf_token()}))
    rejected("csrf_token_mismatch", headers=good_headers(**{"X-CSRF-Token": TOKEN + "x"}))
    rejected("csrf_token_mismatch", headers=good_headers(**{"X-CSRF-Token": "é" * 300}))


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://insights.example.com",  # scheme downgrade
        "https://insights.example.com.evil.example",
        "https://insights.example.com:8443",
        "null",
        "garbage",
    ],
)
def test_cross_origin(origin: str) -> None:
    rejected("cross_origin", headers=good_headers(Origin=origin, Host="api.internal"))


def test_missing_origin_and_referer() -> None:
    rejected("missing_origin", headers=good_headers(Origin=""))


def test_referer_fallback() -> None:
    check_csrf("POST", good_headers(Origin="", Referer=SITE + "/dashboard?x=1"), COOKIES, [SITE])
    rejected("cross_origin", headers=good_headers(Origin="", Referer="https://evil.example/page"))


def test_same_host_without_configuration() -> None:
    local = {"Host": "127.0.0.1:8080", "Origin": "http://127.0.0.1:8080", "X-CSRF-Token": TOKEN}
    check_csrf("POST", local, COOKIES, [])
    rejected("cross_origin", headers=local, allowed=[], allow_same_host=False)
    rejected("cross_origin", headers={**local, "Origin": "http://127.0.0.1:9999"}, allowed=[])


def test_same_host_over_plain_http_only_on_loopback() -> None:
    public = {"Host": "insights.example.com", "X-CSRF-Token": TOKEN}
    check_csrf("POST", {**public, "Origin": SITE}, COOKIES, [])
    rejected(
        "cross_origin", headers={**public, "Origin": "http://insights.example.com"}, allowed=[]
    )
    check_csrf(
        "POST",
        {"Host": "localhost:8080", "Origin": "http://localhost:8080", "X-CSRF-Token": TOKEN},
        COOKIES,
        [],
    )


def test_header_names_are_case_insensitive() -> None:
    headers = {"origin": SITE, "x-csrf-token": TOKEN, "host": "x"}
    check_csrf("DELETE", headers, COOKIES, [SITE + "/"])


def test_normalise_origin() -> None:
    assert normalise_origin("HTTPS://Insights.Example.com:443") == SITE
    assert normalise_origin("http://localhost:80") == "http://localhost"
    assert normalise_origin("http://localhost:8080/path") == "http://localhost:8080"
    assert normalise_origin("ftp://x") is None
    assert normalise_origin("http://x:notaport") is None


def test_cookies() -> None:
    session = session_cookie("the.jwt.value")
    assert session.startswith("ki_session=the.jwt.value; Path=/")
    assert "HttpOnly" in session and "SameSite=Strict" in session and "Secure" in session
    csrf = csrf_cookie(TOKEN, secure=False)
    assert csrf.startswith(f"ki_csrf={TOKEN};") and "HttpOnly" not in csrf
    assert "Secure" not in csrf and "SameSite=Strict" in csrf
    cleared = clear_cookies(secure=True)
    assert [c.split("=")[0] for c in cleared] == ["ki_session", "ki_csrf"]
    assert all("Max-Age=0" in c and "Secure" in c for c in cleared)


def test_tokens_are_random_and_long() -> None:
    assert len({new_csrf_token() for _ in range(100)}) == 100
    assert len(new_csrf_token()) >= 43
