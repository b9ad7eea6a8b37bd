"""The exact reference for the Shanghai HQ start-up grant and rent subsidy: decimal arithmetic, no floats.

Independent of huiqi's rules engine and of the OpenFisca peer: the two programmes are written out twice here,
once per firm in Python ``Decimal`` (``firm_awards``, the readable statement of the rules) and once over whole
columns with pyarrow's decimal128 kernels (``exact_reference``, fast enough for millions of firms). Both are
exact; the tests check that they agree. Amounts are kept as integer fen.

The rules, for an evaluation date D and Y = year(D) - 1; a missing value (null) makes its condition false:

designation criteria (all of)
 1. sector is one of the five strategic emerging industries
 2. registration_city == "Shanghai"
 3. total_assets >= 200,000,000 or market_value >= 2,000,000,000
 4. sales_Y > 100,000,000 or sales_Y >= sales_{Y-3} x 1.728
 5. hq_functions rd, sales and settlement; and branches_outside_city >= 2
 6. rd_spending_Y >= sales_Y x r (r = 0.10 with a service_subsector, else 0.05) or rd_spending_Y > 50,000,000
 7. rd_spending_in_china_Y >= rd_spending_Y x 0.60
 8. rd_staff >= employees x s (s = 0.20 with a service_subsector, else 0.10) or rd_staff >= 100
 9. ip_invention_patents + ip_ic_layout_designs + ip_software_copyrights >= 15 or innovative_drug_or_device
start-up condition: the criteria, established = coalesce(hq_move_in_date, registration_date) >= 2022-01-01
and paid_in_capital > 100,000,000.
start-up grant: the start-up condition and no incentive from ``shanghai.hq.startup-grant``: 5,000,000.00.
rent subsidy: the start-up condition, D < established + 3 years (same month and day; 29 February -> 28
February) and an hq office: round_half_up(0.30 x min(area_m2, 1000) x min(rent_per_m2_day, 8) x 365, 2).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

STARTUP_GRANT = "shanghai.hq.startup-grant"
RENT_SUBSIDY = "shanghai.hq.rent-subsidy"
PROGRAMMES = (STARTUP_GRANT, RENT_SUBSIDY)

STRATEGIC_SECTORS = (
    "integrated_circuits",
    "biomedicine",
    "artificial_intelligence",
    "digital_economy",
    "other_strategic",
)
CENT = Decimal("0.01")
GRANT = Decimal("5000000.00")
ESTABLISHED_FROM = dt.date(2022, 1, 1)
MONEY = pa.decimal128(18, 2)


def add_years(day: dt.date, years: int) -> dt.date:
    """The same month and day ``years`` later; 29 February becomes 28 February."""
    year = day.year + years
    return dt.date(year, day.month, min(day.day, calendar.monthrange(year, day.month)[1]))


# --- one firm, in Decimal ---------------------------------------------------------------------------------


def _ge(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a >= b


def _gt(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a > b


def _times(a: Any, b: Decimal) -> Decimal | None:
    return None if a is None else a * b


def meets_criteria(firm: Mapping[str, Any], on: dt.date) -> bool:
    """The nine designation criteria for one firm (a row of the firms table: Decimal money, ints, dates)."""
    y = on.year - 1
    service = firm.get("service_subsector") is not None
    sales_y = firm.get(f"sales_{y}")
    rd_y = firm.get(f"rd_spending_{y}")
    ip: list[int | None] = [
        firm.get(k) for k in ("ip_invention_patents", "ip_ic_layout_designs", "ip_software_copyrights")
    ]
    known_ip = [i for i in ip if i is not None]
    return (
        firm.get("sector") in STRATEGIC_SECTORS
        and firm.get("registration_city") == "Shanghai"
        and (_ge(firm.get("total_assets"), 200_000_000) or _ge(firm.get("market_value"), 2_000_000_000))
        and (_gt(sales_y, 100_000_000) or _ge(sales_y, _times(firm.get(f"sales_{y - 3}"), Decimal("1.728"))))
        and firm.get("hq_functions_rd") is True
        and firm.get("hq_functions_sales") is True
        and firm.get("hq_functions_settlement") is True
        and _ge(firm.get("branches_outside_city"), 2)
        and (_ge(rd_y, _times(sales_y, Decimal("0.10" if service else "0.05"))) or _gt(rd_y, 50_000_000))
        and _ge(firm.get(f"rd_spending_in_china_{y}"), _times(rd_y, Decimal("0.60")))
        and (
            _ge(firm.get("rd_staff"), _times(firm.get("employees"), Decimal("0.20" if service else "0.10")))
            or _ge(firm.get("rd_staff"), 100)
        )
        and (
            (len(known_ip) == len(ip) and sum(known_ip) >= 15)
            or firm.get("innovative_drug_or_device") is True
        )
    )


def established(firm: Mapping[str, Any]) -> dt.date | None:
    moved: dt.date | None = firm.get("hq_move_in_date")
    return moved if moved is not None else firm.get("registration_date")


def meets_startup_condition(firm: Mapping[str, Any], on: dt.date) -> bool:
    return (
        meets_criteria(firm, on)
        and _ge(established(firm), ESTABLISHED_FROM)
        and _gt(firm.get("paid_in_capital"), 100_000_000)
    )


def firm_awards(
    firm: Mapping[str, Any], hq_office: Mapping[str, Any] | None, has_grant: bool, on: dt.date
) -> tuple[Decimal, Decimal]:
    """(start-up grant, rent subsidy) for one firm, exact to the fen."""
    if not meets_startup_condition(firm, on):
        return Decimal("0.00"), Decimal("0.00")
    grant = Decimal("0.00") if has_grant else GRANT
    since = established(firm)
    assert since is not None
    rent = Decimal("0.00")
    if hq_office is not None and on < add_years(since, 3):
        area, price = hq_office.get("area_m2"), hq_office.get("rent_per_m2_day")
        if area is not None and price is not None:
            amount = Decimal("0.30") * min(area, Decimal(1000)) * min(price, Decimal(8)) * 365
            rent = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return grant, rent


def exact_reference_scalar(tables: Mapping[str, pa.Table], on: dt.date) -> dict[str, tuple[Decimal, Decimal]]:
    """Both programmes firm by firm in Decimal: uscc -> (start-up grant, rent subsidy)."""
    offices = {r["uscc"]: r for r in tables["offices"].to_pylist() if r["hq"] is True}
    granted = {r["uscc"] for r in tables["incentives"].to_pylist() if r["programme"] == STARTUP_GRANT}
    return {
        firm["uscc"]: firm_awards(firm, offices.get(firm["uscc"]), firm["uscc"] in granted, on)
        for firm in tables["firms"].to_pylist()
    }


# --- all firms, with pyarrow decimal kernels --------------------------------------------------------------


@dataclass(frozen=True)
class ExactResult:
    """Exact amounts per firm, in the firms table's order, as integer fen."""

    uscc: pa.Array
    startup_grant_fen: NDArray[np.int64]
    rent_subsidy_fen: NDArray[np.int64]

    def fen(self, programme: str) -> NDArray[np.int64]:
        return {STARTUP_GRANT: self.startup_grant_fen, RENT_SUBSIDY: self.rent_subsidy_fen}[programme]

    def awards(self) -> dict[str, int]:
        """How many firms get a non-zero amount, per programme."""
        return {p: int(np.count_nonzero(self.fen(p))) for p in PROGRAMMES}

    def to_dict(self) -> dict[str, tuple[Decimal, Decimal]]:
        """uscc -> (start-up grant, rent subsidy) in Decimal yuan."""
        return {
            u: (Decimal(int(g)).scaleb(-2), Decimal(int(r)).scaleb(-2))
            for u, g, r in zip(
                self.uscc.to_pylist(), self.startup_grant_fen, self.rent_subsidy_fen, strict=True
            )
        }


