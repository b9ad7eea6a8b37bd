"""What one running app holds: settings, the database, the programmes; handlers reach it via the request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from huiqi.config import Settings
from huiqi.db import run_in_transaction
from huiqi.web.programmes import ProgrammeRegistry

T = TypeVar("T")


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    registry: ProgrammeRegistry
    #: Cached per (register path, date): the dashboard's matched demand by programme.
    demand_cache: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)

    def write(self, work: Callable[[Session], T]) -> T:
        """One transaction, retried on a conflict with a concurrent writer; domain errors roll it back."""
        return run_in_transaction(self.factory, work)

    def read(self, work: Callable[[Session], T]) -> T:
        with self.factory() as session:
            return work(session)
