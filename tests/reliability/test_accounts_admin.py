"""Accounts (issue 13): login throttling by account and source address with growing delays instead of a hard
lock, so that an attacker elsewhere cannot keep the owner out; and user administration (unlock, reset a
password, disable and re-enable, change a role), each in the audit chain, from the API, the admin page and
``huiqi users``. The throttle and the administration run on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from dbfixtures import FIRM_A, Db, db, pg_db, pg_url, sqlite_db
from huiqi.accounts import throttle
from huiqi.accounts.models import LoginAttempt, User, WebSession
from huiqi.app import accounts
from huiqi.app.store import Store
from huiqi.audit.chain import verify_chain
from huiqi.audit.models import AuditEntry
from huiqi.cli import accounts_commands
from huiqi.cli.main import app as cli_app
from huiqi.config import Settings
from huiqi.rules.loader import load_pack
from huiqi.web.app import create_app
from huiqi.web.security import SESSION_COOKIE

__all__ = ["db", "pg_db", "pg_url", "sqlite_db"]

PASSWORD = "correct horse battery"
WRONG = "not the password!"
OWNER, ATTACKER = ("192.0.2.10", 40000), ("203.0.113.66", 40000)


@dataclass
class Site:
    db: Db
    app: FastAPI
    store: Store

    def client(self, address: tuple[str, int] = OWNER) -> TestClient:
        """A client calling from ``address`` (the throttle's source address)."""
        return TestClient(self.app, client=address)

    def login(self, username: str, password: str = PASSWORD, address: tuple[str, int] = OWNER) -> Any:
        return self.client(address).post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )

    def bearer(self, username: str, address: tuple[str, int] = OWNER) -> TestClient:
        r = self.login(username, address=address)
        assert r.status_code == 200, r.text
        c = self.client(address)
        c.headers["Authorization"] = f"Bearer {r.json()['token']}"
        return c

    def audit_actions(self, username: str) -> list[str]:
        with self.db.session() as s:
            rows = s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity == f"user:{username}")
                .order_by(AuditEntry.seq)
            )
            return list(rows)

    def age_failures(self, by: dt.timedelta) -> None:
        """Move every recorded failure ``by`` into the past (as if that much time had gone by)."""
        with self.db.session() as s:
            for row in s.scalars(select(LoginAttempt).where(~LoginAttempt.key.startswith("ok:"))):
                row.at -= by
            s.commit()


@pytest.fixture
def site(db: Db, tmp_path: Path) -> Iterator[Site]:
    settings = Settings(
        database_url=db.url, evidence_dir=tmp_path / "evidence", programmes_dir=tmp_path / "p"
    )
    app = create_app(settings, pool_size=4)
    st = app.state.huiqi.store
    for name, role in (("owner", "officer"), ("admin", "admin"), ("other", "auditor")):
        accounts.create_user(st, username=name, password=PASSWORD, role=role, actor="test")
    yield Site(db, app, st)
    app.state.huiqi.store.close()


def fail_logins(site: Site, username: str, address: tuple[str, int], times: int) -> list[int]:
    return [site.login(username, WRONG, address).status_code for _ in range(times)]


# --- the throttle ------------------------------------------------------------------------------------------


def test_an_attacker_elsewhere_does_not_keep_the_owner_out(site: Site) -> None:
    assert fail_logins(site, "owner", ATTACKER, throttle.PAIR_FREE) == [401] * throttle.PAIR_FREE
    # the attacker's address now waits, even with the right password (refused before it is checked)
    r = site.login("owner", PASSWORD, ATTACKER)
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(r.headers["retry-after"]) <= throttle.FIRST_DELAY.total_seconds()
    # the owner, at their own address, logs in at once
    assert site.login("owner", PASSWORD, OWNER).status_code == 200


def test_many_addresses_guessing_one_account_do_not_keep_the_owner_out_of_a_known_address(site: Site) -> None:
    assert site.login("owner", PASSWORD, OWNER).status_code == 200  # the owner's address becomes known
    for i in range(throttle.ACCOUNT_FREE):  # one guess from each of many addresses: no pair delay anywhere
        assert site.login("owner", WRONG, (f"198.51.100.{i}", 1)).status_code == 401
    stranger = site.login("owner", PASSWORD, ("198.51.100.200", 1))
    assert stranger.status_code == 429, "a new address waits once the account has many failures"
    assert int(stranger.headers["retry-after"]) > 0
    assert site.login("owner", PASSWORD, OWNER).status_code == 200, "the owner's known address does not"


