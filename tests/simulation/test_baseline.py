"""A stored baseline (``huiqi match --out`` results) gives exactly the report of the computed baseline, for
a register directory and for the register in the database, and a baseline of another date, version,
register or rules is refused with the reason. The runs a match keeps are no source (no digests to check
them by): ``--stored-baseline`` is refused and says what to do instead."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from huiqi.cli.main import app
from huiqi.firms.exporting import write_table
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register
from huiqi.rules.batch import evaluate_register
from huiqi.rules.loader import load_pack
from huiqi.simulation.baseline import BaselineRefused, from_parquet, spot_check
from huiqi.simulation.reform import AppliedReform, apply_reform, parse_sets
from huiqi.simulation.run import Simulation, simulate

PACK = load_pack()
ON = dt.date(2025, 10, 1)
REFORMS = {
    "one programme": [
        "shanghai.ai.model-voucher.rate=60%",
        "shanghai.ai.model-voucher.max_voucher=8_000_000",
    ],
    "with dependants": ["shanghai.hq.designation.rd_staff_count=20"],
    "three cities": [
        "shanghai.ai.compute-voucher.rental_rate=40%",
        "shenzhen.ai.compute-voucher.rate=60%",
        "chengdu.ai.compute-voucher.max_per_year=8_000_000",
    ],
    "a cut": ["shanghai.ai.model-voucher.rate=10%"],
    # firms eligible only before: the report finds their sector, district and size without a register position
    "fewer eligible": [
        "shanghai.hq.designation.rd_staff_count=1000",
        "shanghai.ai.model-voucher.max_voucher=0",
    ],
}


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return synth_register(12_000, 23)


@pytest.fixture(scope="module")
def results(tables: dict[str, pa.Table], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``huiqi match --out results.parquet`` writes: every firm x programme of the pack."""
    out = tmp_path_factory.mktemp("match") / "results.parquet"
    write_table(evaluate_register(PACK, tables, ON), out)
    return out


def report(sim: Simulation) -> dict[str, object]:
    out = sim.to_json()
    out.pop("seconds")
    out.pop("baseline")
    return out


def reform(name: str) -> AppliedReform:
    return apply_reform(PACK, parse_sets(REFORMS[name]))


@pytest.mark.parametrize("name", sorted(REFORMS))
def test_stored_baseline_gives_the_computed_report(
    name: str, tables: dict[str, pa.Table], results: Path
) -> None:
    applied = reform(name)
    stored = from_parquet(results, PACK, tables, ON, sorted(applied.affected))
    spot_check(stored, PACK, tables, ON)
    computed = simulate(applied, tables, ON)
    from_file = simulate(applied, tables, ON, baseline=stored)
    assert from_file.baseline.startswith("stored: results file")
    assert computed.baseline == "computed"
    assert report(from_file) == report(computed)
    assert computed.change != 0 or name == "with dependants"
    if name == "fewer eligible":
        assert sum(p.no_longer_eligible for p in computed.programmes) > 0


def test_a_baseline_of_another_date_is_refused(tables: dict[str, pa.Table], results: Path) -> None:
    with pytest.raises(BaselineRefused, match="not 2025-11-01"):
        from_parquet(results, PACK, tables, dt.date(2025, 11, 1), ["shanghai.ai.model-voucher"])


def test_a_baseline_of_another_version_is_refused(
    tables: dict[str, pa.Table], results: Path, tmp_path: Path
) -> None:
    t = pq.read_table(results)
    pid = "shanghai.ai.model-voucher"
    version = pc.if_else(pc.equal(t["programme"], pid), pa.scalar("0.0-old"), t["version"])
    bad = tmp_path / "old.parquet"
    pq.write_table(t.set_column(t.schema.get_field_index("version"), "version", version), bad)
    with pytest.raises(BaselineRefused, match=r"version 0\.0-old"):
        from_parquet(bad, PACK, tables, ON, [pid])


def test_a_baseline_of_another_register_is_refused(results: Path) -> None:
    other = synth_register(5_000, 24)
    with pytest.raises(BaselineRefused, match="another register"):
        from_parquet(results, PACK, other, ON, ["shanghai.ai.model-voucher"])


def test_a_baseline_without_the_programme_is_refused(
    tables: dict[str, pa.Table], results: Path, tmp_path: Path
) -> None:
    t = pq.read_table(results)
    part = tmp_path / "part.parquet"
    pq.write_table(t.filter(pc.not_equal(t["programme"], "shanghai.ai.model-voucher")), part)
    with pytest.raises(BaselineRefused, match=r"no results for programme shanghai\.ai\.model-voucher"):
        from_parquet(part, PACK, tables, ON, ["shanghai.ai.model-voucher"])


