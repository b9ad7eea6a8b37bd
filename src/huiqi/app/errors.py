"""Refusals a user can act on, from every domain: adapters print them (CLI) or answer them (problem+json).

The adapters catch ``USER_ERRORS`` (the base classes) and never import a domain's errors module themselves;
``huiqi.app.refusals`` gives the web's status table the classes it names one by one.
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
from huiqi.firms.exporting import ExportError
from huiqi.firms.importing import ImportError_, ImportRefused
from huiqi.firms.register import RegisterError
from huiqi.jobs.errors import JobError, JobNotFinished, JobNotFound
from huiqi.ledger.errors import LedgerError
from huiqi.matching.errors import EmptyRegister, MatchingError, NoRun
from huiqi.money import MoneyError
from huiqi.publishing.errors import PublishingError
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
    ExportError,
    ImportError_,
    ImportRefused,
    JobError,
    LedgerError,
    MatchingError,
    MoneyError,
    ProfileError,
    ProgrammeError,
    PublishingError,
    RegisterError,
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
    "EmptyRegister",
    "ExportError",
    "FirmProfileNotFound",
    "ImportError_",
    "ImportRefused",
    "InvalidCredentials",
    "InvalidUser",
    "JobError",
    "JobNotFinished",
    "JobNotFound",
    "LastAdmin",
    "LedgerError",
    "MatchingError",
    "MoneyError",
    "NoRun",
    "ProfileError",
    "ProgrammeError",
    "PublishingError",
    "RegisterError",
    "ReviewError",
    "SelectionError",
    "TooManyAttempts",
    "TooManyMoneyWrites",
    "UserExists",
    "UserNotFound",
    "WeakPassword",
    "WorkflowError",
]
