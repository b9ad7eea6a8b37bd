"""The call file: refused whole, each problem at file:line:column."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.selection.factory import CALL_FILE

from huiqi.selection.callfile import load_call_file, parse_call_file
from huiqi.selection.errors import CallFileError


def test_the_example_call_file_loads() -> None:
    cf = parse_call_file(CALL_FILE)
    assert cf.quotas.total == 40 and cf.quotas.sector["biomedicine"] == 10
    assert cf.band_amount(1) == Decimal("5000000.00") and cf.band_amount(6) == Decimal("3000000.00")
    assert cf.band_amount(99) == Decimal("1000000.00")
    assert sum(t.share for t in cf.tranches) == 1
    assert isinstance(cf.budget.amount, Decimal) if cf.budget else False


def _problems(text: str) -> str:
    with pytest.raises(CallFileError) as info:
        parse_call_file(text, path="call.yaml")
    return str(info.value)


def test_unknown_field_is_named_with_its_line() -> None:
    text = CALL_FILE.replace("reserve: {per_sector: 3}", "reserve: {per_sector: 3}\nreserv: 2")
    line = text.splitlines().index("reserv: 2") + 1
    assert f"call.yaml:{line}:9: reserv: unknown field 'reserv'" in _problems(text)


def test_a_bad_weight_points_at_the_value() -> None:
    text = CALL_FILE.replace("weight: 30", "weight: -1")
    message = _problems(text)
    assert "call.yaml:7:65:" in message and "rubric[0].weight" in message and "greater than 0" in message


def test_tranche_shares_must_add_up_and_bands_must_run_on() -> None:
    assert "tranche shares must add up to 1" in _problems(
        CALL_FILE.replace("share: 0.5, milestone: designation", "share: 0.4, milestone: designation")
    )
    assert "ranks must run on from 4" in _problems(CALL_FILE.replace("{from: 4, to: 6", "{from: 5, to: 6"))
    assert "sector quotas add up to 39" in _problems(
        CALL_FILE.replace("digital_economy: 10}", "digital_economy: 9}")
    )


def test_malformed_yaml_and_unreadable_file(tmp_path: object) -> None:
    assert "call.yaml:" in _problems("call: [unclosed")
    from pathlib import Path

    with pytest.raises(CallFileError, match="cannot read the file"):
        load_call_file(Path(str(tmp_path)) / "missing.yaml")
