"""The public catalogue (issue 15): every programme of every city searched and filtered by text (zh or en),
city, sector, benefit, amount and status on a date, through the use case, the page (with its CSV export and
the htmx fragment), the API and the CLI; expired programmes are not listed as current; each programme's page
shows its conditions beside their clauses and its versions with their dates."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import typing
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from huiqi.app import catalogue as cat
from huiqi.app.registry import open_packs
from huiqi.cli.main import app as cli

from .conftest import Web

PACKS = open_packs()
JUNE = dt.date(2026, 6, 1)  # Beijing's compute voucher ended on 2025-12-31; Shenzhen's run to 2026-12-17
EVERY_ID = {p.id for p in PACKS.programmes().every()}


def ids(found: cat.CatalogueSearch) -> set[str]:
    return {e.id for e in found.entries}


def test_every_city_is_in_the_catalogue() -> None:
    found = cat.search_programmes(PACKS, on=JUNE)
    assert found.count == found.total == len(found.entries) == len(EVERY_ID)
    assert {e.city for e in found.entries} == {"shanghai", "beijing", "shenzhen", "hangzhou", "chengdu"}


def test_the_types_the_adapters_take_are_the_values_the_use_case_takes() -> None:
    assert typing.get_args(cat.StatusFilter) == cat.STATUS_FILTERS
    assert typing.get_args(cat.BenefitKind) == cat.BENEFITS
    assert typing.get_args(cat.City) == cat.CITY_KEYS


def test_expired_programmes_are_not_current() -> None:
    current = ids(cat.search_programmes(PACKS, status="current", on=JUNE))
    ended = ids(cat.search_programmes(PACKS, status="ended", on=JUNE))
    assert "beijing.ai.compute-voucher" in ended and "beijing.ai.compute-voucher" not in current
    assert "shenzhen.ai.model-voucher" in current
    later = cat.search_programmes(PACKS, status="current", on=dt.date(2027, 1, 1))
    assert "shenzhen.ai.model-voucher" not in ids(later)
    upcoming = ids(cat.search_programmes(PACKS, status="upcoming", on=dt.date(2025, 1, 1)))
    assert "shanghai.ai.model-voucher" in upcoming  # from 2025-07-28
    assert "shanghai.ai.model-voucher" in ids(
        cat.search_programmes(PACKS, status="current", on=dt.date(2025, 1, 1))
    )


def test_text_in_chinese_and_in_english_finds_the_same_programme() -> None:
    zh = ids(cat.search_programmes(PACKS, q="模型券", city="shanghai"))
    en = ids(cat.search_programmes(PACKS, q="MODEL vouchers", city="shanghai"))
    assert zh == en == {"shanghai.ai.model-voucher"}
    assert ids(cat.search_programmes(PACKS, q="沪经信智〔2025〕489号 模型")) >= {"shanghai.ai.model-voucher"}
    assert cat.search_programmes(PACKS, q="no such words anywhere").count == 0


def test_filters_by_city_benefit_sector_and_amount() -> None:
    assert ids(cat.search_programmes(PACKS, city="beijing")) == {"beijing.ai.compute-voucher"}
    assert ids(cat.search_programmes(PACKS, benefit="grant")) == {"shanghai.hq.startup-grant"}
    # Beijing's voucher names the sectors it counts; a trading firm is not among them, a software firm is
    assert "beijing.ai.compute-voucher" not in ids(cat.search_programmes(PACKS, sector="trade"))
    assert "beijing.ai.compute-voucher" in ids(cat.search_programmes(PACKS, sector="software_services"))
    assert "shanghai.ai.model-voucher" in ids(cat.search_programmes(PACKS, sector="trade"))  # every sector
    assert "shanghai.hq.designation" not in ids(cat.search_programmes(PACKS, sector="trade"))
    # caps: Shanghai's model voucher 5,000,000 a firm, Beijing's compute voucher 2,000,000 a year
    rich = ids(cat.search_programmes(PACKS, min_amount=Decimal(3_000_000)))
    assert "shanghai.ai.model-voucher" in rich and "beijing.ai.compute-voucher" not in rich
    assert "shanghai.hq.designation" not in rich  # pays nothing itself
    assert "shanghai.hq.operating-award" in rich  # no stated cap
    entry = next(
        e for e in cat.search_programmes(PACKS, city="shanghai").entries if e.id.endswith("model-voucher")
    )
    assert entry.max_amount == Decimal(5_000_000) and entry.pays and entry.sectors == ()


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"status": "gone"}, "status"), ({"benefit": "loan"}, "benefit"), ({"sector": "mining"}, "sector")],
)
def test_an_unknown_filter_value_is_refused_by_name(kwargs: dict[str, str], named: str) -> None:
    with pytest.raises(cat.CatalogueQueryError, match=named):
        cat.search_programmes(PACKS, **kwargs)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    city=st.sampled_from((None, *cat.CITY_KEYS)),
    sector=st.sampled_from((None, *cat.SECTOR_KEYS)),
    benefit=st.sampled_from((None, *cat.BENEFITS)),
    amount=st.sampled_from((None, Decimal(0), Decimal(1_000_000), Decimal(10_000_000))),
    day=st.dates(dt.date(2023, 1, 1), dt.date(2029, 1, 1)),
)
def test_every_filter_narrows_and_statuses_partition(
    city: str | None, sector: str | None, benefit: str | None, amount: Decimal | None, day: dt.date
) -> None:
    """Each filter keeps only entries that satisfy it; in force, upcoming and ended partition the list."""
    base = dict(city=city, sector=sector, benefit=benefit, min_amount=amount, on=day)
    every = cat.search_programmes(PACKS, **base)  # type: ignore[arg-type]
    assert every.count == len(every.entries) <= every.total
    for e in every.entries:
        assert city is None or e.city == city
        assert benefit is None or e.benefit == benefit
        assert sector is None or not e.sectors or sector in e.sectors
        assert amount is None or (e.pays and (e.max_amount is None or e.max_amount >= amount))
    parts = [ids(cat.search_programmes(PACKS, status=s, **base)) for s in ("in-force", "upcoming", "ended")]  # type: ignore[arg-type]
    keys = [(e.id, e.version) for e in every.entries]
    assert sum(len(p) for p in parts) == len(keys)
    assert set().union(*parts) == ids(every)
    current = ids(cat.search_programmes(PACKS, status="current", **base))  # type: ignore[arg-type]
    assert current == parts[0] | parts[1]


def test_the_csv_is_the_list_and_formulas_stay_text() -> None:
    found = cat.search_programmes(PACKS, city="shanghai", on=JUNE)
    rows = list(csv.reader(io.StringIO(cat.catalogue_csv(found))))
    assert rows[0] == list(cat.CSV_COLUMNS)
    assert [r[0] for r in rows[1:]] == [e.id for e in found.entries]
    model = next(r for r in rows if r[0] == "shanghai.ai.model-voucher")
    assert model[cat.CSV_COLUMNS.index("max_amount")] == "5000000.00" and model[2] == "模型券"
    assert cat.catalogue_csv(found).count("\r\n") == len(found.entries) + 1
    planted = dataclasses.replace(found.entries[0], name_zh="=HYPERLINK(1)", name_en="-1+2")
    one = dataclasses.replace(found, entries=(planted,), count=1)
    row = list(csv.reader(io.StringIO(cat.catalogue_csv(one))))[1]
    assert row[2] == "'=HYPERLINK(1)" and row[3] == "'-1+2"


# --- the page, the API and the CLI --------------------------------------------------------------------------


def test_the_catalogue_page_searches_in_chinese(sqlite_web: Web) -> None:
    anon = sqlite_web.client()
    page = anon.get("/programmes", params={"lang": "zh", "on": "2026-06-01"})
    assert page.status_code == 200
    assert "找到政策" in page.text and "北京" in page.text and "成都" in page.text
    assert "beijing.ai.compute-voucher" not in page.text  # ended on 2025-12-31: not current
    ended = anon.get("/programmes", params={"lang": "zh", "on": "2026-06-01", "status": "ended"})
    assert "beijing.ai.compute-voucher" in ended.text and "已终止" in ended.text
    found = anon.get("/programmes", params={"lang": "zh", "q": "模型券", "city": "shanghai"})
    assert "找到政策：1 项" in found.text and "shanghai.ai.model-voucher" in found.text
    assert "500万" in found.text or "5,000,000" in found.text


def test_the_catalogue_page_answers_htmx_with_the_results_only(sqlite_web: Web) -> None:
    anon = sqlite_web.client()
    headers = {"HX-Request": "true", "HX-Target": "results"}
    part = anon.get("/programmes", params={"lang": "en", "benefit": "grant"}, headers=headers)
    assert part.status_code == 200 and "<html" not in part.text
    assert "Programmes found: 1" in part.text and "shanghai.hq.startup-grant" in part.text
    assert 'href="/programmes.csv?lang=en&amp;benefit=grant"' in part.text


def test_wrong_filters_are_named_not_a_500(sqlite_web: Web) -> None:
    anon = sqlite_web.client()
    page = anon.get(
        "/programmes", params={"lang": "en", "min_amount": "lots", "status": "gone", "on": "soon"}
    )
    assert page.status_code == 422
    assert "Amount: expected a number of yuan" in page.text and "Status: expected one of" in page.text
    assert "Date: expected a date like" in page.text
    zh = anon.get("/programmes", params={"lang": "zh", "sector": "mining"})
    assert zh.status_code == 422 and "行业：mining 不在可选范围内" in zh.text
    assert anon.get("/programmes.csv", params={"city": "atlantis"}).status_code == 422


def test_the_csv_export_follows_the_filters(sqlite_web: Web) -> None:
    r = sqlite_web.client().get("/programmes.csv", params={"city": "shenzhen", "status": "all"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    text = r.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["id"] for row in rows} == {
        "shenzhen.ai.compute-voucher",
        "shenzhen.ai.corpus-voucher",
        "shenzhen.ai.model-voucher",
    }


def test_the_programme_page_shows_clauses_and_versions(sqlite_web: Web) -> None:
    page = sqlite_web.client().get("/programmes/shanghai.ai.model-voucher", params={"lang": "zh"}).text
    assert "沪经信智〔2025〕489号 模型券" in page  # the condition's clause: document and article, in Chinese
    assert "Model vouchers" not in page
    assert '<table class="clauses">' in page and "在本市注册" in page
    assert '<table class="versions">' in page and "2025-07-28 – …" in page and "政策依据" in page
    assert "自 2025-07-28: 50%" in page  # a parameter's dated value
    en = sqlite_web.client().get("/programmes/shanghai.ai.model-voucher", params={"lang": "en"}).text
    assert "沪经信智〔2025〕489号 Model vouchers" in en and "模型券" not in en


def test_the_api_searches_with_the_same_filters(sqlite_web: Web) -> None:
    anon = sqlite_web.client()
    plain = anon.get("/api/v1/programmes").json()
    assert len(plain) == len(EVERY_ID) and "sectors" not in plain[0]  # no filter: the list as it was
    r = anon.get("/api/v1/programmes", params={"q": "model voucher", "status": "current", "on": "2026-06-01"})
    assert r.status_code == 200
    got = {e["id"] for e in r.json()}
    assert "shanghai.ai.model-voucher" in got and "shenzhen.ai.model-voucher" in got
    entry = next(e for e in r.json() if e["id"] == "shanghai.ai.model-voucher")
    assert entry["max_amount"] == "5000000.00" and entry["city"] == "shanghai"
    ended = anon.get("/api/v1/programmes", params={"status": "ended", "on": "2026-06-01"}).json()
    assert [e["id"] for e in ended] == ["beijing.ai.compute-voucher"]
    assert anon.get("/api/v1/programmes", params={"status": "gone"}).status_code == 422
    assert anon.get("/api/v1/programmes", params={"min_amount": "-1"}).status_code == 422
    # a cleared form field is no minimum (schemathesis sent it: 422 to a schema-valid request)
    everything = anon.get("/api/v1/programmes").json()
    assert anon.get("/api/v1/programmes", params={"min_amount": ""}).json() == everything
    assert anon.get("/api/v1/programmes", params={"min_amount": "abc"}).status_code == 422


def test_the_cli_lists_with_the_same_filters() -> None:
    runner = CliRunner()
    r = runner.invoke(
        cli,
        [
            "programmes",
            "list",
            "--pack",
            "beijing",
            "--pack",
            "shanghai",
            "--status",
            "ended",
            "--on",
            "2026-06-01",
        ],
    )
    assert r.exit_code == 0, r.output
    assert r.output.split()[0] == "beijing.ai.compute-voucher" and "shanghai" not in r.output
    r = runner.invoke(cli, ["programmes", "list", "--pack", "shanghai", "--q", "模型券", "--format", "json"])
    assert r.exit_code == 0 and '"max_amount": "5000000.00"' in r.output
    bad = runner.invoke(cli, ["programmes", "list", "--pack", "shanghai", "--sector", "mining"])
    assert bad.exit_code == 2 and "sector" in bad.output and "Traceback" not in bad.output
