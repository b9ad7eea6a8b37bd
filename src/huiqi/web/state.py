"""What one running app holds: settings, the database, the programmes; handlers reach it via the request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from huiqi.app.registry import ProgrammeRegistry
from huiqi.app.store import Store
from huiqi.config import Settings

T = TypeVar("T")


@dataclass
class AppState:
    settings: Settings
    store: Store
    registry: ProgrammeRegistry
    #: Cached per (register path, date): the dashboard's matched demand by programme.
    demand_cache: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)

    @property
    def engine(self) -> Engine:
        """The store's engine (for the few readers that need a raw connection)."""
        return self.store.engine

    @property
    def factory(self) -> sessionmaker[Session]:
        """The store's sessions."""
        return self.store.factory

    def write(self, work: Callable[[Session], T]) -> T:
        """One transaction, retried on a conflict with a concurrent writer; domain errors roll it back."""
        return self.store.write(work)

    def read(self, work: Callable[[Session], T]) -> T:
        """A reading session."""
        return self.store.read(work)
