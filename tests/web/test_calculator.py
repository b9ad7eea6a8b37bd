"""The policy calculator's scope (the firm's registration city, programmes in force on the date; every city's
with ``?all=true`` or the page's checkbox; a list of ids as asked), the API and the page agreeing on it, and
the answer serialised once without changing a value."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.rules.programme import Programme
from huiqi.web.calculator import calculate, pack_of, parse_firm, scope_of, to_json_bytes
from huiqi.web.programmes import ProgrammeRegistry

from .conftest import Web

EXAMPLES = Path(__file__).resolve().parents[2] / "src/huiqi/firms/examples"
ON = "2025-12-01"


@pytest.fixture(scope="module")
def programmes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Programme]:
    return ProgrammeRegistry(tmp_path_factory.mktemp("uploads")).programmes()


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def effective(p: Programme, on: dt.date) -> bool:
    """In force, read straight from the file's ``effective`` period (not through the calculator)."""
    return p.spec.effective.start <= on and (p.spec.effective.end is None or on <= p.spec.effective.end)


def test_a_city_name_finds_its_pack_however_the_profile_spells_it() -> None:
    for spelling in ("Shanghai", "shanghai", " SHANGHAI ", "上海", "上海市"):
        assert pack_of(spelling) == "shanghai", spelling
    assert pack_of("杭州") == "hangzhou"
    assert pack_of("Wuhan") == "wuhan"  # no bundled pack: its own name, so nothing of another city matches


@settings(max_examples=60, deadline=None)
@given(
    on=st.dates(dt.date(2022, 1, 1), dt.date(2030, 12, 31)),
    firm=st.sampled_from(["small-ai-firm", "hangzhou-ai"]),
)
def test_default_scope_is_the_firms_city_in_force_and_all_is_every_city_in_force(
    programmes: dict[str, Programme], on: dt.date, firm: str
) -> None:
    profile = parse_firm(example(firm))
    city = profile.registration_city.lower()
    own = scope_of(programmes, profile, on)
    assert own.ids == sorted(
        p for p in programmes if p.startswith(city + ".") and effective(programmes[p], on)
    )
    assert own.not_in_force == sum(
        1 for p in programmes if p.startswith(city + ".") and not effective(programmes[p], on)
    )
    every = scope_of(programmes, profile, on, all_cities=True)
    assert every.ids == sorted(p for p in programmes if effective(programmes[p], on))
    assert every.not_in_force == len(programmes) - len(every.ids)
    assert set(own.ids) <= set(every.ids)


def test_the_answer_is_serialised_once_without_changing_a_value(programmes: dict[str, Programme]) -> None:
    """The bytes the API sends are what FastAPI's own encoder would have made of the same answer."""
    on = dt.date.fromisoformat(ON)
    for path in sorted(EXAMPLES.glob("*.json")):
        firm = parse_firm(json.loads(path.read_text(encoding="utf-8")))
        for lang in ("en", "zh"):
            answer = calculate(
                programmes, firm, on, lang=lang, scope=scope_of(programmes, firm, on, None, True)
            )
            assert json.loads(to_json_bytes(answer)) == jsonable_encoder(answer), (path.name, lang)
            for r in answer.results:
                assert r.amount == r.explanation["amount"] and r.explanation["checks"]


