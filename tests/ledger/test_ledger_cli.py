"""The whole cycle through the CLI on a SQLite file: exit codes, messages, nothing written on bad input."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from sqlalchemy import create_engine, text

from cli_helpers import firm_file, run, sqlite_url
from dbfixtures import FIRM_A, FIRM_B


def count(tmp: Path, table: str) -> int:
    engine = create_engine(sqlite_url(tmp))
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(n)


def test_cycle(cli_env: Path) -> None:
    run("db", "upgrade")
    run(
        "ledger",
        "pool-create",
        "--id",
        "model",
        "--name",
        "模型券",
        "--size",
        "100.00",
        "--start",
        "2025-01-01",
        "--end",
        "2099-12-31",
        "--programme",
        "shanghai.ai.model-voucher",
    )
    run(
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
        "2099-01-01T00:00:00+08:00",
    )
    assert "c1" in run("calls", "list")
    pdf = cli_env / "contract.pdf"
    pdf.write_bytes(b"%PDF-1.4 contract\n%%EOF\n")
    out = run(
        "applications",
        "submit",
        "--call",
        "c1",
        "--firm",
        str(firm_file(cli_env, FIRM_A)),
        "--claim",
        "C1=70.00",
        "--evidence",
        str(pdf),
    )
    a = re.search(r"application (\w+) submitted", out)
    assert a is not None
    app_a = a.group(1)
    out = run(
        *("applications", "submit", "--call", "c1", "--firm", str(firm_file(cli_env, FIRM_B))),
        *("--claim", "C1=50.00"),
    )
    m = re.search(r"application (\w+) submitted", out)
    assert m is not None
    app_b = m.group(1)
    verdict = cli_env / "verdict.json"
    verdict.write_text(
        json.dumps(
            {
                "programme_id": "shanghai.ai.model-voucher",
                "programme_version": "2025.1",
                "eligible": True,
                "amount": "70.00",
                "explanation": {"rate": "0.5"},
            }
        )
    )
    assert "under_review" in run("applications", "check", app_a, "--verdict", str(verdict))
    assert "under_review" in run("applications", "check", app_b, "--verdict", str(verdict))
    assert "approved for 70.00 yuan" in run("awards", "decide", app_a)
    assert "waitlisted" in run("awards", "decide", app_b)
    run(
        "awards",
        "grant",
        app_a,
        "--tranche",
        "30.00:2025-06-30:office opened",
        "--tranche",
        "40.00:2025-12-31:sales reached",
    )
    # a milestone other than the grant's own is paid only with the evidence that shows it met
    assert "not due for payment" in run("pay", "tranche", app_a, "--seq", "1", code=2)
    sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
    dry = run("pay", "tranche", app_a, "--seq", "1", "--evidence", sha, "--dry-run")
    assert "amount 30.00 yuan from pool 模型券 (model)" in dry and "tranche 1: office opened" in dry, dry
    assert "dry run: nothing was written" in dry
    paid = re.search(
        r"paid by transaction (\w+)", run("pay", "tranche", app_a, "--seq", "1", "--evidence", sha)
    )
    assert paid is not None
    # a returned payment is reversed, then paid again
    assert "reversed by" in run("pay", "reverse", paid.group(1), "--reason", "returned by the bank")
    run("pay", "tranche", app_a, "--seq", "1", "--key", "second-attempt", "--evidence", sha)
    # paying the same tranche again: the same key replays, a new key is refused
    run("pay", "tranche", app_a, "--seq", "1", "--key", "second-attempt", "--evidence", sha)
    assert "already been paid" in run("pay", "tranche", app_a, "--seq", "1", "--key", "other", code=2)
    out = run(
        "awards",
        "miss-milestone",
        app_a,
        "--seq",
        "2",
        "--as-of",
        "2026-01-05",
        "--reason",
        "no sales",
        "--installments",
        "2",
    )
    assert "released 40.00 yuan" in out and "30.00 yuan recoverable" in out
    assert f"application {app_b} approved" in out
    run("awards", "recover", app_a, "--amount", "15.00", "--key", "bank-ref-1")
    statement = run("ledger", "statement", "model")
    assert re.search(r"available\s+35\.00 yuan", statement), statement
    assert "ledger verifies" in run("ledger", "verify")
    assert "audit chain verifies" in run("audit", "verify")
    show = run("applications", "show", app_a)
    assert "clawed_back" in show and "contract.pdf" in show
    assert "to_clawed_back" in run("audit", "log", "--limit", "100")


def test_bad_input_exits_2_and_writes_nothing(cli_env: Path) -> None:
    run("db", "upgrade")
    run(
        "ledger",
        "pool-create",
        "--id",
        "p",
        "--name",
        "p",
        "--size",
        "100.00",
        "--start",
        "2025-01-01",
        "--end",
        "2025-12-31",
    )
    before = count(cli_env, "ledger_transactions"), count(cli_env, "audit_log")
    out = run(
        "ledger",
        "pool-create",
        "--id",
        "q",
        "--name",
        "q",
        "--size",
        "1.005",
        "--start",
        "2025-01-01",
        "--end",
        "2025-12-31",
        code=2,
    )
    assert "more than two decimal places" in out
    assert "no pool 'nope'" in run(
        "calls",
        "open",
        "--id",
        "c",
        "--programme",
        "x",
        "--version",
        "1",
        "--pool",
        "nope",
        "--opens",
        "2025-01-01T00:00:00Z",
        "--closes",
        "2026-01-01T00:00:00Z",
        code=2,
    )
    assert "has no timezone" in run(
        "calls",
        "open",
        "--id",
        "c",
        "--programme",
        "x",
        "--version",
        "1",
        "--pool",
        "p",
        "--opens",
        "2025-01-01T00:00:00",
        "--closes",
        "2026-01-01T00:00:00Z",
        code=2,
    )
    assert "already exists" in run(
        "ledger",
        "pool-create",
        "--id",
        "p",
        "--name",
        "p",
        "--size",
        "5.00",
        "--start",
        "2025-01-01",
        "--end",
        "2025-12-31",
        "--key",
        "other",
        code=2,
    )
    assert (count(cli_env, "ledger_transactions"), count(cli_env, "audit_log")) == before
