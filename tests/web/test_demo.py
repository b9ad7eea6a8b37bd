"""``huiqi demo`` (issue 14): the demo firm is a Shanghai firm that qualifies for vouchers and HQ programmes
and finds its messages in its inbox; the demo prints its database's URL and how to point ``huiqi`` at it, so
that ``huiqi ledger pools`` afterwards reads the same database (not a new empty one)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from huiqi.app import accounts, matching
from huiqi.app.store import Store

DEMO = [sys.executable, "-m", "huiqi.cli.main"]
VOUCHERS = {"shanghai.ai.compute-voucher", "shanghai.ai.model-voucher", "shanghai.ai.corpus-voucher"}
HQ = {"shanghai.hq.designation", "shanghai.hq.startup-grant"}


@pytest.mark.slow
def test_the_demo_firm_qualifies_finds_its_messages_and_huiqi_reads_the_demo_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIQI_")}
    out = subprocess.run(
        [
            *DEMO,
            "demo",
            "--no-serve",
            "--dir",
            str(tmp_path / "demo"),
            "--firms",
            "300",
            "--applications",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    firm_uscc = re.search(r"^  firm\s+\S+\s+\(firm (\S+)\)", out.stdout, re.M)
    assert firm_uscc, out.stdout
    uscc = firm_uscc.group(1)
    url = re.search(r"^database: (\S+)$", out.stdout, re.M)
    assert url and url.group(1) == f"sqlite:///{tmp_path / 'demo' / 'huiqi.db'}", out.stdout

    store = Store.open(url.group(1), pool_size=1)
    try:
        firm = accounts.firm_profile(store, uscc=uscc)
        assert firm.registration_city == "Shanghai" and uscc[2:4] == "31", (firm.registration_city, uscc)
        qualifies = {r.programme for r in matching.firm_results(store, uscc=uscc).results}
        assert qualifies & VOUCHERS and qualifies & HQ, qualifies
        inbox = matching.firm_inbox(store, uscc=uscc)
        assert inbox.total >= len(qualifies) > 0
        assert {m.programme for m in inbox.items} == qualifies
        member = [u for u in accounts.list_users(store) if u.username == "firm"]
        assert member and member[0].firm_uscc == uscc and member[0].role == "firm_member"
    finally:
        store.close()

    # the printed export line, then huiqi ledger pools: the demo's pool, not an empty new database
    export = re.search(r"^  export (.+)$", out.stdout, re.M)
    assert export, out.stdout
    settings = dict(item.split("=", 1) for item in shlex.split(export.group(1)))
    assert settings["HUIQI_DATABASE_URL"] == url.group(1)
    pool = re.search(r"^pool (\S+) funded", out.stdout, re.M)
    assert pool, out.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pools = subprocess.run(
        [*DEMO, "ledger", "pools"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, **settings},
        cwd=elsewhere,
    )
    assert pools.returncode == 0, pools.stdout + pools.stderr
    assert pool.group(1) in pools.stdout, pools.stdout
    assert not list(elsewhere.iterdir()), "no new database was made where huiqi ran"
