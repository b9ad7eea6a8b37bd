"""Accounts (issue 8, part 6): stored password hashes meet argon2id's minimum, the session cookie's flags, the
token rotating at login, cross-site writes refused without changing anything, and the login and money-moving
rate limits answering 429 with Retry-After (the money limit across two app instances sharing the database,
as two workers do, on SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import datetime as dt
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, Type
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update

from dbfixtures import Db, db, pg_db, pg_url, sqlite_db
from huiqi.accounts import service as accounts
from huiqi.accounts.models import RateEvent, User
from huiqi.audit.models import AuditEntry
from huiqi.config import Settings
from huiqi.ledger.models import Pool
from huiqi.web.app import create_app
from huiqi.web.security import ANON_COOKIE, SESSION_COOKIE, anon_csrf, money_routes

__all__ = ["db", "pg_db", "pg_url", "sqlite_db"]

PASSWORD = "correct horse battery"
#: OWASP's minimum for argon2id: 19 MiB of memory, 2 iterations, 1 lane.
MIN_M, MIN_T, MIN_P = 19 * 1024, 2, 1
HASH = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$")


class Browser(TestClient):
    """A logged-in client that keeps its CSRF token aside, so each test chooses what to send."""

    csrf: str = ""


@dataclass
class Site:
    db: Db
    settings: Settings
    apps: list[FastAPI]

    def client(self, username: str = "officer", *, app: int = 0, https: bool = False) -> Browser:
        c = Browser(self.apps[app], base_url="https://testserver" if https else "http://testserver")
        r = c.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.csrf = r.json()["csrf_token"]
        return c

    def count(self, model: Any) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)


def make_site(database: Db, tmp: Path, workers: int = 1, **overrides: Any) -> Site:
    settings = Settings(
        database_url=database.url,
        evidence_dir=tmp / "evidence",
        programmes_dir=tmp / "programmes",
        **overrides,
    )
    apps = [create_app(settings, pool_size=4) for _ in range(workers)]
    with database.session() as s:
        for name, role in (("officer", "officer"), ("admin", "admin"), ("officer2", "officer")):
            accounts.create_user(session=s, username=name, password=PASSWORD, role=role, actor="test")
        s.commit()
    return Site(database, settings, apps)


@pytest.fixture
def site(sqlite_db: Db, tmp_path: Path) -> Iterator[Site]:
    s = make_site(sqlite_db, tmp_path)
    yield s
    for app in s.apps:
        app.state.huiqi.store.close()


def pool_body(pool_id: str) -> dict[str, str]:
    return {
        "id": pool_id,
        "name": pool_id,
        "size": "1000.00",
        "period_start": "2025-01-01",
        "period_end": "2025-12-31",
    }


def new_pool(c: Browser, pool_id: str, **headers: str) -> Any:
    return c.post(
        "/api/v1/pools",
        json=pool_body(pool_id),
        headers={"Idempotency-Key": uuid.uuid4().hex, "X-CSRF-Token": c.csrf, **headers},
    )


# --- password hashes ---------------------------------------------------------------------------------------


def stored_hash(site: Site, username: str) -> str:
    with site.db.session() as s:
        value = s.execute(
            text("SELECT password_hash FROM users WHERE username = :u"), {"u": username}
        ).scalar()
    assert isinstance(value, str)
    return value


def assert_strong(encoded: str) -> None:
    m = HASH.match(encoded)
    assert m is not None, f"not an argon2id (v=19) hash: {encoded[:30]}..."
    memory, time, lanes = (int(g) for g in m.groups()[:3])
    assert memory >= MIN_M, f"argon2id memory {memory} KiB < {MIN_M} KiB"
    assert time >= MIN_T, f"argon2id time cost {time} < {MIN_T}"
    assert lanes >= MIN_P, f"argon2id parallelism {lanes} < {MIN_P}"
    salt, digest = (base64.b64decode(g + "=" * (-len(g) % 4)) for g in m.groups()[3:])
    assert len(salt) >= 16 and len(digest) >= 32


def test_stored_password_hashes_are_argon2id_at_least_owasp_minimum(site: Site) -> None:
    hashes = {u: stored_hash(site, u) for u in ("officer", "admin", "officer2")}
    for encoded in hashes.values():
        assert_strong(encoded)
        assert PASSWORD not in encoded
        PasswordHasher().verify(encoded, PASSWORD)
    assert len(set(hashes.values())) == 3, "the same password must hash differently (a salt each)"

    admin = site.client("admin")
    r = admin.post(
        "/api/v1/users/officer2/password",
        json={"password": "another good passphrase"},
        headers={"X-CSRF-Token": admin.csrf},
    )
    assert r.status_code in (200, 204), r.text
    assert_strong(stored_hash(site, "officer2"))


def test_a_weaker_hash_is_upgraded_at_the_next_login(site: Site) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID).hash(PASSWORD)
    with site.db.session() as s:
        s.execute(update(User).where(User.username == "officer").values(password_hash=weak))
        s.commit()
    with pytest.raises(AssertionError):
        assert_strong(stored_hash(site, "officer"))
    site.client("officer")
    assert_strong(stored_hash(site, "officer"))


# --- the session cookie ------------------------------------------------------------------------------------


def session_cookie_header(r: Any) -> str:
    found = [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}=")]
    assert len(found) == 1, r.headers.get_list("set-cookie")
    return str(found[0])


@pytest.mark.parametrize("https", [True, False])
def test_the_session_cookie_flags(site: Site, https: bool) -> None:
    c = TestClient(site.apps[0], base_url="https://testserver" if https else "http://testserver")
    r = c.post("/api/v1/auth/login", json={"username": "officer", "password": PASSWORD})
    assert r.status_code == 200
    attrs = [a.strip().lower() for a in session_cookie_header(r).split(";")]
    assert "httponly" in attrs
    assert "samesite=lax" in attrs or "samesite=strict" in attrs
    assert "path=/" in attrs
    assert ("secure" in attrs) is https, "Secure exactly when the request is https"
    max_age = [int(a.split("=")[1]) for a in attrs if a.startswith("max-age=")]
    assert max_age and 0 < max_age[0] <= accounts.SESSION_LIFETIME.total_seconds(), "the cookie must expire"
    assert_expires_with_max_age(session_cookie_header(r), max_age[0])


#: IMF-fixdate, the preferred HTTP date format (RFC 7231 section 7.1.1.1).
HTTP_DATE = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT"


def assert_expires_with_max_age(header: str, max_age: int) -> None:
    """Expires too (browsers that ignore Max-Age): an RFC 7231 date in GMT, the same instant as Max-Age."""
    expires = [
        a.strip()[len("expires=") :] for a in header.split(";") if a.strip().lower().startswith("expires=")
    ]
    assert len(expires) == 1, header
    assert re.fullmatch(HTTP_DATE, expires[0]), expires
    at = parsedate_to_datetime(expires[0])
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=max_age)
    assert abs((at - expected).total_seconds()) <= 5, (expires[0], max_age)


def test_the_session_cookie_flags_on_the_login_page(site: Site) -> None:
    c = TestClient(site.apps[0], base_url="https://testserver", follow_redirects=False)
    anon = uuid.uuid4().hex
    c.cookies.set(ANON_COOKIE, anon)
    r = c.post(
        "/login",
        data={
            "username": "officer",
            "password": PASSWORD,
            "csrf_token": anon_csrf(site.settings.secret_key, anon),
        },
    )
    assert r.status_code == 303, r.text
    attrs = [a.strip().lower() for a in session_cookie_header(r).split(";")]
    assert {"httponly", "secure", "path=/", "samesite=lax"} <= set(attrs)
    max_age = [int(a.split("=")[1]) for a in attrs if a.startswith("max-age=")]
    assert max_age and 0 < max_age[0] <= accounts.SESSION_LIFETIME.total_seconds()
    assert_expires_with_max_age(session_cookie_header(r), max_age[0])


def test_the_token_rotates_at_login_and_the_old_one_stops_working(site: Site) -> None:
    login = {"username": "officer", "password": PASSWORD}
    c = TestClient(site.apps[0])
    # a token planted before login (session fixation) is not kept
    r = c.post(
        "/api/v1/auth/login", json=login, headers={"Cookie": f"{SESSION_COOKIE}=planted-by-an-attacker"}
    )
    first, csrf = r.json()["token"], r.json()["csrf_token"]
    assert (
        session_cookie_header(r).startswith(f"{SESSION_COOKIE}={first};")
        and first != "planted-by-an-attacker"
    )
    r = c.post("/api/v1/auth/login", json=login, headers={"X-CSRF-Token": csrf})  # with the cookie it has
    second = r.json()["token"]
    assert second != first and session_cookie_header(r).startswith(f"{SESSION_COOKIE}={second};")
    probe = TestClient(site.apps[0])
    assert probe.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {first}"}).status_code == 401
    assert probe.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {second}"}).status_code == 200


# --- cross-site writes -------------------------------------------------------------------------------------


CROSS_SITE: dict[str, dict[str, str]] = {
    "no-token": {"X-CSRF-Token": ""},
    "wrong-token": {"X-CSRF-Token": "not-the-token"},
    "sec-fetch-cross-site": {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    "sec-fetch-same-site": {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.testserver"},
    "origin-only": {"Origin": "https://evil.example"},
    "origin-null": {"Origin": "null"},
}


@pytest.mark.parametrize("case", list(CROSS_SITE))
def test_a_cross_site_write_is_refused_and_changes_nothing(site: Site, case: str) -> None:
    c = site.client()
    pools, audit = site.count(Pool), site.count(AuditEntry)
    headers = CROSS_SITE[case]
    # the API with the cookie
    r = new_pool(c, f"api-{case}", **headers)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    # the page form, as a browser would send it from another site
    form = {**pool_body("x"), "pool_id": f"page-{case}", "idempotency_key": uuid.uuid4().hex}
    form["csrf_token"] = headers.get("X-CSRF-Token", c.csrf)
    page_headers = {k: v for k, v in headers.items() if k != "X-CSRF-Token"}
    r = c.post(
        "/officer/pools", data=form, headers={**page_headers, "X-CSRF-Token": ""}, follow_redirects=False
    )
    assert r.status_code == 403, r.text[:300]
    assert (site.count(Pool), site.count(AuditEntry)) == (pools, audit)


def test_a_same_origin_write_with_the_token_goes_through(site: Site) -> None:
    """The control for the test above: the same requests from the site itself work."""
    c = site.client()
    r = new_pool(c, "same-origin", **{"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"})
    assert r.status_code == 201, r.text
    form = {
        **pool_body("x"),
        "pool_id": "page-same-origin",
        "idempotency_key": uuid.uuid4().hex,
        "csrf_token": c.csrf,
    }
    r = c.post("/officer/pools", data=form, headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    assert site.count(Pool) == 2


def test_a_cross_site_login_form_is_refused(site: Site) -> None:
    c = TestClient(site.apps[0], follow_redirects=False)
    anon = uuid.uuid4().hex
    c.cookies.set(ANON_COOKIE, anon)
    data = {
        "username": "officer",
        "password": PASSWORD,
        "csrf_token": anon_csrf(site.settings.secret_key, anon),
    }
    r = c.post("/login", data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and SESSION_COOKIE not in r.cookies
    assert c.post("/login", data=data, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303


# --- rate limits -------------------------------------------------------------------------------------------


def test_login_answers_429_with_retry_after_past_its_limit(site: Site) -> None:
    c = TestClient(site.apps[0])
    for _ in range(accounts.MAX_FAILURES_PER_USER):
        r = c.post("/api/v1/auth/login", json={"username": "officer", "password": "wrong password!"})
        assert r.status_code == 401
    r = c.post("/api/v1/auth/login", json={"username": "officer", "password": PASSWORD})
    assert r.status_code == 429, "refused even with the right password, before it is checked"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(r.headers["retry-after"]) <= accounts.WINDOW.total_seconds()
    assert str(int(r.headers["retry-after"])) in r.json()["detail"]
    api_wait = int(r.headers["retry-after"])
    # the login page answers the same 429 with the same Retry-After (the form again, with the reason)
    page = TestClient(site.apps[0], follow_redirects=False)
    anon = uuid.uuid4().hex
    page.cookies.set(ANON_COOKIE, anon)
    form = {
        "username": "officer",
        "password": PASSWORD,
        "csrf_token": anon_csrf(site.settings.secret_key, anon),
    }
    r = page.post("/login", data=form)
    assert r.status_code == 429 and SESSION_COOKIE not in r.cookies, r.text
    assert api_wait - 2 <= int(r.headers["retry-after"]) <= api_wait
    # in the page's language (zh by default), with the same wait the header gives
    assert f"请在 {int(r.headers['retry-after'])} 秒后重试" in r.text
    # another user is not affected
    assert c.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}).status_code == 200


EXPECTED_MONEY_ROUTES = {
    # a second officer's approval moves the held money (maker-checker)
    ("POST", "/api/v1/approvals/{approval_id}/approve"),
    ("POST", "/officer/approvals/{approval_id}/approve"),
    ("POST", "/api/v1/applications/{application_id}/clawback"),
    ("POST", "/api/v1/applications/{application_id}/decide"),
    ("POST", "/api/v1/applications/{application_id}/grant"),
    ("POST", "/api/v1/applications/{application_id}/miss-milestone"),
    ("POST", "/api/v1/applications/{application_id}/recoveries"),
    ("POST", "/api/v1/applications/{application_id}/tranches/{seq}/pay"),
    ("POST", "/api/v1/applications/{application_id}/withdraw"),
    ("POST", "/api/v1/calls/{call_id}/decide"),
    ("POST", "/api/v1/calls/{call_id}/selection"),
    ("POST", "/api/v1/designations/{application_id}/end"),
    ("POST", "/api/v1/payments/{transaction_id}/reverse"),
    ("POST", "/api/v1/pools"),
    ("POST", "/applications/{application_id}/clawback"),
    ("POST", "/applications/{application_id}/decide"),
    ("POST", "/applications/{application_id}/grant"),
    ("POST", "/applications/{application_id}/pay"),
    ("POST", "/applications/{application_id}/recover"),
    ("POST", "/applications/{application_id}/reverse"),
    ("POST", "/applications/{application_id}/miss-milestone"),
    ("POST", "/officer/calls/{call_id}/decide"),
    ("POST", "/applications/{application_id}/withdraw"),
    ("POST", "/officer/designations/{application_id}/end"),
    ("POST", "/officer/pools"),
    ("POST", "/officer/selection/{call_id}/run"),
}


def test_the_money_limit_covers_every_write_that_takes_an_idempotency_key() -> None:
    assert money_routes() == EXPECTED_MONEY_ROUTES


@pytest.fixture
def limited(db: Db, tmp_path: Path) -> Iterator[Site]:
    """Two app instances (two workers) on one database, at most 3 money-moving writes a user a minute."""
    s = make_site(db, tmp_path, workers=2, money_rate_limit=3, money_rate_window=60)
    yield s
    for app in s.apps:
        app.state.huiqi.store.close()


def test_money_writes_answer_429_past_the_limit_across_workers_and_move_nothing(limited: Site) -> None:
    one, two = limited.client(app=0), limited.client(app=1)
    assert new_pool(one, "p1").status_code == 201
    assert new_pool(two, "p2").status_code == 201
    assert new_pool(one, "p3").status_code == 201
    pools, audit = limited.count(Pool), limited.count(AuditEntry)
    for c, pool_id in ((two, "p4"), (one, "p5")):
        r = new_pool(c, pool_id)
        assert r.status_code == 429, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert 0 < int(r.headers["retry-after"]) <= 60
        assert "nothing was done" in r.json()["detail"]
    # the page form is limited too, and a 429 moves no money
    form = {**pool_body("x"), "pool_id": "p6", "idempotency_key": uuid.uuid4().hex, "csrf_token": one.csrf}
    r = one.post("/officer/pools", data=form, follow_redirects=False)
    assert r.status_code == 429 and "retry-after" in r.headers
    assert (limited.count(Pool), limited.count(AuditEntry)) == (pools, audit)
    verify = limited.client("officer2").get("/api/v1/ledger/verify")
    assert verify.status_code == 200 and verify.json()["ok"], verify.text

    # the limit is per user: another officer is not held up
    assert new_pool(limited.client("officer2", app=1), "q1").status_code == 201
    # refusals are not counted, so once the window has moved on the user can write again
    with limited.db.session() as s:
        assert s.scalar(select(func.count()).select_from(RateEvent).where(RateEvent.key.like("money:%"))) == 4
        for event in s.scalars(select(RateEvent)):
            event.at -= dt.timedelta(seconds=61)
        s.commit()
    assert new_pool(two, "p7").status_code == 201


def test_concurrent_money_writes_never_exceed_the_limit(limited: Site) -> None:
    clients = [limited.client(app=i % 2) for i in range(8)]
    statuses: list[int] = []
    start = threading.Barrier(len(clients))

    def fire(i: int) -> None:
        start.wait()
        statuses.append(new_pool(clients[i], f"c{i}").status_code)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) <= {201, 429}, statuses
    # serialised per user: exactly the limit gets through, never more, and never none
    assert statuses.count(201) == 3, statuses
    assert limited.count(Pool) == statuses.count(201)


def test_the_money_limit_is_off_at_zero(sqlite_db: Db, tmp_path: Path) -> None:
    s = make_site(sqlite_db, tmp_path, money_rate_limit=0)
    try:
        c = s.client()
        assert [new_pool(c, f"z{i}").status_code for i in range(6)] == [201] * 6
        assert s.count(RateEvent) == 0
    finally:
        s.apps[0].state.huiqi.store.close()
