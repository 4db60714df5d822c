"""drop four indexes that no query needs, each one more write per row on the busiest paths

- `ix_supply_offer_cooperative_id` and `ix_demand_order_buyer_id`: the unique constraints on
  (cooperative_id, reference) and (buyer_id, reference) begin with the same column and serve the
  same lookups (EXPLAIN: a cooperative's lots by id use `uq_supply_offer_id_cooperative_id`, a
  count of them `uq_supply_offer_cooperative_id_reference`; a buyer's orders likewise).
- `ix_contract_offer_id` and `ix_contract_order_id`: no query finds contracts by lot or by order,
  and lots and orders are never deleted, so their foreign keys never look contracts up either.

A match run updates every lot and order it contracts (their counters and status move, so the
update is never HOT and writes every index again) and inserts every contract; an import or a
batch inserts lots and orders. Each of those rows now writes one index fewer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 02:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column): each indexed alone until now, as ix_<table>_<column>
DROPPED = (
    ("supply_offer", "cooperative_id"),
    ("demand_order", "buyer_id"),
    ("contract", "offer_id"),
    ("contract", "order_id"),
)


def upgrade() -> None:
    for table, column in DROPPED:
        op.drop_index(f"ix_{table}_{column}", table_name=table)


def downgrade() -> None:
    for table, column in reversed(DROPPED):
        op.create_index(f"ix_{table}_{column}", table, [column], unique=False)
