"""Users, roles, password hashing (argon2id), login rate limiting and sessions: a service layer the web
app (and the CLI's demo) use; it knows nothing of HTTP."""

from huiqi.accounts.models import FirmProfileRecord, LoginAttempt, Role, User, WebSession

__all__ = ["FirmProfileRecord", "LoginAttempt", "Role", "User", "WebSession"]
