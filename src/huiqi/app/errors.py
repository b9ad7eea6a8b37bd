"""Refusals a user can act on, from every domain: adapters print them (CLI) or answer them (problem+json).

The adapters catch ``UserError`` (the tuple) and never import a domain's errors module themselves.
"""

from __future__ import annotations

from huiqi.accounts.errors import (
    AccountDisabled,
    AccountsError,
    FirmProfileNotFound,
    InvalidCredentials,
    InvalidUser,
    LastAdmin,
    TooManyAttempts,
    TooManyMoneyWrites,
    UserExists,
    UserNotFound,
    WeakPassword,
)
from huiqi.applications.errors import ApplicationsError
from huiqi.certificates.errors import CertificateError
from huiqi.db.errors import DatabaseError, DatabaseNotReady
from huiqi.firms.errors import ProfileError
from huiqi.ledger.errors import LedgerError
from huiqi.money import MoneyError
from huiqi.review.errors import ReviewError
from huiqi.rules.errors import ProgrammeError
from huiqi.selection.errors import SelectionError
from huiqi.workflows.errors import WorkflowError

#: Every domain's base class of refusals: caught by the adapters, the transaction already rolled back.
USER_ERRORS: tuple[type[Exception], ...] = (
    AccountsError,
    ApplicationsError,
    CertificateError,
    DatabaseError,
    LedgerError,
    MoneyError,
    ProfileError,
    ProgrammeError,
    ReviewError,
    SelectionError,
    WorkflowError,
)

__all__ = [
    "USER_ERRORS",
    "AccountDisabled",
    "AccountsError",
    "ApplicationsError",
    "CertificateError",
    "DatabaseError",
    "DatabaseNotReady",
    "FirmProfileNotFound",
    "InvalidCredentials",
    "InvalidUser",
    "LastAdmin",
    "LedgerError",
    "MoneyError",
    "ProfileError",
    "ProgrammeError",
    "ReviewError",
    "SelectionError",
    "TooManyAttempts",
    "TooManyMoneyWrites",
    "UserExists",
    "UserNotFound",
    "WeakPassword",
    "WorkflowError",
]
