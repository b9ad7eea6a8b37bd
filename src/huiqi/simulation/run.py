"""Baseline against reform over a register, in one query, for the programmes the reform affects only.

The reformed copies of the affected programmes are renamed (``reform~<id>`` is not a valid id, so the
copies get ``<prefix>.<id>``) and their ``eligible()``/``amount()`` references to other affected programmes
are pointed at the copies; programmes they refer to that the reform does not affect are computed once and
read by both sides. Baseline, reform and the untouched programmes that share a pool with them become one
compiled table (``compile_pack``), so the register is scanned and its child tables grouped once: the
reform costs about one match of the affected programmes, not two (docs/simulation.md has the figures).
Untouched programmes do not change, so the difference never needs them.

Money stays exact: DuckDB sums DECIMAL(38, 2) columns exactly and the results come back as Decimal.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from huiqi.rules.batch import duckdb_tables, execute
from huiqi.rules.checker import Scope, check
from huiqi.rules.compiler import candidates, compile_pack, register_reads
from huiqi.rules.errors import EvaluationError
from huiqi.rules.parser import parse
from huiqi.rules.programme import Expression, Problems, Programme, build_programme
from huiqi.simulation.baseline import StoredBaseline
from huiqi.simulation.reform import AppliedReform

ZERO = Decimal("0.00")
REFORM_PREFIX = "reform-copy"

#: Size bands by employees: a reporting convention of this tool, not a legal classification.
SIZE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("0-9", 0, 9),
    ("10-99", 10, 99),
    ("100-299", 100, 299),
    ("300-999", 300, 999),
    ("1000+", 1000, None),
)

_REF = re.compile(r'\b(eligible|amount)(\s*\(\s*")([^"]+)("\s*\))')


def _renamed(
    programme: Programme,
    new_id: str,
    rename: Mapping[str, str],
    known: set[str],
    baseline: Programme | None = None,
) -> Programme:
    """A copy of a programme under another id whose references to renamed programmes follow them.

    With ``baseline`` (the programme before the reform), every expression the reform leaves as it was -
    same text, no changed parameter, no changed value, no reference to an affected programme, all read
    transitively - is the baseline's own expression object: the compiler keys aggregates and compiled
    sub-expressions by node, so the baseline and the reform share them (one group-by per child table
    serves both sides) and only what the reform changes is computed twice."""

    def sub(text: str) -> str:
        return _REF.sub(lambda m: m[1] + m[2] + rename.get(m[3], m[3]) + m[4], text)

    spec = programme.spec
    update: dict[str, Any] = {
        "id": new_id,
        "conditions": [c.model_copy(update={"test": sub(c.test)}) for c in spec.conditions],
        "exclusions": [x.model_copy(update={"when": sub(x.when)}) for x in spec.exclusions],
        "values": {n: v.model_copy(update={"expr": sub(v.expr)}) for n, v in spec.values.items()},
    }
    if spec.amount is not None:
        update["amount"] = spec.amount.model_copy(update={"expr": sub(spec.amount.expr)})
    found = Problems()
    copy = build_programme(
        spec.model_copy(update=update),
        source=programme.source,
        digest=programme.digest,
        knows_programme=known.__contains__,
        problems=found,
    )
    if copy is None:  # pragma: no cover - the reform was checked before; renaming cannot break it
        raise EvaluationError(f"cannot rename {programme.id}: {list(found)}")
    if baseline is not None:
        _share_unchanged(copy, programme, baseline, set(rename))
    return copy


def _share_unchanged(copy: Programme, reformed: Programme, baseline: Programme, affected: set[str]) -> None:
    """Put the baseline's expression objects into the copy wherever the reform changes nothing they read."""
    changed_params = {n for n, p in reformed.params.items() if baseline.params.get(n) != p}
    dirty_values: set[str] = set()

    def dirty(new: Expression, old: Expression | None) -> bool:
        c = new.checked
        return (
            old is None
            or new.text != old.text
            or bool(c.params & changed_params)
            or bool(c.values & dirty_values)
            or bool(c.programmes & affected)
        )

    for name in reformed.value_order:
        if dirty(reformed.values[name], baseline.values.get(name)):
            dirty_values.add(name)
        else:
            copy.values[name] = baseline.values[name]
    for mine, theirs, base in (
        (copy.conditions, reformed.conditions, baseline.conditions),
        (copy.exclusions, reformed.exclusions, baseline.exclusions),
    ):
        for key, expr in theirs.items():
            if not dirty(expr, base.get(key)):
                mine[key] = base[key]
    if reformed.amount is not None and not dirty(reformed.amount, baseline.amount):
        copy.amount = baseline.amount
    tests_dirty = any(
        dirty(e, base.get(k))
        for exprs, base in (
            (reformed.conditions, baseline.conditions),
            (reformed.exclusions, baseline.exclusions),
        )
        for k, e in exprs.items()
    )
    if (
        not tests_dirty
        and reformed.spec.effective == baseline.spec.effective
        and list(reformed.conditions) == list(baseline.conditions)
        and list(reformed.exclusions) == list(baseline.exclusions)
    ):
        # eligibility cannot change: the copy reads the baseline's eligibility column instead of testing again
        text = f'eligible("{baseline.id}")'
        node = parse(text)
        kind, checked = check(node, Scope(params={}, programmes=lambda pid: pid == baseline.id))
        copy.conditions = {
            "baseline-eligible": Expression(text, node, kind, checked, ("conditions", 0, "test"))
        }
        copy.exclusions = {}
    copy.depends_on = set().union(*(e.checked.programmes for e in copy.expressions()))


