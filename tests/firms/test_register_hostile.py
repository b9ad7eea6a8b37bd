"""Register files against hostile and unlucky input: exports never hold a live formula and re-import
unchanged (names like =HYPERLINK(...) included); the CSV and xlsx readers give back what was written for
any text (hypothesis); amounts in every Chinese form the mapping declares are exact; two imports into one
register directory at once lose nothing; an import refused on its last row changes nothing."""

from __future__ import annotations

import datetime as dt
import os
import subprocess  # nosec B404  # the real command, as officers run it
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbfixtures import Db, sqlite_db
from huiqi.firms.exporting import write_table, write_tables
from huiqi.firms.importing import ImportRefused, load_mapping, read_source, records_from_tables
from huiqi.firms.numbers import UNITS, NumberError, parse_amount
from huiqi.firms.register import read_register
from huiqi.firms.sheets import excel_number, read_csv, read_xlsx
from huiqi.firms.synth import synth_register

HOSTILE = [
    '=HYPERLINK("http://example.com/x","点击查看")',
    "+86 21 1234 5678",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "'=already quoted",
    "'apostrophe",
    "_x0041_ looks like an Excel escape",
    "甲公司\n第二行",
]
HUIQI = Path(sys.executable).with_name("huiqi")
sys.path.insert(0, str(Path(__file__).parents[1] / "corpus" / "registers"))
from corpus import digest  # noqa: E402

__all__ = ["sqlite_db"]  # the fixture


def _with_names(n: int = len(HOSTILE)) -> dict[str, pa.Table]:
    tables = synth_register(n, 3)
    firms = tables["firms"]
    col = firms.column_names.index("name_zh")
    tables["firms"] = firms.set_column(col, "name_zh", pa.array(HOSTILE[:n], pa.string()))
    return tables


@pytest.mark.parametrize("target", ["register.xlsx", "csv"])
def test_export_writes_no_formula_and_reimports_unchanged(tmp_path: Path, target: str) -> None:
    tables = _with_names()
    out = write_tables(tables, tmp_path / target)
    if target.endswith(".xlsx"):
        with zipfile.ZipFile(out) as z:
            sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
            assert sheets and not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)
        # another reader (openpyxl) sees every name as a text cell, none as a formula
        book = openpyxl.load_workbook(out)
        assert all(book["firms"][f"B{i}"].data_type == "s" for i in range(2, len(HOSTILE) + 2))
        assert any(
            str(book["firms"][f"B{i}"].value).startswith("=HYPERLINK") for i in range(2, len(HOSTILE) + 2)
        )
    else:
        import csv

        with (out / "firms.csv").open(encoding="utf-8-sig", newline="") as f:
            written = [row[1] for row in list(csv.reader(f))[1:]]
        for name in HOSTILE:
            escaped = name.startswith(("=", "+", "-", "@", "\t", "\r", "'"))
            assert (f"'{name}" if escaped else name) in written  # never a live formula
    batch = read_source(out)
    assert not batch.problems, batch.problems[:3]
    assert {r.values["name_zh"] for r in batch.rows["firms"]} == set(HOSTILE)
    reg = tmp_path / "reg"
    from huiqi.matching.store import import_into_directory

    import_into_directory(reg, batch)
    assert records_from_tables(read_register(reg)) == records_from_tables(tables)


