"""A match uses the versions in force on the date matched (issue 15): next year's model voucher (30%, not
50%) answers a match dated after its start, the current version one dated before."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
from tests.rules.test_versions import MODEL, model_text, next_year, pack_with

from dbfixtures import Db
from huiqi.firms.synth import synth_register
from huiqi.matching.run import run_match
from huiqi.rules.batch import evaluate_register
from huiqi.rules.loader import load_pack
from huiqi.rules.versions import for_date


def amounts(file: Path) -> dict[str, Decimal]:
    rows = pq.read_table(file).to_pylist()
    return {r["uscc"]: Decimal(str(r["amount"])) for r in rows if r["programme"] == MODEL and r["eligible"]}


def test_a_match_uses_the_version_in_force_on_its_date(sqlite_db: Db, tmp_path: Path) -> None:
    pack = load_pack(pack_with(tmp_path, **{"model-2026.programme.yaml": next_year(model_text())}))
    tables = synth_register(400, 7)
    before, after = dt.date(2026, 12, 31), dt.date(2027, 1, 2)
    with sqlite_db.session() as s:
        old = run_match(s, pack, tables, before, ids=[MODEL], notify=False)
        new = run_match(s, pack, tables, after, ids=[MODEL], notify=False)
        s.commit()
    got_old, got_new = amounts(old.results_file), amounts(new.results_file)
    assert got_old, "the register should have firms eligible for the model voucher"
    for day, got in ((before, got_old), (after, got_new)):
        expected = evaluate_register(for_date(pack, day), tables, day, ids=[MODEL]).to_pylist()
        assert got == {r["uscc"]: Decimal(str(r["amount"])) for r in expected if r["eligible"]}
    assert any(got_new[u] < got_old[u] for u in got_old.keys() & got_new.keys()), "30% pays less than 50%"
