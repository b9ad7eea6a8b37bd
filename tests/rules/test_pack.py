"""The bundled packs: every test case passes, every expected programme exists, assumptions are marked."""

from __future__ import annotations

import pytest

from huiqi.rules.loader import bundled_pack_dir, bundled_packs, load_pack
from huiqi.rules.testing import collect_cases, run_case

PACK = load_pack()
CASES = collect_cases([bundled_pack_dir(n) for n in bundled_packs()])

SHANGHAI = {
    "shanghai.hq.designation",
    "shanghai.hq.startup-grant",
    "shanghai.hq.rent-subsidy",
    "shanghai.hq.operating-award",
    "shanghai.ai.compute-voucher",
    "shanghai.ai.model-voucher",
    "shanghai.ai.corpus-voucher",
}


def test_the_shanghai_programmes_are_all_there() -> None:
    assert set(PACK) >= SHANGHAI


def test_every_programme_has_cases_on_both_sides() -> None:
    for pid in SHANGHAI:
        mine = [c for c in CASES if c.programme == pid]
        assert len(mine) >= 10, pid
        assert any(c.eligible is True for c in mine) and any(c.eligible is False for c in mine), pid


def test_pools_match_the_documents() -> None:
    sizes = {p.spec.pool.id: str(p.spec.pool.size) for p in PACK.values() if p.spec.pool}
    assert sizes["shanghai.ai.compute"] == "600000000"
    assert sizes["shanghai.ai.model"] == "300000000"
    assert sizes["shanghai.ai.corpus"] == "100000000"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.programme}:{c.name}" for c in CASES])
def test_case(case: object) -> None:
    result = run_case(PACK, case)  # type: ignore[arg-type]
    assert result.passed, "\n".join(result.failures)
