"""report indexes: each report figure's date

The reports (market/services/reports.py) date each figure by its own column and filter on it
when a period is asked for: offered by `supply_offer.available_from`, contracted by
`contract.deliver_from`, delivered and earned by `delivery.shipped_on`. Without an index each
period report reads the whole of all three tables. Chosen from EXPLAIN (ANALYZE, BUFFERS) of the
service's statements on `python -m bench.reports` data (1,000,000 contracts, 1,033,909
deliveries, 500,000 offers; PostgreSQL 15, two cores shared with other work; medians of three
EXPLAIN ANALYZE runs), reporting one quarter (2021-10-01..2021-12-31, about 15% of the rows):

- `ix_supply_offer_available_from`: offered by product, Seq Scan on supply_offer (500,001 rows
  read for 82,725) 71 ms -> Index Scan 31 ms. 3.4 MB.
- `ix_contract_deliver_from`: contracted by product, Seq Scan on contract (1,000,000 rows read for
  156,966) 163 ms -> Index Scan 96 ms. 7 MB.
- `ix_delivery_shipped_on`: delivered by product, Seq Scan on delivery (1,033,909 rows read for
  170,484) hash-joined to contract 555 ms -> Index Scan on delivery 378 ms; by month (no join)
  172 ms -> 110 ms. 7 MB.

Contracts, deliveries and offers are written in about the order of these dates (lots are posted
ahead of their season, contracted for windows soon after, shipped as they go), so an index range
scan reads few heap pages. Over all time the planner rightly keeps the sequential scans: the indexes
cost nothing there. Not added, for want of evidence: `(status, ...)` composites (the counted
statuses are 94% of contracts) and covering indexes for the delivery-contract join (whose hash
spills to disk at the default work_mem over all time; the hand-written SQL does the same join).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 06:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("supply_offer", "available_from"),
    ("contract", "deliver_from"),
    ("delivery", "shipped_on"),
)


def upgrade() -> None:
    for table, column in INDEXES:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(INDEXES):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
