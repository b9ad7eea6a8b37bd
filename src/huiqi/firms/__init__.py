"""The firm profile: what a register knows about a firm, validated and exact."""

from huiqi.firms.errors import FieldProblem, ProfileError
from huiqi.firms.io import firm_from_data, load_firm
from huiqi.firms.profile import (
    STRATEGIC_SECTORS,
    Contract,
    CoreIP,
    CreditEvent,
    Designation,
    Firm,
    HqFunctions,
    Incentive,
    Office,
    Sector,
)
from huiqi.firms.uscc import UsccError, make_uscc, validate_uscc

__all__ = [
    "STRATEGIC_SECTORS",
    "Contract",
    "CoreIP",
    "CreditEvent",
    "Designation",
    "FieldProblem",
    "Firm",
    "HqFunctions",
    "Incentive",
    "Office",
    "ProfileError",
    "Sector",
    "UsccError",
    "firm_from_data",
    "load_firm",
    "make_uscc",
    "validate_uscc",
]