def test_delays_grow_with_each_failure_and_end(site: Site) -> None:
    fail_logins(site, "owner", ATTACKER, throttle.PAIR_FREE)
    waits = []
    for _ in range(3):
        r = site.login("owner", WRONG, ATTACKER)
        assert r.status_code == 429
        waits.append(int(r.headers["retry-after"]))
        site.age_failures(dt.timedelta(seconds=waits[-1] + 1))  # the delay has run
        assert site.login("owner", WRONG, ATTACKER).status_code == 401  # one more guess, then a longer wait
    r = site.login("owner", WRONG, ATTACKER)
    waits.append(int(r.headers["retry-after"]))
    assert waits == sorted(waits) and waits[-1] > waits[0], waits
    assert all(w <= throttle.WINDOW.total_seconds() for w in waits)
    # once the delay has run, the right password gets in from there too
    site.age_failures(dt.timedelta(seconds=waits[-1] + 1))
    assert site.login("owner", PASSWORD, ATTACKER).status_code == 200


@given(failures=st.integers(0, 200), free=st.integers(0, 40))
def test_delay_after_is_none_then_doubling_and_capped(failures: int, free: int) -> None:
    wait = throttle.delay_after(failures, free)
    if failures < free:
        assert wait == dt.timedelta(0)
        return
    assert throttle.FIRST_DELAY <= wait <= throttle.WINDOW
    nxt = throttle.delay_after(failures + 1, free)
    assert nxt == min(wait * 2, throttle.WINDOW)


