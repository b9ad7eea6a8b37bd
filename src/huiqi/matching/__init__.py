"""Batch matching of programmes over a register: results store, incremental runs, pool pressure, outbox."""
