"""The policy calculator, shared by the API and the public page: a profile in, every programme's verdict out,
with how much, why (each condition with its clause and the figures read) and what is missing (the gaps)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from huiqi.firms import Firm, firm_from_data
from huiqi.rules.evaluator import evaluate
from huiqi.rules.explain import explain
from huiqi.rules.programme import Programme
from huiqi.web.i18n import SHANGHAI


def today_in_shanghai() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def calculate(
    programmes: Mapping[str, Programme],
    firm: Firm,
    on: dt.date,
    ids: list[str] | None = None,
    lang: str = "en",
) -> dict[str, Any]:
    results = evaluate(programmes, firm, on, ids)
    out = [
        {
            "programme": r.programme.id,
            "version": r.programme.version,
            "eligible": r.eligible,
            "amount": str(r.amount),
            "unmet": r.unmet,
            "explanation": explain(r, lang),
        }
        for r in results
    ]
    total = sum((r.amount for r in results if r.eligible), start=Decimal(0))
    return {
        "firm": {"uscc": firm.uscc, "name_zh": firm.name_zh, "name_en": firm.name_en},
        "date": on.isoformat(),
        "eligible_count": sum(1 for r in results if r.eligible),
        "total": str(total),
        "results": out,
    }


def parse_firm(data: Any, source: str = "firm") -> Firm:
    return firm_from_data(data, source=source)
