"""match run parts and product locks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 02:09:36.062077
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_run_part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("match_run_id", sa.Integer(), nullable=False),
        sa.Column(
            "product",
            sa.Enum(
                "apple",
                "vegetable",
                "egg",
                "sichuan_pepper",
                "potato",
                name="product",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "summary",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["match_run_id"], ["match_run.id"], name=op.f("fk_match_run_part_match_run_id_match_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_run_part")),
        sa.UniqueConstraint("match_run_id", "product", name=op.f("uq_match_run_part_match_run_id_product")),
    )
    op.create_table(
        "matching_lock",
        sa.Column(
            "product",
            sa.Enum(
                "apple",
                "vegetable",
                "egg",
                "sichuan_pepper",
                "potato",
                name="product",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("match_run_id", sa.Integer(), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["match_run_id"], ["match_run.id"], name=op.f("fk_matching_lock_match_run_id_match_run")
        ),
        sa.PrimaryKeyConstraint("product", name=op.f("pk_matching_lock")),
    )


def downgrade() -> None:
    op.drop_table("matching_lock")
    op.drop_table("match_run_part")
