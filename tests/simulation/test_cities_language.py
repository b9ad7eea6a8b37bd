"""`huiqi compare-cities --lang zh` (issue 14): the table, its heading and verdict, each city's section,
the programmes not met and cities.html read in Chinese around the firm's and programmes' own ids; the
columns line up (a Chinese character takes two); English stays the default."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from typer.testing import CliRunner

from huiqi.cli.main import app

EXAMPLE = Path(__file__).resolve().parents[2] / "src/huiqi/firms/examples/small-ai-firm.json"
USCC = "91310110MA7C2KW50T"


def _compare(*args: str) -> str:
    done = CliRunner().invoke(app, ["compare-cities", str(EXAMPLE), "--on", "2025-09-01", *args])
    assert done.exit_code == 0, done.output
    return done.stdout


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_the_zh_table_is_chinese_and_lines_up() -> None:
    table = _compare("--lang", "zh", "--brief").replace(USCC, "")
    assert not re.findall(r"[A-Za-z]+", table), table
    assert "计划支出" in table and "净成本最低：" in table and "算力" in table
    lines = table.splitlines()
    rows = [lines[2], *(line for line in lines if re.search(r"\d\.\d\d$", line))]  # cities, figures
    assert len({_columns(line) for line in rows}) == 1, rows  # every row as wide as the cities' heading


def test_the_zh_sections_name_cities_and_programmes_in_chinese() -> None:
    text = _compare("--lang", "zh")
    sections = [line for line in text.splitlines() if line.startswith("== ")]
    assert sections and not [s for s in sections if re.search(r"[A-Za-z]", s)], sections
    unmet = [line for line in text.splitlines() if "不符合（" in line]
    assert unmet and "not eligible" not in text
    for line in unmet:  # the id, then the Chinese name, then the tests not met (ids)
        name = line.split(" — ", 1)[1].split("：", 1)[0]
        assert not re.search(r"[A-Za-z]", name), line


def test_the_zh_page_is_chinese(tmp_path: Path) -> None:
    said = _compare("--lang", "zh", "--out", str(tmp_path)).splitlines()[-1]
    assert said.startswith("图表：") and "；页面：" in said, said  # where the files are, in Chinese too
    html = (tmp_path / "cities.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    words = re.sub(r"<pre>.*?</pre>|<svg.*?</svg>|<style>.*?</style>", "", html, flags=re.DOTALL)
    words = re.sub(r"<[^>]+>", " ", words).replace(USCC, "")
    assert not re.findall(r"[A-Za-z]+", words), words
    assert "计划支出（一年）" in words and "净成本" in words


def test_english_stays_the_default() -> None:
    table = _compare("--brief")
    assert "planned spending" in table and "Lowest net cost: Shanghai" in table
    assert not re.search(r"[\u4e00-\u9fff]", table), table
