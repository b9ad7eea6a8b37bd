"""The CLI, the API and the page say the same thing of every condition and exclusion (issue 17): for each
bundled example firm, in both languages, ``huiqi check --all`` prints, the calculator API answers and the
calculator page shows the same mark, label, verdict, clause, figures read and gap of every check, compared
directly. And what they say is right: a condition holds (✓), does not hold (✗) or is unknown (?); an
exclusion applies (✗, excluded) or does not apply (✓) — never a bare ✓ beside an exclusion's label as if it
had been met; and a stored key (``artificial_intelligence``, ``Shanghai``) is named in words in the
explanation's language (``huiqi.rules.labels.VALUE_LABELS``), not printed as stored."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from huiqi.cli.main import app
from huiqi.rules.labels import VALUE_LABELS
from huiqi.web.calculator import plain_check
from huiqi.web.i18n import set_language

from .conftest import Web

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "src/huiqi/firms/examples").glob("*.json"))
ON = "2025-12-01"
RUNNER = CliRunner()

#: what each verdict must be, by language, kind and the test's value (independent of the code under test)
EXPECTED = {
    "en": {
        ("condition", True): ("✓", "holds"),
        ("condition", False): ("✗", "does not hold"),
        ("condition", None): ("?", "unknown"),
        ("exclusion", True): ("✗", "excluded"),
        ("exclusion", False): ("✓", "does not apply"),
        ("exclusion", None): ("✓", "does not apply"),
    },
    "zh": {
        ("condition", True): ("✓", "满足"),
        ("condition", False): ("✗", "不成立"),
        ("condition", None): ("?", "未知"),
        ("exclusion", True): ("✗", "排除"),
        ("exclusion", False): ("✓", "不适用"),
        ("exclusion", None): ("✓", "不适用"),
    },
}


class Checks(HTMLParser):
    """The checks the page shows, by programme (its ``<details>``) and check id: mark, label, verdict,
    clause, the figures read and the gaps, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, dict[str, dict[str, Any]]] = {}
        self.programme = ""
        self.check: dict[str, Any] | None = None
        self.field: str | None = None
        self.lists = 0  # depth of <ul> inside a programme's list of checks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        cls = a.get("class") or ""
        if tag == "details" and a.get("data-programme"):  # a result (not the form's "advanced" box)
            self.programme = a.get("data-programme") or ""
            self.found[self.programme] = {}
        elif tag == "ul" and (self.lists or cls == "checks"):
            self.lists += 1
        elif tag == "li" and a.get("data-check"):
            self.check = {"mark": "", "label": "", "verdict": "", "clause": "", "reads": [], "gap": []}
            self.found[self.programme][a["data-check"] or ""] = self.check
        elif self.check is None:
            return
        elif tag == "span" and cls in ("mark", "label", "verdict", "clause"):
            self.field = cls
        elif tag == "li":
            self.check["reads"].append("")
            self.field = "reads"
        elif tag == "div" and cls == "gap":
            self.check["gap"].append("")
            self.field = "gap"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("span", "div", "li"):
            self.field = None
        elif tag == "ul" and self.lists:
            self.lists -= 1
            if not self.lists:
                self.check = None

    def handle_data(self, data: str) -> None:
        if self.check is None or self.field is None:
            return
        if self.field in ("reads", "gap"):
            self.check[self.field][-1] += data
        else:
            self.check[self.field] += data


def cli_checks(text: str) -> dict[str, dict[str, list[str]]]:
    """What ``huiqi check`` printed, by programme (a block starts with the programme's id) and check line
    (the lines indented under it: figures read, then gaps)."""
    found: dict[str, dict[str, list[str]]] = {}
    checks: dict[str, list[str]] = {}
    under: list[str] | None = None
    for line in text.splitlines():
        if line and not line.startswith(" ") and " (" in line and "." in line.split(" ")[0]:
            checks = found.setdefault(line.split(" ")[0], {})
            under = None
        elif line.startswith("  ") and line[2:3] in ("✓", "✗", "?"):
            under = checks.setdefault(line, [])
        elif line.startswith("      ") and under is not None:
            under.append(line.strip())
        else:
            under = None
    return found


