"""From the columnar register back to profile objects: the inverse of ``huiqi.firms.table.firms_to_tables``.

The vectorised matcher works on tables; explanations, the firm-facing calculator and the tests work on
``Firm`` objects. This converter lets a few rows of a (synthetic or imported) register be looked at as
profiles, with every validation of the profile model applied.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa

from huiqi.firms.profile import Firm
from huiqi.firms.table import CHILD_TABLES, FIRM_COLUMNS, YEAR_MAPS, year_column

_GROUPS = ("ip", "hq_functions")


def table_years(firms: pa.Table) -> list[int]:
    """The years a firms table has year-map columns for (read from the ``sales_YYYY`` columns)."""
    prefix = f"{YEAR_MAPS[0]}_"
    return sorted(
        int(n[len(prefix) :])
        for n in firms.column_names
        if n.startswith(prefix) and n[len(prefix) :].isdigit()
    )


def firm_data(row: dict[str, Any], years: list[int]) -> dict[str, Any]:
    """One register row as the nested data of a firm profile (year maps and groups rebuilt)."""
    data: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {g: {} for g in _GROUPS}
    for key in FIRM_COLUMNS:
        value = row.get(key)
        group = next((g for g in _GROUPS if key.startswith(g + "_")), None)
        if group is not None:
            if value is not None:
                nested[group][key[len(group) + 1 :]] = value
        elif value is not None:
            data[key] = value
    data.update({g: v for g, v in nested.items() if v})
    for name in YEAR_MAPS:
        data[name] = {
            y: row[year_column(name, y)] for y in years if row.get(year_column(name, y)) is not None
        }
    return data


def tables_to_firms(tables: dict[str, pa.Table]) -> list[Firm]:
    """Profiles of every firm in a register's tables; child rows join their firm by ``uscc``, in order."""
    firms = tables["firms"]
    years = table_years(firms)
    children: dict[str, defaultdict[str, list[dict[str, Any]]]] = {}
    for name in CHILD_TABLES:
        by_firm: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        table = tables.get(name)
        if table is not None:
            for item in table.to_pylist():
                uscc = item.pop("uscc")
                by_firm[uscc].append({k: v for k, v in item.items() if v is not None})
        children[name] = by_firm
    out = []
    for row in firms.to_pylist():
        data = firm_data(row, years)
        for name in CHILD_TABLES:
            data[name] = children[name].get(row["uscc"], [])
        out.append(Firm.model_validate(data))
    return out
