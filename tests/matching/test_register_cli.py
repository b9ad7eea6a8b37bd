"""``huiqi register import/export/history`` end to end: exit code 2 and nothing written on bad rows,
--skip-invalid with a rejected file, re-import history, export that re-imports unchanged."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from huiqi.cli.main import app
from huiqi.db.migrate import upgrade
from huiqi.firms.exporting import write_tables
from huiqi.firms.synth import synth_register


def read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from huiqi.config import get_settings

    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    monkeypatch.setenv("HUIQI_DATABASE_URL", url)
    get_settings.cache_clear()  # another test of this worker may have read (and cached) other settings
    yield tmp_path
    get_settings.cache_clear()


def test_import_export_history(env: Path) -> None:
    runner = CliRunner()
    folder = write_tables(synth_register(30, 8), env / "src")
    firms_csv = folder / "firms.csv"
    rows = read(firms_csv)
    header = rows[0]
    rows[5][header.index("registration_date")] = "05/06/2020"
    write(firms_csv, rows)

    refused = runner.invoke(app, ["register", "import", str(folder)])
    assert refused.exit_code == 2
    assert "firms.csv row 6, column 'registration_date': '05/06/2020'" in refused.output
    assert "nothing imported" in refused.output

    ok = runner.invoke(
        app, ["register", "import", str(folder), "--skip-invalid", "--rejected", str(env / "rej.csv")]
    )
    assert ok.exit_code == 0, ok.output
    assert "29 added" in ok.output
    assert "05/06/2020" in (env / "rej.csv").read_text(encoding="utf-8-sig")

    out = runner.invoke(app, ["register", "export", str(env / "out.xlsx")])
    assert out.exit_code == 0 and "29 firms" in out.output
    again = runner.invoke(app, ["register", "import", str(env / "out.xlsx")])
    assert again.exit_code == 0, again.output
    assert "0 added, 0 changed, 29 unchanged" in again.output

    rows = read(firms_csv)
    code = rows[1][0]
    rows[1][header.index("name_zh")] = "新名称有限公司"
    write(firms_csv, rows[:2])
    for other in folder.iterdir():
        if other.name != "firms.csv":
            other.unlink()
    changed = runner.invoke(app, ["register", "import", str(firms_csv)])
    assert changed.exit_code == 0 and "1 changed" in changed.output, changed.output
    history = runner.invoke(app, ["register", "history", code])
    assert (
        "name_zh:" in history.output
        and "-> 新名称有限公司" in history.output
        and "firms.csv" in history.output
    )
