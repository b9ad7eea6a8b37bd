"""A stored register's tables with some firms' rows replaced, written by DuckDB (issue 16).

A re-import that changes a few firms need not hold the whole register in Arrow, sort it and write it in
one thread: each new table is the stored file without the rows of the firms the import touched, with
their new rows, in credit-code order (a firm's rows keep theirs), in row groups of ``ROW_GROUP`` rows,
written by DuckDB on every core within a memory limit. The files and the manifest are those
``huiqi.firms.register.write_register`` writes: the same layout, types and row groups.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from huiqi.firms.register import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    ROW_GROUP,
    TABLES,
    check_schema,
    expected_schema,
)

#: DuckDB's memory while it writes the tables (beyond it, it spills to a directory beside them)
MEMORY_LIMIT = "1GB"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_spliced(
    base: Mapping[str, Path], dropped: pa.Array, new: Mapping[str, pa.Table], out: Path, years: list[int]
) -> int:
    """Write the register ``base`` (its table files) without the rows of the firms ``dropped``, with the
    rows ``new`` (each in the layout), to the new directory ``out``; the number of firms written. The
    base's firms table must have the layout of ``years`` (a column added needs the whole register)."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    spill = out.parent / f".spill-{uuid.uuid4().hex}"
    rows: dict[str, int] = {}
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": str(spill)})
    try:
        con.register("dropped", pa.table({"uscc": dropped.cast(pa.string())}))
        for name in TABLES:
            schema = expected_schema(name, years)
            cols = ", ".join(_ident(f.name) for f in schema)
            fresh = new[name].select(schema.names).cast(schema)
            con.register("fresh", fresh.append_column("__i", pa.array(range(fresh.num_rows), pa.int64())))
            target = out / f"{name}.parquet"
            # names are the layout's (quoted); the paths are ours (quoted)
            sql = (
                f"COPY (SELECT {cols} FROM ("  # nosec B608
                f"SELECT {cols}, 0 AS __s, file_row_number AS __i "
                f"FROM read_parquet({_quote(str(base[name]))}, file_row_number = true) "
                "WHERE uscc NOT IN (SELECT uscc FROM dropped) "
                f"UNION ALL SELECT {cols}, 1 AS __s, __i FROM fresh) ORDER BY uscc, __s, __i) "
                f"TO {_quote(str(target))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP})"
            )
            found = con.execute(sql).fetchone()
            rows[name] = int(found[0]) if found else 0
            con.unregister("fresh")
            check_schema(pq.read_schema(target).remove_metadata(), schema, source=str(target))
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "years": years,
        "tables": {name: {"file": f"{name}.parquet", "rows": rows[name]} for name in TABLES},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return rows["firms"]