def _dec(value: str | int) -> pa.Scalar:
    d = Decimal(value)
    digits = len(d.as_tuple().digits)
    scale = max(0, -int(d.as_tuple().exponent))
    return pa.scalar(d, pa.decimal128(max(digits, scale + 1), scale))


def _true(condition: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A condition that read a null is false."""
    return pc.fill_null(condition, False)


def _any(*conditions: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    out = _true(conditions[0])
    for c in conditions[1:]:
        out = pc.or_(out, _true(c))
    return out


def _all(*conditions: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    out = _true(conditions[0])
    for c in conditions[1:]:
        out = pc.and_(out, _true(c))
    return out


def _to_fen(amount: pa.ChunkedArray | pa.Array) -> NDArray[np.int64]:
    """Decimal yuan with at most two places -> int64 fen (the casts are checked: nothing is truncated)."""
    cents = pc.multiply(pc.cast(amount, MONEY), _dec(100))
    return np.asarray(pc.cast(cents, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def exact_reference_tables(tables: Mapping[str, pa.Table], on: dt.date) -> ExactResult:
    firms = tables["firms"]
    n = firms.num_rows
    y = on.year - 1

    def col(name: str, type_: pa.DataType = MONEY) -> pa.ChunkedArray:
        return firms.column(name) if name in firms.column_names else pa.chunked_array([pa.nulls(n, type_)])

    service = pc.is_valid(col("service_subsector", pa.string()))
    sales_y, rd_y = col(f"sales_{y}"), col(f"rd_spending_{y}")
    rd_staff = pc.cast(col("rd_staff", pa.int64()), pa.decimal128(19, 0))
    employees = pc.cast(col("employees", pa.int64()), pa.decimal128(19, 0))
    core_ip = pc.add(
        pc.add(col("ip_invention_patents", pa.int64()), col("ip_ic_layout_designs", pa.int64())),
        col("ip_software_copyrights", pa.int64()),
    )
    criteria = _all(
        pc.is_in(col("sector", pa.string()), value_set=pa.array(STRATEGIC_SECTORS)),
        pc.equal(col("registration_city", pa.string()), "Shanghai"),
        _any(
            pc.greater_equal(col("total_assets"), _dec(200_000_000)),
            pc.greater_equal(col("market_value"), _dec(2_000_000_000)),
        ),
        _any(
            pc.greater(sales_y, _dec(100_000_000)),
            pc.greater_equal(sales_y, pc.multiply(col(f"sales_{y - 3}"), _dec("1.728"))),
        ),
        col("hq_functions_rd", pa.bool_()),
        col("hq_functions_sales", pa.bool_()),
        col("hq_functions_settlement", pa.bool_()),
        pc.greater_equal(col("branches_outside_city", pa.int64()), 2),
        _any(
            pc.greater_equal(
                rd_y,
                pc.if_else(service, pc.multiply(sales_y, _dec("0.10")), pc.multiply(sales_y, _dec("0.05"))),
            ),
            pc.greater(rd_y, _dec(50_000_000)),
        ),
        pc.greater_equal(col(f"rd_spending_in_china_{y}"), pc.multiply(rd_y, _dec("0.60"))),
        _any(
            pc.greater_equal(
                rd_staff,
                pc.if_else(
                    service, pc.multiply(employees, _dec("0.20")), pc.multiply(employees, _dec("0.10"))
                ),
            ),
            pc.greater_equal(rd_staff, _dec(100)),
        ),
        _any(pc.greater_equal(core_ip, 15), col("innovative_drug_or_device", pa.bool_())),
    )
    since = pc.coalesce(col("hq_move_in_date", pa.date32()), col("registration_date", pa.date32()))
    startup = _all(
        criteria,
        pc.greater_equal(since, pa.scalar(ESTABLISHED_FROM, pa.date32())),
        pc.greater(col("paid_in_capital"), _dec(100_000_000)),
    )

    granted = tables["incentives"].filter(pc.equal(tables["incentives"].column("programme"), STARTUP_GRANT))
    first_grant = pc.and_(
        startup, pc.invert(pc.is_in(firms.column("uscc"), value_set=granted.column("uscc")))
    )
    grant_fen = np.where(_true(first_grant).to_numpy(zero_copy_only=False), int(GRANT * 100), 0).astype(
        np.int64
    )

    # D < established + 3 years, compared as (year, month, day) with 29 February read as 28 February.
    day = pc.day(since)
    day = pc.if_else(pc.and_(pc.equal(pc.month(since), 2), pc.equal(day, 29)), 28, day)
    deadline_key = pc.add(
        pc.add(pc.multiply(pc.add(pc.year(since), 3), 10_000), pc.multiply(pc.month(since), 100)), day
    )
    on_key = on.year * 10_000 + on.month * 100 + on.day
    offices = tables["offices"]
    hq = offices.filter(pc.fill_null(offices.column("hq"), False))
    where_hq = pc.index_in(firms.column("uscc"), value_set=hq.column("uscc"))
    area = pc.take(hq.column("area_m2"), where_hq)
    price = pc.take(hq.column("rent_per_m2_day"), where_hq)
    # Capped values fit decimal128(6, 2) and (3, 2); the casts are checked, so the product stays exact.
    area = pc.cast(
        pc.min_element_wise(area, pa.scalar(Decimal(1000), MONEY), skip_nulls=False), pa.decimal128(6, 2)
    )
    price = pc.cast(
        pc.min_element_wise(price, pa.scalar(Decimal(8), MONEY), skip_nulls=False), pa.decimal128(3, 2)
    )
    amount = pc.multiply(pc.multiply(pc.multiply(area, price), _dec("0.30")), _dec(365))
    amount = pc.round(amount, ndigits=2, round_mode="half_up")
    rent_eligible = _all(startup, pc.greater(deadline_key, on_key), pc.is_valid(amount))
    rent_fen = np.where(
        rent_eligible.to_numpy(zero_copy_only=False), _to_fen(pc.fill_null(amount, _dec(0))), 0
    )
    return ExactResult(
        uscc=firms.column("uscc").combine_chunks(),
        startup_grant_fen=grant_fen,
        rent_subsidy_fen=rent_fen.astype(np.int64),
    )


def read_register(register_dir: Path, on: dt.date) -> dict[str, pa.Table]:
    """The columns the two programmes read, from a register directory of Parquet files."""
    y = on.year - 1
    wanted = {
        "uscc", "sector", "service_subsector", "registration_city", "registration_date", "hq_move_in_date",
        "paid_in_capital", "total_assets", "market_value", "employees", "rd_staff", "ip_invention_patents",
        "ip_ic_layout_designs", "ip_software_copyrights", "innovative_drug_or_device",
        "branches_outside_city",
        "hq_functions_rd", "hq_functions_sales", "hq_functions_settlement",
        f"sales_{y}", f"sales_{y - 3}", f"rd_spending_{y}", f"rd_spending_in_china_{y}",
    }  # fmt: skip
    names = pq.read_schema(register_dir / "firms.parquet").names
    tables = {
        "firms": pq.read_table(register_dir / "firms.parquet", columns=[c for c in names if c in wanted])
    }
    for name, schema in (
        ("offices", pa.schema([("uscc", pa.string()), ("hq", pa.bool_()), ("area_m2", MONEY),
                               ("rent_per_m2_day", MONEY)])),
        ("incentives", pa.schema([("uscc", pa.string()), ("programme", pa.string())])),
    ):  # fmt: skip
        path = register_dir / f"{name}.parquet"
        tables[name] = pq.read_table(path, columns=schema.names) if path.exists() else schema.empty_table()
    return tables


def exact_reference(register_dir: Path, on: dt.date) -> ExactResult:
    """Both programmes over a register directory, exactly (pyarrow decimal128)."""
    return exact_reference_tables(read_register(register_dir, on), on)


# --- comparing a float peer with the reference ------------------------------------------------------------


class FloatAwards(Protocol):
    """What ``count_inexact`` needs from a peer's result."""

    @property
    def uscc(self) -> Any: ...
    @property
    def startup_grant(self) -> NDArray[np.float32]: ...
    @property
    def rent_subsidy(self) -> NDArray[np.float32]: ...


def float_to_fen(values: NDArray[np.floating[Any]]) -> NDArray[np.int64]:
    """``Decimal(float(x)).quantize(Decimal("0.01"), ROUND_HALF_UP)`` in fen, for a whole float32 vector.

    Exact: a float32 has 24 significant bits, so x * 100 is exact in float64, and so is adding 0.5 (below
    2**52).
    NaN and infinities (an award no-one could pay) become -1, which never matches an exact amount.
    """
    x = np.asarray(values, dtype=np.float64) * 100
    finite = np.isfinite(x)
    fen = np.where(x >= 0, np.floor(np.where(finite, x, 0) + 0.5), -np.floor(-np.where(finite, x, 0) + 0.5))
    return np.where(finite, fen, -1).astype(np.int64)


def _aligned(peer_uscc: Iterable[str] | pa.Array, exact: ExactResult) -> NDArray[np.int64] | None:
    """Positions in ``exact`` of the peer's firms, or None when both are in the same order."""
    peer = peer_uscc if isinstance(peer_uscc, pa.Array | pa.ChunkedArray) else pa.array(list(peer_uscc))
    if len(peer) == len(exact.uscc) and pc.all(pc.equal(peer, exact.uscc)).as_py():
        return None
    index = pc.index_in(peer, value_set=exact.uscc)
    if index.null_count:
        raise ValueError(f"{index.null_count} firms of the peer are not in the exact reference")
    return np.asarray(index.to_numpy(), dtype=np.int64)


def count_inexact(peer: FloatAwards, exact: ExactResult) -> dict[str, int]:
    """Per programme, how many of the peer's amounts are off by 0.01 yuan or more (rounded to the fen)."""
    order = _aligned(peer.uscc, exact)
    out: dict[str, int] = {}
    for programme, amounts in ((STARTUP_GRANT, peer.startup_grant), (RENT_SUBSIDY, peer.rent_subsidy)):
        truth = exact.fen(programme) if order is None else exact.fen(programme)[order]
        out[programme] = int(np.count_nonzero(float_to_fen(amounts) != truth))
    return out
