"""Register directories: Parquet files and a manifest, read back exactly, mismatches named."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from huiqi.cli.main import app
from huiqi.firms.register import RegisterError, read_register, write_register
from huiqi.firms.synth import synth_register


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return synth_register(3000, 8)


def test_round_trip(tables: dict[str, pa.Table], tmp_path: Path) -> None:
    write_register(tables, tmp_path / "reg")
    back = read_register(tmp_path / "reg")
    assert set(back) == set(tables)
    for name, table in tables.items():
        assert back[name].equals(table), name
        assert back[name].schema == table.schema, name
    manifest = json.loads((tmp_path / "reg" / "register.json").read_text())
    assert manifest["years"] == list(range(2019, 2026))
    assert manifest["tables"]["firms"]["rows"] == 3000
    assert manifest["version"] == 1


def test_type_mismatch_names_file_and_column(tables: dict[str, pa.Table], tmp_path: Path) -> None:
    root = write_register(tables, tmp_path / "reg")
    contracts = tables["contracts"]
    i = contracts.schema.get_field_index("value")
    bad = contracts.set_column(i, "value", contracts["value"].cast(pa.float64()))
    pq.write_table(bad, root / "contracts.parquet")
    with pytest.raises(
        RegisterError,
        match=r"contracts\.parquet: column 'value' has type double, expected "
        r"decimal128\(18, 2\)",
    ):
        read_register(root)


def test_missing_and_extra_columns(tables: dict[str, pa.Table], tmp_path: Path) -> None:
    root = write_register(tables, tmp_path / "reg")
    pq.write_table(tables["offices"].drop_columns(["tenure"]), root / "offices.parquet")
    with pytest.raises(RegisterError, match=r"offices\.parquet: column 'tenure' is missing"):
        read_register(root)
    pq.write_table(
        tables["offices"].append_column("colour", pa.array(["x"] * tables["offices"].num_rows)),
        root / "offices.parquet",
    )
    with pytest.raises(RegisterError, match=r"offices\.parquet: unexpected column 'colour'"):
        read_register(root)


def test_years_must_match_manifest(tables: dict[str, pa.Table], tmp_path: Path) -> None:
    root = write_register(tables, tmp_path / "reg")
    manifest = json.loads((root / "register.json").read_text())
    manifest["years"] = list(range(2018, 2026))
    (root / "register.json").write_text(json.dumps(manifest))
    with pytest.raises(RegisterError, match=r"firms\.parquet: column 'sales_2018' is missing"):
        read_register(root)


def test_row_count_checked(tables: dict[str, pa.Table], tmp_path: Path) -> None:
    root = write_register(tables, tmp_path / "reg")
    pq.write_table(tables["firms"].slice(0, 10), root / "firms.parquet")
    with pytest.raises(RegisterError, match=r"firms\.parquet: 10 rows, but the manifest says 3000"):
        read_register(root)


def test_missing_manifest_and_file(tables: dict[str, pa.Table], tmp_path: Path) -> None:
    with pytest.raises(RegisterError, match=r"register\.json: not found"):
        read_register(tmp_path)
    root = write_register(tables, tmp_path / "reg")
    (root / "credit_events.parquet").unlink()
    with pytest.raises(RegisterError, match=r"credit_events\.parquet: missing"):
        read_register(root)


def test_foreign_manifest(tmp_path: Path) -> None:
    (tmp_path / "register.json").write_text('{"format": "other"}')
    with pytest.raises(RegisterError, match="not a huiqi register manifest"):
        read_register(tmp_path)
    (tmp_path / "register.json").write_text('{"format": "huiqi-register", "version": 99, "years": []}')
    with pytest.raises(RegisterError, match="format version 99"):
        read_register(tmp_path)


def test_write_refuses_wrong_layout(tables: dict[str, pa.Table], tmp_path: Path) -> None:
    with pytest.raises(RegisterError, match="without the table"):
        write_register({"firms": tables["firms"]}, tmp_path / "x")
    bad = dict(tables)
    bad["firms"] = tables["firms"].drop_columns(["employees"])
    with pytest.raises(RegisterError, match="table 'firms': column 'employees' is missing"):
        write_register(bad, tmp_path / "x")


def test_cli_synth(tmp_path: Path) -> None:
    out = tmp_path / "cli-reg"
    result = CliRunner().invoke(
        app, ["register", "synth", "--firms", "2000", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "firms: 2,000" in result.output
    assert "artificial_intelligence" in result.output and "contracts:" in result.output
    back = read_register(out)
    assert back["firms"].equals(synth_register(2000, 3)["firms"])
