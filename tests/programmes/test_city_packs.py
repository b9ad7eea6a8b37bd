"""The city packs: every case passes, the loader finds all five packs together without clashes, every
programme cites its document, and what the sources leave open is a named assumption with a note."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from huiqi.cli.main import app
from huiqi.rules.loader import bundled_pack_dir, bundled_packs, load_pack
from huiqi.rules.spec import note_in
from huiqi.rules.testing import collect_cases, run_case

CITY_PACKS = ["beijing", "shenzhen", "hangzhou", "chengdu"]
PACK = load_pack()
CASES = collect_cases([bundled_pack_dir(n) for n in CITY_PACKS])
EXPECTED = {
    "beijing.ai.compute-voucher",
    "shenzhen.ai.compute-voucher",
    "shenzhen.ai.model-voucher",
    "shenzhen.ai.corpus-voucher",
    "hangzhou.ai.compute-voucher",
    "chengdu.ai.compute-voucher",
    "chengdu.ai.model-voucher",
}


def test_load_pack_finds_every_bundled_pack() -> None:
    assert set(bundled_packs()) >= {"shanghai", *CITY_PACKS}
    assert set(PACK) >= EXPECTED
    for name in CITY_PACKS:
        alone = load_pack(name)
        assert all(pid.startswith(f"{name}.") for pid in alone), name  # ids carry their city
        assert set(alone) <= set(PACK)


def test_no_clashes_across_packs() -> None:
    pools = [p.spec.pool.id for p in PACK.values() if p.spec.pool]
    assert len(pools) == len(set(pools))
    for pid, p in PACK.items():
        city = pid.split(".")[0]
        assert all(dep.split(".")[0] == city for dep in p.depends_on), pid  # no reference across cities
        if p.spec.pool:
            assert p.spec.pool.id.split(".")[0] == city, pid


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.programme}: {c.name}")
def test_case(case: object) -> None:
    result = run_case(PACK, case)  # type: ignore[arg-type]
    assert result.passed, f"{result.case.location}: {result.failures}"


def test_every_city_programme_has_cases_on_both_sides() -> None:
    for pid in EXPECTED:
        mine = [c for c in CASES if c.programme == pid]
        assert len(mine) >= 6, pid
        assert any(c.eligible is True for c in mine) and any(c.eligible is False for c in mine), pid


def test_rates_and_caps_match_cities_md() -> None:
    def value(pid: str, name: str) -> str:
        return str(PACK[pid].params[name].values[-1])

    assert value("beijing.ai.compute-voucher", "rate") == "0.20"
    assert value("beijing.ai.compute-voucher", "max_per_year") == "2000000.00"
    assert value("shenzhen.ai.compute-voucher", "rate") == "0.50"
    assert value("shenzhen.ai.compute-voucher", "startup_rate") == "0.60"
    assert value("shenzhen.ai.compute-voucher", "max_voucher") == "10000000.00"
    assert value("shenzhen.ai.model-voucher", "rate") == "0.30"
    assert value("shenzhen.ai.corpus-voucher", "max_voucher") == "2000000.00"
    assert value("hangzhou.ai.compute-voucher", "base_rate") == "0.20"
    assert value("hangzhou.ai.compute-voucher", "premium_rate") == "0.30"
    assert value("hangzhou.ai.compute-voucher", "sme_rate") == "0.50"
    assert value("hangzhou.ai.compute-voucher", "max_per_year") == "8000000.00"
    assert value("chengdu.ai.compute-voucher", "rate") == "0.60"
    assert value("chengdu.ai.compute-voucher", "max_per_year") == "5000000.00"
    assert value("chengdu.ai.model-voucher", "max_voucher") == "1000000.00"
    sizes = {p.spec.pool.id: str(p.spec.pool.size) for p in PACK.values() if p.spec.pool}
    assert sizes["shenzhen.ai.training-compute"] == "500000000"
    assert sizes["shenzhen.ai.model"] == "100000000"
    assert sizes["shenzhen.ai.corpus"] == "50000000"
    assert sizes["hangzhou.ai.compute"] == "250000000"
    assert sizes["chengdu.ai.compute"] == "100000000"
    # pools the sources do not state are left out, never invented
    assert PACK["beijing.ai.compute-voucher"].spec.pool is None
    assert PACK["chengdu.ai.model-voucher"].spec.pool is None


def test_everything_cites_and_assumptions_are_explained() -> None:
    for pid in EXPECTED:
        spec = PACK[pid].spec
        for doc in spec.legal_basis:
            assert doc.number == "number not stated" and doc.note, pid  # unknown numbers are said so
        for name, param in spec.parameters.items():
            assert param.clause, (pid, name)
            if param.assumption:
                assert len(note_in(param.note, "en") or "") > 40 and note_in(param.note, "zh"), (pid, name)
        for c in [*spec.conditions, *spec.exclusions]:
            assert c.clause, (pid, c.id)
        assert spec.amount is not None and spec.amount.clause


def test_programmes_test_command_runs_the_city_cases() -> None:
    runner = CliRunner()
    for name in CITY_PACKS:
        result = runner.invoke(app, ["programmes", "test", str(bundled_pack_dir(name))])
        assert result.exit_code == 0, result.output
