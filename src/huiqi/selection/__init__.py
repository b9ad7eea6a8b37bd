"""Ranked selection under quotas and a budget: the call file, the exact optimiser, explanations, reserves."""
