"""`huiqi applications history` shows the reasons through the same renderer as the pages: a firm the engine
found not eligible is told which condition failed by its label and gap, not "see the verdict's
explanation"; the stored words (the audit chain's) are unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli_helpers import firm_file, run
from dbfixtures import FIRM_A


def test_the_history_names_the_failed_condition(cli_env: Path) -> None:
    run(
        *("ledger", "pool-create", "--id", "p", "--name", "vouchers", "--size", "100.00"),
        *("--start", "2025-01-01", "--end", "2099-12-31", "--programme", "shanghai.ai.model-voucher"),
    )
    run(
        *("calls", "open", "--id", "c1", "--programme", "shanghai.ai.model-voucher", "--version", "2025.1"),
        *("--pool", "p", "--opens", "2025-01-01T00:00:00+08:00", "--closes", "2099-01-01T00:00:00+08:00"),
    )
    path = firm_file(cli_env, FIRM_A)
    profile = json.loads(path.read_text(encoding="utf-8"))
    profile["registration_city"] = "Suzhou"
    path.write_text(json.dumps(profile, ensure_ascii=False), encoding="utf-8")
    out = run("applications", "submit", "--call", "c1", "--firm", str(path), "--claim", "C1=60.00")
    found = re.search(r"application (\w+) submitted", out)
    assert found is not None, out
    app_id = found.group(1)
    run("applications", "check", app_id, "--pack", "shanghai")
    history = run("applications", "history", app_id)
    rejected = history.splitlines()[-1]
    assert "-> rejected" in rejected and "not eligible: registered in Shanghai (gap: " in rejected, history
    assert "see the verdict" not in rejected
    stored = json.loads(run("applications", "show", app_id, "--json"))["history"][-1]
    assert stored["reason"] == "not eligible: see the verdict's explanation"
    assert stored["reason_code"] == "not_eligible"
