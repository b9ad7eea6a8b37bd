"""What one running app holds: settings, the database, the programmes; handlers reach it via the request."""

from __future__ import annotations

from dataclasses import dataclass, field

from huiqi.app.registry import ProgrammeRegistry
from huiqi.app.store import Store
from huiqi.config import Settings


@dataclass
class AppState:
    """The app's settings, its store (use cases take it) and the programmes it serves."""

    settings: Settings
    store: Store
    registry: ProgrammeRegistry
    #: Cached per (register path, date): the dashboard's matched demand by programme.
    demand_cache: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)
