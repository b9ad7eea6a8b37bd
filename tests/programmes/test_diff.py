"""The diff between versions (rules/diff.py, pure): every bundled programme against itself is empty; against
an edited copy it names the parameter (old -> new with dates and clause), the condition (text and clause)
and the test cases added, changed and removed; and it is symmetric (added one way, removed the other)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huiqi.rules.diff import diff_cases, diff_programmes
from huiqi.rules.loader import load_pack, load_programmes
from huiqi.rules.programme import Programme

from .lifecycle_helpers import MODEL, MODEL_FILE, next_year

BUNDLED = load_pack()


def edited(tmp_path: Path, text: str, name: str = "edited.programme.yaml") -> Programme:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    (p,) = load_programmes([path], known_ids=BUNDLED).every()
    return p


@pytest.mark.parametrize("programme", sorted(p.id + " " + p.version for p in BUNDLED.every()))
def test_a_version_against_itself_is_empty(programme: str) -> None:
    pid, version = programme.split()
    p = BUNDLED.version(pid, version)
    d = diff_programmes(p, p, lang="zh")
    assert d.empty and not d.tests


def test_parameter_condition_amount_and_head(tmp_path: Path) -> None:
    old = BUNDLED.version(MODEL, "2025.1")
    text = next_year(rate="30%").replace(
        "c.signed >= measures_date and not c.claimed",
        "c.signed >= measures_date and c.value >= 1000 and not c.claimed",
    )
    assert text.count("c.value >= 1000") == 1
    new = edited(tmp_path, text)
    d = diff_programmes(old, new)
    assert (d.old_version, d.new_version) == ("2025.1", "2026.1")
    (rate,) = [p for p in d.parameters if p.name == "rate"]
    assert rate.change == "changed"
    assert [(v.from_, v.value) for v in rate.old] == [(dt.date(2025, 7, 28), "50%")]
    assert [v.value for v in rate.new] == ["30%"] and rate.new_clause and "Model vouchers" in rate.new_clause
    (cond,) = [r for r in d.rules if r.kind == "condition"]
    assert cond.change == "changed" and "c.value >= 1000" in (cond.new_text or "")
    assert "c.value >= 1000" not in (cond.old_text or "") and cond.new_clause == cond.old_clause
    assert [f.field for f in d.fields] == ["effective"]
    assert d.fields[0].old.startswith("2025-07-28") and d.fields[0].new.startswith("2027-01-01")
    # symmetric
    back = diff_programmes(new, old)
    assert [(p.name, p.change) for p in back.parameters] == [(p.name, p.change) for p in d.parameters]
    assert [(v.value) for v in back.parameters[0].new] == [v.value for v in d.parameters[0].old]


def test_added_and_removed_rules(tmp_path: Path) -> None:
    old = BUNDLED.version(MODEL, "2025.1")
    text = next_year().replace(
        "exclusions:\n",
        "exclusions:\n  - id: big-firm\n    label: {en: a big firm, zh: 大企业}\n"
        '    clause: "Model vouchers"\n    when: firm.employees > 100000\n',
        1,
    )
    new = edited(tmp_path, text)
    d = diff_programmes(old, new)
    (added,) = [r for r in d.rules if r.id == "big-firm"]
    assert (added.kind, added.change, added.old_text, added.new_text) == (
        "exclusion",
        "added",
        None,
        "firm.employees > 100000",
    )
    (removed,) = [r for r in diff_programmes(new, old).rules if r.id == "big-firm"]
    assert removed.change == "removed" and removed.new_text is None


def test_test_cases_added_changed_removed() -> None:
    from huiqi.app.lifecycle import pack_cases, parse_tests

    from .lifecycle_helpers import cases_for

    old = pack_cases(MODEL)
    assert len(old) > 3
    changed = dataclasses.replace(
        old[0], amount=old[0].amount + 1 if old[0].amount is not None else None, eligible=not old[0].eligible
    )
    new = [changed, *old[2:], *parse_tests(MODEL, "m.programme.yaml", cases_for())]
    d = diff_cases(old, new)
    kinds = {(c.name, c.change) for c in d}
    assert (old[0].name, "changed") in kinds and (old[1].name, "removed") in kinds
    assert ("1,000,000 x 30%", "added") in kinds and len(d) == 3
    assert MODEL_FILE.exists()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rate=st.integers(min_value=1, max_value=99))
def test_one_changed_rate_is_one_changed_parameter(tmp_path: Path, rate: int) -> None:
    old = BUNDLED.version(MODEL, "2025.1")
    new = edited(tmp_path, next_year(rate=f"{rate}%"), name=f"r{rate}.programme.yaml")
    d = diff_programmes(old, new)
    changed = [(p.name, [v.value for v in p.old], [v.value for v in p.new]) for p in d.parameters]
    assert changed == ([] if rate == 50 else [("rate", ["50%"], [f"{rate}%"])])
    assert not d.rules and [f.field for f in d.fields] == ["effective"]
    assert [p.name for p in diff_programmes(new, old).parameters] == [p[0] for p in changed]
