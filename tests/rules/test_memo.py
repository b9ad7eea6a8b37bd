"""What a programme works out once (closures bound to its parameters, explanation plans) belongs to that
programme object: a copy with other parameters must not read the original's."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

from huiqi.firms import firm_from_data
from huiqi.rules.evaluator import evaluate
from huiqi.rules.explain import explain
from huiqi.rules.loader import load_pack
from huiqi.rules.testing import collect_cases

PACK = Path(__file__).resolve().parents[2] / "src/huiqi/programmes/shanghai"
PID = "shanghai.ai.model-voucher"


def test_a_copy_with_other_parameters_does_not_reuse_the_originals_closures() -> None:
    programmes = load_pack()
    case = next(c for c in collect_cases([PACK]) if c.programme == PID and c.eligible and c.amount)
    firm = firm_from_data(case.firm)
    original = programmes[PID]
    before = evaluate(programmes, firm, case.on, [PID])[0]
    assert before.amount == case.amount
    explain(before, "en")  # fills the original's memo with closures and plans

    rate = original.params["rate"]
    halved = dataclasses.replace(rate, values=tuple(v / 2 for v in rate.values))
    copy = dataclasses.replace(original, params={**original.params, "rate": halved})
    assert copy.memo == {} and copy.memo is not original.memo

    after = evaluate({**programmes, PID: copy}, firm, case.on, [PID])[0]
    assert after.amount < before.amount
    shown = {r["name"]: r["value"] for r in explain(after, "en")["amount_detail"]["reads"]}
    assert Decimal(shown["rate"]) == halved.values[0]
