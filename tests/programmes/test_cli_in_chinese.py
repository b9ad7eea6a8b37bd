"""`--lang zh` on the programme commands (issue 14): `huiqi programmes show` words its headings, the status
and the kind of benefit in Chinese around the programme's own text; `programmes list` its status and benefit
columns; `huiqi check` its total line; `programmes diff` its sections and changes. English stays the
default."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from huiqi.cli.main import app
from huiqi.rules.loader import load_pack

PACKS = ("shanghai", "beijing", "shenzhen", "hangzhou", "chengdu")
EXAMPLE = Path(__file__).resolve().parents[2] / "src/huiqi/firms/examples/small-ai-firm.json"
PACK_DIR = Path(__file__).resolve().parents[2] / "src/huiqi/programmes"
#: the document's fields the command words itself (the rest is the programme's text, shown as it is)
WORDED = {"status", "benefit"}


def _run(*args: str) -> str:
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.stdout


def _strings(data: Any) -> list[str]:
    """Every string of the document's JSON but the fields the command words."""
    if isinstance(data, dict):
        return [s for k, v in data.items() if k not in WORDED for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return [data] if isinstance(data, str) else []


def _added_words(pack: str, pid: str, lang: str) -> str:
    """What `programmes show` prints around the document's own text (ids, names, clauses, formulas,
    values): its headings, the status and the benefit."""
    args = ("programmes", "show", pid, "--pack", pack, "--lang", lang)
    text = _run(*args)
    for s in sorted(_strings(json.loads(_run(*args, "--format", "json"))), key=len, reverse=True):
        text = text.replace(s, " ")
    return text


@pytest.mark.parametrize("pack", PACKS)
def test_programmes_show_in_chinese_leaves_no_english_around_the_programme(pack: str) -> None:
    for pid in sorted(p.id for p in load_pack(pack).values()):
        rest = _added_words(pack, pid, "zh")
        assert not re.findall(r"[A-Za-z]+", rest), (pid, rest)
        assert "参数：" in rest and "条件（须全部满足）：" in rest and "有效期" in rest, (pid, rest)


def test_programmes_show_stays_english_by_default() -> None:
    pid = "shanghai.ai.model-voucher"
    rest = _added_words("shanghai", pid, "en")
    for heading in (
        "Parameters:",
        "Conditions (all must hold):",
        "Amount:",
        "(assumption)",
        "benefit: voucher",
    ):
        assert heading in rest, rest
    assert not re.search(r"[\u4e00-\u9fff]", rest), rest


def _columns(text: str) -> int:
    """Terminal columns of ``text`` (a wide character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_programmes_list_in_chinese_words_status_and_benefit() -> None:
    packs = [a for pack in PACKS for a in ("--pack", pack)]  # the bundled packs, not the site's loads
    lines = _run("programmes", "list", *packs, "--lang", "zh").splitlines()
    rows = [line.split() for line in lines]  # id, version, from, –, to, status, benefit, name
    assert len(rows) > 10 and all(not re.search(r"[A-Za-z]", " ".join(r[5:7])) for r in rows), rows
    assert {r[5] for r in rows} >= {"有效", "已终止"} and "券" in {r[6] for r in rows}
    names_at = {_columns(line[: line.rindex(" ") + 1]) for line in lines}
    assert len(names_at) == 1, lines  # the name column lines up (a Chinese character takes two columns)
    english = [line.split() for line in _run("programmes", "list", *packs).splitlines()]
    assert {r[5] for r in english} <= {"in-force", "upcoming", "ended", "withdrawn"}


def test_check_in_chinese_ends_with_a_chinese_total() -> None:
    last = _run("check", str(EXAMPLE), "--lang", "zh", "--on", "2025-09-01").splitlines()[-1]
    assert re.fullmatch(r"\d+ 项政策中符合 \d+ 项；合计 [\d,.]+元", last), last
    english = _run("check", str(EXAMPLE), "--on", "2025-09-01").splitlines()[-1]
    assert re.fullmatch(r"\d+ of \d+ programmes; total [\d,.]+ yuan", english), english


def test_programmes_diff_in_chinese(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two versions of the model voucher (the rate 50% -> 60% from a later date): the diff's sections, its
    changes and the dated values in Chinese with --lang zh, in English by default."""
    from huiqi.config import get_settings

    folder = cli_env / "programmes"
    folder.mkdir()
    text = (PACK_DIR / "shanghai/ai-model-voucher.programme.yaml").read_text(encoding="utf-8")
    for old, new in (
        ('version: "2025.1"', 'version: "2026.1"'),
        ("effective: {from: 2025-07-28}", "effective: {from: 2026-07-01}"),
        ("values: [{from: 2025-07-28, value: 50%}]", "values: [{from: 2026-07-01, value: 60%}]"),
    ):
        assert old in text
        text = text.replace(old, new)
    (folder / "ai-model-voucher.programme.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("HUIQI_PROGRAMMES_DIR", str(folder))
    get_settings.cache_clear()
    args = ("programmes", "diff", "shanghai.ai.model-voucher", "2025.1", "2026.1")
    zh = _run(*args, "--lang", "zh")
    assert "参数：" in zh and "[修改] rate: 补贴比例" in zh and "自 2026-07-01 起：60%" in zh, zh
    assert "测试用例：" in zh and "[删除]" in zh and "有效期:" in zh, zh
    english = ("Parameters:", "Test cases:", "[changed]", "[removed]", "from 2026", "effective:")
    assert not [w for w in english if w in zh], zh
    en = _run(*args)
    assert all(w in en for w in english), en


def test_programmes_load_says_in_chinese_what_it_did(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A later version loaded with --lang zh: what is now in force and from when, in Chinese."""
    from huiqi.config import get_settings

    monkeypatch.setenv("HUIQI_PROGRAMMES_DIR", str(cli_env / "programmes"))
    get_settings.cache_clear()
    text = (PACK_DIR / "shanghai/ai-model-voucher.programme.yaml").read_text(encoding="utf-8")
    later = cli_env / "later.programme.yaml"
    later.write_text(
        text.replace('version: "2025.1"', 'version: "2099.1"').replace(
            "effective: {from: 2025-07-28}", "effective: {from: 2099-01-01}"
        ),
        encoding="utf-8",
    )
    said = _run("programmes", "load", str(later), "--lang", "zh").strip()
    assert said == "shanghai.ai.model-voucher 版本 2099.1 已载入，自 2099-01-01 起生效，接续版本 2025.1", said
