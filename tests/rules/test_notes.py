"""A programme file's notes in the reader's language (issue 14): a note may be ``{en: ..., zh: ...}`` or one
string (shown as written in every language); the programme document (``huiqi programmes show``, the API,
the page) gives each note in the language asked for."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from huiqi.app.programmes import ProgrammeDocument
from huiqi.cli.main import app
from huiqi.rules.loader import load_pack, load_programmes
from huiqi.rules.programme import Programme
from huiqi.rules.spec import Cited, Document, Note, ProgrammeSpec, Text, note_in
from huiqi.rules.versions import Versions

PACK = Path(__file__).resolve().parents[2] / "src/huiqi/programmes/shanghai"
PID = "shanghai.hq.designation"
GROWTH_ZH = "1.2 × 1.2 × 1.2 = 1.728；写作倍数，使检验为乘积，在各计算引擎上均精确。"
GROWTH_EN = (
    "1.2 x 1.2 x 1.2 = 1.728; written as a factor so that the test is a product, exact on every engine."
)


def _notes(p: Programme) -> list[Note]:
    s = p.spec
    noted: list[Cited | Document] = [
        *s.legal_basis,
        *s.parameters.values(),
        *s.values.values(),
        *s.conditions,
        *s.exclusions,
    ]
    return [x.note for x in [*noted, *([s.amount] if s.amount else [])] if x.note is not None]


def test_every_bundled_note_is_given_in_both_languages() -> None:
    """Every note of every bundled pack has its Chinese, and it is Chinese (not the English copied)."""
    notes = [(p.id, n) for p in load_pack().values() for n in _notes(p)]
    assert len(notes) >= 100
    bare = [(pid, n) for pid, n in notes if not isinstance(n, Text)]
    assert not bare, bare
    same = [(pid, n) for pid, n in notes if isinstance(n, Text) and (n.zh == n.en or n.zh.isascii())]
    assert not same, same


def _document(programmes: Versions, lang: str) -> ProgrammeDocument:
    return ProgrammeDocument.of(programmes[PID], lang)


def test_the_document_gives_each_note_in_the_language_asked_for() -> None:
    programmes = load_pack()
    zh, en = _document(programmes, "zh"), _document(programmes, "en")
    growth = {p.name: p.note for p in zh.parameters}["growth_factor_3y"]
    assert growth == GROWTH_ZH
    assert {p.name: p.note for p in en.parameters}["growth_factor_3y"] == GROWTH_EN
    assert zh.legal_basis[0].note and zh.legal_basis[0].note.startswith("有效期为2023-03-01至2028-02-29")
    assert {v.name: v.note for v in zh.values}["last_year"] == "年度条件取评估日前最近一个完整自然年度。"


def test_a_plain_string_note_still_loads_and_is_shown_alike_in_both_languages(tmp_path: Path) -> None:
    text = (PACK / "hq-designation.programme.yaml").read_text(encoding="utf-8")
    both = f"    note:\n      en: {GROWTH_EN}\n      zh: {GROWTH_ZH}\n"
    assert both in text
    path = tmp_path / "hq-designation.programme.yaml"
    path.write_text(text.replace(both, "    note: '  as filed  '\n"), encoding="utf-8")
    programmes = load_programmes([path])
    zh, en = _document(programmes, "zh"), _document(programmes, "en")
    noted = {p.name: p.note for p in zh.parameters}
    assert (
        noted["growth_factor_3y"] == "as filed" == {p.name: p.note for p in en.parameters}["growth_factor_3y"]
    )
    assert note_in(None, "zh") is None and note_in("   ", "en") is None


def _show(*args: str) -> str:
    """`huiqi programmes show` of the bundled Shanghai pack (not the site's, which other tests load into)."""
    done = CliRunner().invoke(app, ["programmes", "show", PID, "--pack", "shanghai", *args])
    assert done.exit_code == 0, done.output
    return done.stdout


def test_huiqi_programmes_show_prints_the_note_in_its_language() -> None:
    zh, en = _show("--lang", "zh"), _show("--lang", "en")
    assert f"注：{GROWTH_ZH}" in zh and GROWTH_EN not in zh
    assert f"note: {GROWTH_EN}" in en and GROWTH_ZH not in en
    shown = json.loads(_show("--lang", "zh", "--format", "json"))
    assert {p["name"]: p["note"] for p in shown["parameters"]}["growth_factor_3y"] == GROWTH_ZH


def test_the_schema_offers_a_string_or_both_languages_for_a_note() -> None:
    spec = ProgrammeSpec.model_json_schema()
    for kind in ("Condition", "Parameter", "Document", "Amount", "Value"):
        offered = {json.dumps(k, sort_keys=True) for k in spec["$defs"][kind]["properties"]["note"]["anyOf"]}
        assert any('"type": "string"' in k for k in offered) and any("Text" in k for k in offered), (
            kind,
            offered,
        )