def without_assumption(text: str, assumption: bool) -> str:
    """A figure's text without the "(assumption)" note the page and the terminal add in their language."""
    return text.rsplit(" (", 1)[0] if assumption else text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_cli_api_and_page_say_the_same_of_every_check(sqlite_web: Web, lang: str) -> None:
    client = sqlite_web.client()
    client.cookies.set("huiqi_lang", lang)
    gap_word = {"en": "gap", "zh": "差距"}[lang]
    seen_kinds: set[tuple[str, bool | None]] = set()
    seen_keys: set[str] = set()
    for path in EXAMPLES:
        firm = json.loads(path.read_text(encoding="utf-8"))
        api = client.post("/api/v1/calculator?all=true", json={"firm": firm, "on": ON, "lang": lang})
        assert api.status_code == 200, api.text
        answer = api.json()
        cli = RUNNER.invoke(app, ["check", str(path), "--on", ON, "--all", "--lang", lang])
        assert cli.exit_code == 0, cli.output
        printed = cli_checks(cli.stdout)
        page = client.post(
            "/calculator",
            data={"profile": json.dumps(firm), "on": ON, "all": "true"},
            headers={"HX-Request": "true"},
        )
        assert page.status_code == 200, page.text
        shown = Checks()
        shown.feed(page.text)
        assert set(printed) == {r["programme"] for r in answer["results"]} == set(shown.found), path.name
        for r in answer["results"]:
            on_page = shown.found[r["programme"]]
            assert set(on_page) == {c["id"] for c in r["explanation"]["checks"]}
            for c in r["explanation"]["checks"]:
                where = (path.name, r["programme"], c["id"])
                mark, verdict = EXPECTED[lang][(c["kind"], c["holds"])]
                assert (c["mark"], c["verdict"]) == (mark, verdict), where
                assert c["met"] == (
                    c["holds"] is True if c["kind"] == "condition" else c["holds"] is not True
                )
                seen_kinds.add((c["kind"], c["holds"]))
                reads = [f"{rd['label']} = {rd['text']}" for rd in c["reads"][:8]]
                assumed = [bool(rd.get("assumption")) for rd in c["reads"][:8]]
                gaps = c.get("gap", [])
                # the terminal: the check's line, its figures, its gaps
                line = f"  {mark} {c['label']} [{verdict}]  〔{c['clause']}〕"
                assert line in printed[r["programme"]], (where, list(printed[r["programme"]]))
                under = printed[r["programme"]][line]
                figures = [without_assumption(t, a) for t, a in zip(under, assumed, strict=False)]
                assert figures == reads, where
                assert [t.removeprefix(f"→ {gap_word}: ") for t in under[len(reads) :]] == gaps, where
                # the page: the same parts
                p = {
                    k: v if isinstance(v, list) else html.unescape(v).strip()
                    for k, v in on_page[c["id"]].items()
                }
                assert (p["mark"], p["label"], p["verdict"]) == (mark, c["label"], f"[{verdict}]"), where
                assert p["clause"] == f"〔{c['clause']}〕", where
                # the page is for firms: a figure labelled by a formula is left out, a formula's gap said in
                # words (web.calculator.plain_check); everything else as the API and the terminal say it
                set_language(lang)
                plain = plain_check(c, lang)
                page_reads = [" ".join(html.unescape(t).split()) for t in p["reads"]]
                assert [
                    without_assumption(t, bool(rd.get("assumption")))
                    for t, rd in zip(page_reads, plain["reads"][:8], strict=True)
                ] == [" ".join(f"{rd['label']} = {rd['text']}".split()) for rd in plain["reads"][:8]], where
                # a stored key read is named in words, the same words everywhere
                for rd in c["reads"]:
                    keys = key_values(rd["value"])
                    if keys:
                        words = {k: VALUE_LABELS[k][lang == "zh"] for k in keys}
                        assert rd["text"] == SEPARATOR[lang].join(words[k] for k in keys), (where, rd)
                        seen_keys.update(keys)
                assert [" ".join(html.unescape(g).split()).split(": ", 1)[1] for g in p["gap"]] == [
                    " ".join(g.split()) for g in plain["gap"]
                ], where
    # the examples reach every kind of verdict that matters here: held, failed, and excluded or not
    assert {("condition", True), ("condition", False), ("exclusion", False)} <= seen_kinds
    # ... and read sectors, lists of sectors and cities, so the words above were checked
    assert {"artificial_intelligence", "integrated_circuits", "Shanghai"} <= seen_keys, seen_keys


