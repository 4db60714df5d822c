"""Who is acting: an account, or the system itself (seeding, scheduled work)."""

from __future__ import annotations

from dataclasses import dataclass

from market.models import Account
from market.models.common import Role
from market.services.errors import Forbidden


@dataclass(frozen=True)
class Actor:
    role: Role
    label: str
    account_id: int | None = None
    cooperative_id: int | None = None
    buyer_id: int | None = None

    @classmethod
    def of(cls, account: Account) -> Actor:
        return cls(
            role=account.role,
            label=f"account:{account.id}",
            account_id=account.id,
            cooperative_id=account.cooperative_id,
            buyer_id=account.buyer_id,
        )

    @classmethod
    def system(cls, part: str) -> Actor:
        """The system acts with an admin's reach, and says which part of it acted."""
        return cls(role=Role.admin, label=f"system:{part}")

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"a {self.role.value} account may not do this")
