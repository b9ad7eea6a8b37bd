"""Versions by date (issue 15): several versions of a programme load together, the one in force on a date is
chosen by its effective period, ``eligible()`` refers to the other programme's version on the same date, a
call pinned to a version checks with it across the boundary, and overlapping periods are refused with the
position of the later file's ``effective``."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huiqi.applications.models import Application, Call
from huiqi.rules.errors import ProgrammeError, UnknownProgramme
from huiqi.rules.evaluator import evaluate
from huiqi.rules.loader import bundled_pack_dir, load_pack
from huiqi.rules.versions import Versions
from huiqi.workflows.checking import SHANGHAI, engine_verdict
from huiqi.workflows.errors import ProgrammeNotLoaded

MODEL = "shanghai.ai.model-voucher"
DESIGNATION = "shanghai.hq.designation"
BOUNDARY = dt.date(2027, 1, 1)
EXAMPLE = Path(__file__).resolve().parents[2] / "src/huiqi/firms/examples/small-ai-firm.json"


def next_year(text: str, *, version: str = "2026.1", effective: str = "{from: 2027-01-01}") -> str:
    """The bundled model voucher as next year's version: from 2027 the rate is 30%, not 50%."""
    assert 'version: "2025.1"' in text and "effective: {from: 2025-07-28}" in text and "value: 50%}" in text
    return (
        text.replace('version: "2025.1"', f'version: "{version}"', 1)
        .replace("effective: {from: 2025-07-28}", f"effective: {effective}", 1)
        .replace("value: 50%}", "value: 30%}", 1)
    )


def pack_with(tmp_path: Path, **extra: str) -> Path:
    """A copy of the Shanghai pack's programme files plus extra files (name -> text)."""
    folder = tmp_path / "pack"
    folder.mkdir()
    for f in bundled_pack_dir("shanghai").glob("*.programme.yaml"):
        shutil.copy(f, folder / f.name)
    for name, text in extra.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def model_text() -> str:
    return (bundled_pack_dir("shanghai") / "ai-model-voucher.programme.yaml").read_text(encoding="utf-8")


def small_firm() -> dict[str, object]:
    data: dict[str, object] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


@pytest.fixture()
def two_versions(tmp_path: Path) -> Versions:
    folder = pack_with(tmp_path, **{"zz-model-2026.programme.yaml": next_year(model_text())})
    return load_pack(folder)


def test_two_versions_with_adjacent_periods_coexist_and_each_date_has_one(two_versions: Versions) -> None:
    assert [p.version for p in two_versions.versions(MODEL)] == ["2025.1", "2026.1"]
    old, new = two_versions.versions(MODEL)
    assert two_versions.period(old) == (dt.date(2025, 7, 28), BOUNDARY - dt.timedelta(days=1))
    assert two_versions.period(new) == (BOUNDARY, None)
    assert two_versions.on(BOUNDARY - dt.timedelta(days=1))[MODEL].version == "2025.1"
    assert two_versions.on(BOUNDARY)[MODEL].version == "2026.1"
    assert two_versions.version(MODEL, "2026.1") is new
    with pytest.raises(UnknownProgramme):
        two_versions.version(MODEL, "2099.1")
    # one entry per programme id as a mapping, every version through every()
    assert len(two_versions) == len(set(two_versions)) == len({p.id for p in two_versions.every()})
    assert len(list(two_versions.every())) == len(two_versions) + 1


@given(st.dates(min_value=dt.date(2025, 7, 28), max_value=dt.date(2030, 12, 31)))
def test_the_version_chosen_on_a_date_is_the_one_whose_period_holds_it(day: dt.date) -> None:
    versions = _LOADED
    chosen = versions.on(day)[MODEL]
    start, end = versions.period(chosen)
    assert start <= day and (end is None or day <= end)
    others = [p for p in versions.versions(MODEL) if p is not chosen]
    for other in others:
        o_start, o_end = versions.period(other)
        assert not (o_start <= day and (o_end is None or day <= o_end))


def test_evaluation_uses_the_version_in_force_on_its_date(two_versions: Versions) -> None:
    from huiqi.firms import firm_from_data

    firm = firm_from_data(small_firm())
    before, after = BOUNDARY - dt.timedelta(days=1), BOUNDARY
    (old,) = evaluate(two_versions, firm, before, [MODEL])
    (new,) = evaluate(two_versions, firm, after, [MODEL])
    assert (old.programme.version, new.programme.version) == ("2025.1", "2026.1")
    assert old.eligible and new.eligible
    # the same contracts: 30% instead of 50% of their value (unless the cap binds, which it does not here)
    assert new.amount * 5 == old.amount * 3


