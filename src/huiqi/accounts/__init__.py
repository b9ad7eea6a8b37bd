"""Users, roles, password hashing (argon2id), rate limits (logins, money-moving writes) and sessions: a
service layer the web app (and the CLI's demo) use; it knows nothing of HTTP."""

from huiqi.accounts.models import FirmProfileRecord, LoginAttempt, RateEvent, Role, User, WebSession

__all__ = ["FirmProfileRecord", "LoginAttempt", "RateEvent", "Role", "User", "WebSession"]
