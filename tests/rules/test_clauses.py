"""A clause is cited in the page's language (issue 14): a programme file gives it as ``{en: ..., zh: ...}``
and an explanation in Chinese cites the Chinese heading, one in English the English one; a clause given as
one string (as files did before) still loads and is cited as written in every language."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from huiqi.cli.main import app
from huiqi.firms import firm_from_data
from huiqi.rules.evaluator import evaluate
from huiqi.rules.explain import explain
from huiqi.rules.loader import load_pack, load_programmes
from huiqi.rules.spec import ProgrammeSpec, Text
from huiqi.rules.testing import collect_cases

PACK = Path(__file__).resolve().parents[2] / "src/huiqi/programmes/shanghai"
PID = "shanghai.ai.compute-voucher"
SCOPE = '{en: "Scope: firms registered in Shanghai", zh: "适用范围：在本市注册的企业"}'


def _clauses(programmes: object, pid: str, lang: str) -> dict[str, str]:
    """Each check's clause as an explanation in ``lang`` cites it, for the first eligible test case."""
    case = next(c for c in collect_cases([PACK]) if c.programme == pid and c.eligible)
    result = evaluate(programmes, firm_from_data(case.firm), case.on, [pid])[0]  # type: ignore[arg-type]
    return {c["id"]: c["clause"] for c in explain(result, lang)["checks"]}


def test_a_zh_explanation_cites_the_zh_clause_and_an_en_one_the_en_clause() -> None:
    programmes = load_pack()
    zh, en = _clauses(programmes, PID, "zh"), _clauses(programmes, PID, "en")
    assert zh.keys() == en.keys()
    assert any(v.endswith("适用范围：在本市注册的企业") for v in zh.values()), zh
    assert any(v.endswith("Scope: firms registered in Shanghai") for v in en.values()), en
    assert not any("Scope" in v or "voucher" in v for v in zh.values()), zh
    assert all(v.startswith("沪经信智〔2025〕489号 ") for v in [*zh.values(), *en.values()])


def test_every_bundled_clause_is_given_in_both_languages() -> None:
    """Every clause of every bundled pack has its Chinese (the documents are Chinese)."""
    for p in load_pack().values():
        s = p.spec
        cited = [*s.parameters.values(), *s.values.values(), *s.conditions, *s.exclusions]
        clauses = [x.clause for x in cited] + ([s.amount.clause] if s.amount else [])
        clauses += [dv.clause for x in s.parameters.values() for dv in x.values if dv.clause]
        bare = [c for c in clauses if not isinstance(c, Text)]
        assert not bare, f"{p.id}: {bare}"


def test_a_plain_string_clause_still_loads_and_is_cited_alike_in_both_languages(tmp_path: Path) -> None:
    text = (PACK / "ai-compute-voucher.programme.yaml").read_text(encoding="utf-8")
    assert SCOPE in text
    path = tmp_path / "ai-compute-voucher.programme.yaml"
    path.write_text(text.replace(SCOPE, '"Scope (as filed)"'), encoding="utf-8")
    programmes = {**load_pack(), **load_programmes([path])}
    zh, en = _clauses(programmes, PID, "zh"), _clauses(programmes, PID, "en")
    plain = [k for k, v in en.items() if v.endswith(" Scope (as filed)")]
    assert plain and all(zh[k] == en[k] for k in plain)


def test_the_schema_offers_a_string_or_both_languages_for_a_clause() -> None:
    schema = json.loads(CliRunner().invoke(app, ["schema", "programme"]).stdout)
    cited = schema["$defs"]["Condition"]["properties"]["clause"]
    kinds = {json.dumps(k, sort_keys=True) for k in cited["anyOf"]}
    assert any('"type": "string"' in k for k in kinds) and any("Text" in k for k in kinds), cited
    spec = ProgrammeSpec.model_json_schema()
    assert spec["$defs"]["Text"]["required"] == ["en", "zh"]
