"""programme lifecycle (issue 15): programme drafts with their author, state, reviewer and times

Revision ID: 0010_programme_drafts
Revises: 0009_match_results_parquet
Create Date: 2026-12-07 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import huiqi.db.types

revision: str = "0010_programme_drafts"
down_revision: str | None = "0009_match_results_parquet"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "programme_drafts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("programme_id", sa.String(length=120), nullable=False),
        sa.Column("version", sa.String(length=60), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tests", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("reviewer", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", huiqi.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", huiqi.db.types.UTCDateTime(), nullable=False),
        sa.Column("submitted_at", huiqi.db.types.UTCDateTime(), nullable=True),
        sa.Column("published_at", huiqi.db.types.UTCDateTime(), nullable=True),
        sa.Column("withdrawn_at", huiqi.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_drafts")),
    )
    with op.batch_alter_table("programme_drafts", schema=None) as batch_op:
        batch_op.create_index("ix_programme_drafts_programme", ["programme_id", "version"], unique=False)
        batch_op.create_index(batch_op.f("ix_programme_drafts_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("programme_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_drafts_status"))
        batch_op.drop_index("ix_programme_drafts_programme")
    op.drop_table("programme_drafts")
