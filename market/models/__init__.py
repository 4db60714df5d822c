"""SQLModel tables and the request/response models beside them.

Importing this package registers every table on `SQLModel.metadata`, which is
what Alembic compares the migrations against.
"""

from sqlmodel import SQLModel

from market.models.common import NAMING_CONVENTION

# Named constraints keep migrations deterministic on SQLite and PostgreSQL alike.
SQLModel.metadata.naming_convention = NAMING_CONVENTION

from market.models.account import Account  # noqa: E402
from market.models.agreement import PurchaseAgreement  # noqa: E402
from market.models.audit import AuditEvent, IdempotencyRecord  # noqa: E402
from market.models.contract import Contract, Delivery  # noqa: E402
from market.models.match_run import MatchingLock, MatchRun, MatchRunPart  # noqa: E402
from market.models.offer import SupplyOffer  # noqa: E402
from market.models.order import DemandOrder  # noqa: E402
from market.models.parties import Buyer, Cooperative  # noqa: E402

metadata = SQLModel.metadata

__all__ = [
    "Account",
    "AuditEvent",
    "Buyer",
    "Contract",
    "Cooperative",
    "Delivery",
    "DemandOrder",
    "IdempotencyRecord",
    "MatchRun",
    "MatchRunPart",
    "MatchingLock",
    "PurchaseAgreement",
    "SupplyOffer",
    "metadata",
]
