"""Calls and applications: windows, firm snapshots, claims, evidence, and the application state machine."""

from huiqi.applications.models import AllocationMode, EligibilityVerdict, State

__all__ = ["AllocationMode", "EligibilityVerdict", "State"]
