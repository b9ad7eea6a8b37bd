"""The rules commands as a user runs them: exit codes, JSON shape, errors on stderr and nothing else done."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from typer.testing import CliRunner

from huiqi.cli.main import app

RUNNER = CliRunner()
EXAMPLES = Path(str(resources.files("huiqi.firms").joinpath("examples")))
NEWCOMER = EXAMPLES / "ai-hq-newcomer.json"


def test_check_json_has_the_documented_shape() -> None:
    result = RUNNER.invoke(app, ["check", str(NEWCOMER), "--on", "2025-12-01", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["date"] == "2025-12-01" and data["firm"]["uscc"]
    by_id = {r["programme"]: r for r in data["results"]}
    grant = by_id["shanghai.hq.startup-grant"]
    assert grant["eligible"] is True and grant["amount"] == "5000000.00" and grant["unmet"] == []
    checks = grant["explanation"]["checks"]
    assert all(c["clause"].startswith("沪发改规范〔2023〕3号") for c in checks)
    assert by_id["shanghai.hq.operating-award"]["unmet"]


def test_check_explains_a_gap_in_chinese(tmp_path: Path) -> None:
    firm = json.loads(NEWCOMER.read_text(encoding="utf-8"))
    firm["paid_in_capital"] = "80000000.00"
    path = tmp_path / "firm.json"
    path.write_text(json.dumps(firm, ensure_ascii=False), encoding="utf-8")
    result = RUNNER.invoke(
        app,
        [
            "check",
            str(path),
            "--on",
            "2025-12-01",
            "--programme",
            "shanghai.hq.startup-grant",
            "--lang",
            "zh",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "实缴资本 80,000,000.00元；需要高于 100,000,000.00元" in result.stdout


def test_check_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"uscc": "91310115MA1K3BTP2C", "paid_in_capital": 1.234}', encoding="utf-8")
    result = RUNNER.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2
    assert "check character should be 'B'" in result.stderr
    assert "paid_in_capital: amount: '1.234' has more than two decimal places" in result.stderr
    assert result.stdout == ""
    assert RUNNER.invoke(app, ["check", str(NEWCOMER), "--on", "2025-13-01"]).exit_code == 2
    assert RUNNER.invoke(app, ["check", str(NEWCOMER), "--programme", "nope.nope"]).exit_code == 2


def test_validate_reports_file_line_column(tmp_path: Path) -> None:
    from huiqi.rules.loader import bundled_pack_dir

    text = (bundled_pack_dir("shanghai") / "hq-startup-grant.programme.yaml").read_text(encoding="utf-8")
    path = tmp_path / "grant.programme.yaml"
    path.write_text(text.replace("firm.paid_in_capital", "firm.paid_capital", 1), encoding="utf-8")
    result = RUNNER.invoke(app, ["programmes", "validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:" in result.stderr and "no field 'paid_capital'" in result.stderr
    assert "nothing was loaded" in result.stderr
    ok = RUNNER.invoke(app, ["programmes", "validate", str(bundled_pack_dir("shanghai"))])
    assert ok.exit_code == 0 and ok.stdout.count("ok  ") == 7


def test_programmes_test_and_list_and_schema() -> None:
    result = RUNNER.invoke(app, ["programmes", "test"])
    assert result.exit_code == 0 and " passed, 0 failed" in result.stdout
    listed = json.loads(RUNNER.invoke(app, ["programmes", "list", "--format", "json"]).stdout)
    assert {r["id"] for r in listed} >= {"shanghai.hq.designation", "shanghai.ai.corpus-voucher"}
    firm_schema = json.loads(RUNNER.invoke(app, ["schema", "firm"]).stdout)
    assert "paid_in_capital" in firm_schema["properties"] and firm_schema["additionalProperties"] is False
    programme_schema = json.loads(RUNNER.invoke(app, ["schema", "programme"]).stdout)
    assert "conditions" in programme_schema["properties"]
    shown = RUNNER.invoke(app, ["programmes", "show", "shanghai.ai.model-voucher"])
    assert shown.exit_code == 0 and "Conditions" in shown.stdout
