"""delivery ledger: contract windows, revenue earned on contracts, deliveries and agreements

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 02:36:58.752422
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deliver_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("deliver_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("earned_fen", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.drop_constraint(op.f("ck_contract_money_non_negative"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_contract_money_non_negative"), "value_fen >= 0 AND transport_fen >= 0 AND earned_fen >= 0"
        )

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revenue_fen", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("purchase_agreement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("earned_fen", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.drop_constraint(op.f("ck_purchase_agreement_delivered"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_purchase_agreement_delivered"), "delivered_kg >= 0 AND earned_fen >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("purchase_agreement", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_purchase_agreement_delivered"), type_="check")
        batch_op.create_check_constraint(op.f("ck_purchase_agreement_delivered"), "delivered_kg >= 0")
        batch_op.drop_column("earned_fen")

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("revenue_fen")

    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_contract_money_non_negative"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_contract_money_non_negative"), "value_fen >= 0 AND transport_fen >= 0"
        )
        batch_op.drop_column("earned_fen")
        batch_op.drop_column("deliver_until")
        batch_op.drop_column("deliver_from")
