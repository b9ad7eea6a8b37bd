"""``huiqi register import/export/history`` end to end: exit code 2 and nothing written on bad rows,
--skip-invalid with a rejected file, re-import history, export that re-imports unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from csv_rows import read_rows as read
from csv_rows import write_rows as write
from huiqi.cli.main import app
from huiqi.db.migrate import upgrade
from huiqi.firms.exporting import write_tables
from huiqi.firms.synth import synth_register


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


def test_match_without_out_stores_the_run_and_exports_a_delta_whole(env: Path) -> None:
    """``--out`` is optional: the run keeps its table; a run that changed one firm (a delta) exports every
    firm x programme row, as the first run's file holds them."""
    import pyarrow.parquet as pq

    runner = CliRunner()
    tables = synth_register(30, 9)
    folder = write_tables(tables, env / "src")
    assert runner.invoke(app, ["register", "import", str(folder)]).exit_code == 0
    first = runner.invoke(app, ["match", "--register", "db", "--on", "2025-07-28"])
    assert first.exit_code == 0, first.output
    assert "rows computed" in first.output and ".parquet" in first.output
    whole = env / "first.parquet"
    latest = runner.invoke(app, ["match", "--register", "db", "--on", "2025-07-28", "--out", str(whole)])
    assert latest.exit_code == 0, latest.output
    rows = read(folder / "firms.csv")
    header = rows[0]
    rows[3][header.index("employees")] = str(int(rows[3][header.index("employees")] or 0) + 7)
    write(folder / "firms.csv", rows)
    assert runner.invoke(app, ["register", "import", str(folder)]).exit_code == 0
    out = env / "after.parquet"
    again = runner.invoke(app, ["match", "--register", "db", "--on", "2025-07-28", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "for 1 changed firm(s)" in again.output
    changed = rows[3][next(i for i, h in enumerate(header) if h.lstrip("\ufeff") == "uscc")]

    def others(path: Path) -> list[tuple[object, ...]]:
        found = pq.read_table(path).to_pylist()
        return sorted(tuple(r.values()) for r in found if r["uscc"] != changed)

    assert pq.read_table(out).num_rows == pq.read_table(whole).num_rows
    assert others(out) == others(whole)  # the delta's export holds the base's rows of every other firm
