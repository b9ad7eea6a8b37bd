"""reasons as codes (issue 14): an application's history keeps each reason the system writes as a code and
its data beside the English words, so a page renders it in its reader's language

Rows stored before keep NULL codes and are shown from their words (``web/reasons.py``'s shapes).

Revision ID: 0012_reason_codes
Revises: 0011_money_approvals
Create Date: 2026-12-07 08:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_reason_codes"
down_revision: str | None = "0011_money_approvals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("application_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("reason_args", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("application_events", schema=None) as batch_op:
        batch_op.drop_column("reason_args")
        batch_op.drop_column("reason_code")
