"""A folder of register files holding a register file no table reads (``offices (1).csv`` as a browser saves
a second download, a backup) is refused naming it: it was passed over without a word, its rows lost. Other
files (notes, the mapping, hidden files) are left alone, and a file the mapping names is a table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.hostile.register_files import firms_csv

from huiqi.firms.importing import ImportError_, load_mapping, read_source
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register


@pytest.mark.parametrize("name", ["offices (1).csv", "企业名录.xlsx", "firms.bak.parquet", "OFFICES.CSV"])
def test_a_register_file_no_table_reads_is_refused(tmp_path: Path, name: str) -> None:
    folder = firms_csv(tmp_path).parent
    shutil.copy(folder / "offices.csv", folder / name)
    with pytest.raises(ImportError_) as refused:
        read_source(folder)
    assert f"{name} is not a table of the register" in str(refused.value)
    assert refused.value.why == "unclaimed_file"


def test_other_files_are_left_alone_and_a_mapped_file_is_a_table(tmp_path: Path) -> None:
    folder = firms_csv(tmp_path).parent
    (folder / "notes.txt").write_text("from the district office", encoding="utf-8")
    (folder / ".~lock.firms.csv#").write_text("x", encoding="utf-8")
    (folder / "offices.csv").rename(folder / "办公场所.csv")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("offices:\n  file: 办公场所.csv\n", encoding="utf-8")
    batch = read_source(folder, load_mapping(mapping))
    assert not batch.problems and batch.rows["offices"]


def test_a_register_directory_is_read_with_its_digests_beside_it(tmp_path: Path) -> None:
    out = write_register(synth_register(6, 3), tmp_path / "reg")
    shutil.copy(out / "offices.parquet", out / "history.parquet")
    batch = read_source(out)
    assert not batch.problems and len(batch.rows["firms"]) == 6
    (out / "register.json").unlink()  # no manifest: a folder of files, the extra one refused
    with pytest.raises(ImportError_, match=r"history\.parquet is not a table of the register"):
        read_source(out)


@pytest.mark.parametrize("target", ["/dev/zero", "folder"])
def test_a_table_that_is_not_a_file_is_refused(tmp_path: Path, target: str) -> None:
    folder = firms_csv(tmp_path).parent
    (folder / "offices.csv").unlink()
    if target == "folder":
        (folder / "offices.csv").mkdir()
    else:
        (folder / "offices.csv").symlink_to(target)  # read, it never ends
    with pytest.raises(ImportError_, match=r"offices\.csv: not a file") as refused:
        read_source(folder)
    assert refused.value.why == "not_a_file"
