"""Refusals raised with free English text now name a reason code and keep their figures (issue 14): on a zh
page each reads in Chinese with its figures and no English left, while the API and CLI keep the English
message. Every real refusal of the evidence corpus (tests/reliability/test_uploads.py) is checked on the
page, and every raise site of a converted class must pass ``why=`` (a site raised without a code would show
English inside a Chinese sentence again)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import huiqi
from huiqi.applications import evidence
from huiqi.applications.evidence import EvidenceRefused
from huiqi.web import i18n, refusals
from huiqi.web.errors import page_message
from reliability.test_uploads import CORPUS, Bad

SRC = Path(huiqi.__file__).parent
#: Words a Chinese sentence keeps in Latin letters: file formats and the markers a file format names.
LATIN = re.compile(
    r"invoice-2025-09\.pdf|PDF|PNG|JPEG|Office|DOCX|XLSX|PPTX|docx|xlsx|pptx|IEND|IHDR|ZIP|KiB|EOF|Windows"
)

#: Source file -> the calls in it that raise a converted class (or build one, like a local ``refuse``).
CODED: dict[str, set[str]] = {
    "applications/evidence.py": {"EvidenceNameRefused", "EvidenceContentRefused", "refuse"},
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
    tree = ast.parse((SRC / path).read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
            why = next((k.value for k in node.keywords if k.arg == "why"), None)
            out.append((node.lineno, node.func.id, ast.unparse(why) if why is not None else None))
    return out


@pytest.mark.parametrize("path", sorted(CODED))
def test_every_raise_of_a_converted_refusal_names_its_reason(path: str) -> None:
    sites = raise_sites(path, CODED[path])
    assert sites
    uncoded = [(line, name) for line, name, why in sites if why is None]
    assert not uncoded, f"{path}: raised without why= (a reason code the page words): {uncoded}"
    for line, _, why in sites:
        if why is not None and why.startswith("'"):
            assert ast.literal_eval(why) in refusals.EVIDENCE | refusals.BECAUSE, (path, line, why)
