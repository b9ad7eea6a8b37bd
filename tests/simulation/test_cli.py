"""`huiqi simulate`: the table, JSON, charts (PNG and SVG) and a self-contained HTML report; refused reforms
exit 2 with the file position."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from huiqi.cli.main import app
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_register(synth_register(8_000, 5), tmp_path_factory.mktemp("reg") / "register")


REFORM = """id: model-rate-60
title: {en: Model vouchers at 60%, zh: 模型券补贴比例提高至60%}
programmes:
  shanghai.ai.model-voucher:
    parameters:
      rate: 60%
"""


def test_simulate_writes_table_charts_and_report(register: Path, tmp_path: Path) -> None:
    reform = tmp_path / "reform.yaml"
    reform.write_text(REFORM, encoding="utf-8")
    out = tmp_path / "out"
    args = ["simulate", "--reform", str(reform), "--register", str(register), "--on", "2025-10-01"]
    result = RUNNER.invoke(
        app, [*args, "--set", "shanghai.ai.model-voucher.max_voucher=6_000_000", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Reform model-rate-60" in result.output
    assert "total cost (yuan)" in result.output and "By sector" in result.output
    assert "Pool sufficiency" in result.output and "shanghai.ai.model" in result.output
    for name in ("programmes", "sectors", "sizes", "pools"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (out / f"{name}.svg").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 4 and "<style>" in html
    assert "<script" not in html and "<link" not in html and "<img" not in html  # nothing fetched
    data = json.loads((out / "simulation.json").read_text(encoding="utf-8"))
    assert data["touched"] == ["shanghai.ai.model-voucher"]
    assert data["losers"]["firms"] == 0


def test_simulate_json(register: Path) -> None:
    result = RUNNER.invoke(
        app,
        [
            "simulate",
            "--set",
            "shanghai.ai.model-voucher.rate=50%",
            "--register",
            str(register),
            "--on",
            "2025-10-01",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["change"] == "0.00" and data["gainers"]["firms"] == 0


def test_a_refused_reform_says_where(register: Path, tmp_path: Path) -> None:
    reform = tmp_path / "bad.yaml"
    reform.write_text(REFORM.replace("rate: 60%", "rate: '2026-01-01'"), encoding="utf-8")
    result = RUNNER.invoke(app, ["simulate", "--reform", str(reform), "--register", str(register)])
    assert result.exit_code == 2
    assert (
        f"{reform}:6:13: shanghai.ai.model-voucher.rate: expected a number (rate), got a text"
        in result.output
    )


def test_no_reform_and_no_register(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["simulate", "--register", str(tmp_path)])
    assert result.exit_code == 2 and "give a reform" in result.output
    result = RUNNER.invoke(
        app, ["simulate", "--set", "shanghai.ai.model-voucher.rate=50%", "--register", str(tmp_path)]
    )
    assert result.exit_code == 2 and "register.json" in result.output
