"""Authoring programmes in the browser (issue 15): validation as the officer types with positioned problems,
a new version drafted from the served file, a dated parameter value set by a form, a firm turned into a test
case, the draft's test cases run, submitted, refused to its own author, published by a second officer (the
catalogue then shows the new version with its dates), a rejection with a reason, a withdrawal with a reason;
and the pure edits behind the forms."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.app import authoring
from huiqi.app.registry import open_packs
from huiqi.rules.loader import bundled_pack_dir

from .conftest import Web

MODEL = "shanghai.ai.model-voucher"
MODEL_FILE = bundled_pack_dir("shanghai") / "ai-model-voucher.programme.yaml"
DESIGNATION_FILE = bundled_pack_dir("shanghai") / "hq-designation.programme.yaml"
DRAFTS = "/officer/programmes/drafts"


def next_year(text: str) -> str:
    return text.replace('version: "2025.1"', 'version: "2026.1"', 1).replace(
        "effective: {from: 2025-07-28}", "effective: {from: 2027-01-01}", 1
    )


# --- the pure edits -------------------------------------------------------------------------------------


def test_a_problem_is_placed_on_its_line_and_column() -> None:
    text = MODEL_FILE.read_text(encoding="utf-8")
    broken = text.replace("test: firm.registration_city == city", "test: firm.registration_city == cty")
    line = next(i for i, s in enumerate(broken.splitlines(), 1) if "== cty" in s)
    check = authoring.check_text(open_packs(), filename="x.programme.yaml", text=broken)
    assert not check.ok and check.programme is None
    (p,) = check.problems
    assert (p.part, p.line) == ("programme", line) and "unknown name 'cty'" in p.message and p.column > 1
    tests = f"programme: {MODEL}\ncases:\n  - name: x\n    firm: nobody\n"
    check = authoring.check_text(open_packs(), filename="x.programme.yaml", text=next_year(text), tests=tests)
    assert check.programme is not None and check.programme.version == "2026.1"
    assert [(q.part, q.line) for q in check.problems] == [("tests", 4)]
    assert "rate" in check.parameters


def test_a_flow_list_gets_its_dated_value_in_date_order() -> None:
    text = MODEL_FILE.read_text(encoding="utf-8")
    edited = authoring.with_parameter_value(
        text, name="rate", value="30%", start=dt.date(2027, 1, 1), clause="Model vouchers, 2027"
    )
    assert "values: [{from: 2025-07-28, value: 50%}, {from: 2027-01-01, value: 30%" in edited
    assert len(edited.splitlines()) == len(text.splitlines())  # only that line changed
    again = authoring.with_parameter_value(edited, name="rate", value="40%", start=dt.date(2027, 1, 1))
    assert yaml.safe_load(again)["parameters"]["rate"]["values"][-1] == {
        "from": dt.date(2027, 1, 1),
        "value": "40%",
    }


@pytest.mark.parametrize("start", [dt.date(2020, 1, 1), dt.date(2023, 3, 1), dt.date(2027, 1, 1)])
def test_a_block_list_gets_an_item_and_the_file_keeps_its_comments(start: dt.date) -> None:
    text = DESIGNATION_FILE.read_text(encoding="utf-8")
    edited = authoring.with_parameter_value(
        text, name="strategic_sectors", value="[biomedicine]", start=start
    )
    values = yaml.safe_load(edited)["parameters"]["strategic_sectors"]["values"]
    assert [v["from"] for v in values] == sorted(v["from"] for v in values)
    assert {"from": start, "value": ["biomedicine"]} in values
    assert [line for line in edited.splitlines() if line.startswith("#")] == [
        line for line in text.splitlines() if line.startswith("#")
    ]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("nope", "1", "no parameter 'nope'"),
        ("rate", "", "one line"),
        ("rate", "1\n2", "one line"),
        ("rate", "[1", "is not a value"),
        ("rate", "1}, rate: {", "is not a value"),
        ("rate", "1 # two", "one line"),
    ],
)
def test_a_value_that_cannot_be_set_is_refused_with_what_is_expected(
    name: str, value: str, says: str
) -> None:
    with pytest.raises(authoring.AuthoringError, match=re.escape(says)):
        authoring.with_parameter_value(
            MODEL_FILE.read_text(encoding="utf-8"), name=name, value=value, start=dt.date(2027, 1, 1)
        )


@settings(max_examples=15, deadline=None)
@given(
    days=st.lists(st.dates(dt.date(2020, 1, 1), dt.date(2035, 1, 1)), min_size=1, max_size=5),
    values=st.lists(st.integers(0, 10**9), min_size=5, max_size=5),
)
def test_any_sequence_of_dated_values_reads_back_sorted_with_the_last_value_of_each_date(
    days: list[dt.date], values: list[int]
) -> None:
    """Whatever dates are set in whatever order, the list reads back sorted, one value a date, the last one
    set for that date, and nothing else in the file changes."""
    text = MODEL_FILE.read_text(encoding="utf-8")
    expected = {dt.date(2025, 7, 28): 5_000_000}
    for day, value in zip(days, values, strict=False):
        text = authoring.with_parameter_value(text, name="max_voucher", value=str(value), start=day)
        expected[day] = value
    data = yaml.safe_load(text)
    got = [(v["from"], v["value"]) for v in data["parameters"]["max_voucher"]["values"]]
    assert got == sorted(expected.items())
    assert (
        data["parameters"]["rate"]
        == yaml.safe_load(MODEL_FILE.read_text(encoding="utf-8"))["parameters"]["rate"]
    )


def test_a_case_is_appended_to_the_tests_or_starts_them() -> None:
    snippet = '  - name: "x"\n    "on": 2027-03-01\n    firm: {"uscc": "1"}\n    expect: {"eligible": true}\n'
    fresh = authoring.append_case("", MODEL, snippet)
    assert yaml.safe_load(fresh) == {
        "programme": MODEL,
        "cases": [
            {"name": "x", "on": dt.date(2027, 3, 1), "firm": {"uscc": "1"}, "expect": {"eligible": True}}
        ],
    }
    tests = (bundled_pack_dir("shanghai") / "ai-model-voucher.tests.yaml").read_text(encoding="utf-8")
    more = authoring.append_case(tests, MODEL, snippet)
    assert (
        more.startswith(tests)
        and len(yaml.safe_load(more)["cases"]) == len(yaml.safe_load(tests)["cases"]) + 1
    )


# --- the pages ------------------------------------------------------------------------------------------


def test_validation_as_one_types_answers_a_fragment_with_positions(sqlite_web: Web) -> None:
    officer = sqlite_web.client("officer")
    text = MODEL_FILE.read_text(encoding="utf-8").replace("== city", "== cty")
    r = officer.post("/officer/programmes/check", data={"text": text, "lang": "zh"}, params={"lang": "zh"})
    assert r.status_code == 200 and "<html" not in r.text
    assert 'data-part="programme"' in r.text and "第 " in r.text and "unknown name" in r.text
    good = officer.post("/officer/programmes/check", data={"text": next_year(MODEL_FILE.read_text("utf-8"))})
    assert "2026.1" in good.text and 'class="problems"' not in good.text
    assert sqlite_web.client("firm_member").post(
        "/officer/programmes/check", data={"text": "x"}
    ).status_code in (
        401,
        403,
    )


def test_an_officer_authors_a_version_and_a_second_officer_publishes_it(sqlite_web: Web) -> None:
    author, second = sqlite_web.client("officer"), sqlite_web.client("probe")
    start = author.get(f"{DRAFTS}/new", params={"programme": MODEL, "lang": "zh"})
    assert start.status_code == 200 and "沪经信智〔2025〕489号" in start.text and "保存草稿" in start.text
    text = next_year(MODEL_FILE.read_text(encoding="utf-8"))
    r = author.post(DRAFTS, data={"text": text, "tests": "", "filename": "ai-model-voucher.programme.yaml"})
    assert r.status_code == 303, r.text
    page = r.headers["location"]
    draft_id = int(page.rsplit("/", 1)[1])
    # the form for a dated value: the rate from 2027-01-01 is 30%
    r = author.post(
        f"{page}/parameter", data={"name": "rate", "value": "30%", "start": "2027-01-01", "clause": "2027"}
    )
    assert r.status_code == 200, r.text
    assert "{from: 2027-01-01, value: 30%" in r.text
    bad = author.post(
        f"{page}/parameter", data={"name": "rate", "value": "30%", "start": "soon"}, params={"lang": "en"}
    )
    assert bad.status_code == 422 and "From: expected a date" in bad.text
    # an example firm becomes a test case with what the draft decides for it
    r = author.post(
        f"{page}/case", data={"example": "small-ai-firm", "on": "2027-03-01", "name": "小模型企业"}
    )
    assert r.status_code == 200, r.text
    assert "小模型企业" in r.text and "expect" in r.text
    unknown = author.post(f"{page}/case", data={"uscc": "91310000MA1FL0000X", "on": "2027-03-01"})
    assert unknown.status_code == 422 and "no firm with the credit code" in unknown.text
    # its test cases run and pass
    r = author.post(f"{page}/test", headers={"HX-Request": "true"})
    assert r.status_code == 200 and re.search(
        r"Test cases: \d+ passed, 0 failed|测试用例：\d+ 个通过，0 个失败", r.text
    ), r.text
    # submitted; its author cannot publish it
    assert author.post(f"{page}/submit").status_code == 200
    own = author.post(f"{page}/publish")
    assert own.status_code == 422 and "published" not in own.text.split('id="draft-status"', 1)[1][:40]
    # the second officer sees the diff and publishes
    review = second.get(page, params={"lang": "en"})
    assert (
        "What changes: 2025.1 → 2026.1" in review.text
        and "30%" in review.text
        and 'id="publish"' in review.text
    )
    done = second.post(f"{page}/publish", params={"lang": "en"})
    assert done.status_code == 200, done.text
    assert "Published" in done.text and ">published<" in done.text
    # the catalogue shows the new version with its dates
    doc = sqlite_web.client().get(f"/programmes/{MODEL}", params={"version": "2026.1", "lang": "zh"}).text
    assert "2026.1" in doc and "2027-01-01 – …" in doc and "2025-07-28 – 2026-12-31" in doc
    listed = author.get("/officer/programmes").text
    assert f"{DRAFTS}/{draft_id}" in listed


def test_a_rejection_needs_a_reason_and_goes_back_to_the_author(web: Web) -> None:
    """On SQLite and PostgreSQL."""
    author, second = web.client("officer"), web.client("probe")
    text = next_year(MODEL_FILE.read_text(encoding="utf-8"))
    page = author.post(DRAFTS, data={"text": text}).headers["location"]
    author.post(f"{page}/submit")
    assert second.post(f"{page}/reject", data={"reason": " "}).status_code == 422
    r = second.post(f"{page}/reject", data={"reason": "比例须经办公会审议"}, params={"lang": "zh"})
    assert r.status_code == 200 and "比例须经办公会审议" in r.text and ">草稿<" in r.text
    saved = author.post(page, data={"text": text.replace("== city", "== cty")})
    assert (
        saved.status_code == 422 and "unknown name" in saved.text and "== cty" in saved.text
    )  # kept as typed


def test_a_version_is_withdrawn_with_a_reason(sqlite_web: Web) -> None:
    officer = sqlite_web.client("officer")
    r = officer.post(
        "/officer/programmes/withdraw", data={"programme_id": MODEL, "version": "9.9", "reason": "x"}
    )
    assert r.status_code == 422 and "9.9" in r.text
    no_reason = officer.post(
        "/officer/programmes/withdraw", data={"programme_id": "shanghai.hq.rent-subsidy", "version": "2023.1"}
    )
    assert no_reason.status_code == 422
    assert officer.get(f"{DRAFTS}/424242").status_code == 404


def test_the_reviewer_costs_the_change_over_the_register(sqlite_web: Web) -> None:
    from huiqi.app.register import synth_register

    officer = sqlite_web.client("officer")
    page = officer.post(DRAFTS, data={"text": next_year(MODEL_FILE.read_text(encoding="utf-8"))}).headers[
        "location"
    ]
    hx = {"HX-Request": "true"}
    none = officer.post(f"{page}/cost", data={"on": "2027-03-01"}, headers=hx, params={"lang": "en"})
    assert none.status_code == 200 and "There is no register in the database" in none.text
    bad = officer.post(f"{page}/cost", data={"on": "soon"}, headers=hx, params={"lang": "en"})
    assert "Date: expected a date" in bad.text
    synth_register(sqlite_web.app.state.huiqi.store, firms=200, seed=3)
    r = officer.post(f"{page}/cost", data={"on": "2027-03-01"}, headers=hx, params={"lang": "zh"})
    assert r.status_code == 200, r.text
    assert "名录中 200 家企业测算" in r.text and MODEL in r.text


def test_a_withdrawn_version_is_not_current_and_its_page_says_why(sqlite_web: Web) -> None:
    corpus = "shanghai.ai.corpus-voucher"
    officer = sqlite_web.client("officer")
    r = officer.post(
        "/officer/programmes/withdraw",
        data={"programme_id": corpus, "version": "2025.1", "reason": "资金已用完"},
        params={"lang": "zh"},
    )
    assert r.status_code == 200 and "已撤回" in r.text, r.text[-2000:]
    anon = sqlite_web.client()
    current = anon.get("/api/v1/programmes", params={"status": "current", "city": "shanghai"}).json()
    assert corpus not in {e["id"] for e in current}
    gone = anon.get("/api/v1/programmes", params={"status": "withdrawn"}).json()
    assert [(e["id"], e["status"]) for e in gone] == [(corpus, "withdrawn")]
    page = anon.get(f"/programmes/{corpus}", params={"version": "2025.1", "lang": "zh"}).text
    assert "该版本已撤回" in page  # a bundled version: its reason is in the audit chain (no draft holds it)
    assert "已撤回" in page.split('<table class="versions">', 1)[1].split("</table>", 1)[0]
    listed = anon.get("/programmes", params={"lang": "zh", "status": "withdrawn"}).text
    assert corpus in listed and "找到政策：1 项" in listed
    start = officer.get(f"{DRAFTS}/new", params={"programme": corpus, "lang": "en"})
    assert start.status_code == 200 and "no version in force: name the version" in start.text
    named = officer.get(f"{DRAFTS}/new", params={"programme": corpus, "version": "2025.1"})
    assert named.status_code == 200 and "shanghai.ai.corpus" in named.text


def test_a_firm_by_its_credit_code_becomes_a_test_case(sqlite_web: Web) -> None:
    """A stored profile (firm A's) and a firm of the register in the database, each by its code."""
    import pyarrow.compute as pc

    from dbfixtures import FIRM_A
    from huiqi.app.register import nonempty_register, synth_register

    officer = sqlite_web.client("officer")
    page = officer.post(DRAFTS, data={"text": next_year(MODEL_FILE.read_text(encoding="utf-8"))}).headers[
        "location"
    ]
    r = officer.post(f"{page}/case", data={"uscc": FIRM_A.lower(), "on": "2027-03-01"})
    assert r.status_code == 200, r.text[-1500:]
    store = sqlite_web.app.state.huiqi.store
    synth_register(store, firms=50, seed=5)
    firms = nonempty_register(store)["firms"]
    code = str(pc.min(firms["uscc"]).as_py())
    r = officer.post(f"{page}/case", data={"uscc": code, "on": "2027-03-01", "name": "名录企业"})
    assert r.status_code == 200, r.text[-1500:]
    tests = yaml.safe_load(
        sqlite_web.bearer("officer").get(f"/api/v1/programme-drafts/{page.rsplit('/', 1)[1]}").json()["tests"]
    )
    cases = tests["cases"]
    assert [c["firm"]["uscc"] for c in cases] == [FIRM_A, code] and cases[1]["name"] == "名录企业"
    assert all({"eligible", "amount", "unmet"} <= set(c["expect"]) for c in cases)
