"""`huiqi calls open` as a user runs it: the real command, each step in a fresh process, on a new SQLite file
and on a new PostgreSQL database (once the call's foreign key to `pools` failed in a fresh process because
the ledger's models were never loaded). An un-migrated PostgreSQL database is refused in one line that says
what to run; an un-migrated SQLite file is the user's own and just works."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import ok, run_process
from dbfixtures import fresh_pg_database

OPEN = [
    "calls",
    "open",
    "--id",
    "c1",
    "--programme",
    "shanghai.ai.model-voucher",
    "--version",
    "2025.1",
    "--pool",
    "model",
    "--opens",
    "2025-01-01T00:00:00+08:00",
    "--closes",
    "2025-12-31T00:00:00+08:00",
]
POOL = [
    "ledger",
    "pool-create",
    "--id",
    "model",
    "--name",
    "model vouchers",
    "--size",
    "1000.00",
    "--start",
    "2025-01-01",
    "--end",
    "2025-12-31",
    "--programme",
    "shanghai.ai.model-voucher",
]


def open_call_in_fresh_processes(url: str, tmp: Path) -> None:
    ok(run_process(url, tmp, *POOL))
    assert ok(run_process(url, tmp, *OPEN)).strip() == "call c1 opened"
    listed = ok(run_process(url, tmp, "calls", "list"))
    assert listed.startswith("c1\tshanghai.ai.model-voucher v2025.1\tpool model\tfcfs")


def test_calls_open_on_a_new_sqlite_file_without_migrating(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'huiqi.db'}"
    open_call_in_fresh_processes(url, tmp_path)


def test_calls_open_straight_away_on_a_new_sqlite_file(tmp_path: Path) -> None:
    """The very first command is `calls open`: the file is made and migrated, the refusal is the pool's."""
    result = run_process(f"sqlite:///{tmp_path / 'huiqi.db'}", tmp_path, *OPEN)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert (
        result.stderr.strip()
        == "error: call: no pool 'model'; create it first with `huiqi ledger pool-create`"
    )


@pytest.mark.postgres
def test_calls_open_on_a_new_postgresql_database_after_db_upgrade(tmp_path: Path) -> None:
    with fresh_pg_database("huiqi_cli_fresh", migrate=False) as url:
        ok(run_process(url, tmp_path, "db", "upgrade"))
        open_call_in_fresh_processes(url, tmp_path)


@pytest.mark.postgres
def test_an_unmigrated_postgresql_database_is_refused_in_one_line(tmp_path: Path) -> None:
    with fresh_pg_database("huiqi_cli_unmigrated", migrate=False) as url:
        for args in (OPEN, POOL, ["calls", "list"], ["ledger", "pools"]):
            result = run_process(url, tmp_path, *args)
            assert result.returncode == 2, (args, result.stdout, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
            assert lines[0].startswith("error: the database at postgresql") and "huiqi db upgrade" in lines[0]
            assert result.stdout == ""
        # nothing was created behind the user's back: the database is still empty
        listed = run_process(url, tmp_path, "calls", "list")
        assert "empty (never migrated)" in listed.stderr
