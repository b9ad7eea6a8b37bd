"""The CLI reaches every read the API and the pages have: a call, applications listed and counted by state,
an application's history and evidence (copied out byte for byte), awards listed, shown and summed by sector,
a pool and its history with the running available balance; and a status change with a reason."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

from cli_helpers import firm_file, run
from dbfixtures import FIRM_A, FIRM_B, make_firm


def submit(tmp: Path, uscc: str, amount: str, *extra: str) -> str:
    path = firm_file(tmp, uscc)
    out = run(
        "applications", "submit", "--call", "c1", "--firm", str(path), "--claim", f"C1={amount}", *extra
    )
    found = re.search(r"application (\w+) submitted", out)
    assert found is not None, out
    return found.group(1)


def test_every_read_from_the_command_line(cli_env: Path) -> None:
    run(
        *("ledger", "pool-create", "--id", "p", "--name", "vouchers", "--size", "100.00"),
        *("--start", "2025-01-01", "--end", "2099-12-31", "--programme", "shanghai.ai.model-voucher"),
    )
    run(
        *("calls", "open", "--id", "c1", "--programme", "shanghai.ai.model-voucher", "--version", "2025.1"),
        *("--pool", "p", "--opens", "2025-01-01T00:00:00+08:00", "--closes", "2099-01-01T00:00:00+08:00"),
    )
    assert "pool p, fcfs" in run("calls", "show", "c1")
    pdf = cli_env / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4 invoice\n%%EOF\n")
    a = submit(cli_env, FIRM_A, "60.00", "--evidence", str(pdf))
    b = submit(cli_env, FIRM_B, "30.00")
    verdict = cli_env / "verdict.json"
    verdict.write_text(
        json.dumps(
            {
                "programme_id": "shanghai.ai.model-voucher",
                "programme_version": "2025.1",
                "eligible": True,
                "amount": "60.00",
            }
        )
    )
    for app_id in (a, b):
        run("applications", "check", app_id, "--verdict", str(verdict))
    # a status change with its reason, then refused once money is reserved
    assert "rejected" in run("applications", "transition", b, "--to", "rejected", "--reason", "duplicate")
    run("awards", "decide", a)
    out = run("applications", "transition", a, "--to", "waitlisted", "--reason", "x", code=2)
    assert "money is reserved" in out
    run("awards", "grant", a)
    paid = run("pay", "tranche", a, "--seq", "1")
    assert "paid by transaction" in paid and "(done earlier" not in paid
    assert "(done earlier under this key; nothing new)" in run("pay", "tranche", a, "--seq", "1")

    counts = dict(line.split("\t") for line in run("applications", "count").splitlines())
    assert counts == {"completed": "1", "rejected": "1", "total": "2"}
    listed = run("applications", "list", "--state", "completed")
    assert a in listed and b not in listed and "1 of 1 applications" in listed
    history = run("applications", "history", a)
    assert [line.split("->")[1].split()[0] for line in history.splitlines()] == [
        "draft",
        "submitted",
        "checked",
        "under_review",
        "approved",
        "awarded",
        "completed",
    ]
    (sha,) = [line.split("\t")[0] for line in run("applications", "evidence", a).splitlines()]
    out = cli_env / "copy.pdf"
    run("applications", "evidence-get", a, sha, "--out", str(out))
    assert out.read_bytes() == pdf.read_bytes()
    assert "no evidence" in run("applications", "evidence-get", b, sha, "--out", str(out), code=2)
    added = run("applications", "evidence-add", b, str(pdf), "--description", "the same invoice")
    assert sha in added

    awards = run("awards", "list", "--firm", FIRM_A)
    (award_id,) = re.findall(r"^(\w+)\t", awards, re.M)
    assert "tranche 1: 60.00 yuan" in run("awards", "show", award_id)
    sector = make_firm(FIRM_A).sector  # type: ignore[attr-defined]
    assert run("awards", "by", "sector").strip() == f"{sector}\t60.00 yuan"
    assert "sector or district" in run("awards", "by", "colour", code=2)

    assert "available 40.00 yuan" in run("ledger", "pool", "p")
    data = json.loads(run("ledger", "history", "p", "--json"))
    running = Decimal(0)
    for line in data["items"]:
        running += Decimal(line["effect_on_available"])
        assert Decimal(line["available"]) == running
    assert running == Decimal("40.00") and data["total"] == len(data["items"])
    assert data["items"][0]["kind"] == "fund"


def test_the_cli_check_runs_the_rules_engine_when_no_verdict_is_given(cli_env: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "src/huiqi/firms/examples/small-ai-firm.json"
    run(
        *("ledger", "pool-create", "--id", "p", "--name", "vouchers", "--size", "1000000.00"),
        *("--start", "2025-01-01", "--end", "2099-12-31", "--programme", "shanghai.ai.model-voucher"),
    )
    run(
        *("calls", "open", "--id", "c1", "--programme", "shanghai.ai.model-voucher", "--version", "2025.1"),
        *("--pool", "p", "--opens", "2025-01-01T00:00:00+08:00", "--closes", "2099-01-01T00:00:00+08:00"),
    )
    out = run(
        "applications", "submit", "--call", "c1", "--firm", str(example), "--claim", "HT-2025-0902=150000.00"
    )
    app_id = out.split()[1]
    assert run("applications", "check", app_id, "--pack", "shanghai").strip().endswith("is under_review")
    shown = json.loads(run("applications", "show", app_id, "--json"))
    assert shown["verdict"]["eligible"] is True and shown["verdict"]["programme_version"] == "2025.1"
    assert Decimal(shown["verdict"]["amount"]) > 0 and shown["verdict"]["explanation"]["zh"]
    assert "no such pack" in run("applications", "check", app_id, "--pack", "atlantis", code=2)
