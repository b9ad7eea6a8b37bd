"""Reform files: validation with positions, what a reform touches, and the values it gives programmes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from huiqi.firms.io import firm_from_data
from huiqi.rules.evaluator import Engine
from huiqi.rules.loader import bundled_pack_dir, load_pack
from huiqi.rules.testing import load_fixtures
from huiqi.simulation.reform import ReformError, apply_reform, parse_reform, parse_sets

PACK = load_pack()
ON = dt.date(2025, 10, 1)


def refused(text: str) -> list[str]:
    with pytest.raises(ReformError) as exc:
        apply_reform(PACK, parse_reform(text, source="r.yaml"))
    return [str(p) for p in exc.value.problems]


HEAD = "id: t\ntitle: {en: t, zh: 测}\nprogrammes:\n"


def test_unknown_programme_is_refused_at_its_line() -> None:
    problems = refused(HEAD + "  shanghai.hq.startup-grnt:\n    parameters:\n      max_grant: 8_000_000\n")
    assert len(problems) == 1
    assert problems[0].startswith("r.yaml:")
    assert "unknown programme 'shanghai.hq.startup-grnt'" in problems[0]
    assert "shanghai.hq.startup-grant" in problems[0]  # the known ones of that city are suggested


def test_unknown_parameter_condition_exclusion_value() -> None:
    text = HEAD + (
        "  shanghai.ai.model-voucher:\n"
        "    parameters:\n"
        "      max_vouchr: 8_000_000\n"
        "    conditions:\n"
        "      registerd: 'true'\n"
        "    exclusions:\n"
        "      cap: 'false'\n"
        "    values:\n"
        "      nope: '1'\n"
    )
    problems = refused(text)
    assert problems[0] == (
        "r.yaml:6:19: shanghai.ai.model-voucher has no parameter 'max_vouchr'; its parameters: city, "
        "max_voucher, measures_date, non_affiliated_only, rate"
    )
    assert any(p.startswith("r.yaml:12:13:") and "no value 'nope'" in p for p in problems)
    assert any(p.startswith("r.yaml:8:18:") and "no condition 'registerd'" in p for p in problems)
    assert any(p.startswith("r.yaml:10:12:") and "no exclusion 'cap'" in p for p in problems)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("'forty'", "expected a number (yuan)"),
        ("40%", "expected an amount in yuan, got a percentage"),
        ("2026-01-01", "expected a number (yuan), got a date"),
        ("true", "expected a number (yuan), got a boolean"),
        ('"5000000.001"', "more than two decimal places"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(value: str, message: str) -> None:
    text = HEAD + f"  shanghai.hq.startup-grant:\n    parameters:\n      max_grant: {value}\n"
    problems = refused(text)
    assert len(problems) == 1
    assert problems[0].startswith("r.yaml:6:18: shanghai.hq.startup-grant.max_grant:")
    assert message in problems[0].lower() or message in problems[0]


def test_a_rate_must_stay_a_number_and_a_date_a_date() -> None:
    text = HEAD + (
        "  shanghai.ai.compute-voucher:\n"
        "    parameters:\n"
        "      rental_rate: '2025-01-01'\n"
        "      measures_date: 30%\n"
    )
    problems = refused(text)
    assert "expected a number (rate), got a text" in problems[0]
    assert "expected a date (date), got a number" in problems[1]


def test_an_expression_error_points_inside_the_expression() -> None:
    text = HEAD + (
        "  shanghai.hq.startup-grant:\n"
        "    conditions:\n"
        "      paid-in-capital: firm.paid_in_capital > firm.nope\n"
    )
    problems = refused(text)
    assert len(problems) == 1
    # the column of `nope` on line 6
    line = text.splitlines()[5]
    assert problems[0].startswith(f"r.yaml:6:{line.index('firm.nope') + 1}:"), problems[0]
    assert "firm has no field 'nope'" in problems[0]


def test_a_condition_must_stay_a_test() -> None:
    text = (
        HEAD + "  shanghai.hq.startup-grant:\n    conditions:\n      paid-in-capital: firm.paid_in_capital\n"
    )
    assert "expected a boolean, but the expression is a number" in refused(text)[0]


def test_shape_errors_are_positioned() -> None:
    with pytest.raises(ReformError) as exc:
        parse_reform(HEAD + "  shanghai.hq.startup-grant:\n    paramters: {}\n", source="r.yaml")
    assert str(exc.value.problems[0]).startswith("r.yaml:5:")
    assert "unknown field 'paramters'" in str(exc.value)
    with pytest.raises(ReformError) as exc:
        parse_reform("id: t\nprogrammes: {}\n", source="r.yaml")
    assert "title" in str(exc.value)


def test_set_options() -> None:
    applied = apply_reform(PACK, parse_sets(["shanghai.hq.startup-grant.max_grant=8_000_000"]))
    assert applied.touched == {"shanghai.hq.startup-grant"}
    assert applied.programmes["shanghai.hq.startup-grant"].params["max_grant"].at(ON)[0] == Decimal("8000000")
    with pytest.raises(ReformError) as exc:
        parse_sets(["shanghai.hq.startup-grant=8"])
    assert "--set #1" in str(exc.value)
    with pytest.raises(ReformError) as exc:
        apply_reform(PACK, parse_sets(["shanghai.hq.startup-grant.max=8"]))
    assert str(exc.value).startswith("--set #1 (shanghai.hq.startup-grant.max=8):1:31: ")


def test_a_dated_change_keeps_earlier_values() -> None:
    applied = apply_reform(PACK, parse_sets(["shenzhen.ai.compute-voucher.rate@2026-01-01=40%"]))
    param = applied.programmes["shenzhen.ai.compute-voucher"].params["rate"]
    assert param.at(dt.date(2025, 12, 31))[0] == Decimal("0.50")
    assert param.at(dt.date(2026, 1, 1))[0] == Decimal("0.40")


def test_a_designation_reform_affects_the_programmes_that_need_it() -> None:
    applied = apply_reform(PACK, parse_sets(["shanghai.hq.designation.rd_staff_count=5"]))
    assert applied.touched == {"shanghai.hq.designation"}
    assert applied.affected == {
        "shanghai.hq.designation",
        "shanghai.hq.startup-grant",
        "shanghai.hq.rent-subsidy",
        "shanghai.hq.operating-award",
    }


def test_effective_dates_conditions_and_pool_size_change() -> None:
    text = HEAD + (
        "  beijing.ai.compute-voucher:\n"
        "    effective: {to: 2027-12-31}\n"
        "    conditions:\n"
        "      sector: 'true'\n"
        "  shenzhen.ai.model-voucher:\n"
        "    pool_size: 150_000_000\n"
    )
    applied = apply_reform(PACK, parse_reform(text, source="r.yaml"))
    bj = applied.programmes["beijing.ai.compute-voucher"]
    assert bj.spec.effective.end == dt.date(2027, 12, 31)
    assert bj.spec.effective.start == dt.date(2023, 9, 1)
    assert applied.programmes["shenzhen.ai.model-voucher"].spec.pool.size == Decimal("150000000")  # type: ignore[union-attr]
    fixtures = load_fixtures(bundled_pack_dir("beijing"))
    trader = firm_from_data(
        {
            **fixtures["bj_ai_firm"],
            "sector": "trade",
            "contracts": [
                {
                    "id": "R1",
                    "kind": "compute_rental",
                    "counterparty": "x",
                    "value": 1_000_000,
                    "signed": dt.date(2026, 3, 1),
                    "term_months": 12,
                }
            ],
        }
    )
    on = dt.date(2026, 6, 30)
    before = Engine(PACK, trader, on).evaluate("beijing.ai.compute-voucher")
    after = Engine(applied.programmes, trader, on).evaluate("beijing.ai.compute-voucher")
    assert (before.eligible, before.unmet) == (False, ["in-force", "sector"])
    assert (after.eligible, after.amount) == (True, Decimal("200000.00"))


def test_a_reform_file_on_disk(tmp_path: Path) -> None:
    from huiqi.simulation.reform import load_reform

    path = tmp_path / "cap.yaml"
    path.write_text(
        HEAD + "  shanghai.ai.model-voucher:\n    parameters:\n      rate: 60%\n", encoding="utf-8"
    )
    reform = load_reform(path).combine(parse_sets(["shanghai.ai.model-voucher.max_voucher=6_000_000"]))
    applied = apply_reform(PACK, reform)
    params = applied.programmes["shanghai.ai.model-voucher"].params
    assert params["rate"].at(ON)[0] == Decimal("0.60")
    assert params["max_voucher"].at(ON)[0] == Decimal("6000000")
    with pytest.raises(ReformError):
        load_reform(tmp_path / "missing.yaml")
