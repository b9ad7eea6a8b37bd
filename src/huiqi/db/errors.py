"""Database-level conditions a user can act on."""

from __future__ import annotations


class DatabaseError(Exception):
    """Base class for persistence problems."""


class TooManyRetries(DatabaseError):
    """The transaction kept conflicting with concurrent writers; the work was not done and may be retried."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(
            f"gave up after {attempts} attempts because of concurrent writers ({type(last).__name__}: "
            f"{str(last).splitlines()[0] if str(last) else ''}); nothing was written, try again"
        )
        self.attempts = attempts
        self.last = last


class DatabaseNotReady(DatabaseError):
    """The database's schema is not the one this version of huiqi needs; the message says what to run."""
