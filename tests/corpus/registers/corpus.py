"""A corpus of register files as offices hand them in, each with what importing it must do.

``python tests/corpus/registers/corpus.py OUT`` writes every case to ``OUT/<case>/`` (the source, its
mapping, and ``expected.txt``); the tests build the same cases in a temporary folder. A case is either
imported, with the values some firms must then have, or refused, with the words the refusal must hold
(file, sheet, row, column, value and what was expected, or the header cells it names).
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

A = "91310115MA1K3BTP2B"
B = "91110000600037341L"

MAPPING = """\
firms:
  columns:
    统一社会信用代码: uscc
    企业名称: name_zh
    行业: {to: sector, values: {人工智能: artificial_intelligence, 生物医药: biomedicine}}
    注册地: registration_city
    成立日期: {to: registration_date, format: ["%Y年%m月%d日", "%Y-%m-%d"]}
    注册资本（万元）: {to: registered_capital, unit: 万元}
    2024年营业收入（万元）: {to: sales_2024, unit: 万元}
    实缴资本（万元）: {to: paid_in_capital, unit: 万元}
    资产总额（元）: total_assets
"""
HEADER = [
    "统一社会信用代码",
    "企业名称",
    "行业",
    "注册地",
    "成立日期",
    "注册资本（万元）",
    "2024年营业收入（万元）",
    "实缴资本（万元）",
    "资产总额（元）",
]
TAIL = ["50", "1000000"]  # paid-in capital and total assets, which every firm must have
ROW_A = [A, "上海甲科技有限公司", "人工智能", "shanghai", "2020年01月02日", "100", "1200.5", *TAIL]
ROW_B = [B, "北京乙医药有限公司", "生物医药", "beijing", "2019年05月06日", "2000", "", *TAIL]
#: layout headers and a complete firm (the seed of a register, and what a declared encoding reads)
LAYOUT = [
    "uscc",
    "name_zh",
    "sector",
    "registration_city",
    "registration_date",
    "registered_capital",
    "paid_in_capital",
    "total_assets",
]
#: what ROW_A and ROW_B import as
GOOD = {
    A: {
        "name_zh": "上海甲科技有限公司",
        "registered_capital": Decimal("1000000.00"),
        "sales_2024": Decimal("12005000.00"),
    },
    B: {"name_zh": "北京乙医药有限公司", "registered_capital": Decimal("20000000.00"), "sales_2024": None},
}


@dataclass
class Case:
    """One file (or folder) to import and what must happen."""

    name: str
    source: str  # relative to the case's folder
    files: dict[str, bytes]
    mapping: str | None = MAPPING
    #: imported: uscc -> {layout column: value}; None when refused
    values: dict[str, dict[str, object]] | None = None
    #: refused: every one of these must be in the message (the refusal's or its problems')
    refused: tuple[str, ...] = ()
    what: str = ""
    cli: bool = False  # one of the representative subset run through `huiqi register import`
    extra: dict[str, object] = field(default_factory=dict)

    def write(self, folder: Path) -> Path:
        """The case's files in ``folder``; returns the source to import."""
        for rel, data in self.files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        if self.mapping is not None:
            (folder / "mapping.yaml").write_text(self.mapping, encoding="utf-8")
        return folder / self.source

    @property
    def mapping_path(self) -> str | None:
        return "mapping.yaml" if self.mapping is not None else None


def csv_text(rows: list[list[str]], sep: str = ",") -> str:
    import csv

    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def xlsx(
    rows: Sequence[Sequence[object]], *, merged: Sequence[str] = (), errors: dict[str, str] | None = None
) -> bytes:
    """An xlsx workbook made by openpyxl: ``rows`` on its one sheet, ``merged`` ranges, error cells."""
    import openpyxl

    book = openpyxl.Workbook()
    ws: Any = book.active
    for row in rows:
        ws.append(list(row))
    for ref in merged:
        ws.merge_cells(ref)
    for ref, error in (errors or {}).items():
        ws[ref].value = error  # openpyxl writes "#DIV/0!" as an error cell (t="e")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _without_cached_value(data: bytes, formula: str) -> bytes:
    """openpyxl writes formulas without a cached value already; make sure of it (no <v> after <f>)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                assert f"<f>{formula}</f><v />".encode() in body
            dst.writestr(item, body)
    return out.getvalue()


def _with_cached_value(data: bytes, formula: str, value: str) -> bytes:
    """A formula cell as Excel saves it: the formula and its calculated value."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                cached = f"<f>{formula}</f><v>{value}</v>".encode()
                for empty in ("<v></v>", "<v />", "<v/>", ""):
                    if f"<f>{formula}</f>{empty}".encode() in body:
                        body = body.replace(f"<f>{formula}</f>{empty}".encode(), cached, 1)
                        break
            dst.writestr(item, body)
    return out.getvalue()


