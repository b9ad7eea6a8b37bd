"""money moves (issue 14): held moves awaiting a second officer's approval (maker-checker), and the
programme a pool funds when the programme's file declares no pool

Revision ID: 0011_money_approvals
Revises: 0010_programme_drafts
Create Date: 2026-12-07 05:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import huiqi.db.types

revision: str = "0011_money_approvals"
down_revision: str | None = "0010_programme_drafts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "money_approvals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("request_key", sa.String(length=200), nullable=False),
        sa.Column("amount", huiqi.db.types.Money(), nullable=False),
        sa.Column("application_id", sa.String(length=32), nullable=True),
        sa.Column("pool_id", sa.String(length=120), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_at", huiqi.db.types.UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", huiqi.db.types.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_money_approvals")),
        sa.UniqueConstraint("request_key", name=op.f("uq_money_approvals_request_key")),
    )
    op.create_index(
        op.f("ix_money_approvals_application_id"), "money_approvals", ["application_id"], unique=False
    )
    op.create_index("ix_money_approvals_status", "money_approvals", ["status", "requested_at"], unique=False)
    op.create_table(
        "pool_programmes",
        sa.Column("pool_id", sa.String(length=120), nullable=False),
        sa.Column("programme_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["pool_id"], ["pools.id"], name=op.f("fk_pool_programmes_pool_id_pools")),
        sa.PrimaryKeyConstraint("pool_id", name=op.f("pk_pool_programmes")),
    )
    op.create_index(
        op.f("ix_pool_programmes_programme_id"), "pool_programmes", ["programme_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pool_programmes_programme_id"), table_name="pool_programmes")
    op.drop_table("pool_programmes")
    op.drop_index("ix_money_approvals_status", table_name="money_approvals")
    op.drop_index(op.f("ix_money_approvals_application_id"), table_name="money_approvals")
    op.drop_table("money_approvals")