def test_stale_amounts_are_caught_by_the_spot_check(
    tables: dict[str, pa.Table], results: Path, tmp_path: Path
) -> None:
    """Rules changed without a version bump: the stored amounts differ from what the rules give now."""
    t = pq.read_table(results)
    pid = "shanghai.ai.model-voucher"
    mask = pc.and_(pc.equal(t["programme"], pid), t["eligible"])
    assert pc.sum(mask.cast(pa.int64())).as_py() > 0
    amount = pc.if_else(mask, pc.add(t["amount"], pa.scalar(1, pa.decimal128(18, 2))), t["amount"])
    stale = tmp_path / "stale.parquet"
    pq.write_table(
        t.set_column(t.schema.get_field_index("amount"), "amount", amount.cast(t["amount"].type)), stale
    )
    stored = from_parquet(stale, PACK, tables, ON, [pid])
    with pytest.raises(BaselineRefused, match="stale"):
        spot_check(stored, PACK, tables, ON)


RUNNER = CliRunner()


def test_cli_reads_the_baseline_file_or_says_why_not(
    tables: dict[str, pa.Table], results: Path, tmp_path: Path
) -> None:
    register = write_register(tables, tmp_path / "register")
    args = ["simulate", "--register", str(register), "--on", "2025-10-01", "--format", "json"]
    args += ["--set", "shanghai.ai.model-voucher.rate=60%"]
    plain = RUNNER.invoke(app, args)
    assert plain.exit_code == 0, plain.output
    used = RUNNER.invoke(app, [*args, "--baseline", str(results)])
    assert used.exit_code == 0, used.output
    assert "baseline read from results file" in used.stderr
    refused = RUNNER.invoke(app, [*args[:3], "--on", "2025-11-01", *args[5:], "--baseline", str(results)])
    assert refused.exit_code == 0, refused.output
    assert "stored baseline not used" in refused.stderr and "not 2025-11-01" in refused.stderr

    def body(text: str) -> dict[str, object]:
        out: dict[str, object] = json.loads(text)
        out.pop("seconds")
        out.pop("baseline")
        return out

    a, b = json.loads(plain.stdout), json.loads(used.stdout)
    assert a["baseline"] == "computed" and str(b["baseline"]).startswith("stored")
    assert body(plain.stdout) == body(used.stdout)


def test_the_register_in_the_database_takes_a_match_file_as_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """``huiqi match --register db --out FILE`` then ``huiqi simulate --register db --baseline FILE``: the
    baseline is read from the file and the report is the computed one; the stored runs are refused as a
    source, in one line that names the way that works."""
    from huiqi.config import get_settings
    from huiqi.db.migrate import upgrade
    from huiqi.firms.exporting import write_tables

    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    monkeypatch.setenv("HUIQI_DATABASE_URL", url)
    monkeypatch.setenv("HUIQI_MATCH_RESULTS_DIR", str(tmp_path / "runs"))
    # the settings another test of this worker read are cached: without this the command opened that
    # test's database (with its imports) beside this test's results folder
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    folder = write_tables(synth_register(400, 5), tmp_path / "src")
    imported = RUNNER.invoke(app, ["register", "import", str(folder)])
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "results.parquet"
    day = ["--on", "2025-10-01"]
    matched = RUNNER.invoke(app, ["match", "--register", "db", *day, "--out", str(out), "--no-notify"])
    assert matched.exit_code == 0, matched.output
    args = ["simulate", "--register", "db", *day, "--format", "json"]
    args += ["--set", "shanghai.ai.model-voucher.rate=60%"]
    plain = RUNNER.invoke(app, args)
    assert plain.exit_code == 0, plain.output
    assert "baseline" not in plain.stderr
    used = RUNNER.invoke(app, [*args, "--baseline", str(out)])
    assert used.exit_code == 0, used.output
    assert "baseline read from results file" in used.stderr, used.stderr
    a, b = json.loads(plain.stdout), json.loads(used.stdout)
    assert a["baseline"] == "computed" and str(b["baseline"]).startswith("stored")
    for r in (a, b):
        r.pop("seconds")
        r.pop("baseline")
    assert a == b
    other_day = RUNNER.invoke(app, [*args[:3], "--on", "2025-11-01", *args[5:], "--baseline", str(out)])
    assert other_day.exit_code == 0 and "not 2025-11-01" in other_day.stderr, other_day.output
    refused = RUNNER.invoke(app, [*args, "--stored-baseline"])
    assert refused.exit_code == 2
    assert "--stored-baseline is no longer offered" in refused.stderr
    assert "--baseline FILE.parquet" in refused.stderr and "Traceback" not in refused.output
