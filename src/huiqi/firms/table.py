"""The register as columnar tables: one row a firm, plus one table per list in the profile.

This layout is the contract between the register (import, synthetic generation) and the vectorised
rules compiler. Nested objects flatten with ``_`` (``ip.invention_patents`` -> ``ip_invention_patents``);
year maps become one column a year (``sales_2023``); lists become child tables keyed by ``uscc``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pyarrow as pa

from huiqi.firms.profile import Firm

MONEY = pa.decimal128(18, 2)

#: Scalar columns of the firms table, in order (year-map columns follow, see ``YEAR_MAPS``).
FIRM_COLUMNS: dict[str, pa.DataType] = {
    "uscc": pa.string(),
    "name_zh": pa.string(),
    "name_en": pa.string(),
    "sector": pa.string(),
    "service_subsector": pa.string(),
    "enterprise_type": pa.string(),
    "district": pa.string(),
    "registration_city": pa.string(),
    "registration_date": pa.date32(),
    "hq_move_in_date": pa.date32(),
    "registered_capital": MONEY,
    "paid_in_capital": MONEY,
    "total_assets": MONEY,
    "market_value": MONEY,
    "employees": pa.int64(),
    "rd_staff": pa.int64(),
    "ip_invention_patents": pa.int64(),
    "ip_ic_layout_designs": pa.int64(),
    "ip_software_copyrights": pa.int64(),
    "innovative_drug_or_device": pa.bool_(),
    "branches_outside_city": pa.int64(),
    "hq_functions_rd": pa.bool_(),
    "hq_functions_sales": pa.bool_(),
    "hq_functions_settlement": pa.bool_(),
}

#: Year-keyed money maps; each becomes columns ``{name}_{year}``.
YEAR_MAPS = ("sales", "rd_spending", "rd_spending_in_china", "district_contribution")

#: Child tables: list field -> its columns (besides ``uscc``).
CHILD_TABLES: dict[str, dict[str, pa.DataType]] = {
    "offices": {
        "district": pa.string(),
        "area_m2": MONEY,
        "rent_per_m2_day": MONEY,
        "tenure": pa.string(),
        "hq": pa.bool_(),
        "since": pa.date32(),
    },
    "designations": {"code": pa.string(), "since": pa.date32()},
    "incentives": {"programme": pa.string(), "item": pa.string(), "amount": MONEY, "date": pa.date32()},
    "contracts": {
        "id": pa.string(),
        "kind": pa.string(),
        "counterparty": pa.string(),
        "affiliated": pa.bool_(),
        "value": MONEY,
        "signed": pa.date32(),
        "term_months": pa.int64(),
        "invoiced": MONEY,
        "paid": MONEY,
        "delivered": MONEY,
        "claimed": pa.bool_(),
    },
    "credit_events": {"date": pa.date32(), "kind": pa.string()},
}


def year_column(name: str, year: int) -> str:
    return f"{name}_{year}"


def firm_schema(years: Iterable[int]) -> pa.Schema:
    fields = [pa.field(n, t) for n, t in FIRM_COLUMNS.items()]
    for name in YEAR_MAPS:
        fields += [pa.field(year_column(name, y), MONEY) for y in sorted(years)]
    return pa.schema(fields)


def child_schema(name: str) -> pa.Schema:
    fields = [pa.field(n, t) for n, t in CHILD_TABLES[name].items()]
    return pa.schema([pa.field("uscc", pa.string()), *fields])


def _flat(firm: Firm) -> dict[str, Any]:
    data = firm.model_dump(mode="python")
    row: dict[str, Any] = {}
    for key in FIRM_COLUMNS:
        if key in data:
            value = data[key]
            row[key] = value.value if hasattr(value, "value") and not isinstance(value, Decimal) else value
    for group in ("ip", "hq_functions"):
        for k, v in data[group].items():
            row[f"{group}_{k}"] = v
    for name in YEAR_MAPS:
        for year, amount in data[name].items():
            row[year_column(name, year)] = amount
    return row


def firms_to_tables(firms: Iterable[Firm], *, years: Iterable[int] | None = None) -> dict[str, pa.Table]:
    """Flatten profiles into the ``firms`` table and the child tables, with the register's exact types.

    ``years`` fixes the year columns (a register's years); by default, the years the profiles mention.
    """
    firm_list = list(firms)
    if years is None:
        years = sorted({y for f in firm_list for name in YEAR_MAPS for y in getattr(f, name)})
    else:
        years = sorted(years)
    schema = firm_schema(years)
    rows = [_flat(f) for f in firm_list]
    tables = {
        "firms": pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema)
    }
    for name in CHILD_TABLES:
        cschema = child_schema(name)
        child_rows = [
            {"uscc": f.uscc, **item.model_dump(mode="python")} for f in firm_list for item in getattr(f, name)
        ]
        tables[name] = pa.Table.from_pylist(child_rows, schema=cschema)
    return tables
