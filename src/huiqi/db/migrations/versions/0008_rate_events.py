"""accounts: rate_events, the sliding-window log of rate limits other than login (money-moving writes)

Revision ID: 0008_rate_events
Revises: 0007_jobs
Create Date: 2026-11-21 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import huiqi.db.types

revision: str = "0008_rate_events"
down_revision: str | None = "0007_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", huiqi.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_events")),
    )
    op.create_index("ix_rate_events_key_at", "rate_events", ["key", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rate_events_key_at", table_name="rate_events")
    op.drop_table("rate_events")
