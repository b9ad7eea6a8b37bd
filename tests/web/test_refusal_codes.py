"""Refusals raised with free English text now name a reason code and keep their figures (issue 14): on a zh
page each reads in Chinese with its figures and no English left, while the API and CLI keep the English
message. Every real refusal of the evidence corpus (tests/reliability/test_uploads.py) is checked on the
page, and every raise site of a converted class must pass ``why=`` (a site raised without a code would show
English inside a Chinese sentence again)."""

from __future__ import annotations

import ast
import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import huiqi
from dbfixtures import PROGRAMME, Db
from huiqi.accounts.errors import InvalidUser
from huiqi.applications import evidence
from huiqi.applications.errors import InvalidCall, InvalidClaim
from huiqi.applications.evidence import EvidenceRefused
from huiqi.firms.exporting import ExportError, write_table, write_tables
from huiqi.firms.importing import ImportError_, load_mapping, read_source
from huiqi.firms.register import RegisterError, read_register
from huiqi.money import MoneyError, amount
from huiqi.review.errors import InvalidReviewer
from huiqi.web import i18n, refusals
from huiqi.web.errors import page_message
from reliability.test_uploads import CORPUS, Bad

SRC = Path(huiqi.__file__).parent
#: Words a Chinese sentence keeps in Latin letters: file formats and the markers a file format names.
LATIN = re.compile(
    r"invoice-2025-09\.pdf|PDF|PNG|JPEG|Office|DOCX|XLSX|PPTX|docx|xlsx|pptx|IEND|IHDR|ZIP|KiB|EOF|Windows|CSV|Parquet|Excel"
)

#: Source file -> the calls in it that raise a converted class (or build one, like a local ``refuse``).
CODED: dict[str, set[str]] = {
    "applications/evidence.py": {"EvidenceNameRefused", "EvidenceContentRefused", "refuse"},
    "app/calls.py": {"InvalidCall"},
    "applications/service.py": {"InvalidCall", "InvalidClaim"},
    "accounts/service.py": {"InvalidUser"},
    "review/service.py": {"InvalidReviewer"},
    "money/amount.py": {"MoneyError"},
    "web/pages/officer.py": {"MoneyError"},
    "firms/exporting.py": {"ExportError"},
    "firms/importing.py": {"ImportError_"},
    "firms/register.py": {"RegisterError"},
    "matching/snapshot.py": {"RegisterError"},
    "app/register.py": {"RegisterError"},
    "app/sandbox.py": {"RegisterError"},
}
#: The classes whose reasons are worded by ``refusals.BECAUSE`` (the evidence refusals by ``EVIDENCE``).
BECAUSE_CLASSES = {
    "InvalidCall": InvalidCall,
    "InvalidClaim": InvalidClaim,
    "InvalidUser": InvalidUser,
    "InvalidReviewer": InvalidReviewer,
    "MoneyError": MoneyError,
    "ExportError": ExportError,
    "ImportError_": ImportError_,
    "RegisterError": RegisterError,
}
#: An example for each figure a converted raise site passes (the page shows it as it is, or by its label).
FIGURES: dict[str, object] = {
    "pool": "P-2026-AI",
    "funds": "sh-compute-voucher",
    "programme": "sh-ai-model-grant",
    "declared": "P-2026-MODEL",
    "version": 3,
    "opens": dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC),
    "closes": dt.datetime(2026, 3, 31, 16, 0, tzinfo=dt.UTC),
    "start": dt.date(2026, 1, 1),
    "end": dt.date(2026, 12, 31),
    "mode": "lottery",
    "modes": ["fcfs", "ranked", "pro_rata"],
    "contract": "HT-0099",
    "amount": "12.345",
    "role": "officer",
    "roles": ["firm_member", "reviewer", "officer", "auditor", "admin"],
    "uscc": "91310115MA1K4XYZ1X",
    "field": "former_employers[0]",
    "username": "Li Ming!",
    "reviewer": "R-007",
    "n": 2,
    "value": "31/12/2024",
    "what": "amount",
    "places": 20,
    "limit": 64,
    "type": "list",
    "file": "/srv/out/matches.xlsx",
    "where": "results row 5 column 'name'",
    "character": "U+0001",
    "chars": 40_000,
    "formats": ".csv, .xlsx, .parquet",
    "table": "firms",
    "rows": 1_100_000,
    "tables": "firms, offices, contracts",
    "keys": "file, sheet, columns",
    "key": "colums",
    "encoding": "latin-9x",
    "column": "营业收入",
    "unit": "万美元",
    "units": "元, 万元, 亿元",
    "suffix": ".ods",
    "sheet": "企业名录.xlsx 工作表 企业",
    "row": 4,
    "first": "B3",
    "second": "F3",
    "header": "企业名称",
    "cell": "H12",
    "header_cell": "H3",
    "last_cell": "G3",
    "last_header": "注册资本",
    "cells": "A1:C1",
    "source": "/srv/import/名录",
    "sheets": "企业, 办公场所",
    "separator": ";",
    "root": "/srv/register",
    "lock": ".huiqi-lock",
    "owner": "pid 4121",
    "seconds": 600,
    "got": "string",
    "columns": "uscc, name_zh, sector",
    "path": "/srv/register",
    "format": "huiqi-register",
    "supported": 2,
    "manifest": 1200,
}
#: Figures a page shows by their labels or as local time, not as they are.
RENDERED = {"opens", "closes", "modes", "roles", "role", "field", "what"}
#: Figures a reason does not name (the site passes it empty).
UNSHOWN = {
    "pool_funds_other_undeclared": {"declared"},
    "under_empty_header": {"last_cell", "last_header"},
    "beyond_header": {"header_cell"},
    "unknown_column": {"separator"},
    "wrong_type": {"type"},
    "fen_not_int": {"type"},
}