def joint_programmes(applied: AppliedReform) -> tuple[dict[str, Programme], dict[str, str], list[str]]:
    """Baseline programmes plus renamed reformed copies of the affected ones, in one mapping.

    Returns the mapping, affected id -> copy id, and the untouched programmes sharing a pool with an
    affected one (needed for pool sufficiency, computed once)."""
    base = applied.baseline
    prefix = REFORM_PREFIX
    while any(pid.startswith(prefix + ".") for pid in base):  # pragma: no cover - never in bundled packs
        prefix += "-x"
    rename = {pid: f"{prefix}.{pid}" for pid in sorted(applied.affected)}
    known = set(base) | set(rename.values())
    joint: dict[str, Programme] = dict(base)
    for pid, new_id in rename.items():
        joint[new_id] = _renamed(applied.programmes[pid], new_id, rename, known, base[pid])
    pools = {
        p.spec.pool.id
        for pid in applied.affected
        for p in (base[pid], applied.programmes[pid])
        if p.spec.pool
    }
    mates = sorted(
        pid
        for pid, p in base.items()
        if pid not in applied.affected and p.spec.pool and p.spec.pool.id in pools
    )
    return joint, rename, mates


@dataclass
class ProgrammeTotals:
    programme: str
    name: str
    benefit: str
    period: str
    pool: str | None
    eligible_before: int
    eligible_after: int
    cost_before: Decimal
    cost_after: Decimal
    newly_eligible: int
    no_longer_eligible: int

    @property
    def change(self) -> Decimal:
        return self.cost_after - self.cost_before


@dataclass
class GroupRow:
    key: str
    firms_changed: int
    cost_before: Decimal
    cost_after: Decimal

    @property
    def change(self) -> Decimal:
        return self.cost_after - self.cost_before


@dataclass
class PoolRow:
    pool: str
    name: str
    programmes: list[str]
    size_before: Decimal
    size_after: Decimal
    demand_before: Decimal
    demand_after: Decimal
    start_month: str
    runs_out_before: str | None
    runs_out_after: str | None


