"""The Alembic migrations produce exactly the models' schema, on SQLite and on PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from market.config import load_settings
from market.db import make_engine
from market.migrate import current_revision, downgrade, head_revision, is_current, upgrade
from market.models import metadata


def _differences(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, metadata)


def test_migrated_schema_matches_the_models(database_url):
    engine = make_engine(load_settings(database_url=database_url))
    assert is_current(engine)
    assert _differences(engine) == []
    engine.dispose()


def test_downgrade_to_base_and_up_again(database_url):
    engine = make_engine(load_settings(database_url=database_url))
    downgrade(database_url, "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(database_url)
    assert current_revision(engine) == head_revision()
    assert _differences(engine) == []
    engine.dispose()


def test_check_constraints_exist_in_the_migrated_database(database_url):
    """compare_metadata does not look at CHECK constraints, so look for the conservation rules directly."""
    engine = make_engine(load_settings(database_url=database_url))
    inspector = inspect(engine)
    for table, name in (
        ("supply_offer", "ck_supply_offer_conservation"),
        ("demand_order", "ck_demand_order_conservation"),
        ("purchase_agreement", "ck_purchase_agreement_called_off"),
        ("contract", "ck_contract_delivered"),
        ("contract", "ck_contract_money_non_negative"),
        ("purchase_agreement", "ck_purchase_agreement_delivered"),
        ("delivery", "ck_delivery_accepted_within_shipped"),
        ("account", "ck_account_role_link"),
    ):
        checks = {check["name"]: check["sqltext"] for check in inspector.get_check_constraints(table)}
        assert name in checks, (table, name)
    # The ledger migration rewrote two of them: the new column is covered.
    contract_checks = {c["name"]: c["sqltext"] for c in inspector.get_check_constraints("contract")}
    assert "earned_fen" in contract_checks["ck_contract_money_non_negative"]
    engine.dispose()
