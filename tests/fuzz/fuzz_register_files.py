"""Coverage-guided fuzzing of the register file readers (CSV bytes in any encoding, xlsx sheet XML).

    .venv/bin/python tests/fuzz/fuzz_register_files.py -runs=100000

The first byte picks the file: a CSV of the remaining bytes, or a workbook whose sheet and shared strings
are the remaining text. Anything but a refusal (ImportError_, ImportRefused) is a crash.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import zipfile
from pathlib import Path

import atheris  # type: ignore[import-untyped]

# coverage from our readers, not from every module they pull in (instrumenting numpy, pydantic, pyarrow and
# the rest took most of a short run)
with atheris.instrument_imports(include=["huiqi"]):
    from huiqi.firms.importing import ImportError_, ImportRefused, prepare, read_source

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
WORKBOOK = (
    f'<workbook {NS} xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="firms" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
RELS = (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="worksheet"/></Relationships>'
)
STYLES = f'<styleSheet {NS}><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs></styleSheet>'
FOLDER = Path(tempfile.mkdtemp(prefix="huiqi-fuzz-"))


def workbook(sheet: str, strings: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", RELS)
        z.writestr("xl/styles.xml", STYLES)
        z.writestr("xl/sharedStrings.xml", f"<sst {NS}>{strings}</sst>")
        z.writestr("xl/worksheets/sheet1.xml", f"<worksheet {NS}><sheetData>{sheet}</sheetData></worksheet>")
    return out.getvalue()


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        path = FOLDER / "firms.csv"
        path.write_bytes(fdp.ConsumeBytes(2000))
    else:
        path = FOLDER / "firms.xlsx"
        strings = fdp.ConsumeUnicodeNoSurrogates(200)
        path.write_bytes(workbook(fdp.ConsumeUnicodeNoSurrogates(1500), strings))
    with contextlib.suppress(ImportError_, ImportRefused):
        prepare(read_source(path), {})


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
