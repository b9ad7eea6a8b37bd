"""The hash-chained audit log of every state change, shared by every domain that changes state."""
