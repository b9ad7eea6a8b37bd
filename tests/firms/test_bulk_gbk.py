"""A register saved as GBK/GB18030 CSV (Excel's "CSV" on a Chinese Windows) is read by Arrow's reader, as a
UTF-8 one is, and gives the same tables; bytes not in the encoding further on leave the file to the
row-by-row reader, which names the record."""

from __future__ import annotations

from pathlib import Path

import pytest

from huiqi.firms.bulk import read_bulk
from huiqi.firms.exporting import write_tables
from huiqi.firms.importing import ImportError_
from huiqi.firms.io import ENCODING_SAMPLE
from huiqi.firms.synth import synth_register


def _as_gbk(src: Path, out: Path) -> Path:
    out.mkdir()
    for f in src.glob("*.csv"):
        (out / f.name).write_bytes(f.read_text(encoding="utf-8-sig").encode("gbk"))
    return out


def test_a_gbk_register_reads_as_its_utf8_export(tmp_path: Path) -> None:
    utf8 = write_tables(synth_register(40, 3), tmp_path / "utf8")
    gbk = _as_gbk(utf8, tmp_path / "gbk")
    assert any(b >= 0x80 for b in (gbk / "firms.csv").read_bytes())  # Chinese names, in GBK bytes
    a, b = read_bulk(utf8), read_bulk(gbk)
    assert all(p.cells.csv for p in b.parts.values())  # Arrow's reader's text columns, not cell by cell
    assert set(a.parts) == set(b.parts)
    for table, part in a.parts.items():
        assert part.data.equals(b.parts[table].data), table
    assert not a.problems and not b.problems


def test_bytes_not_in_gbk_further_on_are_named_by_record(tmp_path: Path) -> None:
    utf8 = write_tables(synth_register(4000, 4), tmp_path / "utf8")
    gbk = _as_gbk(utf8, tmp_path / "gbk")
    lines = (gbk / "firms.csv").read_bytes().split(b"\n")
    assert sum(map(len, lines[:3500])) > ENCODING_SAMPLE  # past what the encoding is told from
    lines[3500] = lines[3500] + b"\x80\xff"
    (gbk / "firms.csv").write_bytes(b"\n".join(lines))
    with pytest.raises(ImportError_, match=r"record [0-9]+: bytes .* are not valid gb18030"):
        read_bulk(gbk)