def test_eligible_refers_to_the_other_programmes_version_on_the_same_date(tmp_path: Path) -> None:
    path = bundled_pack_dir("shanghai") / "hq-designation.programme.yaml"
    text = path.read_text(encoding="utf-8")
    old_eff = "effective: {from: 2023-03-01, to: 2028-02-29}"
    assert old_eff in text and "\nconditions:\n" in text
    ended = text.replace(old_eff, "effective: {from: 2023-03-01, to: 2026-12-31}", 1)
    closed = (
        text.replace('version: "2023.1"', 'version: "2027.1"', 1)
        .replace(old_eff, "effective: {from: 2027-01-01, to: 2028-02-29}", 1)
        .replace(
            "\nconditions:\n",
            "\nconditions:\n  - id: closed\n    label: {en: closed, zh: 停止}\n"
            '    clause: "Designation"\n    test: "false"\n',
            1,
        )
    )
    folder = pack_with(tmp_path, **{"zz-designation-2027.programme.yaml": closed})
    (folder / "hq-designation.programme.yaml").write_text(ended, encoding="utf-8")
    versions = load_pack(folder)
    from huiqi.firms import firm_from_data

    firm = firm_from_data(small_firm())
    for day, version in ((BOUNDARY - dt.timedelta(days=1), "2023.1"), (BOUNDARY, "2027.1")):
        (grant,) = evaluate(versions, firm, day, ["shanghai.hq.startup-grant"])
        assert grant.programme_refs[DESIGNATION].programme.version == version
    (closed_result,) = evaluate(versions, firm, BOUNDARY, [DESIGNATION])
    assert "closed" in closed_result.unmet


def test_a_call_pinned_across_the_boundary_checks_with_its_own_version(two_versions: Versions) -> None:
    def application(on: dt.date) -> Application:
        when = dt.datetime.combine(on, dt.time(10), tzinfo=SHANGHAI)
        return Application(id="a1", call_id="c", firm_uscc="x", firm_snapshot=small_firm(), created_at=when)

    old_call = Call(id="c-old", programme_id=MODEL, programme_version="2025.1")
    new_call = Call(id="c-new", programme_id=MODEL, programme_version="2026.1")
    after = application(BOUNDARY + dt.timedelta(days=40))
    pinned_old = engine_verdict(two_versions, after, old_call)
    in_force = engine_verdict(two_versions, after, new_call)
    assert (pinned_old.programme_version, in_force.programme_version) == ("2025.1", "2026.1")
    assert pinned_old.amount * 3 == in_force.amount * 5 and in_force.amount > 0
    # before the boundary, a call already pinned to next year's version still uses it (not yet in force)
    early = engine_verdict(two_versions, application(BOUNDARY - dt.timedelta(days=40)), new_call)
    assert early.programme_version == "2026.1" and not early.eligible
    missing = Call(id="c-x", programme_id=MODEL, programme_version="2099.1")
    with pytest.raises(ProgrammeNotLoaded, match=re.escape("version 2099.1, which is not loaded here")):
        engine_verdict(two_versions, after, missing)


@pytest.mark.parametrize("effective", ["{from: 2026-06-01}", "{from: 2027-01-01}"])
def test_an_open_end_yields_to_a_later_start(tmp_path: Path, effective: str) -> None:
    folder = pack_with(tmp_path, **{"zz.programme.yaml": next_year(model_text(), effective=effective)})
    versions = load_pack(folder)
    old, new = versions.versions(MODEL)
    assert versions.period(old)[1] == new.spec.effective.start - dt.timedelta(days=1)


def test_a_version_starting_on_the_same_day_overlaps(tmp_path: Path) -> None:
    same = next_year(model_text(), effective="{from: 2025-07-28}")
    folder = pack_with(tmp_path, **{"zz.programme.yaml": same})
    with pytest.raises(ProgrammeError, match=re.escape("overlaps version 2025.1")):
        load_pack(folder)


def test_overlapping_periods_are_refused_at_the_later_files_effective(tmp_path: Path) -> None:
    first = next_year(model_text(), effective="{from: 2027-01-01, to: 2027-12-31}")
    second = next_year(model_text(), version="2027.1", effective="{from: 2027-06-01}")
    folder = pack_with(tmp_path, **{"zz-a.programme.yaml": first, "zz-b.programme.yaml": second})
    with pytest.raises(ProgrammeError) as refused:
        load_pack(folder)
    (problem,) = refused.value.problems
    line, column = next(
        (i, ln.index("{") + 1) for i, ln in enumerate(second.splitlines(), 1) if ln.startswith("effective:")
    )
    assert problem.location.path == str(folder / "zz-b.programme.yaml")
    assert (problem.location.line, problem.location.column) == (line, column)
    assert "2027.1" in problem.message and "overlaps version 2026.1" in problem.message
    assert f"zz-b.programme.yaml:{line}:{column}" in str(refused.value)


def test_the_same_version_twice_is_refused_at_its_version(tmp_path: Path) -> None:
    twice = next_year(model_text(), version="2025.1")
    folder = pack_with(tmp_path, **{"zz.programme.yaml": twice})
    with pytest.raises(ProgrammeError) as refused:
        load_pack(folder)
    (problem,) = refused.value.problems
    assert "version 2025.1 of programme 'shanghai.ai.model-voucher' is also in" in problem.message
    assert problem.location.line == next(
        i for i, ln in enumerate(twice.splitlines(), 1) if ln.startswith("version:")
    )


def _load_once() -> Versions:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return load_pack(pack_with(Path(tmp), **{"zz.programme.yaml": next_year(model_text())}))


_LOADED = _load_once()
