"""Refusals of the accounts service; each message says what to do next."""

from __future__ import annotations

import datetime as dt


class AccountsError(Exception):
    """Base of every accounts refusal."""


class UserExists(AccountsError):
    def __init__(self, username: str) -> None:
        super().__init__(f"a user named {username!r} already exists; choose another name")


class UserNotFound(AccountsError):
    def __init__(self, username: str) -> None:
        super().__init__(f"no user named {username!r}")


class InvalidUser(AccountsError):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class WeakPassword(AccountsError):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class InvalidCredentials(AccountsError):
    def __init__(self) -> None:
        super().__init__("wrong user name or password")


class TooManyAttempts(AccountsError):
    """Login refused without checking the password: too many recent failures for this name or address."""

    def __init__(self, retry_after: dt.timedelta) -> None:
        self.retry_after_seconds = max(1, int(retry_after.total_seconds()))
        super().__init__(
            f"too many failed logins; try again in {self.retry_after_seconds} seconds "
            "(or ask an administrator to reset your password)"
        )


class FirmProfileNotFound(AccountsError):
    def __init__(self, uscc: str) -> None:
        super().__init__(f"no profile is stored for firm {uscc}; submit one first (PUT /api/v1/firms/{uscc})")
