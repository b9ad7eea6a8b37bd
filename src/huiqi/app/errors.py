"""Refusals a user can act on, from every domain: adapters print them (CLI) or answer them (problem+json).

The one module of what the application refuses, so that no adapter imports a domain package: the base
classes the adapters catch (``USER_ERRORS``), the classes the CLI and the pages name, every domain's errors
module for an adapter that answers each refusal by its kind (web/errors.py: one table from exceptions to
HTTP statuses), and the database's refusal of a value it cannot store (``ValueNotStorable``).
"""

from __future__ import annotations

from sqlalchemy.exc import DataError as ValueNotStorable

from huiqi.accounts import errors as accounts_errors
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
from huiqi.applications import errors as applications_errors
from huiqi.applications.errors import ApplicationsError
from huiqi.applications.evidence import (
    EvidenceContentRefused,
    EvidenceNameRefused,
    EvidenceNotAccepted,
    EvidenceRefused,
)
from huiqi.certificates import errors as certificates_errors
from huiqi.certificates.errors import CertificateError
from huiqi.db import errors as db_errors
from huiqi.db.errors import DatabaseError, DatabaseNotReady
from huiqi.firms.errors import ProfileError
from huiqi.firms.exporting import ExportError
from huiqi.firms.importing import ImportError_, ImportRefused
from huiqi.firms.register import RegisterError
from huiqi.jobs.errors import JobError, JobNotFinished, JobNotFound
from huiqi.ledger import errors as ledger_errors
from huiqi.ledger.errors import LedgerError
from huiqi.matching.errors import EmptyRegister, MatchingError, NoRun, RegisterNotEmpty, UnknownBackend
from huiqi.money import MoneyError
from huiqi.publishing import errors as publishing_errors
from huiqi.publishing.errors import PublishingError
from huiqi.review import errors as review_errors
from huiqi.review.errors import ReviewError
from huiqi.rules.errors import ProgrammeError
from huiqi.selection import errors as selection_errors
from huiqi.selection.errors import SelectionError
from huiqi.simulation.reform import ReformError
from huiqi.workflows import errors as workflows_errors
from huiqi.workflows.approvals import AlreadyAwaiting, ApprovalNotAwaiting
from huiqi.workflows.approvals import ReasonRequired as MoveReasonRequired
from huiqi.workflows.errors import WorkflowError
from huiqi.workflows.payable import TrancheNotPayable

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
    "AlreadyAwaiting",
    "ApplicationsError",
    "ApprovalNotAwaiting",
    "CertificateError",
    "DatabaseError",
    "DatabaseNotReady",
    "EmptyRegister",
    "EvidenceContentRefused",
    "EvidenceNameRefused",
    "EvidenceNotAccepted",
    "EvidenceRefused",
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
    "MoveReasonRequired",
    "NoRun",
    "ProfileError",
    "ProgrammeError",
    "PublishingError",
    "ReformError",
    "RegisterError",
    "RegisterNotEmpty",
    "ReviewError",
    "SelectionError",
    "TooManyAttempts",
    "TooManyMoneyWrites",
    "TrancheNotPayable",
    "UnknownBackend",
    "UserExists",
    "UserNotFound",
    "ValueNotStorable",
    "WeakPassword",
    "WorkflowError",
    "accounts_errors",
    "applications_errors",
    "certificates_errors",
    "db_errors",
    "ledger_errors",
    "publishing_errors",
    "review_errors",
    "selection_errors",
    "workflows_errors",
]
