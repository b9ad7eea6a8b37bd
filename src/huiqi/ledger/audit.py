"""Moved to ``huiqi.audit.chain``; this name stays for callers written before the move."""

from huiqi.audit.chain import *  # noqa: F403
from huiqi.audit.chain import GENESIS, canonical_json  # noqa: F401
