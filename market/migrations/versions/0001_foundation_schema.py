"""foundation schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 01:40:37.085802
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "buyer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("name_zh", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buyer")),
        sa.UniqueConstraint("name", name=op.f("uq_buyer_name")),
    )
    op.create_table(
        "cooperative",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("name_zh", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("township", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("township_zh", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("county", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("member_households", sa.Integer(), nullable=False),
        sa.Column("poor_households", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("member_households >= 0", name=op.f("ck_cooperative_member_households")),
        sa.CheckConstraint(
            "poor_households >= 0 AND poor_households <= member_households", name=op.f("ck_cooperative_poor_households")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cooperative")),
        sa.UniqueConstraint("name", name=op.f("uq_cooperative_name")),
    )
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum("admin", "cooperative", "buyer", name="role", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("cooperative_id", sa.Integer(), nullable=True),
        sa.Column("buyer_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("token_prefix", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(role = 'admin' AND cooperative_id IS NULL AND buyer_id IS NULL) OR (role = 'cooperative' AND cooperative_id IS NOT NULL AND buyer_id IS NULL) OR (role = 'buyer' AND buyer_id IS NOT NULL AND cooperative_id IS NULL)",
            name=op.f("ck_account_role_link"),
        ),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyer.id"], name=op.f("fk_account_buyer_id_buyer")),
        sa.ForeignKeyConstraint(
            ["cooperative_id"], ["cooperative.id"], name=op.f("fk_account_cooperative_id_cooperative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_account_token_hash")),
    )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_cooperative_id"), ["cooperative_id"], unique=False)

    op.create_table(
        "purchase_agreement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("cooperative_id", sa.Integer(), nullable=False),
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
        sa.Column("quantity_kg", sa.BigInteger(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("called_off_kg", sa.BigInteger(), nullable=False),
        sa.Column("contracted_kg", sa.BigInteger(), nullable=False),
        sa.Column("delivered_kg", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "called_off_kg >= 0 AND called_off_kg <= quantity_kg", name=op.f("ck_purchase_agreement_called_off")
        ),
        sa.CheckConstraint(
            "contracted_kg >= 0 AND contracted_kg <= called_off_kg", name=op.f("ck_purchase_agreement_contracted")
        ),
        sa.CheckConstraint("delivered_kg >= 0", name=op.f("ck_purchase_agreement_delivered")),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_purchase_agreement_price_positive")),
        sa.CheckConstraint("quantity_kg > 0", name=op.f("ck_purchase_agreement_quantity_positive")),
        sa.CheckConstraint("valid_from <= valid_until", name=op.f("ck_purchase_agreement_window")),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyer.id"], name=op.f("fk_purchase_agreement_buyer_id_buyer")),
        sa.ForeignKeyConstraint(
            ["cooperative_id"], ["cooperative.id"], name=op.f("fk_purchase_agreement_cooperative_id_cooperative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_agreement")),
        sa.UniqueConstraint("reference", name=op.f("uq_purchase_agreement_reference")),
    )
    with op.batch_alter_table("purchase_agreement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purchase_agreement_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_purchase_agreement_cooperative_id"), ["cooperative_id"], unique=False)

    op.create_table(
        "supply_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cooperative_id", sa.Integer(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
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
        sa.Column("variety", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column(
            "grade",
            sa.Enum("premium", "first", "second", name="grade", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("brand", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("quantity_kg", sa.BigInteger(), nullable=False),
        sa.Column("contracted_kg", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn_kg", sa.BigInteger(), nullable=False),
        sa.Column("min_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("available_from", sa.Date(), nullable=False),
        sa.Column("available_until", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "partially_matched",
                "matched",
                "withdrawn",
                name="offerstatus",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("available_from <= available_until", name=op.f("ck_supply_offer_window")),
        sa.CheckConstraint("contracted_kg + withdrawn_kg <= quantity_kg", name=op.f("ck_supply_offer_conservation")),
        sa.CheckConstraint(
            "contracted_kg >= 0 AND withdrawn_kg >= 0", name=op.f("ck_supply_offer_counters_non_negative")
        ),
        sa.CheckConstraint("min_price_fen > 0", name=op.f("ck_supply_offer_price_positive")),
        sa.CheckConstraint("quantity_kg > 0", name=op.f("ck_supply_offer_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["cooperative_id"], ["cooperative.id"], name=op.f("fk_supply_offer_cooperative_id_cooperative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supply_offer")),
        sa.UniqueConstraint("cooperative_id", "reference", name=op.f("uq_supply_offer_cooperative_id_reference")),
    )
    with op.batch_alter_table("supply_offer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supply_offer_cooperative_id"), ["cooperative_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_supply_offer_status_product"), ["status", "product"], unique=False)

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=True),
        sa.Column(
            "before", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column(
            "after", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_audit_event_account_id_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_event_object_type_object_id"), ["object_type", "object_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_event_occurred_at"), ["occurred_at"], unique=False)

    op.create_table(
        "demand_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
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
            "min_grade",
            sa.Enum("premium", "first", "second", name="grade", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("quantity_kg", sa.BigInteger(), nullable=False),
        sa.Column("contracted_kg", sa.BigInteger(), nullable=False),
        sa.Column("cancelled_kg", sa.BigInteger(), nullable=False),
        sa.Column("max_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("deliver_from", sa.Date(), nullable=False),
        sa.Column("deliver_until", sa.Date(), nullable=False),
        sa.Column("destination", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("destination_zh", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("destination_latitude", sa.Float(), nullable=False),
        sa.Column("destination_longitude", sa.Float(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "partially_matched",
                "matched",
                "cancelled",
                name="orderstatus",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("contracted_kg + cancelled_kg <= quantity_kg", name=op.f("ck_demand_order_conservation")),
        sa.CheckConstraint(
            "contracted_kg >= 0 AND cancelled_kg >= 0", name=op.f("ck_demand_order_counters_non_negative")
        ),
        sa.CheckConstraint("deliver_from <= deliver_until", name=op.f("ck_demand_order_window")),
        sa.CheckConstraint("max_price_fen > 0", name=op.f("ck_demand_order_price_positive")),
        sa.CheckConstraint("quantity_kg > 0", name=op.f("ck_demand_order_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["agreement_id"], ["purchase_agreement.id"], name=op.f("fk_demand_order_agreement_id_purchase_agreement")
        ),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyer.id"], name=op.f("fk_demand_order_buyer_id_buyer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demand_order")),
        sa.UniqueConstraint("buyer_id", "reference", name=op.f("uq_demand_order_buyer_id_reference")),
    )
    with op.batch_alter_table("demand_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_demand_order_agreement_id"), ["agreement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_demand_order_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_demand_order_status_product"), ["status", "product"], unique=False)

    op.create_table(
        "idempotency_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("endpoint", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column(
            "response_body",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_idempotency_record_account_id_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_record")),
        sa.UniqueConstraint("account_id", "key", name=op.f("uq_idempotency_record_account_id_key")),
    )
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_record_created_at"), ["created_at"], unique=False)

    op.create_table(
        "match_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "proposed",
                "approved",
                "rejected",
                "failed",
                name="matchrunstatus",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
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
            nullable=True,
        ),
        sa.Column(
            "policy",
            sa.Enum("midpoint", "ask", "bid", name="pricepolicy", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column(
            "parameters", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "report", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_match_run_attempts")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["account.id"], name=op.f("fk_match_run_decided_by_id_account")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["account.id"], name=op.f("fk_match_run_requested_by_id_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_run")),
    )
    with op.batch_alter_table("match_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_match_run_status"), ["status"], unique=False)

    op.create_table(
        "contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("match_run_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("cooperative_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
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
            "grade",
            sa.Enum("premium", "first", "second", name="grade", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("quantity_kg", sa.BigInteger(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("value_fen", sa.BigInteger(), nullable=False),
        sa.Column("transport_fen", sa.BigInteger(), nullable=False),
        sa.Column("shipped_kg", sa.BigInteger(), nullable=False),
        sa.Column("accepted_kg", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "proposed",
                "confirmed",
                "in_delivery",
                "fulfilled",
                "closed_short",
                "cancelled",
                name="contractstatus",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("close_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_contract_price_positive")),
        sa.CheckConstraint("quantity_kg > 0", name=op.f("ck_contract_quantity_positive")),
        sa.CheckConstraint(
            "shipped_kg >= 0 AND accepted_kg >= 0 AND accepted_kg <= shipped_kg", name=op.f("ck_contract_delivered")
        ),
        sa.CheckConstraint("value_fen >= 0 AND transport_fen >= 0", name=op.f("ck_contract_money_non_negative")),
        sa.ForeignKeyConstraint(
            ["agreement_id"], ["purchase_agreement.id"], name=op.f("fk_contract_agreement_id_purchase_agreement")
        ),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyer.id"], name=op.f("fk_contract_buyer_id_buyer")),
        sa.ForeignKeyConstraint(
            ["cooperative_id"], ["cooperative.id"], name=op.f("fk_contract_cooperative_id_cooperative")
        ),
        sa.ForeignKeyConstraint(["match_run_id"], ["match_run.id"], name=op.f("fk_contract_match_run_id_match_run")),
        sa.ForeignKeyConstraint(["offer_id"], ["supply_offer.id"], name=op.f("fk_contract_offer_id_supply_offer")),
        sa.ForeignKeyConstraint(["order_id"], ["demand_order.id"], name=op.f("fk_contract_order_id_demand_order")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract")),
        sa.UniqueConstraint(
            "match_run_id", "offer_id", "order_id", name=op.f("uq_contract_match_run_id_offer_id_order_id")
        ),
    )
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contract_agreement_id"), ["agreement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contract_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contract_cooperative_id"), ["cooperative_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contract_match_run_id"), ["match_run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contract_offer_id"), ["offer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contract_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contract_status_product"), ["status", "product"], unique=False)

    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("shipped_kg", sa.BigInteger(), nullable=False),
        sa.Column("shipped_on", sa.Date(), nullable=False),
        sa.Column("ticket", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("accepted_kg", sa.BigInteger(), nullable=True),
        sa.Column("rejected_kg", sa.BigInteger(), nullable=True),
        sa.Column("reject_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column(
            "status",
            sa.Enum("shipped", "accepted", name="deliverystatus", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "accepted_kg IS NULL OR (accepted_kg >= 0 AND rejected_kg >= 0 AND accepted_kg + rejected_kg <= shipped_kg)",
            name=op.f("ck_delivery_accepted_within_shipped"),
        ),
        sa.CheckConstraint("shipped_kg > 0", name=op.f("ck_delivery_shipped_positive")),
        sa.ForeignKeyConstraint(["accepted_by_id"], ["account.id"], name=op.f("fk_delivery_accepted_by_id_account")),
        sa.ForeignKeyConstraint(["contract_id"], ["contract.id"], name=op.f("fk_delivery_contract_id_contract")),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["account.id"], name=op.f("fk_delivery_recorded_by_id_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_contract_id"), ["contract_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_contract_id"))

    op.drop_table("delivery")
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_status_product"))
        batch_op.drop_index(batch_op.f("ix_contract_order_id"))
        batch_op.drop_index(batch_op.f("ix_contract_offer_id"))
        batch_op.drop_index(batch_op.f("ix_contract_match_run_id"))
        batch_op.drop_index(batch_op.f("ix_contract_cooperative_id"))
        batch_op.drop_index(batch_op.f("ix_contract_buyer_id"))
        batch_op.drop_index(batch_op.f("ix_contract_agreement_id"))

    op.drop_table("contract")
    with op.batch_alter_table("match_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_run_status"))

    op.drop_table("match_run")
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_record_created_at"))

    op.drop_table("idempotency_record")
    with op.batch_alter_table("demand_order", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_demand_order_status_product"))
        batch_op.drop_index(batch_op.f("ix_demand_order_buyer_id"))
        batch_op.drop_index(batch_op.f("ix_demand_order_agreement_id"))

    op.drop_table("demand_order")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_audit_event_object_type_object_id"))
        batch_op.drop_index(batch_op.f("ix_audit_event_account_id"))

    op.drop_table("audit_event")
    with op.batch_alter_table("supply_offer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supply_offer_status_product"))
        batch_op.drop_index(batch_op.f("ix_supply_offer_cooperative_id"))

    op.drop_table("supply_offer")
    with op.batch_alter_table("purchase_agreement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_agreement_cooperative_id"))
        batch_op.drop_index(batch_op.f("ix_purchase_agreement_buyer_id"))

    op.drop_table("purchase_agreement")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_cooperative_id"))
        batch_op.drop_index(batch_op.f("ix_account_buyer_id"))

    op.drop_table("account")
    op.drop_table("cooperative")
    op.drop_table("buyer")
