"""Refusals of the accounts service; each message says what to do next."""

from __future__ import annotations

import datetime as dt
import math


class AccountsError(Exception):
    """Base of every accounts refusal."""


class UserExists(AccountsError):
    def __init__(self, username: str) -> None:
        super().__init__(f"a user named {username!r} already exists; choose another name")
        self.username = username


class UserNotFound(AccountsError):
    def __init__(self, username: str) -> None:
        super().__init__(f"no user named {username!r}")
        self.username = username


class InvalidUser(AccountsError):
    """User details refused; ``why`` and ``figures`` let a page word it in its own language."""

    def __init__(self, message: str, *, why: str = "", **figures: object) -> None:
        super().__init__(message)
        self.message, self.why, self.figures = message, why, figures


class WeakPassword(AccountsError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidCredentials(AccountsError):
    def __init__(self, message: str = "wrong user name or password") -> None:
        super().__init__(message)
        self.message = message


class AccountDisabled(InvalidCredentials):
    """The password was right but an administrator has disabled the account."""

    def __init__(self, username: str) -> None:
        super().__init__(f"the account {username!r} is disabled; ask an administrator to enable it again")
        self.username = username


class LastAdmin(InvalidUser):
    """The change would leave nobody able to administer users."""

    def __init__(self, username: str, change: str) -> None:
        super().__init__(
            f"{username!r} is the last active administrator: {change} would leave nobody to administer "
            "users; make another user an administrator first"
        )
        self.username = username
        self.change = change


class TooManyAttempts(AccountsError):
    """Refused by a rate limit before any work was done (the web answers 429 with ``Retry-After``): a login
    delay is running after failed logins for this name from this address (or from this address, or for this
    name from addresses it never logged in from), or (subclasses) too many writes of one kind."""

    def __init__(self, retry_after: dt.timedelta, message: str | None = None) -> None:
        self.retry_after_seconds = max(1, math.ceil(retry_after.total_seconds()))
        super().__init__(
            message
            or f"too many failed logins; try again in {self.retry_after_seconds} seconds "
            "(or ask an administrator to unlock the account or reset its password)"
        )
        self.retry_after = retry_after
        self.message = message


class TooManyMoneyWrites(TooManyAttempts):
    """More money-moving writes by one user within the window than ``HUIQI_MONEY_RATE_LIMIT`` allows."""

    def __init__(self, limit: int, window: dt.timedelta, retry_after: dt.timedelta) -> None:
        seconds = max(1, math.ceil(retry_after.total_seconds()))
        super().__init__(
            retry_after,
            f"too many money-moving requests: at most {limit} every {int(window.total_seconds())} seconds "
            f"for one user; nothing was done, try again in {seconds} seconds (a retry with the same "
            "Idempotency-Key is safe)",
        )
        self.limit = limit
        self.window = window
        self.retry_after = retry_after


class FirmProfileNotFound(AccountsError):
    def __init__(self, uscc: str) -> None:
        super().__init__(f"no profile is stored for firm {uscc}; submit one first (PUT /api/v1/firms/{uscc})")
        self.uscc = uscc
