"""The officer's background match over HTTP (the matching form, the job followed to its end) stores the same
run as the CLI's ``huiqi match --register db`` on the same register: the same counts, the same eligible
pairs with their amounts, the same 'you qualify' messages; and again with nothing changed (issue 16)."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from cli_helpers import HUIQI, cli_environment, ok
from dbfixtures import Db
from huiqi.accounts.service import create_user
from huiqi.app import register
from huiqi.app.store import Store
from huiqi.db import make_engine
from huiqi.db.migrate import upgrade
from huiqi.money import format_yuan
from web.conftest import PASSWORD, Web, build
from web.test_jobs import follow

ON = dt.date(2025, 9, 1)
FIRMS, SEED = 400, 5
#: What a run is compared by (the run's own id, times and file differ).
COUNTS = ("firms", "rows", "eligible", "notifications", "recomputed_firms", "rows_computed")


def stored(url: str) -> dict[str, Any]:
    """The latest run's counts, its eligible pairs and its messages, read from the database at ``url``."""
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            run = (
                c.execute(sa.text("SELECT * FROM match_runs ORDER BY started_at DESC LIMIT 1"))
                .mappings()
                .one()
            )
            pairs = c.execute(
                sa.text("SELECT uscc, programme, amount FROM match_eligible WHERE run_id = :r"),
                {"r": run["id"]},
            ).all()
            messages = c.execute(sa.text("SELECT uscc, programme FROM match_notifications")).all()
    finally:
        engine.dispose()
    return {
        "run": {k: run[k] for k in COUNTS} | {"programmes": run["programmes"]},
        "pairs": sorted((u, p, Decimal(a) / 100) for u, p, a in pairs),  # stored in fen
        "messages": sorted((u, p) for u, p in messages),
    }


def cli_match(url: str, folder: Path) -> None:
    """``huiqi match --register db`` as a process of its own, as users run it."""
    env = {**os.environ, **cli_environment(url, folder)}
    done = subprocess.run(
        [HUIQI, "match", "--register", "db", "--on", ON.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=folder,
    )
    ok(done)


def web_match(browser: TestClient) -> dict[str, Any]:
    """The matching form sent as a browser does (CSRF token from the page); the job followed to its end."""
    page = browser.get("/officer/matching")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    posted = browser.post(
        "/officer/matching", data={"on": ON.isoformat(), "notify": "1", "csrf_token": token[1]}
    )
    assert posted.status_code == 303 and posted.headers["location"].startswith("/officer/jobs/"), posted.text
    job = follow(browser, posted, timeout=240)
    result = browser.get(f"/officer/matching/{job['id']}")
    assert result.status_code == 200, result.text
    run: dict[str, Any] = job["result"]["run"]
    return run


def firm_page_shows_the_run(web: Web, database: Db, run: dict[str, Any]) -> None:
    """A register firm's member (no profile stored) sees on its page what the latest run found for it,
    with the amounts, beside its messages."""
    uscc = run["pairs"][0][0]
    with database.session() as s:
        create_user(
            session=s, username="told", password=PASSWORD, role="firm_member", firm_uscc=uscc, actor="t"
        )
        s.commit()
    member = web.client("told")
    want = [(p, format_yuan(a, lang="en")) for u, p, a in run["pairs"] if u == uscc]
    page = member.get(f"/firms/{uscc}?lang=en")
    assert page.status_code == 200 and "What the latest match found" in page.text, page.text
    for programme, amount in want:
        assert programme in page.text and amount in page.text, (programme, amount)
    assert "No match has been run yet." not in page.text
    zh = member.get(f"/firms/{uscc}?lang=zh")
    assert "最近一次政策匹配的结果" in zh.text and "What the latest match found" not in zh.text


def test_the_web_background_match_stores_the_cli_run(sqlite_db: Db, tmp_path: Path) -> None:
    web = build(sqlite_db, tmp_path / "web")
    cli_folder = tmp_path / "cli"
    cli_folder.mkdir()
    cli_url = f"sqlite:///{cli_folder / 'huiqi.db'}"
    upgrade(cli_url)
    try:
        store = web.app.state.huiqi.store
        register.synth_register(store, firms=FIRMS, seed=SEED)
        cli_store = Store.open(cli_url)
        try:
            register.synth_register(cli_store, firms=FIRMS, seed=SEED)
        finally:
            cli_store.close()
        browser = web.client("officer")

        for round_ in ("first run", "nothing changed"):
            shown = web_match(browser)
            cli_match(cli_url, cli_folder)
            web_run, cli_run = stored(sqlite_db.url), stored(cli_url)
            assert web_run["run"] == cli_run["run"], round_
            assert {k: shown[k] for k in COUNTS} == {k: web_run["run"][k] for k in COUNTS}, round_
            assert web_run["pairs"] == cli_run["pairs"], round_
            assert web_run["messages"] == cli_run["messages"], round_
        assert web_run["run"]["firms"] == FIRMS and web_run["pairs"] and web_run["messages"]
        assert web_run["run"]["recomputed_firms"] == 0 and web_run["run"]["rows_computed"] == 0
        firm_page_shows_the_run(web, sqlite_db, web_run)
    finally:
        web.app.state.huiqi.store.close()
