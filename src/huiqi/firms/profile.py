"""What a register knows about a firm: the input of every programme.

Immutable and strict: unknown fields are errors, money is Decimal yuan exact to the fen, and
counts are integers. Every field is documented because programme files name them
(``firm.paid_in_capital``) and analysts read them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from huiqi.firms.types import Decimal2, Yuan
from huiqi.firms.uscc import UsccError, validate_uscc
from huiqi.money import MAX_MAGNITUDE

#: A count (employees, patents...): a whole number from 0 to the one bound on numbers (huiqi.money).
Count = Annotated[StrictInt, Field(ge=0, le=MAX_MAGNITUDE)]

#: No date in a profile is before this (no firm on a register was registered earlier) ...
DATE_FLOOR = dt.date(1900, 1, 1)
#: ... or after this (a typing error such as 20255-01-01 or 2925 is refused, not believed).
DATE_CEILING = dt.date(2200, 12, 31)
#: China Standard Time: "today" for a date that cannot be in the future.
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")


def plausible_date(value: dt.date) -> dt.date:
    """Refuse a date no register would hold (before 1900, after 2200)."""
    if not DATE_FLOOR <= value <= DATE_CEILING:
        raise ValueError(
            f"{value.isoformat()} is not a plausible date (expected {DATE_FLOOR.isoformat()} to "
            f"{DATE_CEILING.isoformat()})"
        )
    return value


#: How far ahead a registration may be dated: a firm planning its new entity asks the calculator what it
#: would get (the start-up grants are for new entities); a date further ahead is a typing error.
MAX_AHEAD = dt.timedelta(days=2 * 365)


def past_date(value: dt.date) -> dt.date:
    """Refuse a registration date far in the future (2099): a typing error, not a plan."""
    plausible_date(value)
    today = dt.datetime.now(CHINA).date()
    if value > today + MAX_AHEAD:
        raise ValueError(
            f"{value.isoformat()} is more than two years in the future (today is {today.isoformat()} in "
            "China): not a registration date"
        )
    return value


#: A date within the plausible range.
Date = Annotated[dt.date, AfterValidator(plausible_date)]
#: A registration date: plausible and at most two years ahead.
PastDate = Annotated[dt.date, AfterValidator(past_date)]


class Sector(StrEnum):
    """The sector taxonomy (docs/firms.md). The first five are the strategic emerging industries."""

    INTEGRATED_CIRCUITS = "integrated_circuits"
    BIOMEDICINE = "biomedicine"
    ARTIFICIAL_INTELLIGENCE = "artificial_intelligence"
    DIGITAL_ECONOMY = "digital_economy"
    OTHER_STRATEGIC = "other_strategic"
    MANUFACTURING = "manufacturing"
    SOFTWARE_SERVICES = "software_services"
    TRADE = "trade"
    FINANCE = "finance"
    REAL_ESTATE = "real_estate"
    OTHER = "other"


STRATEGIC_SECTORS = frozenset(
    {
        Sector.INTEGRATED_CIRCUITS,
        Sector.BIOMEDICINE,
        Sector.ARTIFICIAL_INTELLIGENCE,
        Sector.DIGITAL_ECONOMY,
        Sector.OTHER_STRATEGIC,
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False, use_enum_values=False)


class CoreIP(_Strict):
    """Core intellectual property held in the registration city."""

    invention_patents: Count = 0
    ic_layout_designs: Count = 0
    software_copyrights: Count = 0


class HqFunctions(_Strict):
    """Which headquarters functions the firm performs in the city."""

    rd: StrictBool = False
    sales: StrictBool = False
    settlement: StrictBool = False


class Office(_Strict):
    """An office the firm occupies. For an owned office, ``rent_per_m2_day`` is its assessed market rent."""

    district: str | None = None
    area_m2: Decimal2 = Field(ge=0)
    rent_per_m2_day: Yuan = Field(ge=0)
    tenure: Literal["rented", "owned"]
    hq: StrictBool = False
    since: Date | None = None


class Designation(_Strict):
    """A recognition the firm holds (``high-tech``, ``shanghai.hq.designation``...)."""

    code: str = Field(min_length=1)
    since: Date | None = None


class Incentive(_Strict):
    """An incentive already received: the programme id, the item (a tier, a contract), amount and date."""

    programme: str = Field(min_length=1)
    item: str | None = None
    amount: Yuan = Field(ge=0)
    date: Date


ContractKind = Literal[
    "compute_rental", "compute_purchase", "compute_selfbuild", "model_use", "corpus_purchase"
]


class Contract(_Strict):
    """A contract the firm may claim a voucher for. ``claimed`` marks one already claimed under any scheme."""

    id: str = Field(min_length=1)
    kind: ContractKind
    counterparty: str = Field(min_length=1)
    affiliated: StrictBool = False
    value: Yuan = Field(ge=0)
    signed: Date
    term_months: Count = 12
    invoiced: Yuan = Field(default=Decimal("0.00"), ge=0)
    paid: Yuan = Field(default=Decimal("0.00"), ge=0)
    delivered: Yuan = Field(default=Decimal("0.00"), ge=0)
    claimed: StrictBool = False


class CreditEvent(_Strict):
    """A record on the firm's credit file (serious dishonesty, administrative penalty...)."""

    date: Date
    kind: str = Field(min_length=1)


