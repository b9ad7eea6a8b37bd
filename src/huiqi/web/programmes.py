"""The programmes the site serves, per worker (``huiqi.app.registry.ProgrammeRegistry``: the bundled packs
overlaid by the versions officers loaded; ``state_of(request).registry``), and read models as the API
answers them."""

from __future__ import annotations

from typing import Any

from huiqi.app.jsonable import as_json
from huiqi.app.registry import Loaded, ProgrammeRegistry

__all__ = ["Loaded", "ProgrammeRegistry", "view_json"]


def view_json(view: Any) -> Any:
    """A read model (or a tuple of them) as the API's JSON: amounts and dates as strings."""
    return as_json(view)
