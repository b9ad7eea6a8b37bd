"""A stored baseline for ``huiqi simulate --baseline FILE``: the results ``huiqi match --out FILE`` wrote
for the programmes a reform affects, so that only the reform side is computed (a reform then costs one
match of those programmes, not a joint query of baseline and reform).

The file is checked before use; a baseline that does not pass is not used (``BaselineRefused`` says why
and the caller computes both sides instead). It carries programme id, version and date, not the digest:
rows must have the date, the programme's current version (and its digest, where the file has a
``programme_digest`` column) and cover every firm of the register once (a register directory, or the
register in the database that ``huiqi match --register db --out FILE`` read).

The runs a match keeps in the matching results store are not a source: they do not record the programmes'
digests, so nothing would check a stored row against the programmes in force (``huiqi simulate`` has no
option to read them).

The file does not record the rules' text, so it is also spot-checked: the baseline of a sample of firms
(the first eligible ones of every programme and an even spread of the rest) is recomputed and must equal
the stored rows exactly. A stale file whose rules changed without a version bump is caught there when the
change shows on the sample; the version/digest and coverage checks stay the main guard.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from huiqi.rules.batch import duckdb_tables, execute
from huiqi.rules.compiler import compile_pack
from huiqi.rules.programme import Programme

#: Firms recomputed to spot-check a stored baseline (half eligible somewhere, half spread evenly).
SPOT_CHECK = 400


class BaselineRefused(Exception):
    """The stored baseline cannot stand for this register, date and programmes; the message says why."""


@dataclass
class StoredBaseline:
    """Eligible rows of the baseline: ``uscc``, ``programme``, ``eligible``, ``amount`` (Decimal 2 places),
    for the programmes in ``programmes`` (every firm not listed is not eligible and gets 0)."""

    rows: pa.Table
    programmes: list[str]
    source: str


def _check_counts(counts: Mapping[str, tuple[int, int, int]], ids: list[str], firms: int, where: str) -> None:
    """Every programme once for every firm: rows == distinct firms == firms of the register, all known."""
    for pid in ids:
        rows, distinct, known = counts.get(pid, (0, 0, 0))
        if rows == 0:
            raise BaselineRefused(f"{where}: no results for programme {pid}")
        if rows != distinct:
            raise BaselineRefused(f"{where}: programme {pid} has {rows - distinct:,} duplicate firm rows")
        if known != rows or rows != firms:
            raise BaselineRefused(
                f"{where}: programme {pid} has results for {rows:,} firms ({rows - known:,} not in the "
                f"register); the register has {firms:,}: the results are of another register"
            )


def from_parquet(
    path: Path,
    programmes: Mapping[str, Programme],
    tables: Mapping[str, pa.Table],
    on: dt.date,
    ids: list[str],
    optional: Sequence[str] = (),
) -> StoredBaseline:
    """The baseline of ``ids`` (and of whichever of ``optional`` the file has) from a results Parquet."""
    where = str(path)
    if not path.is_file():
        raise BaselineRefused(f"{where}: no such file")
    con = duckdb.connect()
    try:
        # a view cannot take a bound parameter; the path is quoted
        con.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet('{_quote(str(path))}')")  # nosec B608
    except duckdb.Error as exc:
        raise BaselineRefused(f"{where}: not a readable Parquet file ({exc})") from None
    names = {row[0] for row in con.execute("DESCRIBE r").fetchall()}
    missing = {"uscc", "programme", "version", "date", "eligible", "amount"} - names
    if missing:
        raise BaselineRefused(
            f"{where}: not a results file of huiqi match --out "
            f"(missing column(s) {', '.join(sorted(missing))})"
        )
    wanted = list(ids) + [p for p in optional if p not in ids]
    con.register("firm_codes", tables["firms"].select(["uscc"]))
    con.register("wanted", pa.table({"programme": pa.array(wanted, pa.string())}))
    digest = ", list(DISTINCT programme_digest)" if "programme_digest" in names else ""
    # one scan: per programme its versions, dates, row count and a digest of its firms' codes (the sum of
    # their 64-bit hashes, as a HUGEINT: no wrap-around), compared below with the register's
    stats = con.execute(
        f"""SELECT programme, count(*), sum(hash(uscc)::HUGEINT), 0, list(DISTINCT version), min(date),
        max(date){digest}
        FROM r WHERE programme IN (SELECT programme FROM wanted) GROUP BY 1"""  # nosec B608  # constant
    ).fetchall()
    have = {row[0]: row for row in stats}
    present = [p for p in wanted if p in have]
    for pid in present:
        row = have[pid]
        p = programmes[pid]
        if row[5] != on or row[6] != on:
            raise BaselineRefused(f"{where}: results of {pid} are for {row[5]}..{row[6]}, not {on}")
        if row[4] != [p.version]:
            raise BaselineRefused(
                f"{where}: results of {pid} are of version {', '.join(map(str, row[4]))}; "
                f"the programme is now version {p.version}"
            )
        if digest and row[7] != [p.digest]:
            raise BaselineRefused(f"{where}: results of {pid} were computed from another programme file")
    firms = tables["firms"].num_rows
    register = con.execute("SELECT count(*), sum(hash(uscc)::HUGEINT) FROM firm_codes").fetchall()[0]
    counts: dict[str, tuple[int, int, int]] = {}
    for pid in present:
        # every firm of the register once: as many rows and the same digest of the codes. A missing firm,
        # a duplicate or a firm of another register changes the digest unless 64-bit hashes collide
        if (have[pid][1], have[pid][2]) == register:
            counts[pid] = (firms, firms, firms)
            continue
        rows, distinct, known = con.execute(  # the exact figures, for the message
            """SELECT count(*), count(DISTINCT r.uscc), count(f.uscc)
            FROM r LEFT JOIN firm_codes f ON f.uscc = r.uscc WHERE r.programme = ?""",
            [pid],
        ).fetchall()[0]
        counts[pid] = (rows, distinct, known)
        if counts[pid] == (firms, firms, firms):  # pragma: no cover - a 64-bit hash collision
            raise BaselineRefused(f"{where}: results of {pid} do not match the register's firms")
    _check_counts(counts, ids, firms, where)
    use = [p for p in wanted if p in have and p in present]
    con.register("use", pa.table({"programme": pa.array(use, pa.string())}))
    rows = con.execute(
        """SELECT uscc, programme, eligible, CAST(amount AS DECIMAL(38, 2)) AS amount
        FROM r WHERE eligible AND programme IN (SELECT programme FROM use)"""
    ).to_arrow_table()
    return StoredBaseline(rows, use, f"results file {where}")


def spot_check(
    stored: StoredBaseline,
    programmes: Mapping[str, Programme],
    tables: Mapping[str, pa.Table],
    on: dt.date,
    sample: int = SPOT_CHECK,
) -> None:
    """Recompute the baseline of a few firms and compare exactly with the stored rows."""
    codes = tables["firms"]["uscc"]
    n = len(codes)
    eligible = pc.unique(stored.rows["uscc"]).to_pylist()[: sample // 2]
    step = max(1, n // max(1, sample - len(eligible)))
    spread = codes.take(pa.array(range(0, n, step))).to_pylist() if n else []
    picked = pa.array(sorted(set(eligible) | set(spread)), pa.string())
    # each table's codes probe the few picked ones: a pass over every table, the largest ones side by side
    # (Arrow's kernels release the GIL)
    with ThreadPoolExecutor(max_workers=2) as pool:
        filtered = pool.map(lambda t: t.filter(pc.is_in(t["uscc"], value_set=picked)), tables.values())
        sub = dict(zip(tables, filtered, strict=True))
    compiled = compile_pack(programmes, duckdb_tables(sub), on, stored.programmes, with_unmet=False)
    wide = execute(compiled.table)
    mine: dict[tuple[str, str], object] = {}
    for pid in stored.programmes:
        e, a, _ = compiled.columns[pid]
        for code, ok, amount in zip(
            wide["uscc"].to_pylist(), wide[e].to_pylist(), wide[a].to_pylist(), strict=True
        ):
            if ok:
                mine[(code, pid)] = amount
    near = stored.rows.filter(pc.is_in(stored.rows["uscc"], value_set=picked))
    theirs = {
        (c, p): a
        for c, p, a in zip(
            near["uscc"].to_pylist(), near["programme"].to_pylist(), near["amount"].to_pylist(), strict=True
        )
    }
    for key in sorted(set(mine) | set(theirs)):
        if mine.get(key) != theirs.get(key):
            code, pid = key
            raise BaselineRefused(
                f"{stored.source}: firm {code}, programme {pid}: stored "
                f"{_show(theirs.get(key))}, recomputed now {_show(mine.get(key))}; the stored results are "
                f"stale (rules or register changed since they were computed)"
            )


def _show(amount: object) -> str:
    return "not eligible" if amount is None else f"eligible, {amount} yuan"


def _quote(text: str) -> str:
    return text.replace("'", "''")