def _year_key(value: object) -> object:
    """JSON object keys are always strings: read ``"2024"`` as the year 2024 (``"2024.0"`` stays an error)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value


YearKey = Annotated[StrictInt, BeforeValidator(_year_key)]
YearMap = dict[YearKey, Yuan]


class Firm(_Strict):
    """A firm's profile as the register knows it."""

    uscc: str = Field(description="unified social credit code (GB 32100-2015), 18 characters")
    name_zh: str = Field(min_length=1)
    name_en: str | None = None
    sector: Sector
    service_subsector: Literal["software", "ic_design", "biotech_cro"] | None = Field(
        default=None,
        description="set for the service sectors with higher R&D thresholds (software, IC design, "
        "biotech R&D outsourcing)",
    )
    enterprise_type: Literal["industrial", "service"] = "industrial"
    district: str | None = None
    registration_city: str
    registration_date: PastDate
    hq_move_in_date: Date | None = Field(
        default=None, description="when the HQ moved into the city; empty if it was registered here"
    )
    registered_capital: Yuan = Field(ge=0)
    paid_in_capital: Yuan = Field(ge=0)
    total_assets: Yuan = Field(ge=0)
    market_value: Yuan | None = Field(default=None, ge=0, description="for listed firms")
    sales: YearMap = Field(default_factory=dict, description="annual sales revenue by calendar year")
    rd_spending: YearMap = Field(default_factory=dict, description="R&D spending by year")
    rd_spending_in_china: YearMap = Field(default_factory=dict, description="R&D spending incurred in China")
    district_contribution: YearMap = Field(
        default_factory=dict, description="'comprehensive contribution' to its district, by year"
    )
    employees: Count = 0
    rd_staff: Count = 0
    ip: CoreIP = CoreIP()
    innovative_drug_or_device: StrictBool = Field(
        default=False, description="holds an innovative drug or class II/III medical device registration"
    )
    branches_outside_city: Count = 0
    hq_functions: HqFunctions = HqFunctions()
    offices: tuple[Office, ...] = ()
    designations: tuple[Designation, ...] = ()
    incentives: tuple[Incentive, ...] = ()
    contracts: tuple[Contract, ...] = ()
    credit_events: tuple[CreditEvent, ...] = ()

    @field_validator("uscc")
    @classmethod
    def _valid_uscc(cls, value: str) -> str:
        try:
            return validate_uscc(value)
        except UsccError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("sales", "rd_spending", "rd_spending_in_china", "district_contribution")
    @classmethod
    def _plausible_years(cls, value: dict[int, object]) -> dict[int, object]:
        for year in value:
            if not 1900 <= year <= 2200:
                raise ValueError(f"year {year} is out of range (1900-2200)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Firm:
        if self.rd_staff > self.employees:
            raise ValueError(f"rd_staff ({self.rd_staff}) cannot exceed employees ({self.employees})")
        if sum(1 for o in self.offices if o.hq) > 1:
            raise ValueError("at most one office may be marked hq: true")
        seen: set[str] = set()
        for c in self.contracts:
            if c.id in seen:
                raise ValueError(f"contract id {c.id!r} appears twice")
            seen.add(c.id)
        return self