def test_results_csv_is_escaped_too(tmp_path: Path) -> None:
    table = pa.table({"name": ["=1+2", "plain"], "amount": [Decimal("-5.00"), Decimal("1.00")]})
    text = write_table(table, tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert "'=1+2" in text and ",-5.00" in text and "'-5.00" not in text  # numbers are no formulas
    assert read_csv(tmp_path / "r.csv").rows[1][1][0] == "=1+2"


def test_a_long_or_control_character_text_is_refused_by_the_workbook_export(tmp_path: Path) -> None:
    from huiqi.firms.exporting import ExportError

    tables = _with_names(2)
    col = tables["firms"].column_names.index("name_zh")
    tables["firms"] = tables["firms"].set_column(col, "name_zh", pa.array(["a\x01b", "ok"], pa.string()))
    with pytest.raises(ExportError, match=r"firms row 2 column 'name_zh'.*U\+0001"):
        write_tables(tables, tmp_path / "x.xlsx")


# -- the readers give back what was written ---------------------------------------------------------------
TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=0, max_size=12
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    grid=st.lists(st.lists(TEXT, min_size=3, max_size=3), min_size=1, max_size=6),
    enc=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "gb18030"]),
)
def test_csv_reader_reads_back_any_text(tmp_path: Path, grid: list[list[str]], enc: str) -> None:
    import csv
    import io

    from huiqi.firms.exporting import escape_csv_cell

    rows = [["a", "b", "c"], *grid]
    buf = io.StringIO()
    csv.writer(buf).writerows([[escape_csv_cell(v) for v in r] for r in rows])
    try:
        data = buf.getvalue().encode(enc)
    except UnicodeEncodeError:
        return
    p = tmp_path / "t.csv"
    p.write_bytes(data)
    sheet = read_csv(p, encoding=enc)
    got = {n: cells for n, cells in sheet.rows}
    for number, row in enumerate(rows, start=1):
        if all(not v.strip() for v in row):
            continue
        assert [str(v) for v in got[number]] == row


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cells=st.lists(
        st.one_of(
            TEXT.filter(lambda t: not t.startswith("=")),
            st.integers(min_value=-(10**15), max_value=10**15),
            st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False),
            st.booleans(),
            st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(9999, 12, 31)),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_xlsx_reader_agrees_with_openpyxl(tmp_path: Path, cells: list[object]) -> None:
    from openpyxl.utils.exceptions import IllegalCharacterError

    book = openpyxl.Workbook()
    ws = book.active
    try:
        ws.append(["h"])
        for c in cells:
            ws.append([c])
    except IllegalCharacterError:
        return
    p = tmp_path / "t.xlsx"
    book.save(p)
    mine = {n: row[0] for n, row in read_xlsx(p).rows}
    theirs = openpyxl.load_workbook(p, read_only=True)
    for number, (value,) in enumerate(theirs.active.iter_rows(min_row=2, values_only=True), start=2):
        expected = value
        if isinstance(value, float):
            expected = excel_number(repr(value))
        if isinstance(value, dt.datetime) and isinstance(cells[number - 2], dt.date):
            expected = value
        got = mine.get(number)
        if value is None or (isinstance(value, str) and not value.strip()):
            assert got is None or (isinstance(got, str) and not got.strip())
        else:
            assert got == expected, (number, got, expected)


@given(
    fen=st.integers(min_value=0, max_value=10**17),
    unit=st.sampled_from(sorted(UNITS)),
    style=st.sampled_from(["plain", "grouped", "fullwidth", "yen", "suffix"]),
)
def test_amount_forms_are_exact(fen: int, unit: str, style: str) -> None:
    yuan = Decimal(fen) / 100
    value = yuan / UNITS[unit]
    text = format(value.normalize(), "f")
    if style == "grouped":
        text = f"{value.normalize():,f}"
    elif style == "fullwidth":
        text = f"{value.normalize():,f}".translate(str.maketrans("0123456789,.", "０１２３４５６７８９，．"))
    elif style == "yen":
        text = "￥" + text
    elif style == "suffix" and unit != "yuan":
        text += unit
    assert parse_amount(text, UNITS[unit]) == yuan


@pytest.mark.parametrize(
    "text", ["1.234.567", "1,23", "12,3456", "1 200", "(1200)", "5%", "1.2E+7", "一千", "¥", "--1", "1-"]
)
def test_ambiguous_amounts_are_refused(text: str) -> None:
    with pytest.raises(NumberError):
        parse_amount(text)


def test_excel_numbers_are_what_excel_shows() -> None:
    assert excel_number("1200.5000000000002") == Decimal("1200.50000000000")
    assert excel_number("0.30000000000000004") == Decimal("0.300000000000000")
    assert excel_number("1234.56") == Decimal("1234.56")
    assert excel_number("1E+20") == Decimal("1E+20")


# -- two imports into one register directory at once ----------------------------------------------------
def _halves(tmp: Path, n: int) -> tuple[Path, Path, set[str], set[str]]:
    tables = synth_register(2 * n, 11)
    codes = tables["firms"]["uscc"].to_pylist()
    out = []
    for i, part in enumerate((set(codes[:n]), set(codes[n:]))):
        mask = {name: pa.array([c in part for c in t["uscc"].to_pylist()]) for name, t in tables.items()}
        out.append(write_tables({name: t.filter(mask[name]) for name, t in tables.items()}, tmp / f"half{i}"))
    return out[0], out[1], set(codes[:n]), set(codes[n:])


