"""An expired session says so and brings the user back to the page they were on (a GET page, never a POST's
address), in the language they were reading."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from huiqi.web.security import LANG_COOKIE, SESSION_COOKIE
from web.conftest import PASSWORD, Web


def expired_client(web: Web, lang: str) -> TestClient:
    """A browser whose session cookie the server no longer knows, reading in ``lang``."""
    c = web.client(None)
    c.cookies.set(SESSION_COOKIE, "a-session-that-has-expired")
    c.cookies.set(LANG_COOKIE, lang)
    return c


def login_target(location: str) -> dict[str, list[str]]:
    parts = urlsplit(location)
    assert parts.path == "/login", location
    return parse_qs(parts.query)


def test_a_get_page_comes_back_with_its_query_in_its_language(sqlite_web: Web) -> None:
    c = expired_client(sqlite_web, "zh")
    r = c.get("/officer/applications?state=submitted")
    assert r.status_code == 303
    query = login_target(r.headers["location"])
    assert query["next"] == ["/officer/applications?state=submitted"]
    assert query["expired"] == ["1"]
    assert f"{LANG_COOKIE}=zh" in r.headers["set-cookie"]
    page = c.get(r.headers["location"])
    assert "您的登录已过期" in page.text
    assert 'value="/officer/applications?state=submitted"' in page.text
    done = c.post(
        "/login",
        data={"username": "officer", "password": PASSWORD, "next": query["next"][0]},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/officer/applications?state=submitted"
    back = c.get(done.headers["location"])
    assert back.status_code == 200
    assert '<html lang="zh-CN">' in back.text


def test_a_post_comes_back_to_the_page_the_form_was_on(sqlite_web: Web) -> None:
    c = expired_client(sqlite_web, "en")
    origin = str(c.base_url).rstrip("/")
    r = c.post(
        "/officer/pools",
        data={"csrf_token": "stale"},
        headers={"referer": origin + "/officer/calls?x=1", "sec-fetch-site": "same-origin"},
    )
    assert r.status_code == 303, r.text
    query = login_target(r.headers["location"])
    assert query["next"] == ["/officer/calls?x=1"]


def test_a_post_from_elsewhere_goes_home_never_to_its_own_address(sqlite_web: Web) -> None:
    c = expired_client(sqlite_web, "en")
    r = c.post("/officer/pools", data={}, headers={"referer": "https://evil.example/officer/calls"})
    assert r.status_code == 303
    assert login_target(r.headers["location"])["next"] == ["/"]


def test_a_first_visit_is_not_called_expired(sqlite_web: Web) -> None:
    c = sqlite_web.client(None)
    r = c.get("/officer")
    assert r.status_code == 303
    query = login_target(r.headers["location"])
    assert "expired" not in query
    assert query["next"] == ["/officer"]
