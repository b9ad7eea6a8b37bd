"""Fuzzing the expression language and the programme loader (issue 8): no crash, no hang, no error but the
documented ones; well-typed random expressions agree between the scalar evaluator and the compiler."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fuzz.grammar import bool_expr, build_generated, num_expr, programme_data
from tests.rules.strategies import firms, uscc

from huiqi.firms import firm_from_data
from huiqi.firms.table import firms_to_tables
from huiqi.rules.batch import duckdb_tables, execute, run_wide
from huiqi.rules.checker import Scope, check
from huiqi.rules.compiler import candidates
from huiqi.rules.errors import ExprError, ProgrammeError
from huiqi.rules.evaluator import Engine
from huiqi.rules.loader import bundled_pack_dir, load_pack, load_programmes
from huiqi.rules.parser import parse
from huiqi.rules.types import NUM

HERE = Path(__file__).parent
SCOPE = Scope(params={"cap": NUM, "rate": NUM})
ALPHABET = st.sampled_from(
    [
        *list('abcfirmsx._ 0123456789()[],+-*<>=!"%/$#\n'),
        "firm.",
        "and ",
        "or ",
        "not ",
        "if ",
        " then ",
        " else ",
        "for ",
        " in ",
        "sum(",
        "true",
        "2024-01-01",
        "as_of",
        "years(",
        "contracts",
        "c.value",
        "eligible(",
        '"x"',
    ]
)


def documented(text: str) -> None:
    """Parse and check: a tree or an ExprError, nothing else, quickly."""
    started = time.perf_counter()
    try:
        check(parse(text), SCOPE)
    except ExprError as exc:
        assert exc.line >= 1 and exc.column >= 1 and exc.message
    assert time.perf_counter() - started < 2.0, f"took too long: {text!r}"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=40).map("".join))
def test_random_text_gives_a_tree_or_a_positioned_error(text: str) -> None:
    documented(text)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_arbitrary_unicode_is_refused_cleanly(text: str) -> None:
    documented(text)


def test_regression_inputs() -> None:
    for line in (HERE / "regressions.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            documented(line)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    cond=bool_expr(3),
    amount=num_expr(3),
    profiles=st.lists(firms(load_pack("shanghai")), min_size=1, max_size=6),
    on=st.dates(dt.date(2021, 1, 1), dt.date(2027, 12, 31)),
)
def test_generated_programmes_agree_between_evaluators(
    cond: str, amount: str, profiles: list[dict[str, Any]], on: dt.date
) -> None:
    programme = build_generated(programme_data(cond, amount))
    pack = {programme.id: programme}
    built = [firm_from_data({**p, "uscc": uscc(i)}) for i, p in enumerate(profiles)]
    try:
        scalar = {f.uscc: Engine(pack, f, on).evaluate(programme.id) for f in built}
    except ArithmeticError:
        return  # a generated product beyond 10^30 yuan: decimal overflow is the documented refusal
    wide, compiled = run_wide(pack, duckdb_tables(firms_to_tables(built)), on)
    e, a, u = compiled.columns[programme.id]
    for row in wide.to_pylist():
        r = scalar[row["uscc"]]
        assert (row[e], row[a]) == (r.eligible, r.amount), (cond, amount, row["uscc"])
        assert (row[u].split(",") if row[u] else []) == r.unmet


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    conds=st.lists(bool_expr(2), min_size=1, max_size=3),
    excl=st.none() | bool_expr(2),
    profiles=st.lists(firms(load_pack("shanghai")), min_size=1, max_size=8),
    on=st.dates(dt.date(2021, 1, 1), dt.date(2027, 12, 31)),
)
def test_necessary_tests_keep_every_eligible_firm_of_generated_programmes(
    conds: list[str], excl: str | None, profiles: list[dict[str, Any]], on: dt.date
) -> None:
    """The reform sandbox drops the firms that fail a programme's necessary tests (rules.necessary): a firm
    the scalar evaluator finds eligible must never be dropped, whatever the conditions say."""
    programme = build_generated(programme_data(conds[0], "1", tuple(conds[1:]), excl))
    pack = {programme.id: programme}
    built = [firm_from_data({**p, "uscc": uscc(i)}) for i, p in enumerate(profiles)]
    try:
        eligible = {f.uscc for f in built if Engine(pack, f, on).evaluate(programme.id).eligible}
    except ArithmeticError:
        return  # a generated product beyond 10^30 yuan: decimal overflow is the documented refusal
    kept = candidates(pack, duckdb_tables(firms_to_tables(built)), on, [programme.id])
    if kept is not None:
        assert eligible <= set(execute(kept.select("uscc"))["uscc"].to_pylist()), (conds, excl)


GOOD = (bundled_pack_dir("shanghai") / "hq-startup-grant.programme.yaml").read_text(encoding="utf-8")
LINES = GOOD.splitlines()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["drop", "dup", "swap", "insert", "indent"]),
            st.integers(0, len(LINES) - 1),
            st.text(alphabet=":-[]{}#'\" abc01\t&*!|>%@`", max_size=6),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_programme_files_load_or_are_refused_with_positions(
    tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[str, int, str]]
) -> None:
    lines = list(LINES)
    for op, i, junk in edits:
        i = min(i, len(lines) - 1)
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap" and i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        elif op == "insert":
            lines[i] = lines[i] + junk
        elif op == "indent":
            lines[i] = " " + lines[i]
    path = tmp_path_factory.mktemp("mut") / "m.programme.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    others = [
        p
        for p in (bundled_pack_dir("shanghai")).glob("*.programme.yaml")
        if p.name != "hq-startup-grant.programme.yaml"
    ]
    try:
        load_programmes([path, *others])
    except ProgrammeError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.location.path and problem.message


@pytest.mark.skipif(sys.platform != "linux", reason="atheris wheels are for Linux")
def test_atheris_finds_nothing_in_a_short_run() -> None:
    try:
        import atheris  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("atheris is not installed")
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzz_expressions.py"), "-max_total_time=8", "-max_len=120"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
