"""matching: each run's results go to a Parquet file beside the database; the database keeps the run (its
file, counts and report), its eligible pairs and the outbox, whose messages are rendered when read

Revision ID: 0009_match_results_parquet
Revises: 0008_rate_events
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import huiqi.db.types

revision: str = "0009_match_results_parquet"
down_revision: str | None = "0008_rate_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("match_results")
    op.drop_table("match_current")
    op.create_table(
        "match_eligible",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("programme", sa.String(length=120), nullable=False),
        sa.Column("amount", huiqi.db.types.Money(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "uscc", "programme", name=op.f("pk_match_eligible")),
    )
    with op.batch_alter_table("match_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rows", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("eligible", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("results_file", sa.String(length=1000), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("report", sa.Text(), nullable=True))
        batch_op.create_index("ix_match_runs_on_started_at", ["on", "started_at"], unique=False)
    with op.batch_alter_table("match_notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("firm_digest", sa.String(length=64), nullable=False, server_default=""))
        batch_op.alter_column("message_zh", existing_type=sa.Text(), nullable=True)
        batch_op.alter_column("message_en", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("match_notifications", schema=None) as batch_op:
        batch_op.alter_column("message_en", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("message_zh", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("firm_digest")
    with op.batch_alter_table("match_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_match_runs_on_started_at")
        batch_op.drop_column("report")
        batch_op.drop_column("results_file")
        batch_op.drop_column("eligible")
        batch_op.drop_column("rows")
    op.drop_table("match_eligible")
    op.create_table(
        "match_current",
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("programme", sa.String(length=120), nullable=False),
        sa.Column("version", sa.String(length=60), nullable=False),
        sa.Column("programme_digest", sa.String(length=64), nullable=False),
        sa.Column("firm_digest", sa.String(length=32), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("unmet", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("on", "uscc", "programme", name=op.f("pk_match_current")),
    )
    op.create_table(
        "match_results",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("programme", sa.String(length=120), nullable=False),
        sa.Column("version", sa.String(length=60), nullable=False),
        sa.Column("programme_digest", sa.String(length=64), nullable=False),
        sa.Column("firm_digest", sa.String(length=32), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("unmet", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "uscc", "programme", name=op.f("pk_match_results")),
    )
