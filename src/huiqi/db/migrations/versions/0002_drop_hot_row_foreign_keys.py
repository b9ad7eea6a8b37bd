"""drop foreign keys to hot rows

awards.pool_id, ledger_transactions.pool_id and ledger_postings.account_id pointed at rows every award
references (the pool, its available account). On PostgreSQL each foreign-key check takes a KEY SHARE lock
on that row; under concurrency the lockers become MultiXacts contending on one SLRU, which is where the
benchmark spent most of its time. Integrity is kept by construction and checked by `huiqi ledger verify`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:00:49.298439
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_awards_pool_id_pools"), type_="foreignkey")

    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ledger_postings_account_id_ledger_accounts"), type_="foreignkey"
        )

    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_ledger_transactions_pool_id_pools"), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_transactions_pool_id_pools"), "pools", ["pool_id"], ["id"]
        )

    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_postings_account_id_ledger_accounts"),
            "ledger_accounts",
            ["account_id"],
            ["id"],
        )

    with op.batch_alter_table("awards", schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f("fk_awards_pool_id_pools"), "pools", ["pool_id"], ["id"])