@dataclass
class Simulation:
    """Everything ``huiqi simulate`` reports: exact money, per programme, per group, per pool."""

    reform: dict[str, Any]
    on: dt.date
    firms: int
    touched: list[str]
    affected: list[str]
    programmes: list[ProgrammeTotals]
    cost_before: Decimal
    cost_after: Decimal
    gainers: int
    gained: Decimal
    losers: int
    lost: Decimal
    top_gainers: list[tuple[str, Decimal]]
    top_losers: list[tuple[str, Decimal]]
    by_sector: list[GroupRow]
    by_district: list[GroupRow]
    by_size: list[GroupRow]
    pools: list[PoolRow]
    seconds: dict[str, float] = field(default_factory=dict)
    #: the Chinese names of the firms in the top lists, by credit code (pages name firms, codes secondary)
    names: dict[str, str] = field(default_factory=dict)
    #: "computed", or "stored: <where>" when the baseline was read from stored match results
    baseline: str = "computed"

    @property
    def change(self) -> Decimal:
        return self.cost_after - self.cost_before

    def to_json(self) -> dict[str, Any]:
        def groups(rows: list[GroupRow]) -> list[dict[str, Any]]:
            return [
                {
                    "key": r.key,
                    "firms_changed": r.firms_changed,
                    "cost_before": str(r.cost_before),
                    "cost_after": str(r.cost_after),
                    "change": str(r.change),
                }
                for r in rows
            ]

        return {
            "reform": self.reform,
            "date": self.on.isoformat(),
            "firms": self.firms,
            "touched": self.touched,
            "affected": self.affected,
            "cost_before": str(self.cost_before),
            "cost_after": str(self.cost_after),
            "change": str(self.change),
            "gainers": {"firms": self.gainers, "total": str(self.gained)},
            "losers": {"firms": self.losers, "total": str(self.lost)},
            "top_gainers": [
                {"uscc": u, "name": self.names.get(u), "change": str(a)} for u, a in self.top_gainers
            ],
            "top_losers": [
                {"uscc": u, "name": self.names.get(u), "change": str(a)} for u, a in self.top_losers
            ],
            "programmes": [
                {
                    "programme": p.programme,
                    "name": p.name,
                    "benefit": p.benefit,
                    "period": p.period,
                    "pool": p.pool,
                    "eligible_before": p.eligible_before,
                    "eligible_after": p.eligible_after,
                    "newly_eligible": p.newly_eligible,
                    "no_longer_eligible": p.no_longer_eligible,
                    "cost_before": str(p.cost_before),
                    "cost_after": str(p.cost_after),
                    "change": str(p.change),
                }
                for p in self.programmes
            ],
            "by_sector": groups(self.by_sector),
            "by_district": groups(self.by_district),
            "by_size": groups(self.by_size),
            "pools": [
                {
                    "pool": r.pool,
                    "name": r.name,
                    "programmes": r.programmes,
                    "size_before": str(r.size_before),
                    "size_after": str(r.size_after),
                    "demand_before": str(r.demand_before),
                    "demand_after": str(r.demand_after),
                    "demand_arrives": f"evenly over 12 months from {r.start_month}",
                    "runs_out_before": r.runs_out_before,
                    "runs_out_after": r.runs_out_after,
                }
                for r in self.pools
            ],
            "baseline": self.baseline,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def month_add(month: dt.date, k: int) -> dt.date:
    y, m = divmod(month.year * 12 + month.month - 1 + k, 12)
    return dt.date(y, m + 1, 1)


def runs_out(size: Decimal, demand: Decimal, start: dt.date) -> str | None:
    """The month the pool runs out if ``demand`` arrives evenly over twelve months from ``start``'s month.

    After month k, k/12 of the demand has arrived; the pool runs out in the first month k in which that
    exceeds the pool: k = floor(12 x size / demand) + 1, if that is at most 12. Exact (integer arithmetic
    on fen). None: the pool suffices."""
    if demand <= size:
        return None
    size_fen, demand_fen = int(size * 100), int(demand * 100)
    k = (12 * size_fen) // demand_fen + 1
    return month_add(start.replace(day=1), k - 1).strftime("%Y-%m")


def _band_sql(column: str) -> str:
    whens = " ".join(
        f"WHEN {column} BETWEEN {lo} AND {hi} THEN '{name}'"
        if hi is not None
        else f"WHEN {column} >= {lo} THEN '{name}'"
        for name, lo, hi in SIZE_BANDS
    )
    return f"CASE {whens} ELSE 'unknown' END"


#: the firm's position in the register, carried through the joint query so its facts are a ``take``
ROW = "_simulation_row"
FACTS = ["sector", "district", "employees"]


def _with_facts(firms: pa.Table, picked: pa.Table) -> pa.Table:
    """The picked firms with their sector, district and employees. The joint query carries each firm's
    position in the register, so this is an Arrow ``take`` of a few rows (a join inside the main query made
    DuckDB slower than the whole match). Firms without a position (a stored baseline's, where the reform
    side did not pick them) are found by probing the register's codes with those few codes."""
    if all(name in picked.column_names for name in FACTS):  # the joint query carried them
        return picked
    n = picked.num_rows
    rows = picked[ROW] if ROW in picked.column_names else pa.chunked_array([pa.nulls(n, pa.int64())])
    if rows.null_count:
        missing = pc.filter(picked["uscc"], pc.is_null(rows))
        hits = pc.indices_nonzero(pc.is_in(firms["uscc"], value_set=missing.combine_chunks()))
        found = dict(zip(firms["uscc"].take(hits).to_pylist(), hits.to_pylist(), strict=True))
        codes = picked["uscc"].to_pylist()
        rows = pa.chunked_array(
            [
                pa.array(
                    [r if r is not None else found[c] for r, c in zip(rows.to_pylist(), codes, strict=True)]
                )
            ],
            pa.int64(),
        )
    positions = rows.to_numpy()
    for name in FACTS:
        picked = picked.append_column(name, _take(firms[name], positions))
    return picked


def _take(column: pa.ChunkedArray, positions: npt.NDArray[np.int64]) -> pa.Array:
    """``column.take(positions)`` chunk by chunk: Arrow's take over a many-chunk column costs ten times
    more than over each chunk for a few thousand positions."""
    order = np.argsort(positions, kind="stable")
    taken = _take_ascending(column, positions[order])
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return taken.take(pa.array(inverse))


def _take_ascending(column: pa.ChunkedArray, positions: npt.NDArray[np.int64]) -> pa.Array:
    """The values at ``positions`` (ascending), each chunk's taken from that chunk."""
    starts = np.cumsum([0] + [len(c) for c in column.chunks])
    cut = np.searchsorted(positions, starts)
    pieces = [
        chunk.take(pa.array(positions[cut[i] : cut[i + 1]] - starts[i]))
        for i, chunk in enumerate(column.chunks)
        if cut[i] < cut[i + 1]
    ]
    return pa.concat_arrays(pieces) if pieces else pa.array([], column.type)


def _numbered(tables: Mapping[str, pa.Table]) -> dict[str, pa.Table]:
    """The register with the firms' positions as a column of the firms table (no copy of the rest)."""
    firms = tables["firms"]
    return {**tables, "firms": firms.append_column(ROW, _positions(firms.num_rows))}


@functools.lru_cache(maxsize=4)
def _positions(n: int) -> pa.Array:
    """0 .. n-1 (24 MB at 3 M firms, made once for the runs over one register)."""
    return pa.array(np.arange(n, dtype=np.int64))


def _candidate_tables(
    programmes: Mapping[str, Programme], tables: Mapping[str, pa.Table], on: dt.date, ids: list[str]
) -> tuple[dict[str, ir.Table], bool]:
    """The register on a new DuckDB connection, cut to the firms that can be eligible for one of ``ids``
    (``rules.compiler.candidates``): a first query finds their positions; their rows of the columns the
    programmes read are an Arrow ``take`` (a few ten thousand of three million) and the child tables they
    read are cut to them in the joint query. Only firms eligible somewhere can cost anything or change, so
    the report is the same, and the joint query joins and groups the register for those firms only. Every
    firm is kept when nothing is known of a programme's needs (then the second value is False)."""
    every = tables["firms"]
    columns, children = register_reads(programmes, ids, every.column_names)
    # only the columns read: building the SQL costs in proportion to the columns of every layer
    read = every.select([c for c in every.column_names if c in columns | set(FACTS)])
    firms = _numbered({"firms": read})["firms"]
    con = ibis.duckdb.connect()
    full = duckdb_tables({"firms": firms, **{name: tables[name] for name in children}}, con)
    kept = candidates(programmes, full, on, ids)
    if kept is None:
        return full, False
    rows = np.sort(_execute_filtered(kept.select(ROW))[ROW].to_numpy())
    cut = duckdb_tables({"firms": _take_rows(firms, rows)}, con, prefix="candidates_")["firms"]
    # the child tables cut in the joint query: a semi-join with a few ten thousand codes
    return {
        "firms": cut,
        **{name: full[name].filter(full[name].uscc.isin(cut.uscc)) for name in children},
    }, True


def _take_rows(table: pa.Table, positions: npt.NDArray[np.int64]) -> pa.Table:
    """The rows at ``positions`` (ascending), taken chunk by chunk (see ``_take``)."""
    return pa.table([_take_ascending(c, positions) for c in table.columns], schema=table.schema)


def simulate(
    applied: AppliedReform,
    tables: Mapping[str, pa.Table],
    on: dt.date,
    *,
    top: int = 10,
    baseline: StoredBaseline | None = None,
) -> Simulation:
    """Run baseline and reform of the affected programmes over the register tables (Arrow, via DuckDB).

    With ``baseline`` (stored results of the affected programmes, checked by ``huiqi.simulation.baseline``)
    only the reform side is computed and the baseline is read from it; the report is the same."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    affected = sorted(applied.affected)
    if baseline is None:
        joint, rename, mates = joint_programmes(applied)
        ids = affected + [rename[p] for p in affected] + mates
        cut, is_cut = _candidate_tables(joint, tables, on, ids)
        compiled = compile_pack(joint, cut, on, ids, with_unmet=False, keep=(ROW, *FACTS))
        cols = compiled.columns
        # over the cut the few firms eligible nowhere are left to the figures' own filter (a filter on
        # top of the joint query costs more to build than they cost to fetch)
        picked = compiled.table if is_cut else _eligible_somewhere(compiled.table, [cols[p][0] for p in ids])
        timings["compile"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = _execute_filtered(picked)
        timings["query"] = time.perf_counter() - t1
        source = "computed"
        con = picked._find_backend().con  # the figures below are queries over a few thousand rows
    else:
        result, cols, rename, mates = _with_stored_baseline(applied, tables, on, baseline, timings)
        source = f"stored: {baseline.source}"
        con = duckdb.connect()
    t2 = time.perf_counter()

    con.register("picked", _with_facts(tables["firms"], result))

    def amount_sum(pids: list[str]) -> str:
        return " + ".join(f'"{cols[p][1]}"' for p in pids) if pids else "CAST(0 AS DECIMAL(38, 2))"

    def dec(v: Any) -> Decimal:
        return ZERO if v is None else Decimal(v).quantize(ZERO)

    before = f"CAST({amount_sum(affected)} AS DECIMAL(38, 2))"
    after = f"CAST({amount_sum([rename[p] for p in affected])} AS DECIMAL(38, 2))"
    elig_changed = " OR ".join(f'("{cols[p][0]}" IS DISTINCT FROM "{cols[rename[p]][0]}")' for p in affected)
    listed = affected + mates
    anywhere = " OR ".join(f'"{e}"' for e, _, _ in cols.values())  # eligible somewhere, before or after
    figures: list[str] = []
    for pid in listed:  # every programme's figures in the same pass (read from the grand total)
        e0, a0_, _ = cols[pid]
        e1, a1, _ = cols[rename.get(pid, pid)]
        figures += [
            f'COUNT(*) FILTER (WHERE "{e0}")',
            f'COUNT(*) FILTER (WHERE "{e1}")',
            f'SUM("{a0_}")',
            f'SUM("{a1}")',
            f'COUNT(*) FILTER (WHERE "{e1}" AND NOT "{e0}")',
            f'COUNT(*) FILTER (WHERE "{e0}" AND NOT "{e1}")',
        ]
    # one pass for the totals, the gainers and losers, the three breakdowns and the programmes' figures;
    # each breakdown in the order the report shows (largest change first); generated names only
    rows = con.execute(
        f"""WITH per_firm AS (
            SELECT * REPLACE (COALESCE(district, '(none)') AS district), {_band_sql("employees")} AS band,
                   {before} AS before, {after} AS after, ({elig_changed}) AS elig_changed
            FROM picked WHERE {anywhere})
        SELECT GROUPING(sector, district, band), COALESCE(sector, district, band),
               COUNT(*) FILTER (WHERE after <> before OR elig_changed), SUM(before), SUM(after),
               COUNT(*) FILTER (WHERE after > before), SUM(after - before) FILTER (WHERE after > before),
               COUNT(*) FILTER (WHERE after < before), SUM(before - after) FILTER (WHERE after < before)
               {"".join(", " + f for f in figures)}
        FROM per_firm GROUP BY GROUPING SETS ((), (sector), (district), (band))
        ORDER BY ABS(SUM(after) - SUM(before)) DESC, SUM(after) DESC, 2"""  # nosec B608
    ).fetchall()
    breakdowns: dict[int, list[GroupRow]] = {0b011: [], 0b101: [], 0b110: []}  # sector, district, band
    for row in rows:
        if row[0] == 0b111:
            _, _, _, b0, a0, n_gain, gain, n_loss, loss, *figure = row
        else:
            breakdowns[row[0]].append(GroupRow(str(row[1]), int(row[2]), dec(row[3]), dec(row[4])))
    cost_before, cost_after = dec(b0), dec(a0)
    changes = con.execute(
        f"""WITH d AS (SELECT uscc, {after} - {before} AS change FROM picked)
        (SELECT uscc, change FROM d WHERE change > 0 ORDER BY change DESC, uscc LIMIT $top)
        UNION ALL (SELECT uscc, change FROM d WHERE change < 0 ORDER BY change, uscc LIMIT $top)""",  # nosec B608
        {"top": top},
    ).fetchall()
    tops = sorted(((u, c) for u, c in changes if c > 0), key=lambda x: (-x[1], x[0]))
    bottoms = sorted(((u, c) for u, c in changes if c < 0), key=lambda x: (x[1], x[0]))
    names = firm_names(tables["firms"], [u for u, _c in (*tops, *bottoms)])

    totals: list[ProgrammeTotals] = []
    for i, pid in enumerate(listed):
        n0, n1, c0, c1, new, gone = figure[6 * i : 6 * i + 6]
        spec = applied.programmes[pid].spec
        totals.append(
            ProgrammeTotals(
                pid,
                spec.name.en,
                spec.benefit,
                spec.period,
                spec.pool.id if spec.pool else None,
                int(n0),
                int(n1),
                dec(c0),
                dec(c1),
                int(new),
                int(gone),
            )
        )

    pools: list[PoolRow] = []
    by_pool: dict[str, list[str]] = {}
    for pid in affected + mates:
        for prog in (applied.baseline[pid], applied.programmes[pid]):
            if prog.spec.pool and pid not in by_pool.setdefault(prog.spec.pool.id, []):
                by_pool[prog.spec.pool.id].append(pid)
    for pool_id, pids in sorted(by_pool.items()):

        def size(progs: Mapping[str, Programme], pids: list[str] = pids, pool_id: str = pool_id) -> Decimal:
            pools = [progs[p].spec.pool for p in pids]
            sizes = [Decimal(str(x.size)) for x in pools if x is not None and x.id == pool_id]
            return max(sizes).quantize(ZERO)

        demand0 = sum((t.cost_before for t in totals if t.programme in pids), ZERO)
        demand1 = sum((t.cost_after for t in totals if t.programme in pids), ZERO)
        windows = [
            applied.programmes[p].spec.application_window.start  # type: ignore[union-attr]
            for p in pids
            if applied.programmes[p].spec.application_window is not None
        ]
        start = max([on, *[w for w in windows if w > on]])
        s0, s1 = size(applied.baseline), size(applied.programmes)
        name = next(applied.programmes[p].spec.pool.name.en for p in pids)  # type: ignore[union-attr]
        pools.append(
            PoolRow(
                pool_id,
                name,
                pids,
                s0,
                s1,
                demand0,
                demand1,
                start.strftime("%Y-%m"),
                runs_out(s0, demand0, start),
                runs_out(s1, demand1, start),
            )
        )
    timings["aggregate"] = time.perf_counter() - t2
    return Simulation(
        reform=applied.reform.to_json(),
        on=on,
        firms=tables["firms"].num_rows,
        touched=sorted(applied.touched),
        affected=affected,
        programmes=totals,
        cost_before=cost_before,
        cost_after=cost_after,
        gainers=int(n_gain),
        gained=dec(gain),
        losers=int(n_loss),
        lost=dec(loss),
        top_gainers=[(u, dec(a)) for u, a in tops],
        top_losers=[(u, dec(a)) for u, a in bottoms],
        names=names,
        by_sector=breakdowns[0b011],
        by_district=breakdowns[0b101],
        by_size=breakdowns[0b110],
        pools=pools,
        seconds=timings,
        baseline=source,
    )


def firm_names(firms: pa.Table, codes: list[str]) -> dict[str, str]:
    """The Chinese names of a few firms of the register, by credit code (those it has a name for)."""
    if not codes or "name_zh" not in firms.column_names:
        return {}
    rows = firms.select(["uscc", "name_zh"]).filter(pc.is_in(firms["uscc"], pa.array(codes)))
    return {u: n for u, n in zip(rows["uscc"].to_pylist(), rows["name_zh"].to_pylist(), strict=True) if n}


def _eligible_somewhere(wide: ibis.Table, eligibility: list[str]) -> ibis.Table:
    """Only firms eligible somewhere, before or after, can cost anything or change."""
    any_eligible = wide[eligibility[0]]
    for name in eligibility[1:]:
        any_eligible = any_eligible | wide[name]
    return wide.filter(any_eligible.fill_null(False))


def _execute_filtered(table: ibis.Table) -> pa.Table:
    """Run the filtered joint query. On DuckDB without filter pushdown: pushed below the layers of columns,
    the filter gets every eligibility expression substituted for its column, and the baseline's first
    failed test once for every reference a copy makes to it (inside CASE branches no common
    sub-expression is shared): at 3 M firms the filter cost more than the whole match. At the top it reads
    the finished columns. Only this query's own connection is set."""
    backend = table._find_backend()
    if backend.name == "duckdb":
        backend.con.execute("SET disabled_optimizers = 'filter_pushdown'")
    return execute(table)


def _with_stored_baseline(
    applied: AppliedReform,
    tables: Mapping[str, pa.Table],
    on: dt.date,
    baseline: StoredBaseline,
    timings: dict[str, float],
) -> tuple[pa.Table, dict[str, tuple[str, str, str]], dict[str, str], list[str]]:
    """The reform side computed (one match of the reformed affected programmes, plus the pool mates the
    stored results lack), the baseline read from the stored rows, joined by firm into the same wide table
    the joint query makes: the same columns, so every aggregate after it is the same code.

    A firm missing from one side is not eligible there and gets 0, which is what the compiled query gives
    an ineligible firm (amounts are ``ifelse(eligible, amount, 0)``; eligibility never null)."""
    t0 = time.perf_counter()
    _, rename, mates = joint_programmes(applied)
    affected = sorted(applied.affected)
    missing = [p for p in affected if p not in baseline.programmes]
    if missing:  # pragma: no cover - the loaders refuse this; a guard for direct callers
        raise EvaluationError(f"the stored baseline lacks {', '.join(missing)}")
    stored_mates = [p for p in mates if p in baseline.programmes]
    computed_mates = [p for p in mates if p not in stored_mates]
    ids = affected + computed_mates
    compiled = compile_pack(
        applied.programmes,
        _candidate_tables(applied.programmes, tables, on, ids)[0],
        on,
        ids,
        with_unmet=False,
        keep=(ROW,),
    )
    rcols = compiled.columns
    picked = _eligible_somewhere(compiled.table, [rcols[p][0] for p in ids])
    timings["compile"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    reform = _execute_filtered(picked)
    timings["query"] = time.perf_counter() - t1
    t2 = time.perf_counter()

    cols: dict[str, tuple[str, str, str]] = {}
    base_sel: list[str] = []
    for i, pid in enumerate(affected + stored_mates):
        e, a = f"b{i}_eligible", f"b{i}_amount"
        cols[pid] = (e, a, "")
        lit = "'" + pid.replace("'", "''") + "'"
        base_sel += [
            f"bool_or(eligible) FILTER (WHERE programme = {lit}) AS {e}",
            f"max(amount) FILTER (WHERE programme = {lit}) AS {a}",
        ]
    for pid in affected:
        cols[rename[pid]] = rcols[pid]
    for pid in computed_mates:
        cols[pid] = rcols[pid]
    outer: list[str] = []
    for e, a, _ in cols.values():
        outer += [f"COALESCE({e}, FALSE) AS {e}", f"COALESCE({a}, CAST(0 AS DECIMAL(38, 2))) AS {a}"]
    con = duckdb.connect()
    con.register("stored", baseline.rows)
    con.register("reform", reform)
    # generated column names; programme ids are quoted literals and match ^[a-z][a-z0-9-]*$
    wide: pa.Table = con.execute(
        f"""WITH base AS (SELECT uscc, {", ".join(base_sel)} FROM stored WHERE eligible GROUP BY uscc)
        SELECT uscc, {ROW}, {", ".join(outer)} FROM base FULL OUTER JOIN reform USING (uscc)"""  # nosec B608
    ).to_arrow_table()
    timings["baseline"] = time.perf_counter() - t2
    return wide, cols, rename, mates


def match_seconds(
    programmes: Mapping[str, Programme], tables: Mapping[str, pa.Table], on: dt.date, ids: list[str]
) -> float:
    """The time of one match of ``ids`` (eligibility and amounts, fetched), to compare reform speed."""
    t = time.perf_counter()
    compiled = compile_pack(
        programmes, duckdb_tables(tables, ibis.duckdb.connect()), on, ids, with_unmet=False
    )
    execute(compiled.table)
    return time.perf_counter() - t