def _number_cell(data: bytes, ref: str, text: str) -> bytes:
    """Put ``text`` as the stored number of cell ``ref`` (what Excel writes for a binary float)."""
    import re

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                body, n = re.subn(
                    rf'<c r="{ref}"( s="\d+")?( t="n")?><v>[^<]*</v></c>'.encode(),
                    f'<c r="{ref}" t="n"><v>{text}</v></c>'.encode(),
                    body,
                )
                assert n == 1, (ref, body[:400])
            dst.writestr(item, body)
    return out.getvalue()


def cases() -> list[Case]:
    rows = [HEADER, ROW_A, ROW_B]
    text = csv_text(rows)
    gb_name = "䶮科技有限公司"  # U+4DAE: in GB18030, not in GBK
    gb_rows = [HEADER, [A, gb_name, *ROW_A[2:]], ROW_B]
    big5_rows = [
        LAYOUT,
        [A, "臺灣甲科技股份有限公司", "artificial_intelligence", "taipei", "2020-01-02", "1", "1", "1"],
    ]
    out = [
        Case("utf8", "firms.csv", {"firms.csv": text.encode()}, values=GOOD, cli=True, what="plain UTF-8"),
        Case(
            "utf8-bom",
            "firms.csv",
            {"firms.csv": text.encode("utf-8-sig")},
            values=GOOD,
            what="Excel's CSV UTF-8",
        ),
        Case(
            "gbk",
            "firms.csv",
            {"firms.csv": text.encode("gbk")},
            values=GOOD,
            cli=True,
            what="Excel on a mainland system",
        ),
        Case(
            "gb18030",
            "firms.csv",
            {"firms.csv": csv_text(gb_rows).encode("gb18030")},
            values={A: {"name_zh": gb_name}},
            what="a character only GB18030 has",
        ),
        Case(
            "gbk-short",
            "firms.csv",
            {"firms.csv": csv_text([HEADER, [A, "甲", *ROW_A[2:]]]).encode("gbk")},
            values={A: {"name_zh": "甲"}},
            what="little Chinese: charset-normalizer's best guess is Big5; GB18030 is among its candidates",
        ),
        Case(
            "utf16-tabs",
            "firms.csv",
            {"firms.csv": csv_text(rows, "\t").encode("utf-16")},
            values=GOOD,
            cli=True,
            what="Excel's 'Unicode text' (UTF-16 with BOM, tab-separated) renamed .csv",
        ),
        Case(
            "utf16le-no-bom",
            "firms.csv",
            {"firms.csv": text.encode("utf-16-le")},
            values=GOOD,
            what="UTF-16 without a byte-order mark",
        ),
        Case(
            "big5-declared",
            "firms.csv",
            {"firms.csv": csv_text(big5_rows).encode("big5")},
            mapping="firms: {encoding: big5}\n",
            values={A: {"name_zh": "臺灣甲科技股份有限公司"}},
            what="an encoding that must be declared",
        ),
        Case(
            "big5-undeclared",
            "firms.csv",
            {"firms.csv": csv_text(big5_rows).encode("big5")},
            refused=("firms.csv", "cannot tell the text encoding", "encoding:"),
            what="refused rather than read as mojibake",
        ),
        Case(
            "gbk-mapping",
            "firms.csv",
            {"firms.csv": text.encode("gbk")},
            mapping=None,
            values=GOOD,
            extra={"mapping_bytes": MAPPING.encode("gbk")},
            what="the mapping file in GBK too",
        ),
        Case(
            "csv-renamed-xlsx",
            "firms.xlsx",
            {"firms.xlsx": text.encode("gbk")},
            refused=("firms.xlsx", "not an xlsx workbook", "rename it to .csv"),
            cli=True,
            what="a CSV renamed .xlsx (was a BadZipFile traceback)",
        ),
        Case(
            "xlsx-renamed-csv",
            "firms.csv",
            {"firms.csv": xlsx(rows)},
            refused=("firms.csv", "not a CSV text file", "zip archive"),
            what="a workbook renamed .csv",
        ),
        Case(
            "xls-renamed-xlsx",
            "firms.xlsx",
            {"firms.xlsx": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)},
            refused=("firms.xlsx", "old Excel .xls"),
            what="an old .xls saved as .xlsx",
        ),
        Case(
            "zip-not-workbook",
            "firms.xlsx",
            {"firms.xlsx": _zip({"hello.txt": b"hi"})},
            refused=("firms.xlsx", "lacks its part xl/workbook.xml"),
            what="a zip archive that is no workbook",
        ),
        Case(
            "parquet-renamed-csv",
            "firms.csv",
            {"firms.csv": b"PAR1" + bytes(100)},
            refused=("firms.csv", "a Parquet file"),
            what="a Parquet file named .csv",
        ),
        Case(
            "duplicate-header",
            "firms.csv",
            {
                "firms.csv": csv_text(
                    [[*HEADER, "2024年营业收入（万元）"], [*ROW_A, "99999"], [*ROW_B, "1"]]
                ).encode()
            },
            refused=("firms.csv", "columns G (G1) and J (J1)", "2024年营业收入（万元）"),
            cli=True,
            what="a header twice (the last column used to win silently)",
        ),
        Case(
            "empty-header-with-data",
            "firms.csv",
            {"firms.csv": csv_text([[*HEADER, ""], [*ROW_A, ""], [*ROW_B, "oops"]]).encode()},
            refused=("firms.csv", "cell J3", "'oops'", "header cell J1 is empty"),
            what="a column of data under an empty header cell (was dropped)",
        ),
        Case(
            "beyond-header",
            "firms.csv",
            {"firms.csv": csv_text([HEADER, [*ROW_A, "", "extra"], ROW_B]).encode()},
            refused=("firms.csv", "cell K2", "beyond the header"),
            what="cells beyond the header's last column",
        ),
        Case(
            "trailing-empty-columns",
            "firms.csv",
            {"firms.csv": csv_text([[*HEADER, "", ""], [*ROW_A, "", ""], [*ROW_B, "", ""]]).encode()},
            values=GOOD,
            what="Excel's trailing empty columns are fine",
        ),
        Case(
            "semicolons",
            "firms.csv",
            {"firms.csv": csv_text(rows, ";").encode("utf-8-sig")},
            refused=("firms.csv", "separated by ';'", "delimiter:"),
            what="a European Excel's CSV, separated by semicolons",
        ),
        Case(
            "semicolons-declared",
            "firms.csv",
            {"firms.csv": csv_text(rows, ";").encode("utf-8-sig")},
            mapping=MAPPING.replace("firms:\n", "firms:\n  delimiter: ';'\n"),
            values=GOOD,
            what="the delimiter declared",
        ),
        Case(
            "unclosed-quote",
            "firms.csv",
            {"firms.csv": (text + f'{B[:-1]}X,"unclosed,a,b\r\n').encode()},
            refused=("firms.csv", "record 4", "a quote never closed"),
            what="a quote never closed would swallow the rest of the file",
        ),
        Case(
            "merged-header",
            "firms.xlsx",
            {
                "firms.xlsx": xlsx(
                    [[*HEADER[:7], None, *HEADER[7:]], [*ROW_A[:7], "7", *TAIL], [*ROW_B[:7], "", *TAIL]],
                    merged=["G1:H1"],
                )
            },
            refused=("firms.xlsx[Sheet]", "header cells G1:H1 are merged"),
            cli=True,
            what="a merged header cell over two columns of data",
        ),
        Case(
            "merged-data",
            "firms.xlsx",
            {"firms.xlsx": xlsx([HEADER, ROW_A, [B, *ROW_B[1:3], None, *ROW_B[4:]]], merged=["D2:D3"])},
            refused=("firms.xlsx[Sheet]", "cells D2:D3 are merged", "merged: fill"),
            what="a value merged down over two rows",
        ),
        Case(
            "merged-data-fill",
            "firms.xlsx",
            {"firms.xlsx": xlsx([HEADER, ROW_A, [B, *ROW_B[1:3], None, *ROW_B[4:]]], merged=["D2:D3"])},
            mapping=MAPPING.replace("firms:\n", "firms:\n  merged: fill\n"),
            values={A: {"registration_city": "shanghai"}, B: {"registration_city": "shanghai"}},
            what="merged: fill gives each merged cell the value",
        ),
        Case(
            "title-rows",
            "firms.xlsx",
            {
                "firms.xlsx": xlsx(
                    [["2024年重点企业名录"], ["填报单位：某区商务委"], HEADER, ROW_A, ROW_B], merged=["A1:G1"]
                )
            },
            mapping=MAPPING.replace("firms:\n", "firms:\n  header_row: 3\n"),
            values=GOOD,
            cli=True,
            what="title rows above the header, declared",
        ),
        Case(
            "title-rows-undeclared",
            "firms.xlsx",
            {"firms.xlsx": xlsx([["2024年重点企业名录"], HEADER, ROW_A])},
            refused=("firms.xlsx[Sheet]", "'2024年重点企业名录'", "header_row"),
            what="a title row taken for the header is refused with the hint",
        ),
        Case(
            "title-rows-csv",
            "firms.csv",
            {"firms.csv": csv_text([["2024年重点企业名录"], [], HEADER, ROW_A, ROW_B]).encode("gbk")},
            mapping=MAPPING.replace("firms:\n", "firms:\n  header_row: 3\n"),
            values=GOOD,
            what="title rows in a CSV",
        ),
        Case(
            "formula-no-value",
            "firms.xlsx",
            {
                "firms.xlsx": _without_cached_value(
                    xlsx([HEADER, ROW_A, [*ROW_B[:5], "=1000*2", "", *TAIL]]), "1000*2"
                )
            },
            refused=(
                "firms.xlsx[Sheet] row 3",
                "注册资本（万元）",
                "=1000*2",
                "formula without a calculated value",
            ),
            cli=True,
            what="a formula never calculated (written by a program, not Excel)",
        ),
        Case(
            "formula-cached",
            "firms.xlsx",
            {
                "firms.xlsx": _with_cached_value(
                    xlsx([HEADER, ROW_A, [*ROW_B[:5], "=1000*2", "", *TAIL]]),
                    "1000*2",
                    "2000",
                )
            },
            values=GOOD,
            what="a formula with the value Excel calculated",
        ),
        Case(
            "error-cell",
            "firms.xlsx",
            {"firms.xlsx": xlsx([HEADER, ROW_A, ROW_B], errors={"F3": "#DIV/0!"})},
            refused=("row 3", "注册资本（万元）", "#DIV/0!"),
            what="an Excel error value",
        ),
        Case(
            "float-artefact",
            "firms.xlsx",
            {
                "firms.xlsx": _number_cell(
                    xlsx([HEADER, [*ROW_A[:6], 1200.5, *TAIL], ROW_B]),
                    "G2",
                    "1200.5000000000002",
                )
            },
            values={A: {"sales_2024": Decimal("12005000.00")}},
            cli=True,
            what="1200.5000000000002 in a number cell is the 1200.5 Excel shows",
        ),
        Case(
            "numbers-as-numbers",
            "firms.xlsx",
            {
                "firms.xlsx": xlsx(
                    [HEADER, [*ROW_A[:5], 100, 1200.5, 50, 1000000], [*ROW_B[:5], 2000, None, 50, 1000000]]
                )
            },
            values=GOOD,
            what="number cells",
        ),
        Case(
            "chinese-money",
            "firms.csv",
            {
                "firms.csv": csv_text(
                    [
                        HEADER,
                        [*ROW_A[:5], "￥100", "１，２００．５", *TAIL],
                        [*ROW_B[:5], "2,000万元", "¥0.5万", *TAIL],
                    ]
                ).encode("utf-8-sig")
            },
            values={
                A: GOOD[A],
                B: {"registered_capital": Decimal("20000000.00"), "sales_2024": Decimal("5000.00")},
            },
            what="￥, full-width digits and punctuation, thousands separators, the column unit repeated",
        ),
        Case(
            "yi-units",
            "firms.csv",
            {"firms.csv": csv_text([HEADER, [*ROW_A[:5], "1.5亿", "3亿元", "0.01", "1"]]).encode()},
            mapping=MAPPING.replace("unit: 万元", "unit: 亿"),
            values={
                A: {"registered_capital": Decimal("150000000.00"), "sales_2024": Decimal("300000000.00")}
            },
            what="a column declared in 亿",
        ),
        Case(
            "unit-mismatch",
            "firms.csv",
            {"firms.csv": csv_text([HEADER, [*ROW_A[:5], "3亿元", "1", *TAIL]]).encode()},
            refused=("firms.csv row 2", "注册资本（万元）", "'3亿元'", "the column is in 万元"),
            what="a cell naming another unit than its column's",
        ),
        Case(
            "ambiguous-amounts",
            "firms.csv",
            {
                "firms.csv": csv_text(
                    [HEADER]
                    + [
                        [A if i == 0 else B, "x", "人工智能", "s", "2020-01-02", v, "", *TAIL]
                        for i, v in enumerate(["1.234.567", "1,23"])
                    ]
                    + [
                        [A, "x", "人工智能", "s", "2020-01-02", v, "", *TAIL]
                        for v in ["1 200", "(1200)", "5%", "1.2E+7", "一千"]
                    ]
                ).encode()
            },
            refused=(
                "row 2, column '注册资本（万元）': '1.234.567'",
                "row 3, column '注册资本（万元）': '1,23'",
                "'1 200'",
                "'(1200)'",
                "'5%'",
                "'1.2E+7'",
                "scientific notation",
                "'一千'",
                "an amount in 万元",
            ),
            what="what a person could read two ways",
        ),
        Case(
            "huge-amounts",
            "firms.csv",
            {
                "firms.csv": csv_text(
                    [
                        HEADER,
                        [*ROW_A[:5], "123456789012345678901234567", "", *TAIL],
                        [*ROW_B[:5], "1" + "0" * 57, "", *TAIL],
                    ]
                ).encode()
            },
            refused=("row 2", "'123456789012345678901234567'", "row 3", "an amount of at most"),
            cli=True,
            what="27- and 58-digit amounts",
        ),
        Case(
            "huge-xlsx-number",
            "firms.xlsx",
            {"firms.xlsx": _number_cell(xlsx([HEADER, [*ROW_A[:6], 1, *TAIL]]), "G2", "1E+20")},
            mapping=MAPPING.replace(
                "2024年营业收入（万元）: {to: sales_2024, unit: 万元}",
                "2024年营业收入（万元）: {to: sales_2024, unit: 亿元}",
            ),
            refused=("row 2", "2024年营业收入（万元）", "an amount of at most"),
            what="1E+20 in a number cell, in 亿元",
        ),
        Case(
            "e400",
            "firms.csv",
            {"firms.csv": csv_text([HEADER, [*ROW_A[:5], "1e400", "", *TAIL]]).encode()},
            refused=("row 2", "'1e400'"),
            what="1e400 (was decimal.InvalidOperation)",
        ),
        Case(
            "bad-last-row",
            "firms.csv",
            {"firms.csv": csv_text([HEADER, ROW_A, [B, *ROW_B[1:5], "2000", "x", *TAIL]]).encode()},
            refused=("row 3", "2024年营业收入（万元）", "'x'"),
            cli=True,
            what="refused on its last row: nothing of the good rows is imported either",
        ),
    ]
    for case in out:
        if "mapping_bytes" in case.extra:
            case.files["mapping.yaml"] = case.extra["mapping_bytes"]  # type: ignore[assignment]
            case.mapping = None
            case.extra["mapping"] = "mapping.yaml"
    return out


def digest(folder: Path) -> str:
    """One digest of every file of a folder (a register directory), its lock file left out."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != ".huiqi.lock":
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


def mapping_of(case: Case) -> str | None:
    return case.mapping_path or (str(case.extra["mapping"]) if "mapping" in case.extra else None)


def main(out: Path) -> None:
    for case in cases():
        folder = out / case.name
        folder.mkdir(parents=True, exist_ok=True)
        case.write(folder)
        expected = (
            "imported: " + repr(case.values)
            if case.values is not None
            else "refused, naming: " + " | ".join(case.refused)
        )
        (folder / "expected.txt").write_text(
            f"{case.what}\nsource: {case.source}\n{expected}\n", encoding="utf-8"
        )
    print(f"{len(cases())} cases in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "register-corpus"))
