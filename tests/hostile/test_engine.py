"""Odd programmes the engine must refuse rather than crash on (issue 13)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hostile.corpus import PROGRAMME, firm_data, programme_text
from huiqi.firms import firm_from_data
from huiqi.rules.errors import EvaluationError
from huiqi.rules.evaluator import evaluate
from huiqi.rules.loader import load_programmes


def test_a_date_moved_past_the_calendar_is_an_evaluation_error(tmp_path: Path) -> None:
    """``registration_date + years(9000)`` loads (a type-correct expression) but has no calendar date: the
    evaluation is refused (the API answers 422), not a ValueError (a 500)."""
    text = programme_text().replace(
        "test: firm.paid_in_capital > min_paid_in_capital",
        "test: as_of > firm.registration_date + years(9000)",
    )
    path = tmp_path / "far.programme.yaml"
    path.write_text(text, encoding="utf-8")
    designation = Path(PROGRAMME).with_name("hq-designation.programme.yaml")
    programmes = load_programmes([path, designation])
    firm = firm_from_data(firm_data())
    with pytest.raises(EvaluationError, match="outside the calendar"):
        evaluate(programmes, firm, dt.date(2025, 9, 30), ids=["shanghai.hq.startup-grant"])
