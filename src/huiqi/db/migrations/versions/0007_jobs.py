"""jobs: background work (matching, simulations) with its progress and result, shared by every worker

Revision ID: 0007_jobs
Revises: 0006_web_call_files
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import huiqi.db.types

revision: str = "0007_jobs"
down_revision: str | None = "0006_web_call_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("created_at", huiqi.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", huiqi.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", huiqi.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", huiqi.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result_id", sa.String(length=64), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_kind_created_at", "jobs", ["kind", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_jobs_kind_created_at", table_name="jobs")
    op.drop_table("jobs")
