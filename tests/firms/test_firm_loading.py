"""Loading firm profiles from JSON and YAML: every problem named with its path, floats never accepted."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from huiqi.firms import Firm, ProfileError, firm_from_data, load_firm
from huiqi.firms.io import firm_to_json

BASE: dict[str, Any] = {
    "uscc": "91310115MA1K3BTP2B",
    "name_zh": "上海测试科技有限公司",
    "sector": "artificial_intelligence",
    "registration_city": "Shanghai",
    "registration_date": "2020-01-02",
    "registered_capital": "10000000",
    "paid_in_capital": "5000000.50",
    "total_assets": "12000000.00",
    "sales": {"2024": "3000000.00"},
    "employees": 20,
    "rd_staff": 5,
    "contracts": [
        {
            "id": "C1",
            "kind": "compute_rental",
            "counterparty": "A",
            "value": "100000",
            "signed": "2025-08-01",
        },
        {"id": "C2", "kind": "model_use", "counterparty": "B", "value": "50000.00", "signed": "2025-09-01"},
    ],
}


def _with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def _write_json(tmp_path: Path, data: Any, raw: str | None = None) -> Path:
    path = tmp_path / "firm.json"
    path.write_text(raw if raw is not None else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "firm.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(exc: pytest.ExceptionInfo[ProfileError]) -> dict[str, str]:
    return {p.path: p.message for p in exc.value.problems}


def test_json_loads_exactly(tmp_path: Path) -> None:
    firm = load_firm(_write_json(tmp_path, BASE))
    assert firm.paid_in_capital == Decimal("5000000.50")
    assert firm.sales == {2024: Decimal("3000000.00")}
    assert firm.contracts[1].value == Decimal("50000.00")


def test_json_round_trip_through_firm_to_json(tmp_path: Path) -> None:
    firm = load_firm(_write_json(tmp_path, BASE))
    again = load_firm(_write_json(tmp_path, firm_to_json(firm)))
    assert again == firm


def test_yaml_loads_with_int_year_keys(tmp_path: Path) -> None:
    text = yaml.safe_dump({k: v for k, v in BASE.items() if k != "sales"}, allow_unicode=True)
    text += "sales: {2023: 2_500_000, 2024: '3000000.00'}\n"
    firm = load_firm(_write_yaml(tmp_path, text))
    assert firm.sales == {2023: Decimal("2500000.00"), 2024: Decimal("3000000.00")}


def test_json_numbers_with_a_fraction_are_read_exactly_never_as_float(tmp_path: Path) -> None:
    raw = json.dumps(BASE).replace('"12000000.00"', "12000000.1")
    assert load_firm(_write_json(tmp_path, None, raw)).total_assets == Decimal("12000000.10")
    raw = json.dumps(BASE).replace('"12000000.00"', "0.30000000000000004")
    with pytest.raises(ProfileError) as exc:
        load_firm(_write_json(tmp_path, None, raw))
    assert "more than two decimal places" in _problems(exc)["total_assets"]


def test_python_float_money_refused() -> None:
    with pytest.raises(ProfileError) as exc:
        firm_from_data(_with(total_assets=12000000.5))
    assert "float" in _problems(exc)["total_assets"]


def test_yaml_float_more_than_two_places_refused(tmp_path: Path) -> None:
    text = yaml.safe_dump(_with(total_assets="X"), allow_unicode=True).replace(
        "total_assets: X", "total_assets: 1200.123"
    )
    with pytest.raises(ProfileError) as exc:
        load_firm(_write_yaml(tmp_path, text))
    assert "more than two decimal places" in _problems(exc)["total_assets"]


def test_more_than_two_places_refused() -> None:
    with pytest.raises(ProfileError) as exc:
        firm_from_data(_with(paid_in_capital="1.005"))
    assert "more than two decimal places" in _problems(exc)["paid_in_capital"]


def test_unknown_field_named_with_its_path() -> None:
    data = _with(ip={"invention_patents": 1, "trademarks": 3}, colour="red")
    with pytest.raises(ProfileError) as exc:
        firm_from_data(data)
    problems = _problems(exc)
    assert problems["colour"].startswith("unknown field")
    assert problems["ip.trademarks"].startswith("unknown field")


def test_missing_required_field() -> None:
    data = _with()
    del data["registration_city"]
    with pytest.raises(ProfileError) as exc:
        firm_from_data(data, source="f.json")
    assert _problems(exc) == {"registration_city": "required field is missing"}
    assert "f.json: registration_city: required field is missing" in str(exc.value)


def test_nested_path_in_a_list() -> None:
    data = _with()
    data["contracts"][1]["value"] = "-5"
    with pytest.raises(ProfileError) as exc:
        firm_from_data(data)
    assert "contracts[1].value" in _problems(exc)


def test_every_problem_reported_not_just_the_first() -> None:
    data = _with(employees=-1, sector="mining")
    data["contracts"][0]["kind"] = "gpu_lease"
    with pytest.raises(ProfileError) as exc:
        firm_from_data(data)
    assert {"employees", "sector", "contracts[0].kind"} <= set(_problems(exc))


def test_duplicate_contract_id() -> None:
    data = _with()
    data["contracts"][1]["id"] = "C1"
    with pytest.raises(ProfileError, match="contract id 'C1' appears twice"):
        firm_from_data(data)


def test_two_hq_offices() -> None:
    office = {"area_m2": "100", "rent_per_m2_day": "5", "tenure": "rented", "hq": True}
    with pytest.raises(ProfileError, match="at most one office may be marked hq"):
        firm_from_data(_with(offices=[office, office]))


def test_rd_staff_above_employees() -> None:
    with pytest.raises(ProfileError, match=r"rd_staff \(30\) cannot exceed employees \(20\)"):
        firm_from_data(_with(rd_staff=30))


def test_invalid_uscc_named() -> None:
    with pytest.raises(ProfileError) as exc:
        firm_from_data(_with(uscc="91310115MA1K3BTP2C"))
    assert "check character should be 'B'" in _problems(exc)["uscc"]


def test_year_key_must_be_a_year() -> None:
    with pytest.raises(ProfileError) as exc:
        firm_from_data(_with(sales={"2024.5": "1"}))
    assert any(p.startswith("sales") for p in _problems(exc))
    with pytest.raises(ProfileError, match="out of range"):
        firm_from_data(_with(sales={"1800": "1"}))


def test_invalid_json_says_where(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="line 1 column"):
        load_firm(_write_json(tmp_path, None, '{"uscc": '))


def test_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="invalid YAML"):
        load_firm(_write_yaml(tmp_path, "uscc: [unclosed\n"))


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="must be a mapping"):
        load_firm(_write_yaml(tmp_path, "- a\n- b\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read the file"):
        load_firm(tmp_path / "nope.json")


def test_profile_is_immutable() -> None:
    firm = firm_from_data(BASE)
    assert isinstance(firm, Firm)
    with pytest.raises(ValueError):
        firm.employees = 3  # type: ignore[misc]
