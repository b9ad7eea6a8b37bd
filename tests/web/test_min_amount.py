"""``min_amount`` reads alike on the API, the catalogue page and the CLI (review of issue 15's catalogue):
the same text is the same filter, or the same refusal naming the parameter (422 / the page's message / exit
2), never a 500 or a silent no-filter; the API's schema states what is accepted."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from huiqi.app import catalogue as cat
from huiqi.cli.main import app as cli

from .conftest import Web

ACCEPTED = {
    "": None,
    " ": None,
    "0": 0,
    "3000000": 3_000_000,
    "3,000,000": 3_000_000,
    "１０": 10,
    "2500.5": 2500.5,
}
REFUSED = ["abc", "-1", "1e400", "1e3", "1000.005", "12,34", "1000000000000000", "NaN", "Infinity"]


def _cli(text: str) -> tuple[int, str]:
    done = CliRunner().invoke(
        cli, ["programmes", "list", "--pack", "shanghai", "--format", "json", "--min-amount", text]
    )
    return done.exit_code, done.output


@pytest.mark.parametrize("text", REFUSED)
def test_a_refused_amount_is_refused_alike_naming_it(sqlite_web: Web, text: str) -> None:
    anon = sqlite_web.client()
    api = anon.get("/api/v1/programmes", params={"min_amount": text})
    assert api.status_code == 422 and "min_amount" in api.json()["detail"], api.text
    page = anon.get("/programmes", params={"min_amount": text, "lang": "en"})
    assert page.status_code == 422 and "Amount: expected a number of yuan" in page.text
    zh = anon.get("/programmes", params={"min_amount": text, "lang": "zh"})
    assert zh.status_code == 422 and "Amount: expected" not in zh.text
    code, out = _cli(text)
    assert code == 2 and "--min-amount" in out, out


def test_an_accepted_amount_is_the_same_filter_everywhere(sqlite_web: Web) -> None:
    anon = sqlite_web.client()
    for text, value in ACCEPTED.items():
        wanted = None if value is None else Decimal(str(value))
        assert cat.min_amount_of(text) == wanted
        api = anon.get("/api/v1/programmes", params={"min_amount": text, "city": "shanghai"})
        assert api.status_code == 200, (text, api.text)
        page = anon.get("/programmes", params={"min_amount": text, "city": "shanghai", "status": "all"})
        assert page.status_code == 200, (text, page.text[:300])
        code, out = _cli(text)
        assert code == 0, out
        ids = {e["id"] for e in api.json()}
        assert ids == {e["id"] for e in json.loads(out)}, text
        assert all(f"/programmes/{i}" in page.text for i in ids), text
    rich = anon.get("/api/v1/programmes", params={"min_amount": "3,000,000"}).json()
    assert {e["id"] for e in rich} < {e["id"] for e in anon.get("/api/v1/programmes").json()}


def test_the_api_schema_states_what_min_amount_takes(sqlite_web: Web) -> None:
    spec = sqlite_web.client().get("/openapi.json").json()
    (param,) = [
        p for p in spec["paths"]["/api/v1/programmes"]["get"]["parameters"] if p["name"] == "min_amount"
    ]
    patterns = [s.get("pattern") for s in param["schema"]["anyOf"]]
    assert cat.MIN_AMOUNT_PATTERN in patterns and not any(
        s.get("type") == "number" for s in param["schema"]["anyOf"]
    )


@given(st.decimals(min_value=0, max_value=Decimal("999999999999999.99"), places=2))
def test_any_amount_in_range_reads_back_plain_or_grouped(amount: Decimal) -> None:
    assert cat.min_amount_of(str(amount)) == amount
    assert cat.min_amount_of(f"{amount:,}") == amount
    assert cat.min_amount_of(f"  {amount}  ") == amount
