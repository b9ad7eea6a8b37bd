"""The example profiles shipped with the package load, are distinct, and say what the README says."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import huiqi.firms
from huiqi.firms import Firm, load_firm
from huiqi.firms.table import firms_to_tables

EXAMPLES = Path(huiqi.firms.__file__).parent / "examples"
FILES = sorted(EXAMPLES.glob("*.json"))


def _load(name: str) -> Firm:
    return load_firm(EXAMPLES / f"{name}.json")


def test_there_are_six_to_eight() -> None:
    assert 6 <= len(FILES) <= 8
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for path in FILES:
        assert f"`{path.name}`" in readme


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_loads(path: Path) -> None:
    firm = load_firm(path)
    assert firm.name_en


def test_codes_unique_and_tables_build() -> None:
    firms = [load_firm(p) for p in FILES]
    assert len({f.uscc for f in firms}) == len(firms)
    tables = firms_to_tables(firms)
    assert tables["firms"].num_rows == len(firms)


def test_newcomer_meets_startup_conditions() -> None:
    firm = _load("ai-hq-newcomer")
    assert firm.hq_move_in_date is not None and firm.hq_move_in_date.year == 2023
    assert firm.paid_in_capital > Decimal(100_000_000)
    assert {c.kind for c in firm.contracts} == {"compute_rental", "model_use", "corpus_purchase"}


def test_near_miss_misses() -> None:
    firm = _load("near-miss-digital")
    assert firm.paid_in_capital == Decimal(80_000_000)
    assert firm.ip.invention_patents + firm.ip.ic_layout_designs + firm.ip.software_copyrights == 14


def test_hangzhou_firm_registered_elsewhere() -> None:
    assert _load("hangzhou-ai").registration_city == "Hangzhou"
