"""The optimiser's reasons go into an application's history as codes with their figures, whose English is
exactly the optimiser's words (what the audit chain hashes), for every outcome of any instance."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from huiqi.applications.reasons import TEXT, Reason
from huiqi.selection.optimiser import Candidate, Limits, select
from huiqi.selection.service import ended_reason, history_reason

SECTORS = ["a", "b", "c"]


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[Candidate], Limits]:
    """Small calls that reach every reason: sectors without a quota, scores under the minimum, full sector,
    total and district quotas, a budget that runs out, and a better combination."""
    n = draw(st.integers(1, 9))
    cands = [
        Candidate(
            key=f"k{i}",
            sector=draw(st.sampled_from([*SECTORS, "none"])),
            district=draw(st.sampled_from(["x", "y", None])),
            score=Decimal(draw(st.integers(0, 6))) * Decimal("1.5"),
            amount_fen=draw(st.sampled_from([0, 100, 300, 500])),
            tiebreak=(i,),
        )
        for i in range(n)
    ]
    limits = Limits(
        total=draw(st.integers(1, 6)),
        sector={s: draw(st.integers(0, 3)) for s in SECTORS},
        district=draw(st.sampled_from([{}, {"x": 1}, {"x": 2, "y": 1}])),
        budget_fen=draw(st.sampled_from([None, 0, 400, 800, 1500])),
        min_score=Decimal(draw(st.sampled_from([0, 3, 6]))),
    )
    return cands, limits


@given(instances())
def test_every_outcome_is_a_code_whose_english_is_the_optimisers(
    instance: tuple[list[Candidate], Limits],
) -> None:
    cands, limits = instance
    sectors = {c.key: c.sector for c in cands}
    for key, outcome in select(cands, limits).outcomes.items():
        reason = history_reason(outcome, sectors[key])
        assert reason.code == outcome.reason.code != TEXT, (reason, outcome.reason)
        assert reason.text == outcome.reason.en
        assert Reason.from_json(reason.to_json()).text == outcome.reason.en


def test_the_codes_of_the_examples_cover_every_reason_the_optimiser_gives() -> None:
    """The strategy above is not idle: a fixed instance yields every code but 'budget' and 'combination',
    which the optimiser's own tests construct."""
    cands = [
        Candidate("top", "a", None, Decimal(9), 100, (1,)),
        Candidate("cut", "a", None, Decimal(8), 100, (2,)),
        Candidate("d1", "b", "x", Decimal(7), 100, (3,)),
        Candidate("d2", "b", "x", Decimal(6), 100, (4,)),
        Candidate("low", "b", None, Decimal(1), 100, (5,)),
        Candidate("free", "none", None, Decimal(9), 100, (6,)),
    ]
    limits = Limits(total=3, sector={"a": 1, "b": 2}, district={"x": 1}, min_score=Decimal(2))
    codes = {
        history_reason(o, next(c.sector for c in cands if c.key == k)).code
        for k, o in select(cands, limits).outcomes.items()
    }
    assert codes == {"selected", "sector_cutoff", "district_quota", "below_min_score", "no_quota"}


def test_an_ended_designation_keeps_the_officers_words() -> None:
    assert ended_reason("withdrew", "moved to Suzhou").text == "withdrew: moved to Suzhou"
    assert ended_reason("lost a condition", "left Shanghai").code == "lost_condition"
    other = ended_reason("revoked by court", "case 12")
    assert (other.code, other.text) == (TEXT, "revoked by court: case 12")