@pytest.fixture
def zh() -> Iterator[None]:
    i18n.set_language("zh")
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


def shown_figure(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def no_english_left(shown: str, figures: list[str]) -> str:
    """``shown`` without its figures and the Latin words a Chinese sentence keeps: what must be Chinese."""
    shown = LATIN.sub("", shown)
    for figure in sorted(figures, key=len, reverse=True):
        shown = shown.replace(LATIN.sub("", figure), "")
    return shown


REFUSED = [b for b in CORPUS if b.status == 422]


@pytest.mark.parametrize("bad", REFUSED, ids=lambda b: b.id)
def test_a_refused_evidence_file_reads_in_chinese_with_its_figures(zh: None, bad: Bad) -> None:
    with pytest.raises(EvidenceRefused) as caught:
        evidence.check_content(bad.content, filename=evidence.check_name(bad.filename) and bad.filename)
    exc = caught.value
    assert exc.why in refusals.EVIDENCE, exc.why
    assert bad.says in str(exc)  # the API's and the CLI's English is unchanged
    shown = page_message(exc)
    figures = [shown_figure(v) for name, v in exc.figures.items() if name != "kind"]
    for figure in [exc.filename, *figures]:
        assert figure in shown, (figure, shown)
    residue = no_english_left(shown, [exc.filename, *figures])
    assert not re.search(r"[A-Za-z]{3,}", residue), shown


@pytest.mark.parametrize("bad", [b for b in CORPUS if b.status == 415], ids=lambda b: b.id)
def test_a_file_of_a_kind_not_accepted_reads_in_chinese(zh: None, bad: Bad) -> None:
    with pytest.raises(evidence.EvidenceNotAccepted) as caught:
        evidence.check_content(bad.content, filename=bad.filename)
    shown = page_message(caught.value)
    assert bad.filename in shown, shown
    residue = no_english_left(shown, [bad.filename, caught.value.start])
    assert not re.search(r"[A-Za-z]{3,}", MAPPING_WORDS.sub("", residue)), shown


def test_the_corpus_reaches_most_evidence_reasons() -> None:
    reasons = set()
    for bad in REFUSED:
        try:
            evidence.check_content(bad.content, filename=evidence.check_name(bad.filename) and bad.filename)
        except EvidenceRefused as exc:
            reasons.add(exc.why)
    assert len(reasons) >= 25, sorted(reasons)


def raise_sites(path: str, names: set[str]) -> list[tuple[int, str, str | None]]:
    """Each call of a converted class in ``path``: its line, the name called and its literal ``why``."""
    return [(line, name, why) for line, name, why, _ in sites_with_figures(path, names)]


def sites_with_figures(path: str, names: set[str]) -> list[tuple[int, str, str | None, list[str]]]:
    """Each call of a converted class in ``path``: line, name, its ``why`` (as written) and figure names."""
    tree = ast.parse((SRC / path).read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
            why = next((k.value for k in node.keywords if k.arg == "why"), None)
            if why is None and node.args and "exc" in ast.unparse(node.args[0]):
                continue  # passes on another refusal's words (a SheetError): worded when that one is coded
            figures = [k.arg for k in node.keywords if k.arg and k.arg != "why"]
            out.append((node.lineno, node.func.id, ast.unparse(why) if why is not None else None, figures))
    return out


def because_sites() -> list[tuple[str, int, str, str, list[str]]]:
    """Every raise of a class worded by ``refusals.BECAUSE``, each reason it can name (both of a choice)."""
    out = []
    for path, names in sorted(CODED.items()):
        for line, name, why, figures in sites_with_figures(path, names & set(BECAUSE_CLASSES)):
            for reason in re.findall(r"'([a-z_]+)'", why or ""):
                out.append((path, line, name, reason, figures))
    return out


@pytest.mark.parametrize("site", because_sites(), ids=lambda s: f"{s[0]}:{s[1]}:{s[3]}")
def test_each_converted_raise_site_reads_in_chinese_with_its_figures(
    zh: None, site: tuple[str, int, str, str, list[str]]
) -> None:
    _, _, name, reason, figures = site
    assert reason in (refusals.MONEY if name == "MoneyError" else refusals.BECAUSE), reason
    exc = BECAUSE_CLASSES[name]("free English the API keeps", why=reason, **{f: FIGURES[f] for f in figures})
    shown = page_message(exc)
    assert "free English" not in shown and re.search(r"[\u4e00-\u9fff]", shown), shown
    kept = [shown_figure(FIGURES[f]) for f in figures if f not in RENDERED | UNSHOWN.get(reason, set())]
    for figure in kept:
        assert figure in shown, (figure, shown)
    residue = no_english_left(shown, kept).replace("YYYY-MM-DD", "")
    assert not re.search(r"[A-Za-z]{3,}", MAPPING_WORDS.sub("", residue)), shown


#: The words of a mapping file a sentence names as they are written there (keys and values a user types).
MAPPING_WORDS = re.compile(
    r"header_row|ignore|merged|fill|refuse|delimiter|encoding|format|values|unit|uscc|YAML|firms\.csv|"
    r"offices\.csv|Parquet|JSON|huiqi|format|years|"
    r"HTML|XML|Linux|RIFF|WebP|WAV|AVI|GIF|RAR|gzip|PostScript|RTF|\.doc|\.xls|\.ppt"  # file kinds
)


def test_the_sites_cover_every_coded_class() -> None:
    assert {s[2] for s in because_sites()} == set(BECAUSE_CLASSES)
    assert len(because_sites()) >= 30


@pytest.mark.parametrize("path", sorted(CODED))
def test_every_raise_of_a_converted_refusal_names_its_reason(path: str) -> None:
    sites = raise_sites(path, CODED[path])
    assert sites
    uncoded = [(line, name) for line, name, why in sites if why in (None, "''")]
    assert not uncoded, f"{path}: raised without why= (a reason code the page words): {uncoded}"
    for line, _, why in sites:
        for reason in re.findall(r"'([a-z_]+)'", why or ""):
            assert reason in refusals.EVIDENCE | refusals.BECAUSE | refusals.MONEY, (path, line, why)


def test_real_refusals_of_calls_users_and_reviewers_read_in_chinese(zh: None, sqlite_db: Db) -> None:
    from huiqi.accounts import service as accounts
    from huiqi.applications import service as apps
    from huiqi.review import service as review

    opens, closes = dt.datetime(2025, 9, 1, tzinfo=dt.UTC), dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
    call = {"programme_id": PROGRAMME, "programme_version": "2025.1", "actor": "officer", "call_id": "C-9"}
    attempts = [
        lambda s: apps.open_call(
            session=s, pool_id="P-NONE", opens_at=opens, closes_at=closes, allocation_mode="fcfs", **call
        ),
        lambda s: apps.open_call(
            session=s, pool_id="P-NONE", opens_at=opens, closes_at=closes, allocation_mode="lottery", **call
        ),
        lambda s: accounts.create_user(
            session=s, username="Li Ming!", password="x" * 20, role="officer", actor="admin"
        ),
        lambda s: review.add_reviewer(session=s, reviewer_id="R-007", name="王芳", fields=[], actor="admin"),
    ]
    shown = []
    for attempt in attempts:
        with sqlite_db.session() as s, pytest.raises((InvalidCall, InvalidUser, InvalidReviewer)) as caught:
            attempt(s)
        assert caught.value.why, caught.value  # raised with its reason code
        shown.append(page_message(caught.value))
    figures = ["P-NONE", "lottery", "Li Ming!", "R-007"]
    for text, figure in zip(shown, figures, strict=True):
        assert figure in text, (figure, text)
        assert not re.search(r"[A-Za-z]{3,}", no_english_left(text, [figure])), text


#: A real refusal for each reason ``huiqi.money`` names, with the figure the page must keep.
MONEY_CASES = [
    ("not_finite", lambda: amount.parse_decimal(Decimal("NaN")), "NaN"),
    ("beyond_bound", lambda: amount.yuan("2e15"), "2e15"),
    ("beyond_bound", lambda: amount.check_count(10**16), "10000000000000000"),
    ("too_many_places", lambda: amount.parse_decimal("0." + "0" * 21 + "1"), "0.0000000000000000000001"),
    ("boolean", lambda: amount.yuan(True), ""),
    ("float", lambda: amount.yuan(1.5), "1.5"),
    ("too_long", lambda: amount.yuan("9" * 70), "99999999999999999999"),
    ("not_a_number", lambda: amount.yuan("一百元"), "一百元"),
    ("wrong_type", lambda: amount.yuan([1]), ""),
    ("not_fen", lambda: amount.yuan("12.345"), "12.345"),
    ("cannot_round", lambda: amount.quantize_fen(Decimal("Infinity")), "Infinity"),
    ("fraction_of_fen", lambda: amount.yuan_to_fen(Decimal("1.234")), "1.234"),
    ("fen_not_int", lambda: amount.fen_to_yuan(1.5), ""),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("case", MONEY_CASES, ids=lambda c: c[0])
def test_a_refused_amount_reads_in_chinese_with_its_value(zh: None, case: tuple[str, Any, str]) -> None:
    reason, refuse, figure = case
    with pytest.raises(MoneyError) as caught:
        refuse()
    assert caught.value.why == reason, caught.value
    shown = page_message(caught.value)
    assert figure in shown, (figure, shown)
    assert not re.search(r"[A-Za-z]{3,}", no_english_left(shown, [figure])), shown


def test_the_money_reasons_are_the_ones_pages_word() -> None:
    assert set(refusals.MONEY) == amount.REASONS
    assert {c[0] for c in MONEY_CASES} | {"not_whole", "not_a_date", "unknown_move"} == amount.REASONS


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.floats(), st.decimals(), st.integers(), st.booleans()))
def test_every_refused_amount_names_its_reason(value: object) -> None:
    try:
        amount.yuan(value, what="amount")
    except MoneyError as exc:
        assert exc.why in amount.REASONS, exc
        i18n.set_language("zh")
        try:
            shown = page_message(exc)
        finally:
            i18n.set_language(i18n.DEFAULT_LANGUAGE)
        rest = shown.replace(str(exc.figures.get("value", "")), "")  # the value sent, as it was sent
        assert "expected" not in rest and "decimal" not in rest, shown


def test_real_export_refusals_read_in_chinese(zh: None, tmp_path: Path) -> None:
    import pyarrow as pa

    table = pa.table({"name": ["ok", "bad\x01"]})
    attempts = [
        (lambda: write_table(table, tmp_path / "out.xlsx"), ["U+0001", "out.xlsx"]),
        (lambda: write_table(table, tmp_path / "out.txt"), ["out.txt", ".csv, .xlsx, .parquet"]),
        (lambda: write_tables({"firms": table}, tmp_path / "register.csv"), ["register.csv"]),
    ]
    for attempt, figures in attempts:
        reads_in_chinese(ExportError, attempt, figures)


def test_real_import_refusals_read_in_chinese(zh: None, tmp_path: Path) -> None:
    (tmp_path / "twice.csv").write_text("uscc,name,name\n91310115MA1K4XYZ12,甲,乙\n", encoding="utf-8")
    (tmp_path / "semicolons.csv").write_text("uscc;name\n91310115MA1K4XYZ12;甲\n", encoding="utf-8")
    (tmp_path / "mapping.yaml").write_text("firms:\n  colums: {}\n", encoding="utf-8")
    attempts = [
        (lambda: read_source(tmp_path / "twice.csv"), ["twice.csv", "B1", "C1", "name"]),
        (lambda: read_source(tmp_path / "semicolons.csv"), ["semicolons.csv", "uscc;name", ";", "firms"]),
        (lambda: load_mapping(tmp_path / "mapping.yaml"), ["colums"]),
        (lambda: read_source(tmp_path / "missing"), ["missing"]),
    ]
    for attempt, figures in attempts:
        reads_in_chinese(ImportError_, attempt, figures)


def reads_in_chinese(cls: type[Exception], attempt: Any, figures: list[str]) -> None:
    """``attempt`` is refused with ``cls`` naming its reason; on a zh page it keeps ``figures`` and, once the
    names it was given (as the user wrote them) are taken out, no English is left."""
    with pytest.raises(cls) as caught:
        attempt()
    exc: Any = caught.value
    assert exc.why, exc
    shown = page_message(exc)
    for figure in figures:
        assert figure in shown, (figure, shown)
    given = [str(v) for v in exc.figures.values()]  # file names, cells, keys: as written
    residue = no_english_left(shown, [*figures, *given])
    assert not re.search(r"[A-Za-z]{3,}", MAPPING_WORDS.sub("", residue)), shown


def test_real_register_refusals_read_in_chinese(zh: None, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "register.json").write_text("{not json", encoding="utf-8")
    attempts = [
        (lambda: read_register(tmp_path / "empty"), ["register.json"]),
        (lambda: read_register(tmp_path / "broken"), ["register.json"]),
    ]
    for attempt, figures in attempts:
        reads_in_chinese(RegisterError, attempt, figures)
