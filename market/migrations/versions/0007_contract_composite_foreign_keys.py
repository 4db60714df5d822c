"""contracts: their cooperative and buyer checked with their lot and order, one lookup each

A contract names its lot (`offer_id`) and order (`order_id`) and, for the reports and the tenant
walls, the lot's cooperative and the order's buyer. Four foreign keys checked those one by one,
and none checked that the cooperative was the lot's, or the buyer the order's. Now two composite
foreign keys do both: (offer_id, cooperative_id) references supply_offer (id, cooperative_id),
and (order_id, buyer_id) references demand_order (id, buyer_id), each backed by a new unique
constraint on the referenced pair (whose id alone is already unique).

A match run writes tens of thousands of contracts in one COPY, and PostgreSQL checks every
foreign key of every row: measured on `python -m bench.matching` data (67,280 contracts of a
50,000 x 50,000 book, PostgreSQL 15 on two shared cores, three runs each), inserting them took
2.08-2.23 s with the four keys and 1.56-1.86 s with the two composite ones.

`ix_contract_match_run_id` goes too: `uq_contract_match_run_id_offer_id_order_id` begins with the
same column and serves every query that looks a run's contracts up.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 01:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (contract's columns, referenced table, its columns, the unique constraint that backs them)
COMPOSITE = (
    (["offer_id", "cooperative_id"], "supply_offer", ["id", "cooperative_id"], "uq_supply_offer_id_cooperative_id"),
    (["order_id", "buyer_id"], "demand_order", ["id", "buyer_id"], "uq_demand_order_id_buyer_id"),
)
SINGLE = (
    ("fk_contract_offer_id_supply_offer", "offer_id", "supply_offer"),
    ("fk_contract_order_id_demand_order", "order_id", "demand_order"),
    ("fk_contract_cooperative_id_cooperative", "cooperative_id", "cooperative"),
    ("fk_contract_buyer_id_buyer", "buyer_id", "buyer"),
)


def upgrade() -> None:
    for _, table, columns, unique in COMPOSITE:
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_unique_constraint(unique, columns)
    with op.batch_alter_table("contract") as batch_op:
        for name, _, _ in SINGLE:
            batch_op.drop_constraint(name, type_="foreignkey")
        for columns, table, referred, _ in COMPOSITE:
            batch_op.create_foreign_key(f"fk_contract_{columns[0]}_{table}", table, columns, referred)
        batch_op.drop_index("ix_contract_match_run_id")


def downgrade() -> None:
    with op.batch_alter_table("contract") as batch_op:
        batch_op.create_index("ix_contract_match_run_id", ["match_run_id"], unique=False)
        for columns, table, _, _ in COMPOSITE:
            batch_op.drop_constraint(f"fk_contract_{columns[0]}_{table}", type_="foreignkey")
        for name, column, table in SINGLE:
            batch_op.create_foreign_key(name, table, [column], ["id"])
    for _, table, _, unique in reversed(COMPOSITE):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(unique, type_="unique")