#: how a list of words is joined (independent of the code under test)
SEPARATOR = {"en": ", ", "zh": "、"}


def key_values(value: Any) -> list[str]:
    """The stored keys a read's value holds (a key, or a list of keys), or [] when it holds other things."""
    items = value if isinstance(value, list) else [value]
    if items and all(isinstance(i, str) and i in VALUE_LABELS for i in items):
        return [str(i) for i in items]
    return []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_stored_key_is_printed_by_the_terminal(lang: str) -> None:
    """``huiqi check`` prints no sector or kind key among the figures and gaps of any example firm (a
    formula's own text may name one: a figure's label, a gap that quotes the formula)."""
    underscored = {k for k in VALUE_LABELS if "_" in k}
    for path in EXAMPLES:
        cli = RUNNER.invoke(app, ["check", str(path), "--on", ON, "--all", "--lang", lang])
        assert cli.exit_code == 0, cli.output
        for block in cli_checks(cli.stdout).values():
            for lines in block.values():
                for line in lines:
                    said = line.split(" = ", 1)[1] if " = " in line else line
                    if "firm." not in said:
                        assert not any(k in said for k in underscored), (path.name, line)


def test_value_labels_cover_the_stored_keys_and_agree_with_the_catalogues() -> None:
    """Every sector, contract kind, subsector, enterprise type, tenure, district and city a profile or the
    synthetic register holds has words in both languages, and a key the web's catalogues also translate
    (for its other pages) has the same words there."""
    import typing

    from babel.messages.pofile import read_po

    from huiqi.firms.profile import Contract, Firm, Office, Sector
    from huiqi.firms.synth import CITIES, DISTRICTS

    def literals(model: Any, field: str) -> set[str]:
        args = typing.get_args(model.model_fields[field].annotation)
        return {str(a) for t in args for a in (typing.get_args(t) or (t,)) if isinstance(a, str)}

    stored = (
        {s.value for s in Sector}
        | literals(Contract, "kind")
        | literals(Firm, "service_subsector")
        | literals(Firm, "enterprise_type")
        | literals(Office, "tenure")
        | {d[0] for d in DISTRICTS}
        | {c[0] for c in CITIES}
    )
    assert stored <= set(VALUE_LABELS), stored - set(VALUE_LABELS)
    translations = Path(__file__).resolve().parents[2] / "src/huiqi/web/translations"
    for i, lang in ((0, "en"), (1, "zh")):
        with (translations / lang / "LC_MESSAGES/messages.po").open("rb") as f:
            catalogue = {str(m.id): str(m.string) for m in read_po(f, locale=lang) if m.id and m.string}
        shared = set(VALUE_LABELS) & set(catalogue)
        assert len(shared) >= 16, lang  # the sectors and kinds at least
        assert {k: catalogue[k] for k in shared} == {k: VALUE_LABELS[k][i] for k in shared}, lang
        assert all(
            w[i] and (lang == "en" or re.search(r"[\u4e00-\u9fff]", w[i])) for w in VALUE_LABELS.values()
        )
