"""A NUL character in a CSV cell read record by record (a UTF-16 file, an encoding the mapping declares) is
refused naming the record and column: PostgreSQL refuses it, so the import failed as huiqi's fault
(``DataError``, exit code 1) after reading the whole file."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.hostile.register_files import firms_csv

from huiqi.firms.importing import ImportError_, load_mapping, read_source


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_a_nul_in_a_cell_is_refused_by_record_and_column(tmp_path: Path, encoding: str) -> None:
    path = firms_csv(tmp_path)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    code, name, rest = lines[3].split(",", 2)
    lines[3] = f"{code},{name[:2]}\x00{name[2:]},{rest}"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    mapping = {}
    if encoding == "utf-16-le":  # no BOM: the encoding is declared
        (tmp_path / "m.yaml").write_text("firms:\n  encoding: utf-16-le\n", encoding="utf-8")
        mapping = load_mapping(tmp_path / "m.yaml")
    with pytest.raises(ImportError_, match=r"firms.csv: record 4, column B: a NUL character"):
        read_source(path.parent, mapping)
