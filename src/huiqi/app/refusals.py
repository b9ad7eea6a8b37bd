"""Every domain's errors module, for an adapter that answers each refusal by its kind (web/errors.py: one
table from exceptions to HTTP statuses), so that the adapter imports no domain package itself.

``huiqi.app.errors`` holds the base classes (``USER_ERRORS``) an adapter catches; this module the classes a
table distinguishes, plus the database's refusal of a value it cannot store (``ValueNotStorable``).
"""

from __future__ import annotations

from sqlalchemy.exc import DataError as ValueNotStorable

from huiqi.accounts import errors as accounts_errors
from huiqi.applications import errors as applications_errors
from huiqi.certificates import errors as certificates_errors
from huiqi.db import errors as db_errors
from huiqi.ledger import errors as ledger_errors
from huiqi.review import errors as review_errors
from huiqi.selection import errors as selection_errors
from huiqi.workflows import errors as workflows_errors

__all__ = [
    "ValueNotStorable",
    "accounts_errors",
    "applications_errors",
    "certificates_errors",
    "db_errors",
    "ledger_errors",
    "review_errors",
    "selection_errors",
    "workflows_errors",
]
