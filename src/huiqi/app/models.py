"""The composition root of persistence: every domain's tables, registered by construction.

A database the project opens through ``huiqi.app`` always has the whole metadata, never a part that depends
on which modules happened to be imported first (a call's foreign key to ``pools`` needs the ledger's models).
"""

from __future__ import annotations

from sqlalchemy import MetaData

import huiqi.accounts.models
import huiqi.applications.models
import huiqi.audit.models
import huiqi.certificates.models
import huiqi.jobs.models
import huiqi.ledger.models
import huiqi.ledger.pool_programmes
import huiqi.matching.models
import huiqi.publishing.models
import huiqi.review.models
import huiqi.selection.models
import huiqi.workflows.approvals  # noqa: F401  (imported for their tables)
from huiqi.db.base import Base


def all_tables() -> MetaData:
    """Every table of every domain: what migrations, backups and digests work on."""
    return Base.metadata
