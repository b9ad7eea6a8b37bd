"""Raw (textual) digests of an import's firms: which firms a re-import gives exactly as they were given last
time, so that their cells need not be converted, checked or compared again (issue 16).

A firm's raw digest is a 64-bit hash of the text of its rows in every table file of the import (per table,
its rows' cells in file order, so that a reordering of its child rows counts; nothing of its place in the
file). The bulk import keeps them beside the stored register (``raw_digests.parquet``: uscc, raw) with the
*recipe* they were made under: the tables, their headers, delimiters and mapping, and the version of the
conversion rules. The next import made with the same recipe takes a firm whose raw digest is the stored
one as stored: the text converts to the same rows as before and merging them again changes nothing. Any
doubt (no raw digests kept, another recipe, a firm whose rows were rejected) reads the firm in full, as an
import always did.

Like the typed digests (``huiqi.firms.digests``), a raw digest is bookkeeping, not a proof: a wrong answer
would need two texts of one firm with equal 64-bit hashes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: The file of a register directory holding its firms' raw digests (uscc, raw; in no particular order).
RAW_DIGESTS = "raw_digests.parquet"
#: Raised whenever the reading or conversion of a cell changes, so that older raw digests are not trusted.
RULES_VERSION = 1
_RECIPE_KEY = b"huiqi.recipe"


@dataclass(frozen=True)
class RawDigests:
    """The raw digests of a register's firms (uscc, raw) and the recipe they were made under."""

    recipe: str
    digests: pa.Table


def _plain(value: Any) -> Any:
    """A mapping's parts as JSON: sets sorted (their order is not the file's), decimals as text."""
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def _shape(header: list[str], delimiter: str, spec: Any) -> dict[str, Any]:
    return {
        "header": header,
        "delimiter": delimiter,
        "mapping": None if spec is None else _plain(dataclasses.asdict(spec)),
    }


def recipe(tables: dict[str, tuple[list[str], str, Any]]) -> str:
    """What an import's text is read under: per table its header, delimiter and mapping (a dataclass or
    None), and the version of the rules; two imports of equal recipes convert equal text equally."""
    from huiqi import __version__

    shape = {
        "rules": RULES_VERSION,
        "huiqi": __version__,
        "tables": {name: _shape(*parts) for name, parts in sorted(tables.items())},
    }
    return json.dumps(shape, sort_keys=True, ensure_ascii=False, default=str)


def may_fit(stored: RawDigests, table: str, header: list[str], delimiter: str, spec: Any) -> bool:
    """Whether a table file is read as the stored recipe says (so that its firms may be taken as
    stored); False tells early that the import reads every firm."""
    try:
        tables = json.loads(stored.recipe).get("tables", {})
    except (ValueError, AttributeError):
        return False
    wanted = json.loads(json.dumps(_shape(header, delimiter, spec), sort_keys=True, default=str))
    return isinstance(tables, dict) and tables.get(table) == wanted


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on each 64-bit value: a small change of the input changes every bit."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out: np.ndarray = z ^ (z >> np.uint64(31))
    return out


def row_hashes(columns: list[pa.Array]) -> np.ndarray:
    """DuckDB's 64-bit hash of each row's cells (in parallel; rows in their order): the part of a raw
    digest each row gives."""
    import duckdb

    names = [f"c{i}" for i in range(len(columns))]
    con = duckdb.connect()
    try:
        con.register("t", pa.table(columns, names=names))
        cells = ", ".join(names) or "0"
        found = con.sql(f"SELECT hash({cells}) AS h FROM t").to_arrow_table()["h"]  # nosec B608  # our names
    finally:
        con.close()
    return np.asarray(found.to_numpy(), dtype=np.uint64)