def test_api_answers_for_the_firms_city_by_default_and_every_city_when_asked(sqlite_web: Web) -> None:
    client = sqlite_web.client()
    body = {"firm": example("small-ai-firm"), "on": ON, "lang": "en"}
    own = client.post("/api/v1/calculator", json=body)
    assert own.status_code == 200, own.text
    assert own.headers["content-type"].startswith("application/json")
    data = own.json()
    ids = [r["programme"] for r in data["results"]]
    assert ids and all(i.startswith("shanghai.") for i in ids)
    assert data["scope"] == {
        "all_cities": False,
        "pack": "shanghai",
        "explicit": False,
        "programmes": len(ids),
        "not_in_force": 0,
    }
    every = client.post("/api/v1/calculator?all=true", json=body).json()
    cities = {r["programme"].split(".")[0] for r in every["results"]}
    assert cities >= {"shanghai", "beijing", "shenzhen", "hangzhou", "chengdu"}
    assert every["scope"]["all_cities"] and all(r["explanation"]["in_force"] for r in every["results"])
    # the Shanghai answers are the same whichever scope asked for them
    shanghai = [r for r in every["results"] if r["programme"].startswith("shanghai.")]
    assert shanghai == data["results"]

    # Beijing's compute voucher ended on 2025-12-31: left out of the default and of ?all=true in 2026 ...
    later = client.post("/api/v1/calculator?all=true", json={**body, "on": "2026-06-01"}).json()
    assert "beijing.ai.compute-voucher" not in [r["programme"] for r in later["results"]]
    assert later["scope"]["not_in_force"] >= 1
    # ... but explained as not in force when asked for by id
    asked = client.post(
        "/api/v1/calculator", json={**body, "on": "2026-06-01", "programmes": ["beijing.ai.compute-voucher"]}
    ).json()
    (only,) = asked["results"]
    assert asked["scope"]["explicit"] and not only["eligible"] and not only["explanation"]["in_force"]


def test_a_firm_of_a_city_without_a_pack_gets_an_empty_answer_that_says_why(sqlite_web: Web) -> None:
    client = sqlite_web.client()
    client.cookies.set("huiqi_lang", "en")
    firm = {**example("small-ai-firm"), "registration_city": "Wuhan"}
    data = client.post("/api/v1/calculator", json={"firm": firm, "on": ON}).json()
    assert data["results"] == [] and data["eligible_count"] == 0 and data["scope"]["pack"] == "wuhan"
    page = client.post(
        "/calculator", data={"profile": json.dumps(firm), "on": ON}, headers={"HX-Request": "true"}
    )
    assert page.status_code == 200 and "no programme pack for this city" in page.text


@pytest.mark.parametrize("all_cities", [False, True])
def test_the_page_shows_what_the_api_answers(sqlite_web: Web, all_cities: bool) -> None:
    client = sqlite_web.client()
    client.cookies.set("huiqi_lang", "en")
    firm = example("small-ai-firm")
    api = client.post(
        "/api/v1/calculator" + ("?all=true" if all_cities else ""),
        json={"firm": firm, "on": ON, "lang": "en"},
    ).json()
    form = {"profile": json.dumps(firm), "on": ON} | ({"all": "true"} if all_cities else {})
    page = client.post("/calculator", data=form, headers={"HX-Request": "true"})
    assert page.status_code == 200, page.text
    html = page.text
    shown = re.findall(r'<details class="card result (ok|no)"', html)
    assert len(shown) == len(api["results"])
    assert shown.count("ok") == api["eligible_count"]
    for r in api["results"]:
        assert r["explanation"]["name"] in html
    assert bool(re.search(r"Every city(&#39;|')s programmes in force", html)) == all_cities
    full = client.get("/calculator" + ("?all=true" if all_cities else "")).text
    assert ('name="all" value="true" checked' in full) == all_cities


