"""The optimiser against brute force on small instances, its tie-break, and its reasons."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from huiqi.selection.optimiser import Candidate, Limits, select

SECTORS = ["a", "b", "c"]


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[Candidate], Limits]:
    n = draw(st.integers(1, 9))
    cands = []
    for i in range(n):
        cands.append(
            Candidate(
                key=f"k{i}",
                sector=draw(st.sampled_from(SECTORS)),
                district=draw(st.sampled_from(["x", "y", None])),
                # few distinct scores, so ties happen
                score=Decimal(draw(st.integers(1, 6))) * Decimal("1.5"),
                amount_fen=draw(st.sampled_from([0, 100, 300, 500])),
                tiebreak=(i,),
            )
        )
    limits = Limits(
        total=draw(st.integers(1, 6)),
        sector={s: draw(st.integers(0, 3)) for s in SECTORS},
        district=draw(st.sampled_from([{}, {"x": 1}, {"x": 2, "y": 1}])),
        budget_fen=draw(st.sampled_from([None, 0, 400, 800, 1500])),
    )
    return cands, limits


def _feasible(chosen: list[Candidate], lim: Limits) -> bool:
    if len(chosen) > lim.total:
        return False
    for s, q in lim.sector.items():
        if sum(c.sector == s for c in chosen) > q:
            return False
    for d, q in lim.district.items():
        if sum(c.district == d for c in chosen) > q:
            return False
    return lim.budget_fen is None or sum(c.amount_fen for c in chosen) <= lim.budget_fen


@given(instances())
def test_the_optimum_matches_brute_force_and_respects_every_limit(
    inst: tuple[list[Candidate], Limits],
) -> None:
    cands, lim = inst
    sel = select(cands, lim, reserve_per_sector=1)
    chosen = [c for c in cands if sel.outcomes[c.key].selected]
    assert _feasible(chosen, lim)
    best = max(
        sum((c.score for c in combo), Decimal(0))
        for r in range(len(cands) + 1)
        for combo in itertools.combinations(cands, r)
        if _feasible(list(combo), lim)
    )
    assert sel.total_score == best
    assert sel.spent_fen == sum(c.amount_fen for c in chosen)
    for c in cands:
        o = sel.outcomes[c.key]
        assert o.reason.en and o.reason.zh
        if not o.selected:
            assert o.reason.code != "selected"


@given(instances(), st.randoms(use_true_random=False))
def test_the_selection_does_not_depend_on_input_order(
    inst: tuple[list[Candidate], Limits], rnd: random.Random
) -> None:
    cands, lim = inst
    shuffled = cands[:]
    rnd.shuffle(shuffled)
    a = select(cands, lim)
    b = select(shuffled, lim)
    assert {k for k, o in a.outcomes.items() if o.selected} == {
        k for k, o in b.outcomes.items() if o.selected
    }


def test_equal_scores_go_to_the_better_tie_break() -> None:
    cands = [Candidate(f"k{i}", "a", None, Decimal("70"), 0, (-i,)) for i in range(5)]
    sel = select(cands, Limits(total=2, sector={"a": 2}))
    assert {k for k, o in sel.outcomes.items() if o.selected} == {"k4", "k3"}


def test_reasons_name_the_cutoff_the_district_and_the_budget() -> None:
    cands = [
        Candidate("top", "a", "x", Decimal("90"), 500, (1,)),
        Candidate("second", "a", "x", Decimal("85"), 100, (2,)),  # district x full
        Candidate("dear", "b", None, Decimal("88"), 900, (3,)),  # does not fit the budget
        Candidate("cheap", "b", None, Decimal("60"), 100, (4,)),
        Candidate("low", "a", None, Decimal("50"), 100, (5,)),
        Candidate("low2", "a", None, Decimal("40"), 100, (6,)),
    ]
    lim = Limits(total=4, sector={"a": 2, "b": 1}, district={"x": 1}, budget_fen=800)
    sel = select(cands, lim, reserve_per_sector=1)
    codes = {k: o.reason.code for k, o in sel.outcomes.items()}
    assert codes["top"] == codes["cheap"] == codes["low"] == "selected"
    assert codes["second"] == "district_quota"
    assert codes["dear"] == "budget" and "did not fit" in sel.outcomes["dear"].reason.en
    assert codes["low2"] == "sector_cutoff" and sel.outcomes["low2"].reason.data["cutoff"] == "50"
    assert sel.outcomes["second"].reserve_seq == 1 and sel.outcomes["low2"].reserve_seq is None


def test_sectors_without_a_quota_and_low_scores_are_explained() -> None:
    cands = [Candidate("x", "other", None, Decimal("80"), 0), Candidate("y", "a", None, Decimal("10"), 0)]
    sel = select(cands, Limits(total=2, sector={"a": 1}, min_score=Decimal("20")))
    assert sel.outcomes["x"].reason.code == "no_quota"
    assert sel.outcomes["y"].reason.code == "below_min_score"
