"""Persistence: declarative base, exact money columns, engines, sessions with retry, migrations."""

from huiqi.db.base import Base
from huiqi.db.engine import make_engine, make_session_factory, run_in_transaction
from huiqi.db.types import Money, UTCDateTime, utcnow

__all__ = [
    "Base",
    "Money",
    "UTCDateTime",
    "make_engine",
    "make_session_factory",
    "run_in_transaction",
    "utcnow",
]