def test_two_concurrent_imports_into_one_directory_lose_nothing(tmp_path: Path) -> None:
    """Two real `huiqi register import` processes started together into the same new directory: both
    succeed, every firm of both is there, and the history holds exactly the firms that were added."""
    first, second, a, b = _halves(tmp_path, 2000)
    reg = tmp_path / "reg"
    env = {**os.environ, "HUIQI_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"}
    procs = [
        subprocess.Popen(  # nosec B603  # our own command, fixed arguments
            [str(HUIQI), "register", "import", str(src), "--register", str(reg)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for src in (first, second)
    ]
    results = [(*p.communicate(timeout=600), p.returncode) for p in procs]
    for out, err, code in results:
        assert code == 0, err
        assert "2000 added" in out, out
    tables = read_register(reg)
    assert set(tables["firms"]["uscc"].to_pylist()) == a | b
    from huiqi.matching.store import directory_history

    added = {r["uscc"] for r in directory_history(reg) if r["field"] == "*"}
    assert added == a | b
    assert len({r["import_id"] for r in directory_history(reg)}) == 2


def test_a_writer_waits_for_the_lock_and_gives_up_clearly(tmp_path: Path) -> None:
    from huiqi.firms.register import RegisterError, locked

    reg = tmp_path / "reg"
    holder = subprocess.Popen(  # nosec B603  # our own interpreter, fixed arguments
        [
            sys.executable,
            "-c",
            "import sys, time; from huiqi.firms.register import locked\n"
            f"with locked({str(reg)!r}):\n    print('held', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        told: list[str] = []
        busy = r"another process is writing this register \(pid \d+"
        with pytest.raises(RegisterError, match=busy), locked(reg, wait=0.5, on_wait=told.append):
            pass
        assert told and "waiting for another process" in told[0]
    finally:
        holder.kill()
        holder.wait()
    with locked(reg, wait=5):  # free again once the holder is gone
        pass


# -- all or nothing -------------------------------------------------------------------------------------
def test_a_refusal_on_the_last_row_changes_nothing_in_the_database(tmp_path: Path, sqlite_db: Db) -> None:
    from huiqi.matching import store

    tables = synth_register(50, 4)
    good = write_tables({k: v for k, v in tables.items()}, tmp_path / "first")
    with sqlite_db.session() as s:
        store.import_into_db(s, read_source(good), actor="t")
        s.commit()
    changed = synth_register(60, 5)
    folder = write_tables(changed, tmp_path / "second")
    _spoil_last_row(folder / "firms.csv")
    with sqlite_db.session() as s:
        before = store.load_register(s)
        n_history = len(store.history(s, tables["firms"]["uscc"][0].as_py()))
    with sqlite_db.session() as s, pytest.raises(ImportRefused) as refused:
        store.import_into_db(s, read_source(folder, known=store.known_codes(s)), actor="t")
    spoiled = changed["firms"]["uscc"][59].as_py()
    first, *children = refused.value.problems
    assert (first.row, first.column, first.value) == (61, "total_assets", "12,34")
    assert all(p.value == spoiled and p.table != "firms" for p in children)  # its child rows go with it
    with sqlite_db.session() as s:
        after = store.load_register(s)
        assert len(store.history(s, tables["firms"]["uscc"][0].as_py())) == n_history
    assert records_from_tables(after) == records_from_tables(before)


def test_a_refusal_on_the_last_row_changes_nothing_in_a_directory(tmp_path: Path) -> None:
    from huiqi.matching.store import import_into_directory

    reg = tmp_path / "reg"
    import_into_directory(reg, read_source(write_tables(synth_register(20, 1), tmp_path / "a")))
    before = digest(reg)
    folder = write_tables(synth_register(30, 2), tmp_path / "b")
    _spoil_last_row(folder / "firms.csv")
    with pytest.raises(ImportRefused) as refused:
        import_into_directory(reg, read_source(folder, load_mapping(None), known=set()))
    first = refused.value.problems[0]
    assert (first.table, first.row, first.column, first.value) == ("firms", 31, "total_assets", "12,34")
    assert digest(reg) == before


def _spoil_last_row(path: Path) -> None:
    """The last firm's total assets as '12,34': ambiguous, so refused."""
    from csv_rows import read_rows, write_rows

    rows = read_rows(path)
    rows[-1][rows[0].index("total_assets")] = "12,34"
    write_rows(path, rows)


# -- the mapping file and the one bound on numbers ------------------------------------------------------
def test_a_mapping_bomb_or_a_gbk_mapping(tmp_path: Path) -> None:
    from huiqi.firms.importing import ImportError_

    bomb = tmp_path / "bomb.yaml"
    lol = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    bomb.write_text(lol, encoding="utf-8")
    with pytest.raises(ImportError_, match=r"bomb\.yaml"):
        load_mapping(bomb)
    gbk = tmp_path / "m.yaml"
    gbk.write_bytes("firms:\n  columns: {统一社会信用代码: uscc, 企业名称: name_zh}\n".encode("gbk"))
    assert set(load_mapping(gbk)["firms"].columns) == {"统一社会信用代码", "企业名称"}


def test_amounts_and_counts_beyond_the_one_bound_are_refused() -> None:
    from huiqi.firms.importing import ColumnRule, convert
    from huiqi.money import MAX_MAGNITUDE

    money, count = pa.decimal128(18, 2), pa.int64()
    wan = ColumnRule("h", "total_assets", unit=UNITS["万元"])
    assert convert(str(MAX_MAGNITUDE), money, None) == Decimal(MAX_MAGNITUDE)
    assert convert(str(MAX_MAGNITUDE // 10_000), money, wan) == Decimal(MAX_MAGNITUDE)
    for text, rule in [(str(MAX_MAGNITUDE + 1), None), ("100000000001", wan), ("1" + "0" * 57, None)]:
        with pytest.raises(ValueError, match="at most 1,000,000,000,000,000"):
            convert(text, money, rule)
    assert convert("１，２００", count, None) == 1200
    with pytest.raises(ValueError, match="a whole number of at most"):
        convert(str(MAX_MAGNITUDE + 1), count, None)
    with pytest.raises(ValueError, match="a whole number"):
        convert("1.5", count, None)


# -- any sheet XML: a refusal or an import, never a crash --------------------------------------------------
CELL_TYPES = st.sampled_from([None, "s", "str", "b", "e", "d", "n", "inlineStr", "zz"])
CELL_TEXT = st.one_of(
    st.sampled_from(
        ["0", "1", "-1", "1200.5000000000002", "1E+20", "1e400", "NaN", "45292", "#N/A", "", "x"]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=8),
)


@st.composite
def sheet_xml(draw: st.DrawFn) -> tuple[str, str]:
    from xml.sax.saxutils import escape, quoteattr

    rows = []
    for r in range(1, draw(st.integers(1, 4)) + 1):
        cells = []
        for c in range(draw(st.integers(0, 4))):
            ref = draw(st.sampled_from([f"{'ABCD'[c]}{r}", "", "ZZZZ1", "A0", "!"]))
            attrs = (f" r={quoteattr(ref)}" if ref else "") + (
                f" t={quoteattr(t)}" if (t := draw(CELL_TYPES)) else ""
            )
            attrs += draw(st.sampled_from(["", ' s="1"', ' s="7"', ' s="x"']))
            inner = draw(st.sampled_from(["v", "f", "fv", "is", ""]))
            text = escape(draw(CELL_TEXT))
            body = {
                "v": f"<v>{text}</v>",
                "f": f"<f>{text}</f>",
                "fv": f"<f>1+1</f><v>{text}</v>",
                "is": f"<is><t>{text}</t></is>",
                "": "",
            }[inner]
            cells.append(f"<c{attrs}>{body}</c>")
        rows.append(f'<row r="{r}">' + "".join(cells) + "</row>")
    merge = draw(
        st.sampled_from(["", '<mergeCells><mergeCell ref="A1:B1"/></mergeCells>', '<mergeCell ref="Q"/>'])
    )
    strings = "".join(f"<si><t>{escape(draw(CELL_TEXT))}</t></si>" for _ in range(draw(st.integers(0, 3))))
    return "".join(rows) + merge, strings


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(xml=sheet_xml())
def test_any_sheet_is_imported_or_refused(tmp_path: Path, xml: tuple[str, str]) -> None:
    from huiqi.firms.importing import ImportError_, prepare

    sys.path.insert(0, str(Path(__file__).parents[1] / "fuzz"))
    from fuzz_register_files import workbook

    path = tmp_path / "firms.xlsx"
    path.write_bytes(workbook(*xml))
    try:
        prepare(read_source(path), {})
    except (ImportError_, ImportRefused) as exc:
        assert "firms.xlsx" in str(exc) or isinstance(exc, ImportRefused)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.sampled_from(["uscc", ",", '"', "\r\n", "\n", "甲", "'=", "1,2", "\x00", " "]), max_size=40
        ).map(lambda parts: "".join(parts).encode("utf-8")),
    ),
    enc=st.sampled_from(["utf-8", "gbk", "utf-16"]),
)
def test_any_csv_bytes_are_imported_or_refused(tmp_path: Path, data: bytes, enc: str) -> None:
    from huiqi.firms.importing import ImportError_, prepare

    path = tmp_path / "firms.csv"
    try:
        path.write_bytes(data.decode("utf-8").encode(enc))
    except (UnicodeDecodeError, UnicodeEncodeError):
        path.write_bytes(data)
    try:
        merged = prepare(read_source(path), {})
    except (ImportError_, ImportRefused) as exc:
        assert str(exc)  # a refusal says why
    else:
        assert all(code == record["firm"]["uscc"] for code, record in merged.records.items())


def test_atheris_on_the_readers() -> None:
    """A short coverage-guided run of tests/fuzz/fuzz_register_files.py (longer runs: see its docstring)."""
    fuzz = Path(__file__).parents[1] / "fuzz"
    result = subprocess.run(  # nosec B603  # our own fuzzer, fixed arguments
        [
            sys.executable,
            str(fuzz / "fuzz_register_files.py"),
            "-max_total_time=6",
            "-max_len=3000",
            f"-dict={fuzz / 'register_files.dict'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_csv_is_streamed_and_bytes_past_the_sample_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    """The encoding is told from the first MiB; a file that is ASCII there and GBK later is refused by
    record, never read as mojibake; declared, it imports."""
    from huiqi.firms.importing import ImportError_
    from huiqi.firms.sheets import SAMPLE

    path = tmp_path / "firms.csv"
    filler = "".join(f"x{i},{'y' * 60}\r\n" for i in range(SAMPLE // 60))
    path.write_bytes(("a,b\r\n" + filler + "甲,乙\r\n").encode("gbk"))
    with pytest.raises(ImportError_, match=r"firms\.csv: record \d+: bytes .* are not valid utf-8"):
        read_csv_rows(path, None)
    assert read_csv_rows(path, "gbk")[-1] == ["甲", "乙"]


def read_csv_rows(path: Path, encoding: str | None) -> list[list[str]]:
    from huiqi.firms.importing import ImportError_
    from huiqi.firms.sheets import SheetError

    try:
        return [[str(c) for c in cells] for _, cells in read_csv(path, encoding=encoding).rows]
    except SheetError as exc:
        raise ImportError_(str(exc)) from None


def test_the_rejected_rows_file_holds_no_live_formula(tmp_path: Path) -> None:
    from huiqi.firms.importing import write_rejected

    src = tmp_path / "firms.csv"
    src.write_text('uscc,name_zh\n91310115MA1K3BTP2C,"=HYPERLINK(""http://x"",""y"")"\n', encoding="utf-8")
    batch = read_source(src)
    assert batch.rejected
    rows = read_csv(write_rejected(batch, tmp_path / "rej.csv")).rows
    raw = (tmp_path / "rej.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in raw and ",=HYPERLINK" not in raw
    assert rows[1][1][-1] == '=HYPERLINK("http://x","y")'  # reads back as written


def test_a_refused_import_into_a_new_directory_leaves_no_directory(tmp_path: Path) -> None:
    from huiqi.matching.store import import_into_directory

    folder = write_tables(synth_register(5, 2), tmp_path / "b")
    _spoil_last_row(folder / "firms.csv")
    reg = tmp_path / "new" / "reg"
    with pytest.raises(ImportRefused):
        import_into_directory(reg, read_source(folder))
    assert not reg.exists()
    import_into_directory(reg, read_source(write_tables(synth_register(5, 3), tmp_path / "c")))
    assert read_register(reg)["firms"].num_rows == 5


def test_a_refused_import_racing_two_good_ones_into_a_new_directory(tmp_path: Path) -> None:
    """The refused import may remove the directory it created while the others wait for its lock: they
    start again on a fresh lock and both land."""
    first, second, a, b = _halves(tmp_path, 200)
    bad = write_tables(synth_register(20, 99), tmp_path / "bad")
    _spoil_last_row(bad / "firms.csv")
    reg = tmp_path / "reg"
    env = {**os.environ, "HUIQI_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"}
    procs = [
        subprocess.Popen(  # nosec B603  # our own command, fixed arguments
            [str(HUIQI), "register", "import", str(src), "--register", str(reg)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for src in (bad, first, second)
    ]
    codes = [(p.returncode, out) for p in procs for out in [p.communicate(timeout=600)]]
    assert codes[0][0] == 2 and "12,34" in codes[0][1][1]
    assert [c for c, _ in codes[1:]] == [0, 0], codes
    assert set(read_register(reg)["firms"]["uscc"].to_pylist()) == a | b
