"""The demo's designation call, seeded by ``huiqi demo``: kept in ``huiqi.app.demo_designation`` (it
writes through the domains); this name stays for the demo command."""

from __future__ import annotations

from huiqi.app.demo_designation import PANEL, call_file, setup_designation

__all__ = ["PANEL", "call_file", "setup_designation"]
