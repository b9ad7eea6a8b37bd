"""Moved to ``huiqi.workflows.checking`` (the CLI uses it too); this name stays for the web routes."""

from huiqi.workflows.checking import engine_verdict

__all__ = ["engine_verdict"]
