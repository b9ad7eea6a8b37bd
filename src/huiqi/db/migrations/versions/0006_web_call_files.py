"""web: designation call files uploaded through the browser (the CLI's --call-file, kept per call)

Revision ID: 0006_web_call_files
Revises: 0005_selection
Create Date: 2026-11-21 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import huiqi.db.types

revision: str = "0006_web_call_files"
down_revision: str | None = "0005_selection"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_call_files",
        sa.Column("call_id", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=120), nullable=False),
        sa.Column("uploaded_at", huiqi.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_web_call_files")),
    )


def downgrade() -> None:
    op.drop_table("web_call_files")
