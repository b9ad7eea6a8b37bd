"""The corpus of real-world register files (tests/corpus/registers/corpus.py): every case through the
Python import, a representative subset through ``huiqi register import`` as a subprocess. Each either
imports with the values it must have, or is refused with file, row, column, value and what was expected
named; never a traceback, never a silent loss."""

from __future__ import annotations

import os
import subprocess  # nosec B404  # the real command, as officers run it
import sys
from pathlib import Path

import pytest

from huiqi.firms.importing import ImportError_, ImportRefused, load_mapping, prepare, read_source

sys.path.insert(0, str(Path(__file__).parents[1] / "corpus" / "registers"))
from corpus import Case, cases, digest, mapping_of

CASES = {c.name: c for c in cases()}
HUIQI = Path(sys.executable).with_name("huiqi")


def outcome(case: Case, folder: Path) -> tuple[dict[str, dict[str, object]] | None, str]:
    """The imported records (uscc -> firm columns) or None, and the refusal's whole text."""
    source = case.write(folder)
    mapping = mapping_of(case)
    try:
        batch = read_source(source, load_mapping(folder / mapping if mapping else None))
        merged = prepare(batch, {})
    except (ImportError_, ImportRefused) as exc:
        return None, str(exc)
    from huiqi.firms.importing import tables_from_records

    tables = tables_from_records(list(merged.records.values()))
    return {r["uscc"]: r for r in tables["firms"].to_pylist()}, ""


@pytest.mark.parametrize("name", list(CASES))
def test_corpus_case(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    firms, refusal = outcome(case, tmp_path)
    if case.values is not None:
        assert firms is not None, refusal
        for code, expected in case.values.items():
            got = {k: firms[code][k] for k in expected}
            assert got == expected, (name, code)
    else:
        assert firms is None, f"{name}: imported, but should be refused ({case.what})"
        missing = [w for w in case.refused if w not in refusal]
        assert not missing, f"{name}: {missing} not in:\n{refusal}"
        assert "Traceback" not in refusal


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUIQI_DATABASE_URL": f"sqlite:///{cwd / 'unused.db'}"}
    return subprocess.run(  # nosec B603  # our own command, fixed arguments
        [str(HUIQI), "register", "import", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.cli])
def test_corpus_through_the_command(name: str, tmp_path: Path) -> None:
    """The real `huiqi register import` into a register directory: exit 0 with the firms, or exit 2 with
    the refusal on stderr, no traceback, and the register directory exactly as it was."""
    case = CASES[name]
    folder = tmp_path / "case"
    folder.mkdir()
    source = case.write(folder)
    reg = tmp_path / "reg"
    from huiqi.matching.store import import_into_directory

    import_into_directory(reg, read_source(_seed_source(tmp_path)))
    before = digest(reg)
    mapping = mapping_of(case)
    args = [str(source), "--register", str(reg)] + (["--mapping", str(folder / mapping)] if mapping else [])
    run = _cli(*args, cwd=tmp_path)
    output = run.stdout + run.stderr
    assert "Traceback" not in output, output
    if case.values is not None:
        assert run.returncode == 0, output
        assert f"{len(case.values)} added" in run.stdout or "added" in run.stdout
        from huiqi.firms.importing import records_from_tables
        from huiqi.firms.register import read_register

        records = records_from_tables(read_register(reg))
        assert set(case.values) <= set(records)
    else:
        assert run.returncode == 2, output
        missing = [w for w in case.refused if w not in output]
        assert not missing, f"{missing} not in:\n{output}"
        assert digest(reg) == before, "a refused import changed the register"


def _seed_source(tmp: Path) -> Path:
    """One other firm to import first, so that 'nothing changed' is tested on a real register."""
    from corpus import LAYOUT, csv_text

    seed = ["91310000132149237G", "种子公司", "biomedicine", "shanghai", "2001-01-01", "1", "1", "1"]
    p = tmp / "seed.csv"
    p.write_text(csv_text([LAYOUT, seed]), encoding="utf-8")
    return p
