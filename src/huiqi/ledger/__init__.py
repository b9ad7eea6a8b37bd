"""Pools, double-entry ledger, reservations, awards, tranches, clawbacks, idempotency and the audit chain."""