def test_parallel_guesses_each_see_the_failures_before_them(site: Site) -> None:
    """Logins of one name are serialised: a burst of guesses gets no more than the free ones checked."""
    statuses: list[int] = []
    barrier = threading.Barrier(10)

    def guess() -> None:
        c = site.client(ATTACKER)
        barrier.wait()
        statuses.append(
            c.post("/api/v1/auth/login", json={"username": "owner", "password": WRONG}).status_code
        )

    threads = [threading.Thread(target=guess) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [401] * throttle.PAIR_FREE + [429] * (10 - throttle.PAIR_FREE), statuses


# --- administration ----------------------------------------------------------------------------------------


def test_admin_unlock_ends_the_delay_and_is_audited(site: Site) -> None:
    fail_logins(site, "owner", ATTACKER, throttle.PAIR_FREE)
    admin = site.bearer("admin")
    listed = {u["username"]: u for u in admin.get("/api/v1/users").json()}
    assert listed["owner"]["failures"] == throttle.PAIR_FREE and listed["owner"]["delayed_until"]
    r = admin.post("/api/v1/users/owner/unlock")
    assert r.status_code == 200, r.text
    assert r.json()["failures"] == 0 and r.json()["delayed_until"] is None
    assert site.login("owner", PASSWORD, ATTACKER).status_code == 200
    assert "unlocked" in site.audit_actions("owner")


def test_a_disabled_user_cannot_log_in_and_their_sessions_end(site: Site) -> None:
    owner = site.bearer("owner")
    assert owner.get("/api/v1/auth/me").status_code == 200
    admin = site.bearer("admin")
    r = admin.post("/api/v1/users/owner/disable")
    assert r.status_code == 200 and r.json()["active"] is False, r.text
    assert owner.get("/api/v1/auth/me").status_code == 401, "the open session ended"
    with site.db.session() as s:
        owner_id = s.scalar(select(User.id).where(User.username == "owner"))
        assert s.scalars(select(WebSession).where(WebSession.user_id == owner_id)).all() == []
    refused = site.login("owner")
    assert refused.status_code == 401 and "disabled" in refused.json()["detail"]
    assert admin.post("/api/v1/users/owner/enable").json()["active"] is True
    assert site.login("owner").status_code == 200
    assert site.audit_actions("owner")[-2:] == ["disabled", "enabled"]


def test_a_disabled_user_with_the_wrong_password_learns_nothing(site: Site) -> None:
    site.bearer("admin").post("/api/v1/users/owner/disable")
    r = site.login("owner", WRONG)
    assert r.status_code == 401 and "disabled" not in r.json()["detail"]


def test_reset_password_ends_sessions_and_forgets_failures(site: Site) -> None:
    owner = site.bearer("owner")
    fail_logins(site, "owner", ATTACKER, throttle.PAIR_FREE)
    admin = site.bearer("admin")
    r = admin.post("/api/v1/users/owner/password", json={"password": "a brand new passphrase"})
    assert r.status_code == 204, r.text
    assert owner.get("/api/v1/auth/me").status_code == 401
    assert site.login("owner", "a brand new passphrase", ATTACKER).status_code == 200
    assert site.audit_actions("owner")[-1] == "password_set"


def test_a_role_change_holds_from_the_next_request(site: Site) -> None:
    owner = site.bearer("owner")
    assert owner.get("/api/v1/firms").status_code == 200  # officers list firms
    admin = site.bearer("admin")
    bad = admin.put("/api/v1/users/owner/role", json={"role": "firm_member"})
    assert bad.status_code == 422 and "firm_uscc" in bad.json()["detail"]
    r = admin.put("/api/v1/users/owner/role", json={"role": "firm_member", "firm_uscc": FIRM_A})
    assert r.status_code == 200 and r.json()["role"] == "firm_member", r.text
    assert owner.get("/api/v1/firms").status_code == 403
    assert owner.get("/api/v1/auth/me").json()["firm_uscc"] == FIRM_A
    assert site.audit_actions("owner")[-1] == "role_changed"
    with site.db.session() as s:
        assert verify_chain(session=s).ok


def test_the_last_administrator_cannot_be_disabled_or_demoted(site: Site) -> None:
    admin = site.bearer("admin")
    for r in (
        admin.post("/api/v1/users/admin/disable"),
        admin.put("/api/v1/users/admin/role", json={"role": "officer"}),
    ):
        assert r.status_code == 422 and "last active administrator" in r.json()["detail"], r.text
    assert admin.put("/api/v1/users/other/role", json={"role": "admin"}).status_code == 200
    assert admin.post("/api/v1/users/admin/disable").status_code == 200  # another admin remains


def test_only_admins_administer_users(site: Site) -> None:
    owner = site.bearer("owner")
    for r in (
        owner.post("/api/v1/users/other/disable"),
        owner.post("/api/v1/users/other/unlock"),
        owner.put("/api/v1/users/other/role", json={"role": "admin"}),
    ):
        assert r.status_code == 403
    assert site.audit_actions("other") == ["created"]


def test_unknown_users_are_404(site: Site) -> None:
    admin = site.bearer("admin")
    assert admin.post("/api/v1/users/nobody/disable").status_code == 404
    assert admin.post("/api/v1/users/nobody/unlock").status_code == 404


# --- the admin page -----------------------------------------------------------------------------------------


def page_client(site: Site) -> tuple[TestClient, str]:
    c = TestClient(site.app, follow_redirects=False, client=OWNER)
    r = c.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
    c.cookies.set(SESSION_COOKIE, r.json()["token"])
    return c, r.json()["csrf_token"]


def test_the_admin_page_unlocks_disables_enables_and_changes_roles(site: Site) -> None:
    fail_logins(site, "owner", ATTACKER, throttle.PAIR_FREE)
    c, csrf = page_client(site)
    page = c.get("/admin/users")
    assert page.status_code == 200 and "/admin/users/owner/unlock" in page.text
    steps = [
        ("unlock", {}),
        ("disable", {}),
        ("enable", {}),
        ("role", {"role": "auditor"}),
        ("password", {"password": "another fine passphrase"}),
    ]
    for action, data in steps:
        r = c.post(f"/admin/users/owner/{action}", data={**data, "csrf_token": csrf})
        assert r.status_code == 303, (action, r.text[:300])
        assert c.get(r.headers["location"]).status_code == 200
    assert site.audit_actions("owner")[1:] == [
        "unlocked",
        "disabled",
        "enabled",
        "role_changed",
        "password_set",
    ]
    assert site.login("owner", "another fine passphrase", ATTACKER).json()["user"]["role"] == "auditor"
    # a refusal shows the list again with the reason, and what was typed in the add form
    form = {"username": "newbie", "password": "short", "role": "officer", "csrf_token": csrf}
    r = c.post("/admin/users?lang=en", data=form)
    assert r.status_code == 422 and "at least 10 characters" in r.text and 'value="newbie"' in r.text
    r = c.post("/admin/users?lang=zh", data=form)
    assert r.status_code == 422 and "密码至少" in r.text, "the refusal in the page's language"
    r = c.post("/admin/users/admin/disable?lang=en", data={"csrf_token": csrf})
    assert r.status_code == 422 and "last active administrator" in r.text


def test_the_login_page_says_a_disabled_account_is_disabled(site: Site) -> None:
    site.bearer("admin").post("/api/v1/users/owner/disable")
    c, _ = page_client(site)
    c.cookies.clear()
    r = c.get("/login")
    csrf = r.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = c.post("/login?lang=en", data={"username": "owner", "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 200 and SESSION_COOKIE not in r.cookies
    assert "disabled" in r.text and 'value="owner"' in r.text


# --- the CLI ------------------------------------------------------------------------------------------------


def test_huiqi_users_commands(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts_commands, "store", lambda: site.store)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> str:
        result = runner.invoke(cli_app, ["users", *args], input=stdin)
        assert result.exit_code == 0, result.output
        return result.output

    out = run("create", "carol", "--role", "reviewer", "--name", "Carol")
    password = out.split("password: ")[1].strip()
    assert site.login("carol", password).status_code == 200
    fail_logins(site, "carol", ATTACKER, throttle.PAIR_FREE)
    listed = run("list")
    line = next(x for x in listed.splitlines() if x.startswith("carol"))
    assert f"{throttle.PAIR_FREE} failed logins" in line and "+08:00" in line, line
    run("unlock", "carol")
    assert site.login("carol", password, ATTACKER).status_code == 200
    run("reset-password", "carol", "--password-stdin", stdin="carol's new passphrase\n")
    assert site.login("carol", "carol's new passphrase").status_code == 200
    assert "DISABLED" in run("disable", "carol")
    assert site.login("carol", "carol's new passphrase").status_code == 401
    run("enable", "carol")
    assert "firm_member" in run("roles", "carol", "firm_member", "--firm-uscc", FIRM_A)
    refused = runner.invoke(cli_app, ["users", "roles", "admin", "officer"])
    assert refused.exit_code == 2 and "last active administrator" in refused.output
    assert site.audit_actions("carol") == [
        "created",
        "unlocked",
        "password_set",
        "disabled",
        "enabled",
        "role_changed",
    ]


def test_huiqi_firms_save_show_list(site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(accounts_commands, "store", lambda: site.store)
    example = Path(__file__).resolve().parents[2] / "src/huiqi/firms/examples/small-ai-firm.json"
    profile = tmp_path / "firm.json"
    profile.write_text(example.read_text(encoding="utf-8").replace("91310110MA7C2KW50T", FIRM_A))
    runner = CliRunner()
    saved = runner.invoke(cli_app, ["firms", "save", str(profile)])
    assert saved.exit_code == 0 and FIRM_A in saved.output, saved.output
    shown = runner.invoke(cli_app, ["firms", "show", FIRM_A])
    assert shown.exit_code == 0 and f'"uscc": "{FIRM_A}"' in shown.output
    listed = runner.invoke(cli_app, ["firms", "list"])
    assert listed.exit_code == 0 and FIRM_A in listed.output and "+08:00" in listed.output
    # the same profile the API serves
    assert site.bearer("owner").get(f"/api/v1/firms/{FIRM_A}").json()["uscc"] == FIRM_A
    bad = tmp_path / "bad.json"
    bad.write_text('{"uscc": "123"}')
    refused = runner.invoke(cli_app, ["firms", "save", str(bad)])
    assert refused.exit_code == 2 and "uscc" in refused.output
    missing = runner.invoke(cli_app, ["firms", "show", "91110000600037341L"])
    assert missing.exit_code == 2 and "no profile" in missing.output


def test_the_cli_shows_times_on_shanghais_clock(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the web does: a call opening at midnight in Shanghai is listed at 00:00+08:00, not 16:00 UTC."""
    from huiqi.app import calls, money
    from huiqi.cli import calls_commands, ledger_commands

    for module in (calls_commands, ledger_commands):
        monkeypatch.setattr(module, "store", lambda: site.store)
    money.create_pool(
        site.store,
        pool_id="shanghai.ai.model",  # the model voucher's own pool (a call draws on its programme's pool)
        name="p",
        size=Decimal("1000.00"),
        period_start=dt.date(2025, 1, 1),
        period_end=dt.date(2025, 12, 31),
        per_firm_cap=None,
        key="test:pool:p",
        actor="test",
    )
    programme = load_pack("shanghai")["shanghai.ai.model-voucher"]
    opens = dt.datetime(2025, 9, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    calls.open_call(
        site.store,
        call_id="c",
        programme_id=programme.id,
        programme_version=programme.version,
        pool_id="shanghai.ai.model",
        opens_at=opens,
        closes_at=opens + dt.timedelta(days=30),
        allocation_mode="fcfs",
        actor="test",
    )
    runner = CliRunner()
    listed = runner.invoke(cli_app, ["calls", "list"])
    assert listed.exit_code == 0 and "2025-09-01 00:00+08:00 .. 2025-10-01 00:00+08:00" in listed.output, (
        listed.output
    )
    log = runner.invoke(cli_app, ["audit", "log", "--limit", "2"])
    assert log.exit_code == 0 and log.output.count("+08:00") == 2, log.output