def _firm_sums(rows: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The firms with rows in a table (``ids``: each row's firm, -1 for none), each once, and per firm
    the sum of its rows' hashes (``rows``) each mixed with its rank among the firm's rows. A file
    written firm by firm (each firm's rows together: most are) is summed as it is, without a sort."""
    if not (ids >= 0).all():
        rows, ids = rows[ids >= 0], ids[ids >= 0]
    if not len(ids):
        return np.array([], dtype=np.int64), np.array([], dtype=np.uint64)
    starts = _runs(ids)
    if np.bincount(ids[starts]).max() > 1:  # a firm's rows apart
        order = np.argsort(ids, kind="stable")
        rows, ids = rows[order], ids[order]
        starts = _runs(ids)
    if len(starts) == len(ids):  # a row a firm (the firms table): each of rank 0
        return ids, _mix(rows ^ _mix(np.array([1], dtype=np.uint64)))
    rank = np.arange(len(ids)) - np.repeat(starts, np.diff(np.r_[starts, len(ids)]))
    mixed = _mix(rows ^ _mix(rank.astype(np.uint64) + np.uint64(1)))
    return ids[starts], np.add.reduceat(mixed, starts)


def _runs(ids: np.ndarray) -> np.ndarray:
    """Where each run of equal values of ``ids`` starts."""
    return np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])


def _ids(encoded: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A dictionary array's indices (-1 for a null), as Arrow holds them (32 bits: no 64-bit copy)."""
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    parts = [(pc.fill_null(c.indices, -1) if c.null_count else c.indices).to_numpy() for c in chunks]
    return np.concatenate(parts) if parts else np.array([], dtype=np.int32)


def table_digests(columns: list[pa.Array], codes: pa.Array) -> pa.Table:
    """``uscc``, ``raw``: per firm of a table file, a hash of its rows' cells in file order (each row's
    hash mixed with its rank among the firm's rows, summed), the firms in their first rows' order.
    ``columns``: the file's text columns; ``codes``: each row's firm (null: a row of no firm, never
    taken as stored)."""
    encoded = pc.dictionary_encode(codes)
    firms, sums = _firm_sums(row_hashes(columns), _ids(encoded))
    raw = np.zeros(len(encoded.dictionary), dtype=np.uint64)
    raw[firms] = sums  # (every firm of the dictionary has rows)
    return pa.table({"uscc": encoded.dictionary, "raw": pa.array(raw)})


def _salt(name: str) -> np.ndarray:
    import zlib

    return _mix(np.array([zlib.crc32(name.encode())], dtype=np.uint64))


def combined(per_table: dict[str, pa.Table]) -> pa.Table:
    """``uscc``, ``raw``: per firm of an import, its tables' digests each mixed with its table's name and
    summed (a table without rows of the firm adds nothing)."""
    names = sorted(per_table)
    if not names:
        return pa.table({"uscc": pa.array([], pa.string()), "raw": pa.array([], pa.uint64())})
    encoded = pc.dictionary_encode(pa.concat_arrays([per_table[n]["uscc"].combine_chunks() for n in names]))
    ids = np.asarray(encoded.indices.to_numpy(), dtype=np.int64)
    total = np.zeros(len(encoded.dictionary), dtype=np.uint64)
    at = 0
    for name in names:
        raw = np.asarray(per_table[name]["raw"].to_numpy(), dtype=np.uint64)
        mine = ids[at : at + len(raw)]  # a firm once per table: plain indexing adds each once
        with np.errstate(over="ignore"):
            total[mine] += _mix(raw ^ _salt(name))
        at += len(raw)
    return pa.table({"uscc": encoded.dictionary, "raw": pa.array(total)})


def import_digests(
    tables: Mapping[str, tuple[np.ndarray, pa.Array]],
) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """``combined`` of the tables' ``table_digests`` (the same firms in the same order, the same raw
    digests) from each table's ``row_hashes`` and rows' firms (credit codes, null for none), the codes
    of every table hashed once; with each table's rows' firms as rows of the result (-1 for none)."""
    names = sorted(tables)
    codes = pa.chunked_array([tables[n][1] for n in names], type=pa.string())
    encoded = pc.dictionary_encode(codes)
    dictionary = encoded.chunks[-1].dictionary if encoded.num_chunks else pa.array([], pa.string())
    ids = _ids(encoded)
    total = np.zeros(len(dictionary), dtype=np.uint64)
    of_rows: dict[str, np.ndarray] = {}
    at = 0
    for name in names:
        rows = tables[name][0]
        of_rows[name] = mine = ids[at : at + len(rows)]
        at += len(rows)
        firms, sums = _firm_sums(rows, mine)  # each firm once: plain indexing adds each once
        with np.errstate(over="ignore"):
            total[firms] += _mix(sums ^ _salt(name))
    return pa.table({"uscc": dictionary, "raw": pa.array(total)}), of_rows


def as_stored(new: pa.Table, stored: RawDigests | None, recipe_now: str) -> pa.Array:
    """The firms of ``new`` whose raw digest is the stored one, made under the same recipe."""
    return new["uscc"].filter(pa.array(same_as_stored(new, stored, recipe_now))).combine_chunks()


def same_as_stored(new: pa.Table, stored: RawDigests | None, recipe_now: str) -> np.ndarray:
    """Per firm of ``new``, whether its raw digest is the stored one made under the same recipe (a
    mask: the firms' rows are then let go by their place, without looking their codes up again)."""
    if stored is None or stored.recipe != recipe_now or not new.num_rows or not stored.digests.num_rows:
        return np.zeros(new.num_rows, dtype=bool)
    old = stored.digests
    if _same_firms(old, new):
        same = pc.equal(new["raw"], old["raw"])
    else:
        both = new.join(old, keys="uscc", join_type="inner", right_suffix="_stored")
        codes = both.filter(pc.equal(both["raw"], both["raw_stored"]))["uscc"]
        same = pc.is_in(new["uscc"], value_set=codes.combine_chunks())
    return np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)


def _same_firms(old: pa.Table, new: pa.Table) -> bool:
    """Whether two tables of digests name the same firms in the same order (then compared row by row)."""
    return old.num_rows == new.num_rows and bool(old["uscc"].equals(new["uscc"]))


def kept(new: pa.Table, stored: RawDigests | None, recipe_now: str, dropped: pa.Array) -> pa.Table:
    """The raw digests to keep with the register an import makes: this import's (but of the firms
    ``dropped``, whose rows were rejected), and the stored ones of firms it does not name when made
    under the same recipe (in no particular order: it is only joined)."""
    mine = new.filter(pc.invert(pc.is_in(new["uscc"], value_set=dropped))) if len(dropped) else new
    pieces = [mine.select(["uscc", "raw"])]
    if stored is not None and stored.recipe == recipe_now:
        old = stored.digests
        if not _same_firms(old, new):  # (else: none left out)
            pieces.append(
                old.filter(pc.invert(pc.is_in(old["uscc"], value_set=new["uscc"].combine_chunks())))
            )
    return pa.concat_tables([p.cast(pieces[0].schema) for p in pieces])


def write_raw(path: Path, raw: RawDigests) -> None:
    """Write the raw digests with their recipe (in the file's metadata)."""
    import pyarrow.parquet as pq

    table = raw.digests.replace_schema_metadata({_RECIPE_KEY: raw.recipe.encode("utf-8")})
    pq.write_table(table, path, compression="zstd")


def raw_writer(path: Path, recipe_now: str) -> Any:
    """A Parquet writer of raw digests (uscc, raw) made under ``recipe_now``, appended a part at a time
    (``read_raw`` reads the file as ``write_raw``'s)."""
    import pyarrow.parquet as pq

    schema = pa.schema(
        [("uscc", pa.string()), ("raw", pa.uint64())], {_RECIPE_KEY: recipe_now.encode("utf-8")}
    )
    return pq.ParquetWriter(path, schema, compression="zstd")


def read_raw(path: Path, where: Any = None) -> RawDigests | None:
    """The raw digests kept in ``path`` (those of the firms ``where`` selects, a pyarrow filter
    expression, when given); None when there are none (or they cannot be read: then the import reads
    every firm in full, as it always did)."""
    import pyarrow.parquet as pq

    if not path.exists():
        return None
    try:
        table = pq.read_table(path, filters=where)
    except (OSError, pa.ArrowInvalid):
        return None
    meta = table.schema.metadata or {}
    if _RECIPE_KEY not in meta or table.column_names != ["uscc", "raw"]:
        return None
    return RawDigests(meta[_RECIPE_KEY].decode("utf-8"), table.replace_schema_metadata(None))
