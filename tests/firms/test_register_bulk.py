"""The bulk import (huiqi.firms.bulk: Arrow columns, vectorised checks) against the row-by-row import
(huiqi.firms.importing) it replaces for the stored register: every case of the corpus of real-world
register files, hostile text and random bad values give the same register, the same history and the same
refusal, word for word."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csv_rows import read_rows, write_rows
from dbfixtures import Db, db, pg_db, pg_url, sqlite_db
from huiqi.app import register
from huiqi.app.store import Store
from huiqi.firms.bulk import empty_register, prepare_bulk, read_bulk
from huiqi.firms.importing import (
    ImportError_,
    ImportRefused,
    load_mapping,
    prepare,
    read_source,
    records_from_tables,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "corpus" / "registers"))
from corpus import cases, mapping_of

CASES = {c.name: c for c in cases()}
__all__ = ["db", "pg_db", "pg_url", "sqlite_db"]  # fixtures


def _row_by_row(
    source: Path, mapping: Path | None, existing: dict[str, pa.Table], skip: bool = False
) -> tuple[object, str]:
    try:
        known = set(records_from_tables(existing))
        batch = read_source(source, load_mapping(mapping), known=known)
        merged = prepare(batch, records_from_tables(existing), skip_invalid=skip)
    except (ImportError_, ImportRefused) as exc:
        return None, str(exc)
    records = {**records_from_tables(existing), **merged.records}
    changes = sorted((c.uscc, c.field, c.old, c.new) for c in merged.changes)
    rejected = [(r.table, r.source, r.row, [str(p) for p in ps]) for r, ps in batch.rejected]
    return (records, changes, (merged.added, merged.changed, merged.unchanged), rejected), ""


def _bulk(
    source: Path, mapping: Path | None, existing: dict[str, pa.Table], skip: bool = False
) -> tuple[object, str]:
    try:
        known = existing["firms"]["uscc"].combine_chunks()
        batch = read_bulk(source, load_mapping(mapping), known=known)
        merged = prepare_bulk(batch, existing, skip_invalid=skip)
    except (ImportError_, ImportRefused) as exc:
        return None, str(exc)
    records = records_from_tables(merged.tables)
    changes = sorted(tuple(r.values()) for r in merged.changes.to_pylist())
    rejected = [(r.table, r.source, r.row, [str(p) for p in ps]) for r, ps in batch.rejected]
    return (records, changes, (merged.added, merged.changed, merged.unchanged), rejected), ""


def _empty() -> dict[str, pa.Table]:
    return empty_register()


@pytest.mark.parametrize("name", list(CASES))
def test_corpus_case_in_bulk_as_row_by_row(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    source = case.write(tmp_path)
    mapping = mapping_of(case)
    path = tmp_path / mapping if mapping else None
    slow = _row_by_row(source, path, _empty())
    fast = _bulk(source, path, _empty())
    assert fast[1] == slow[1]
    assert fast[0] == slow[0]


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.values is None][:12])
def test_corpus_refusals_skipped_in_bulk_as_row_by_row(name: str, tmp_path: Path) -> None:
    """--skip-invalid: the same rows rejected with the same reasons, the same firms imported."""
    case = CASES[name]
    source = case.write(tmp_path)
    mapping = mapping_of(case)
    path = tmp_path / mapping if mapping else None
    assert _bulk(source, path, _empty(), skip=True) == _row_by_row(source, path, _empty(), skip=True)


# -- random registers, random damage --------------------------------------------------------------------
DAMAGE = {
    "registered_capital": ["-1.00", "1.005", "1e3", "壹佰", "", "1,000.50", " 12.30 ", "12.3"],
    "employees": ["-3", "2.5", "", "007", "1000000000000000000"],
    "rd_staff": ["999999", "", "0"],
    "registration_date": ["2020-02-30", "1899-12-31", "2999-01-01", "", "2020/01/02", "2020-1-2"],
    "sector": ["", "mining", " trade", "trade "],
    "name_zh": ["", "   ", "'=1+1", "甲\n乙"],
    "uscc": ["", "91310115MA1K3BTP2C", "91310115ma1k3btp2b", "X"],
    "innovative_drug_or_device": ["maybe", "是", "1", ""],
    "sales_2024": ["-5.00", "", "1.5"],
}
CHILD_DAMAGE = {
    "offices": {"tenure": ["leased", ""], "hq": ["True"], "area_m2": ["-1", "x"], "since": ["1800-01-01"]},
    "contracts": {"id": ["", "DUP"], "kind": ["loan"], "value": ["-1.00"], "signed": [""]},
    "credit_events": {"kind": [""], "date": ["2020-13-01"]},
}


def _damaged(tmp_path: Path, seed: int, hits: list[tuple[str, str, int, str]]) -> Path:
    """A synthetic register exported as CSV, with cells overwritten: (table, column, row index, text)."""

    from huiqi.firms.exporting import write_tables
    from huiqi.firms.synth import synth_register

    out = write_tables(synth_register(30, seed), tmp_path / f"csv{seed}")
    by_table: dict[str, list[tuple[str, int, str]]] = {}
    for table, column, row, text in hits:
        by_table.setdefault(table, []).append((column, row, text))
    for table, edits in by_table.items():
        file = out / f"{table}.csv"
        rows = read_rows(file)
        if len(rows) < 2:
            continue
        for column, row, text in edits:
            if column in rows[0]:
                rows[1 + row % (len(rows) - 1)][rows[0].index(column)] = text
        write_rows(file, rows, encoding="utf-8-sig")
    return out


hit = st.one_of(
    st.sampled_from(sorted(DAMAGE)).flatmap(
        lambda c: st.tuples(st.just("firms"), st.just(c), st.integers(0, 40), st.sampled_from(DAMAGE[c]))
    ),
    st.sampled_from(sorted(CHILD_DAMAGE)).flatmap(
        lambda t: st.sampled_from(sorted(CHILD_DAMAGE[t])).flatmap(
            lambda c: st.tuples(
                st.just(t), st.just(c), st.integers(0, 40), st.sampled_from(CHILD_DAMAGE[t][c])
            )
        )
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 3), hits=st.lists(hit, max_size=4), skip=st.booleans(), again=st.booleans())
def test_damaged_registers_in_bulk_as_row_by_row(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    hits: list[tuple[str, str, int, str]],
    skip: bool,
    again: bool,
) -> None:
    """Whatever is wrong with a register file, the bulk import stores, records and refuses what the
    row-by-row import does; also on top of a stored register (a re-import with changes)."""
    from huiqi.firms.synth import synth_register

    tmp = tmp_path_factory.mktemp("damaged")
    source = _damaged(tmp, seed, hits)
    existing = synth_register(30, seed) if again else _empty()
    assert _bulk(source, None, existing, skip=skip) == _row_by_row(source, None, existing, skip=skip)


# -- the stored register: atomic, history of changed fields only, both databases ------------------------
def _store(db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("HUIQI_MATCH_RESULTS_DIR", str(tmp_path / "files"))
    return Store.open(db.url)


def _state(store: Store) -> tuple[object, ...]:
    from sqlalchemy import func, select

    from huiqi.matching.models import RegisterChange, RegisterImport

    tables = register.nonempty_register(store)
    records = records_from_tables(tables)
    counts = store.read(
        lambda s: (
            s.scalar(select(func.count()).select_from(RegisterImport)),
            s.scalar(select(func.count()).select_from(RegisterChange)),
        )
    )
    return records, counts


def test_reimport_stores_changed_fields_only_and_a_refusal_changes_nothing(
    db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huiqi.firms.exporting import write_tables
    from huiqi.firms.synth import synth_register

    store = _store(db, tmp_path, monkeypatch)
    tables = synth_register(40, 5)
    first = register.import_register(store, source=write_tables(tables, tmp_path / "one"), actor="t")
    assert (first.added, first.changed, first.unchanged, first.changes) == (40, 0, 0, 40)
    assert records_from_tables(register.nonempty_register(store)) == records_from_tables(tables)
    # the same register again, one firm's employees and another's offices changed
    firms = tables["firms"].to_pylist()
    firms[3]["employees"] = (firms[3]["employees"] or 0) + 7
    changed = dict(tables, firms=pa.Table.from_pylist(firms, schema=tables["firms"].schema))
    offices = tables["offices"]
    moved = offices["uscc"][0].as_py()
    districts = [
        "Minhang" if u == moved else d
        for u, d in zip(offices["uscc"].to_pylist(), offices["district"].to_pylist(), strict=True)
    ]
    changed["offices"] = offices.set_column(
        offices.column_names.index("district"), "district", pa.array(districts)
    )
    second = register.import_register(store, source=write_tables(changed, tmp_path / "two"), actor="t")
    assert (second.added, second.changed, second.unchanged) == (0, 2, 38)
    history = register.register_history(store, uscc=firms[3]["uscc"])
    assert [(h.field, h.new) for h in history] == [
        ("*", "new firm"),
        ("employees", str(firms[3]["employees"])),
    ]
    assert [h.field for h in register.register_history(store, uscc=moved)][-1] == "offices"
    before = _state(store)
    # refused on its last row: nothing changes, no files are left behind
    bad = tmp_path / "bad"
    write_tables(changed, bad)
    rows = read_rows(bad / "firms.csv")
    for row in rows[1:]:  # every firm changed, and the last row wrong
        row[rows[0].index("employees")] = "12345"
    rows[-1][rows[0].index("registration_date")] = "2020-02-30"
    write_rows(bad / "firms.csv", rows)
    with pytest.raises(ImportRefused, match=r"firms.csv row 41, column 'registration_date': '2020-02-30'"):
        register.import_register(store, source=bad, actor="t")
    assert _state(store) == before
    files = sorted(p.name for p in (tmp_path / "files").iterdir() if p.name.startswith("register"))
    assert files == ["register", f"register-{second.import_id}"]


def test_two_imports_at_once_lose_nothing(
    sqlite_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Imports of one database wait for each other: both registers' firms are stored, each import's
    history is its own."""
    import threading

    from huiqi.firms.exporting import write_tables
    from huiqi.firms.synth import synth_register

    store = _store(sqlite_db, tmp_path, monkeypatch)
    a = synth_register(30, 1)
    b = synth_register(30, 2)
    sources = [write_tables(a, tmp_path / "a"), write_tables(b, tmp_path / "b")]
    done: list[object] = []
    threads = [
        threading.Thread(target=lambda s=s: done.append(register.import_register(store, source=s, actor="t")))
        for s in sources
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = records_from_tables(register.nonempty_register(store))
    assert stored == {**records_from_tables(a), **records_from_tables(b)}
    assert sorted(v.added for v in done) == sorted(
        [30, 30 - len(set(records_from_tables(a)) & set(records_from_tables(b)))]
    )


HOSTILE = [
    '=HYPERLINK("http://example.com/x","点击查看")',
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "'=already quoted",
    "_x0041_ looks like an Excel escape",
    "甲公司\n第二行",
    "１２３",
]


@pytest.mark.parametrize("target", ["register.xlsx", "csv"])
def test_exports_with_hostile_text_in_bulk_as_row_by_row(tmp_path: Path, target: str) -> None:
    """An export (names that look like formulas, escapes, line breaks) reads back the same
    through both imports, from CSV files (Arrow) and from a workbook (calamine)."""
    from huiqi.firms.exporting import write_tables
    from huiqi.firms.synth import synth_register

    tables = synth_register(len(HOSTILE), 3)
    firms = tables["firms"]
    tables["firms"] = firms.set_column(firms.column_names.index("name_zh"), "name_zh", pa.array(HOSTILE))
    out = write_tables(tables, tmp_path / target)
    fast, slow = _bulk(out, None, _empty()), _row_by_row(out, None, _empty())
    assert fast == slow
    assert fast[0] is not None and records_from_tables(tables) == fast[0][0]


def test_a_register_stored_as_records_is_taken_over_by_the_next_import(
    sqlite_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database whose register was stored as JSON records (before the tables): the next import reads it,
    stores every firm as tables, and the records are gone (one truth)."""
    from sqlalchemy import func, select

    from huiqi.firms.exporting import write_tables
    from huiqi.firms.synth import synth_register
    from huiqi.matching import store as records
    from huiqi.matching.models import RegisterFirm

    store = _store(sqlite_db, tmp_path, monkeypatch)
    old = synth_register(10, 7)
    with sqlite_db.session() as s:
        records.import_into_db(s, read_source(write_tables(old, tmp_path / "old")), actor="t")
        s.commit()
    new = synth_register(10, 8)
    done = register.import_register(store, source=write_tables(new, tmp_path / "new"), actor="t")
    assert done.added == len(set(records_from_tables(new)) - set(records_from_tables(old)))
    stored = records_from_tables(register.nonempty_register(store))
    assert stored == {**records_from_tables(old), **records_from_tables(new)}
    assert store.read(lambda s: s.scalar(select(func.count()).select_from(RegisterFirm))) == 0
    first = next(iter(records_from_tables(old)))
    assert next(h.field for h in register.register_history(store, uscc=first)) == "*"


def test_a_csv_with_quoted_headers_and_cells_in_bulk_as_row_by_row(tmp_path: Path) -> None:
    """Quotes around every header and cell (as some tools write CSV) are read in bulk, the same."""
    from huiqi.firms.exporting import write_tables
    from huiqi.firms.synth import synth_register

    out = write_tables(synth_register(20, 4), tmp_path / "csv")
    with (out / "firms.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    with (out / "firms.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
    assert _bulk(out, None, _empty()) == _row_by_row(out, None, _empty())