def test_the_lean_route_answers_exactly_as_the_api_route(sqlite_web: Web) -> None:
    """``CalculatorRoute`` (first among the app's routes) takes the plain and ``?all=`` requests; any other
    query string goes through FastAPI's route. Both must give the same bytes, for answers and for errors."""
    from starlette.routing import Match

    from huiqi.web.api.programmes import CalculatorRoute

    lean = sqlite_web.app.router.routes[0]
    assert isinstance(lean, CalculatorRoute) and lean.path == "/api/v1/calculator"
    scope = {"type": "http", "method": "POST", "path": "/api/v1/calculator", "query_string": b""}
    assert lean.matches(scope)[0] is Match.FULL
    assert lean.matches({**scope, "query_string": b"all=true&x=1"})[0] is Match.NONE
    assert lean.matches({**scope, "method": "GET"})[0] is Match.NONE

    client = sqlite_web.client()
    body = {"firm": example("small-ai-firm"), "on": ON}
    # "x=1" is ignored by FastAPI's route: the same question, answered by the other route
    for lean_query, api_query in (("", "?x=1"), ("?all=true", "?all=true&x=1"), ("?all=0", "?all=false&x=1")):
        for request in (
            {"json": body},
            {"json": {**body, "lang": "zh"}},
            {"json": {"firm": example("hangzhou-ai"), "programmes": ["hangzhou.ai.compute-voucher"]}},
            {"json": {"firm": {}}},  # a profile the schema refuses
            {"json": {"on": ON}},  # no firm
            {"json": {**body, "on": "yesterday"}},
            {"json": {**body, "lang": "fr"}},
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            {"content": b"firm=1", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        ):
            a = client.post("/api/v1/calculator" + lean_query, **request)  # type: ignore[arg-type]
            b = client.post("/api/v1/calculator" + api_query, **request)  # type: ignore[arg-type]
            assert (a.status_code, a.headers["content-type"]) == (b.status_code, b.headers["content-type"])
            assert a.content == b.content, (lean_query, request)
    # the same authorization: a cross-site browser write is refused on both, nothing else differs
    foreign = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
    officer = sqlite_web.client("officer")
    a = officer.post("/api/v1/calculator", json=body, headers=foreign)
    b = officer.post("/api/v1/calculator?x=1", json=body, headers=foreign)
    assert a.status_code == b.status_code == 403 and a.content == b.content
    assert client.get("/api/v1/calculator").status_code == 405


# -- the questionnaire --------------------------------------------------------------------------------------


def questionnaire(**over: str) -> dict[str, str]:
    """The small AI firm as a person fills in the form (万元, a full-width figure, Chinese dates)."""
    form = {
        "mode": "form",
        "on": ON,
        "name_zh": "上海青图智能科技有限公司",
        "sector": "artificial_intelligence",
        "service_subsector": "software",
        "enterprise_type": "service",
        "district": "Yangpu",
        "registration_city": "Shanghai",
        "registration_date": "2025年2月17日",
        "registered_capital": "500万元",
        "paid_in_capital": "２００万",
        "total_assets": "6,800,000",
        "sales.2025": "185万元",
        "rd_spending.2025": "132万元",
        "rd_spending_in_china.2025": "1,320,000.00",
        "employees": "23",
        "rd_staff": "17",
        "ip.software_copyrights": "4",
        "hq_functions.rd": "true",
        "hq_functions.sales": "true",
        "hq_functions.settlement": "true",
        "offices[0].district": "Yangpu",
        "offices[0].area_m2": "180",
        "offices[0].rent_per_m2_day": "4.5",
        "offices[0].tenure": "rented",
        "offices[0].hq": "true",
        "offices[0].since": "2025-03-01",
        "contracts[0].kind": "compute_rental",
        "contracts[0].counterparty": "上海云算科技有限公司",
        "contracts[0].value": "48万元",
        "contracts[0].signed": "2025/8/15",
        "contracts[0].term_months": "12",
        "contracts[1].kind": "model_use",
        "contracts[1].counterparty": "深言大模型科技有限公司",
        "contracts[1].value": "150,000",
        "contracts[1].signed": "2025-09-02",
        "contracts[1].term_months": "12",
    }
    return form | over


def results_of(html: str) -> dict[str, str]:
    """Programme name -> ok/no, as the results show them."""
    found = re.findall(
        r'<details class="card result (ok|no)"[^>]*>\s*<summary>.*?<strong>(.*?)</strong>', html, re.S
    )
    return {name: mark for mark, name in found}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_questionnaire_answers_as_the_api_does_for_the_same_firm(sqlite_web: Web, lang: str) -> None:
    """Typed as people type (万元, full-width digits, 2025年2月17日), the questionnaire answers as
    the API for the profile it stands for; with htmx, and as a plain form post without JavaScript."""
    client = sqlite_web.client()
    client.cookies.set("huiqi_lang", lang)
    firm = example("small-ai-firm")
    firm["name_en"] = None
    for c in firm["contracts"]:
        c["invoiced"] = c["paid"] = c["delivered"] = "0"
    api = client.post("/api/v1/calculator", json={"firm": firm, "on": ON, "lang": lang}).json()
    expected = {r["explanation"]["name"]: "ok" if r["eligible"] else "no" for r in api["results"]}
    assert "ok" in expected.values() and "no" in expected.values()
    fragment = client.post("/calculator", data=questionnaire(), headers={"HX-Request": "true"})
    assert fragment.status_code == 200, fragment.text
    assert "<html" not in fragment.text and 'id="calc"' in fragment.text
    assert results_of(fragment.text) == expected
    assert fragment.text.count("field-error") == 0
    plain = client.post("/calculator", data=questionnaire())  # no JavaScript: the whole page
    assert plain.status_code == 200 and "<html" in plain.text
    assert results_of(plain.text) == expected
    # what was typed stays in the form
    assert 'value="500万元"' in plain.text and 'value="2025/8/15"' in plain.text


@pytest.mark.parametrize("hx", [True, False])
def test_a_wrong_answer_is_named_beside_its_field_and_every_answer_is_kept(sqlite_web: Web, hx: bool) -> None:
    client = sqlite_web.client()
    client.cookies.set("huiqi_lang", "zh")
    bad = questionnaire(
        paid_in_capital="-100万", total_assets="很多", employees="3", **{"contracts[1].signed": "明天"}
    )
    r = client.post("/calculator", data=bad, headers={"HX-Request": "true"} if hx else {})
    assert r.status_code == 422
    page = r.text
    assert ("<html" in page) is not hx
    errors = dict(re.findall(r'name="([^"]+)"[^>]*>\s*<span class="field-error"[^>]*>([^<]+)</span>', page))
    assert errors == {
        "paid_in_capital": "不能为负数。",
        "total_assets": "请填写金额，例如 5,000,000 或 500万元。",
        "rd_staff": "研发人员不能多于职工人数。",
        "contracts[1].signed": "请填写日期，例如 2025-03-01。",
    }
    for kept in (
        'value="-100万"',
        'value="很多"',
        'value="明天"',
        'value="185万元"',
        'value="上海云算科技有限公司"',
    ):
        assert kept in page, kept
    assert "Decimal(" not in page and "Traceback" not in page and 'section class="results"' not in page
    assert 'aria-invalid="true"' in page


def test_the_advanced_box_keeps_the_profile_and_names_its_problems_beside_it(sqlite_web: Web) -> None:
    client = sqlite_web.client()
    client.cookies.set("huiqi_lang", "en")
    text = '{"uscc": "123", "name_zh": "坏"}'
    r = client.post(
        "/calculator", data={"mode": "json", "profile": text, "on": ON}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 422
    box = r.text[r.text.index('<details class="advanced" open') :]
    assert "uscc" in box[box.index('id="profile-problems"') :] and html_escape(text) in box
    # a good profile in the box fills the questionnaire in with it
    good = client.post(
        "/calculator",
        data={"mode": "json", "profile": json.dumps(example("hangzhou-ai")), "on": ON},
        headers={"HX-Request": "true"},
    )
    assert good.status_code == 200 and 'name="registration_city"' in good.text
    assert re.search(r'<option value="Hangzhou" selected>', good.text)


def test_a_logged_in_firm_finds_its_profile_in_the_questionnaire(sqlite_web: Web) -> None:
    member = sqlite_web.client("firm_member")
    member.cookies.set("huiqi_lang", "zh")
    page = member.get("/calculator").text
    assert 'value="91310115MA1K3BTP2B"' in page and 'value="上海青图智能科技有限公司"' in page
    assert re.search(r'<option value="artificial_intelligence" selected>人工智能</option>', page)
    anonymous = sqlite_web.client().get("/calculator").text
    assert 'value="91310115MA1K3BTP2B"' not in anonymous


def test_every_example_fills_the_questionnaire_and_reads_back_the_same() -> None:
    from huiqi.web.calculator import answers_from_form, answers_of

    on = dt.date.fromisoformat(ON)
    for path in sorted(EXAMPLES.glob("*.json")):
        firm = parse_firm(json.loads(path.read_text(encoding="utf-8")))
        filled = answers_of(firm, on)
        back = answers_from_form({k: v for k, v in filled.values.items() if v}, on)
        assert not back.errors, (path.name, back.errors)
        assert parse_firm(back.profile) == firm, path.name


@settings(max_examples=200, deadline=None)
@given(
    amount=st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
    unit=st.sampled_from([("", 1), ("元", 1), ("万", 10_000), ("万元", 10_000), ("亿元", 100_000_000)]),
    full_width=st.booleans(),
    grouped=st.booleans(),
)
def test_an_amount_reads_as_typed_in_any_unit(
    amount: Any, unit: tuple[str, int], full_width: bool, grouped: bool
) -> None:
    from huiqi.web.calculator import read_amount

    text = f"{amount:,}" if grouped else f"{amount}"
    text += unit[0]
    if full_width:
        text = text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    assert read_amount(text) == amount * unit[1]


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=False).replace('"', "&#34;")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_firm_is_never_shown_a_rule_formula(sqlite_web: Web, lang: str) -> None:
    """The API keeps a rule's expression where it has no words for it; the calculator page and the firm's
    page say what the profile lacks instead ("no contract in the profile meets this condition")."""
    from huiqi.web.calculator import FORMULA

    client = sqlite_web.client()
    client.cookies.set("huiqi_lang", lang)
    formulas_in_api = 0
    nothing = {
        "zh": "企业档案中没有符合此条件的合同",
        "en": "no contract in the profile meets this condition",
    }[lang]
    said = 0
    for path in sorted(EXAMPLES.glob("*.json")):
        firm = json.loads(path.read_text(encoding="utf-8"))
        api = client.post("/api/v1/calculator?all=true", json={"firm": firm, "on": ON, "lang": lang}).json()
        formulas_in_api += sum(
            1
            for r in api["results"]
            for c in r["explanation"]["checks"]
            for g in c.get("gap", [])
            if FORMULA.search(g)
        )
        page = client.post(
            "/calculator",
            data={"mode": "json", "profile": json.dumps(firm), "on": ON, "all": "true"},
            headers={"HX-Request": "true"},
        ).text
        results = page[page.index('<div id="results">') :]
        shown = re.sub(r"<[^>]+>", " ", results)
        assert not FORMULA.search(shown), (path.name, FORMULA.search(shown))
        said += shown.count(nothing)
    assert formulas_in_api and said  # the examples do reach such a condition
    member = sqlite_web.client("firm_member")
    member.cookies.set("huiqi_lang", lang)
    own = member.get("/firms/91310115MA1K3BTP2B").text
    assert 'section class="results"' in own and not FORMULA.search(
        re.sub(r"<(textarea|pre)\b.*?</\1>|<[^>]+>", " ", own, flags=re.S)
    )


def test_plain_gap_keeps_words_and_replaces_formulas_only() -> None:
    from huiqi.web.calculator import plain_gap
    from huiqi.web.i18n import set_language

    set_language("en")
    words = "paid-in capital 80,000,000.00 yuan; needs more than 100,000,000.00 yuan"
    assert plain_gap(words, "en") == words
    formula = "any(o.hq for o in firm.offices): does not hold"
    assert plain_gap(formula, "en") == "no office in the profile meets this condition"
    mixed = f'either: {words} or: any(c.kind == "model_use" for c in firm.contracts): does not hold'
    assert plain_gap(mixed, "en").endswith("or: no contract in the profile meets this condition")
    set_language("zh")
    assert plain_gap('不得满足: firm.sector == "trade"', "zh") == "企业档案中存在此条件排除的情形"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_profile_not_saved_stays_on_the_firm_page_as_typed(sqlite_web: Web, lang: str) -> None:
    """A refused profile: the firm's page again (422), the text as typed, the problems beside it in the page's
    language, no Python repr; the page's programmes are those of the firm's own city."""
    member = sqlite_web.client("firm_member")
    member.cookies.set("huiqi_lang", lang)
    uscc = "91310115MA1K3BTP2B"
    firm = member.get(f"/firms/{uscc}").text
    assert "shanghai." in firm and "beijing.ai." not in firm  # scope: Shanghai's programmes only
    typed = json.dumps({**example("small-ai-firm"), "uscc": uscc, "paid_in_capital": -1000000.0})
    r = member.post(f"/firms/{uscc}/profile", data={"profile": typed})
    assert r.status_code == 422
    page = r.text
    assert "<h1>上海青图智能科技有限公司</h1>" in page or "Shanghai Qingtu" in page
    problems = page[page.index('id="profile-problems"') :]
    assert (
        "paid_in_capital" in problems
        and ("不能为负数" if lang == "zh" else "greater than or equal") in problems
    )
    assert "Decimal(" not in page and html_escape(typed)[:60] in page
    assert member.get(f"/api/v1/firms/{uscc}").json()["paid_in_capital"] != "-1000000.00"  # not saved


def test_the_city_comparison_shows_no_rule_formula(sqlite_web: Web) -> None:
    """The public five-city comparison explains each city's programmes as the calculator does: in words."""
    from huiqi.web.calculator import FORMULA

    client = sqlite_web.client()
    client.cookies.set("huiqi_lang", "zh")
    for path in sorted(EXAMPLES.glob("*.json")):
        page = client.post("/compare", data={"profile": path.read_text(encoding="utf-8")}).text
        shown = re.sub(r"<(textarea|pre|svg)\b.*?</\1>|<[^>]+>", " ", page, flags=re.S)
        assert not FORMULA.search(shown), (path.name, FORMULA.search(shown))


@pytest.mark.parametrize(("lang", "name"), [("zh", "模型券"), ("en", "Model vouchers")])
def test_a_firms_pages_name_its_calls_by_programme(sqlite_web: Web, lang: str, name: str) -> None:
    """The firm's applications and the apply form name a call by its programme in the page's language, the
    call's id secondary (they showed the ids: ``call``, ``shanghai.ai.model-voucher``)."""
    member = sqlite_web.client("firm_member")
    member.cookies.set("huiqi_lang", lang)
    uscc = "91310115MA1K3BTP2B"
    page = member.get(f"/firms/{uscc}").text
    assert f'<td>{name}<br><span class="muted">call</span></td>' in page
    form = member.get(f"/firms/{uscc}/apply").text
    assert re.search(rf'<option value="call"[^>]*>{name} · call \(', form), form[form.find("<select") :][:300]


def test_the_examples_are_offered_by_the_firms_name(sqlite_web: Web) -> None:
    client = sqlite_web.client()
    for lang, name in (
        ("zh", "上海青图智能科技有限公司"),
        ("en", "Shanghai Qingtu Intelligent Technology Co., Ltd."),
    ):
        client.cookies.set("huiqi_lang", lang)
        page = client.get("/calculator?example=small-ai-firm").text
        assert f'<option value="small-ai-firm" selected>{name}</option>' in page, lang


def test_a_firm_saves_the_questionnaires_answers_as_its_profile(sqlite_web: Web) -> None:
    from huiqi.web.calculator import answers_of

    uscc = "91310115MA1K3BTP2B"
    member = sqlite_web.client("firm_member")
    member.cookies.set("huiqi_lang", "zh")
    assert 'value="save"' in member.get("/calculator").text
    stored = parse_firm(member.get(f"/api/v1/firms/{uscc}").json())
    form = {k: v for k, v in answers_of(stored, dt.date.fromisoformat(ON)).values.items() if v}
    # a wrong answer: nothing saved, the answer beside its field
    bad = member.post("/calculator", data=form | {"mode": "save", "employees": "很多"})
    assert bad.status_code == 422 and "请填写整数" in bad.text
    assert member.get(f"/api/v1/firms/{uscc}").json()["employees"] == stored.employees
    r = member.post("/calculator", data=form | {"mode": "save", "employees": "３０", "uscc": ""})
    assert r.status_code == 303 and r.headers["location"] == f"/firms/{uscc}"
    saved = member.get(f"/api/v1/firms/{uscc}").json()
    assert saved["employees"] == 30 and saved["uscc"] == uscc
    assert (
        parse_firm(saved).model_copy(update={"employees": stored.employees}) == stored
    )  # nothing else moved
    hx = member.post("/calculator", data=form | {"mode": "save"}, headers={"HX-Request": "true"})
    assert hx.status_code == 204 and hx.headers["HX-Redirect"] == f"/firms/{uscc}"
    # only a firm's member saves: not a visitor, not an officer
    assert 'value="save"' not in sqlite_web.client().get("/calculator").text
    assert sqlite_web.client().post("/calculator", data=form | {"mode": "save"}).status_code in (401, 303)
    assert sqlite_web.client("officer").post("/calculator", data=form | {"mode": "save"}).status_code == 403
