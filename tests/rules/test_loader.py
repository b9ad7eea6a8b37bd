"""Programme files: refused whole, with file:line:column and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from huiqi.rules.errors import ProgrammeError
from huiqi.rules.loader import bundled_pack_dir, load_programmes, programme_files

GOOD = (bundled_pack_dir("shanghai") / "hq-designation.programme.yaml").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, name: str = "x.programme.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(*paths: Path) -> list[str]:
    with pytest.raises(ProgrammeError) as info:
        load_programmes(paths)
    return [str(p) for p in info.value.problems]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_bundled_designation_loads() -> None:
    progs = load_programmes([bundled_pack_dir("shanghai") / "hq-designation.programme.yaml"])
    assert list(progs) == ["shanghai.hq.designation"]


def test_unknown_field_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("benefit: designation", "benefit: designation\nbenefits: grant")
    path = write(tmp_path, text)
    (err,) = errors_of(path)
    assert err.startswith(f"{path}:{line_of(text, 'benefits: grant')}:")
    assert "benefits: unknown field 'benefits'" in err


def test_expression_errors_point_into_the_file(tmp_path: Path) -> None:
    text = GOOD.replace("test: firm.registration_city == city", "test: firm.registration_cty == city")
    path = write(tmp_path, text)
    (err,) = errors_of(path)
    line = line_of(text, "registration_cty")
    col = text.splitlines()[line - 1].index("firm.registration_cty") + 1
    assert err.startswith(f"{path}:{line}:{col}: conditions[1].test: firm has no field 'registration_cty'")


def test_block_scalar_errors_point_at_the_right_line(tmp_path: Path) -> None:
    text = GOOD.replace("or firm.rd_staff >= rd_staff_count", "or firm.rd_staff >= rd_staff_counts")
    path = write(tmp_path, text)
    (err,) = errors_of(path)
    line = line_of(text, "rd_staff_counts")
    col = text.splitlines()[line - 1].index("rd_staff_counts") + 1
    assert err.startswith(f"{path}:{line}:{col}:"), err
    assert "unknown name 'rd_staff_counts'" in err


def test_mixed_parameter_types_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        "values: [{from: 2023-03-01, value: Shanghai}]",
        "values: [{from: 2023-03-01, value: Shanghai}, {from: 2024-01-01, value: 5}]",
    )
    (err,) = errors_of(write(tmp_path, text))
    assert "values mix types" in err


def test_floats_never_become_money(tmp_path: Path) -> None:
    text = GOOD.replace("value: 200_000_000}", "value: 200000000.005}")
    (err,) = errors_of(write(tmp_path, text))
    assert "more than two decimal places" in err


def test_unknown_programme_reference(tmp_path: Path) -> None:
    text = GOOD.replace("test: firm.sector in strategic_sectors", 'test: eligible("shanghai.nope")')
    (err,) = errors_of(write(tmp_path, text))
    assert "unknown programme 'shanghai.nope'" in err


def test_malformed_yaml_and_duplicate_keys(tmp_path: Path) -> None:
    (err,) = errors_of(write(tmp_path, "id: [unclosed\n"))
    assert "malformed YAML" in err
    (err,) = errors_of(write(tmp_path, GOOD.replace('version: "2023.1"', 'version: "2023.1"\nversion: "2"')))
    assert "'version' appears twice" in err


def test_one_bad_file_refuses_the_whole_set(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "a.programme.yaml")
    bad = write(
        tmp_path,
        GOOD.replace("shanghai.hq.designation", "shanghai.hq.other").replace(
            "firm.total_assets", "firm.total_asset"
        ),
        "b.programme.yaml",
    )
    errors = errors_of(good, bad)
    assert len(errors) == 1 and str(bad) in errors[0]


def test_programmes_referring_in_a_cycle_are_refused(tmp_path: Path) -> None:
    a = GOOD.replace("test: firm.sector in strategic_sectors", 'test: eligible("shanghai.hq.b")').replace(
        "shanghai.hq.designation", "shanghai.hq.a"
    )
    b = GOOD.replace("test: firm.sector in strategic_sectors", 'test: eligible("shanghai.hq.a")').replace(
        "shanghai.hq.designation", "shanghai.hq.b"
    )
    errors = errors_of(write(tmp_path, a, "a.programme.yaml"), write(tmp_path, b, "b.programme.yaml"))
    assert any("refer to each other" in e for e in errors)


def test_every_bundled_file_is_found() -> None:
    assert len(programme_files(bundled_pack_dir("shanghai"))) >= 7
