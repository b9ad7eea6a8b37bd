"""The Shanghai HQ start-up grant and rent subsidy as an OpenFisca tax-benefit system: huiqi's peer.

Written the way an OpenFisca country package would write it: one person entity ``Firm``; input Variables
(money as ``value_type=float``, which OpenFisca stores as float32); a dated ``ParameterNode`` built in code
for the rates, caps and thresholds; formulas with numpy operations, ``where`` and ``min_``. The register is
read from Parquet with pyarrow and turned into input vectors with pyarrow/numpy (the hq office and the
incentives already received are joined onto the firm vector by ``uscc``); all of that is "input building"
and is timed.

Self-contained on purpose (openfisca-core, numpy and pyarrow; no huiqi import) so that it can run in a
separate virtual environment. As a script it runs one register and prints its timings as JSON::

    python benchmarks/peers/openfisca_hq.py --register DIR --on 2025-06-30 --out result.parquet

Null handling (the rules say a missing value makes its condition false): nullable money becomes NaN and a
missing date NaT, so every comparison that reads one is false, as in SQL. The firm profile never leaves counts
or flags empty; if a register did, they are read as 0 / false.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray
from openfisca_core.entities import build_entity
from openfisca_core.indexed_enums import Enum, EnumArray
from openfisca_core.model_api import DAY, ETERNITY, YEAR, Variable, min_, round_, where
from openfisca_core.parameters import ParameterNode
from openfisca_core.simulation_builder import SimulationBuilder
from openfisca_core.simulations import Simulation
from openfisca_core.taxbenefitsystems import TaxBenefitSystem

STARTUP_GRANT = "shanghai.hq.startup-grant"
RENT_SUBSIDY = "shanghai.hq.rent-subsidy"

#: The Measures (沪发改规范〔2023〕3号) are in force from this date; the parameters start here.
IN_FORCE = "2023-03-01"

Firm = build_entity(
    key="firm",
    plural="firms",
    label="A firm on the register",
    doc="One row of the register's firms table, identified by its unified social credit code.",
    is_person=True,
)


class Sector(Enum):
    integrated_circuits = "Integrated circuits"
    biomedicine = "Biomedicine"
    artificial_intelligence = "Artificial intelligence"
    digital_economy = "Core digital economy"
    other_strategic = "Other strategic emerging industry"
    manufacturing = "Manufacturing"
    software_services = "Software services"
    trade = "Trade"
    finance = "Finance"
    real_estate = "Real estate"
    other = "Other"


STRATEGIC_SECTORS = (
    Sector.integrated_circuits,
    Sector.biomedicine,
    Sector.artificial_intelligence,
    Sector.digital_economy,
    Sector.other_strategic,
)


class ServiceSubsector(Enum):
    none = "Not one of the service subsectors with higher R&D thresholds"
    software = "Software"
    ic_design = "IC design"
    biotech_cro = "Biotech R&D outsourcing"


def _parameter_data() -> dict[str, Any]:
    def value(v: float) -> dict[str, Any]:
        return {"values": {IN_FORCE: {"value": v}}}

    return {
        "shanghai": {
            "hq": {
                "designation": {
                    "min_total_assets": value(200_000_000),
                    "min_market_value": value(2_000_000_000),
                    "min_sales": value(100_000_000),
                    "sales_growth_factor_3y": value(1.728),  # 20 % a year compounded over three years
                    "min_branches_outside_city": value(2),
                    "rd_intensity": value(0.05),
                    "rd_intensity_service": value(0.10),
                    "rd_spending_alternative": value(50_000_000),
                    "rd_in_china_share": value(0.60),
                    "rd_staff_share": value(0.10),
                    "rd_staff_share_service": value(0.20),
                    "rd_staff_alternative": value(100),
                    "min_core_ip": value(15),
                },
                "startup": {
                    "established_from_year": value(2022),  # registered or moved in on/after 1 January
                    "min_paid_in_capital": value(100_000_000),
                    "grant": value(5_000_000),
                },
                "rent_subsidy": {
                    "rate": value(0.30),
                    "max_area_m2": value(1000),
                    "max_rent_per_m2_day": value(8),
                    "days_per_year": value(365),
                    "years": value(3),
                },
            }
        }
    }


# --- input variables --------------------------------------------------------------------------------------


class sector(Variable):
    value_type = Enum
    possible_values = Sector
    default_value = Sector.other
    entity = Firm
    definition_period = ETERNITY
    label = "Sector"


class service_subsector(Variable):
    value_type = Enum
    possible_values = ServiceSubsector
    default_value = ServiceSubsector.none
    entity = Firm
    definition_period = ETERNITY
    label = "Service subsector with higher R&D thresholds"


class registered_in_shanghai(Variable):
    value_type = bool
    entity = Firm
    definition_period = ETERNITY
    label = "Registration city is Shanghai"


class registration_date(Variable):
    value_type = dt.date
    entity = Firm
    definition_period = ETERNITY
    label = "Registration date (NaT if unknown)"


class hq_move_in_date(Variable):
    value_type = dt.date
    entity = Firm
    definition_period = ETERNITY
    label = "Date the HQ moved into Shanghai (NaT if it was registered here)"


def _money(name: str, label: str, period: str = ETERNITY) -> type[Variable]:
    return type(
        name, (Variable,), {"value_type": float, "entity": Firm, "definition_period": period, "label": label}
    )


paid_in_capital = _money("paid_in_capital", "Paid-in capital (yuan)")
total_assets = _money("total_assets", "Total assets (yuan)")
market_value = _money("market_value", "Market value (yuan; NaN if not listed)")
sales = _money("sales", "Annual sales revenue (yuan)", YEAR)
rd_spending = _money("rd_spending", "R&D spending (yuan)", YEAR)
rd_spending_in_china = _money("rd_spending_in_china", "R&D spending incurred in China (yuan)", YEAR)
hq_office_area = _money("hq_office_area", "Area of the HQ office (m2; 0 if none)")
hq_office_rent = _money("hq_office_rent", "Rent of the HQ office (yuan per m2 per day; 0 if none)")


def _count(name: str, label: str) -> type[Variable]:
    return type(
        name, (Variable,), {"value_type": int, "entity": Firm, "definition_period": ETERNITY, "label": label}
    )


employees = _count("employees", "Employees")
rd_staff = _count("rd_staff", "R&D staff")
ip_invention_patents = _count("ip_invention_patents", "Invention patents held in Shanghai")
ip_ic_layout_designs = _count("ip_ic_layout_designs", "IC layout designs held in Shanghai")
ip_software_copyrights = _count("ip_software_copyrights", "Software copyrights held in Shanghai")
branches_outside_city = _count("branches_outside_city", "Branches or invested entities outside Shanghai")


def _flag(name: str, label: str) -> type[Variable]:
    return type(
        name, (Variable,), {"value_type": bool, "entity": Firm, "definition_period": ETERNITY, "label": label}
    )


innovative_drug_or_device = _flag(
    "innovative_drug_or_device", "Holds an innovative drug or device registration"
)
hq_functions_rd = _flag("hq_functions_rd", "Performs R&D as an HQ function in Shanghai")
hq_functions_sales = _flag("hq_functions_sales", "Performs sales as an HQ function in Shanghai")
hq_functions_settlement = _flag(
    "hq_functions_settlement", "Performs settlement as an HQ function in Shanghai"
)
has_hq_office = _flag("has_hq_office", "Has an office marked as its HQ")
received_startup_grant = _flag("received_startup_grant", "Has already received the start-up grant")


# --- formulas ---------------------------------------------------------------------------------------------


class established(Variable):
    value_type = dt.date
    entity = Firm
    definition_period = ETERNITY
    label = "Date the HQ was established in Shanghai: moved in, else registered"

    def formula(firm, period, parameters):
        moved = firm("hq_move_in_date", period)
        return where(np.isnat(moved), firm("registration_date", period), moved)


class meets_hq_criteria(Variable):
    value_type = bool
    entity = Firm
    definition_period = DAY
    label = "Meets the innovative-enterprise HQ designation criteria, on the latest full year's accounts"

    def formula(firm, period, parameters):
        p = parameters(period).shanghai.hq.designation
        year = period.last_year
        service = firm("service_subsector", period) != ServiceSubsector.none
        sector_ = firm("sector", period)
        strategic = np.logical_or.reduce([sector_ == s for s in STRATEGIC_SECTORS])
        size = (firm("total_assets", period) >= p.min_total_assets) + (
            firm("market_value", period) >= p.min_market_value
        )
        sales_y = firm("sales", year)
        growth = (sales_y > p.min_sales) + (
            sales_y >= firm("sales", year.offset(-3)) * p.sales_growth_factor_3y
        )
        functions = (
            firm("hq_functions_rd", period)
            * firm("hq_functions_sales", period)
            * firm("hq_functions_settlement", period)
            * (firm("branches_outside_city", period) >= p.min_branches_outside_city)
        )
        rd_y = firm("rd_spending", year)
        intensity = where(service, p.rd_intensity_service, p.rd_intensity)
        rd = (rd_y >= sales_y * intensity) + (rd_y > p.rd_spending_alternative)
        rd_in_china = firm("rd_spending_in_china", year) >= rd_y * p.rd_in_china_share
        staff_share = where(service, p.rd_staff_share_service, p.rd_staff_share)
        rd_staff_ = firm("rd_staff", period)
        staff = (rd_staff_ >= firm("employees", period) * staff_share) + (rd_staff_ >= p.rd_staff_alternative)
        core_ip = (
            firm("ip_invention_patents", period)
            + firm("ip_ic_layout_designs", period)
            + firm("ip_software_copyrights", period)
        )
        ip = (core_ip >= p.min_core_ip) + firm("innovative_drug_or_device", period)
        return (
            strategic
            * firm("registered_in_shanghai", period)
            * size
            * growth
            * functions
            * rd
            * rd_in_china
            * staff
            * ip
        )


class meets_startup_condition(Variable):
    value_type = bool
    entity = Firm
    definition_period = DAY
    label = "Meets the criteria and was established in Shanghai since 2022 with paid-in capital above 100 M"

    def formula(firm, period, parameters):
        p = parameters(period).shanghai.hq.startup
        since = np.datetime64(f"{int(p.established_from_year):04d}-01-01", "D")
        return (
            firm("meets_hq_criteria", period)
            * (firm("established", period) >= since)
            * (firm("paid_in_capital", period) > p.min_paid_in_capital)
        )


class startup_grant(Variable):
    value_type = float
    entity = Firm
    definition_period = DAY
    label = "Start-up grant (the maximum; yuan)"
    reference = "沪发改规范〔2023〕3号"

    def formula(firm, period, parameters):
        p = parameters(period).shanghai.hq.startup
        eligible = firm("meets_startup_condition", period) * np.logical_not(
            firm("received_startup_grant", period)
        )
        return where(eligible, p.grant, 0)


def add_years(dates: NDArray[np.datetime64], years: int) -> NDArray[np.datetime64]:
    """The same month and day ``years`` later; 29 February becomes 28 February (as SQL's date + interval)."""
    months = dates.astype("datetime64[M]")
    day = dates - months.astype("datetime64[D]")
    target = months + 12 * years
    last_day = (target + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
    deadline: NDArray[np.datetime64] = np.minimum(target.astype("datetime64[D]") + day, last_day)
    return deadline


class rent_subsidy(Variable):
    value_type = float
    entity = Firm
    definition_period = DAY
    label = "Annual rent subsidy for the HQ office in its first three years (yuan)"
    reference = "沪发改规范〔2023〕3号"

    def formula(firm, period, parameters):
        p = parameters(period).shanghai.hq.rent_subsidy
        on = np.datetime64(period.start.date.isoformat(), "D")
        within = on < add_years(firm("established", period), int(p.years))
        eligible = firm("meets_startup_condition", period) * within * firm("has_hq_office", period)
        area = min_(firm("hq_office_area", period), p.max_area_m2)
        rent = min_(firm("hq_office_rent", period), p.max_rent_per_m2_day)
        amount = round_(p.rate * area * rent * p.days_per_year, 2)
        return where(eligible, amount, 0)


class ShanghaiHQ(TaxBenefitSystem):
    """The two programmes and everything they read."""

    def __init__(self) -> None:
        super().__init__([Firm])
        self.parameters = ParameterNode("", data=_parameter_data())
        module = sys.modules[__name__]
        for name in VARIABLES:
            self.add_variable(getattr(module, name))


VARIABLES = (
    "sector", "service_subsector", "registered_in_shanghai", "registration_date", "hq_move_in_date",
    "paid_in_capital", "total_assets", "market_value", "sales", "rd_spending", "rd_spending_in_china",
    "hq_office_area", "hq_office_rent", "employees", "rd_staff", "ip_invention_patents",
    "ip_ic_layout_designs",
    "ip_software_copyrights", "branches_outside_city", "innovative_drug_or_device", "hq_functions_rd",
    "hq_functions_sales", "hq_functions_settlement", "has_hq_office", "received_startup_grant", "established",
    "meets_hq_criteria", "meets_startup_condition", "startup_grant", "rent_subsidy",
)  # fmt: skip


# --- input building ---------------------------------------------------------------------------------------

_FIRM_MONEY = ("paid_in_capital", "total_assets", "market_value")
_FIRM_COUNTS = (
    "employees", "rd_staff", "ip_invention_patents", "ip_ic_layout_designs", "ip_software_copyrights",
    "branches_outside_city",
)  # fmt: skip
_FIRM_FLAGS = (
    "innovative_drug_or_device",
    "hq_functions_rd",
    "hq_functions_sales",
    "hq_functions_settlement",
)


def _year_columns(year: int) -> dict[str, str]:
    """Register column -> OpenFisca variable name, for the years the rules read."""
    return {
        f"sales_{year}": "sales",
        f"sales_{year - 3}": "sales",
        f"rd_spending_{year}": "rd_spending",
        f"rd_spending_in_china_{year}": "rd_spending_in_china",
    }


def read_register(register_dir: Path, on: dt.date) -> dict[str, pa.Table]:
    """Read only the columns the two programmes need from a register directory of Parquet files."""
    year = on.year - 1
    wanted = [
        "uscc", "sector", "service_subsector", "registration_city", "registration_date", "hq_move_in_date",
        *_FIRM_MONEY, *_FIRM_COUNTS, *_FIRM_FLAGS, *_year_columns(year),
    ]  # fmt: skip
    present = set(pq.read_schema(register_dir / "firms.parquet").names)
    tables = {
        "firms": pq.read_table(register_dir / "firms.parquet", columns=[c for c in wanted if c in present])
    }
    money = pa.decimal128(18, 2)
    for name, schema in (
        (
            "offices",
            pa.schema(
                [("uscc", pa.string()), ("hq", pa.bool_()), ("area_m2", money), ("rent_per_m2_day", money)]
            ),
        ),
        ("incentives", pa.schema([("uscc", pa.string()), ("programme", pa.string())])),
    ):
        path = register_dir / f"{name}.parquet"
        tables[name] = pq.read_table(path, columns=schema.names) if path.exists() else schema.empty_table()
    return tables


def _floats(column: pa.ChunkedArray | pa.Array) -> NDArray[np.float32]:
    """Decimal yuan -> float32, as OpenFisca stores ``float`` variables; null -> NaN."""
    values: NDArray[np.float32] = (
        pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float32)
    )
    return values


def _enum_indices(column: pa.ChunkedArray, enum: type[Enum], default: Any) -> EnumArray:
    names = pa.array([item.name for item in enum])
    index = pc.fill_null(pc.index_in(column, value_set=names), default.index)
    return EnumArray(index.to_numpy().astype(np.int16), enum)


def build_inputs(tables: Mapping[str, pa.Table], on: dt.date) -> dict[str, dict[str | None, Any]]:
    """Register tables -> OpenFisca inputs: variable -> period (None for ETERNITY) -> numpy vector."""
    firms = tables["firms"]
    n = firms.num_rows
    year = on.year - 1
    inputs: dict[str, dict[str | None, Any]] = {}

    def col(name: str, type_: pa.DataType) -> pa.ChunkedArray:
        return firms.column(name) if name in firms.column_names else pa.chunked_array([pa.nulls(n, type_)])

    inputs["sector"] = {None: _enum_indices(col("sector", pa.string()), Sector, Sector.other)}
    inputs["service_subsector"] = {
        None: _enum_indices(col("service_subsector", pa.string()), ServiceSubsector, ServiceSubsector.none)
    }
    inputs["registered_in_shanghai"] = {
        None: pc.fill_null(pc.equal(col("registration_city", pa.string()), "Shanghai"), False).to_numpy()
    }
    for name in ("registration_date", "hq_move_in_date"):
        inputs[name] = {None: col(name, pa.date32()).to_numpy().astype("datetime64[D]")}
    for name in _FIRM_MONEY:
        inputs[name] = {None: _floats(col(name, pa.decimal128(18, 2)))}
    for name in _FIRM_COUNTS:
        inputs[name] = {None: pc.fill_null(col(name, pa.int64()), 0).to_numpy().astype(np.int32)}
    for name in _FIRM_FLAGS:
        inputs[name] = {None: pc.fill_null(col(name, pa.bool_()), False).to_numpy()}
    for column, variable in _year_columns(year).items():
        column_year = column.rsplit("_", 1)[1]
        inputs.setdefault(variable, {})[column_year] = _floats(col(column, pa.decimal128(18, 2)))

    # The hq office (at most one a firm) joined onto the firm vector.
    offices = tables["offices"]
    hq = offices.filter(pc.fill_null(offices.column("hq"), False))
    where_hq = pc.index_in(firms.column("uscc"), value_set=hq.column("uscc"))
    has_hq = pc.is_valid(where_hq)
    inputs["has_hq_office"] = {None: has_hq.to_numpy(zero_copy_only=False)}
    for column, variable in (("area_m2", "hq_office_area"), ("rent_per_m2_day", "hq_office_rent")):
        values = _floats(pc.take(hq.column(column), where_hq))
        values[~inputs["has_hq_office"][None]] = 0.0
        inputs[variable] = {None: values}

    incentives = tables["incentives"]
    granted = incentives.filter(pc.equal(incentives.column("programme"), STARTUP_GRANT)).column("uscc")
    inputs["received_startup_grant"] = {
        None: pc.is_in(firms.column("uscc"), value_set=granted).to_numpy(zero_copy_only=False)
    }
    return inputs


def build_simulation(
    system: TaxBenefitSystem, inputs: Mapping[str, Mapping[str | None, Any]], n: int
) -> Simulation:
    builder = SimulationBuilder()
    builder.create_entities(system)
    builder.declare_person_entity("firm", np.arange(n))
    simulation = builder.build(system)
    for variable, by_period in inputs.items():
        for period, vector in by_period.items():
            simulation.set_input(variable, period if period is not None else ETERNITY, vector)
    return simulation


@dataclass(frozen=True)
class Run:
    """One OpenFisca run, in process."""

    uscc: pa.Array
    startup_grant: NDArray[np.float32]
    rent_subsidy: NDArray[np.float32]
    read_seconds: float
    build_seconds: float  # reading included
    compute_seconds: float


def run(register_dir: Path, on: dt.date, system: TaxBenefitSystem | None = None) -> Run:
    """Read, build and compute. Building the tax-benefit system itself (loading the rules) is not timed."""
    if on < dt.date.fromisoformat(IN_FORCE):
        raise ValueError(f"the Measures are in force from {IN_FORCE}; got {on}")
    system = system or ShanghaiHQ()
    t0 = time.perf_counter()
    tables = read_register(register_dir, on)
    t1 = time.perf_counter()
    inputs = build_inputs(tables, on)
    simulation = build_simulation(system, inputs, tables["firms"].num_rows)
    t2 = time.perf_counter()
    day = on.isoformat()
    grant = simulation.calculate("startup_grant", day)
    rent = simulation.calculate("rent_subsidy", day)
    t3 = time.perf_counter()
    return Run(
        uscc=tables["firms"].column("uscc").combine_chunks(),
        startup_grant=np.asarray(grant, dtype=np.float32),
        rent_subsidy=np.asarray(rent, dtype=np.float32),
        read_seconds=t1 - t0,
        build_seconds=t2 - t0,
        compute_seconds=t3 - t2,
    )


def _rss_mib() -> float:
    """Current resident set size (Linux /proc), MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--register", type=Path, required=True, help="directory with firms.parquet, ...")
    parser.add_argument("--on", type=dt.date.fromisoformat, required=True, help="evaluation date YYYY-MM-DD")
    parser.add_argument("--out", type=Path, help="write uscc and both amounts (float32) to this Parquet file")
    args = parser.parse_args(argv)
    system = ShanghaiHQ()
    baseline = _rss_mib()  # interpreter, numpy, pyarrow, openfisca and the rules loaded
    result = run(args.register, args.on, system)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    if args.out:
        pq.write_table(
            pa.table(
                {
                    "uscc": result.uscc,
                    "startup_grant": result.startup_grant,
                    "rent_subsidy": result.rent_subsidy,
                }
            ),
            args.out,
        )
    report = {
        "firms": len(result.uscc),
        "read_seconds": result.read_seconds,
        "build_seconds": result.build_seconds,
        "compute_seconds": result.compute_seconds,
        "seconds": result.build_seconds + result.compute_seconds,
        "peak_rss_mib": peak,
        "baseline_rss_mib": baseline,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
