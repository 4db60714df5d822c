"""Accounts hold API tokens; each acts as the admin office, one cooperative or one buyer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from market.models.common import (
    MAX_ID,
    InvalidField,
    RequestModel,
    Role,
    ShortText,
    Timestamp,
    WholeNumber,
    enum_type,
    utcnow,
)


class Account(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint(
            "(role = 'admin' AND cooperative_id IS NULL AND buyer_id IS NULL)"
            " OR (role = 'cooperative' AND cooperative_id IS NOT NULL AND buyer_id IS NULL)"
            " OR (role = 'buyer' AND buyer_id IS NOT NULL AND cooperative_id IS NULL)",
            name="role_link",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    role: Role = Field(sa_type=enum_type(Role))
    name: str = Field(max_length=120)
    cooperative_id: int | None = Field(default=None, foreign_key="cooperative.id", index=True)
    buyer_id: int | None = Field(default=None, foreign_key="buyer.id", index=True)
    # SHA-256 of the token: the token itself is shown once and never stored.
    token_hash: str = Field(max_length=64, unique=True)
    # The token's first characters, enough to tell tokens apart in lists and logs.
    token_prefix: str = Field(max_length=12)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    revoked_at: datetime | None = Field(default=None, sa_type=Timestamp)


class AccountCreate(RequestModel):
    role: Role
    name: ShortText = PydanticField(examples=["Sayu co-op clerk"])
    cooperative_id: WholeNumber | None = PydanticField(default=None, ge=1, le=MAX_ID)
    buyer_id: WholeNumber | None = PydanticField(default=None, ge=1, le=MAX_ID)

    @model_validator(mode="after")
    def _link_matches_role(self) -> AccountCreate:
        if self.role == Role.cooperative:
            if self.cooperative_id is None:
                raise InvalidField("cooperative_id", "required for a cooperative account")
            if self.buyer_id is not None:
                raise InvalidField("buyer_id", "not allowed for a cooperative account")
        elif self.role == Role.buyer:
            if self.buyer_id is None:
                raise InvalidField("buyer_id", "required for a buyer account")
            if self.cooperative_id is not None:
                raise InvalidField("cooperative_id", "not allowed for a buyer account")
        else:
            for field in ("cooperative_id", "buyer_id"):
                if getattr(self, field) is not None:
                    raise InvalidField(field, "not allowed for an admin account")
        return self


class AccountPublic(BaseModel):
    id: int
    role: Role
    name: str
    cooperative_id: int | None
    buyer_id: int | None
    token_prefix: str
    created_at: datetime
    revoked_at: datetime | None


class AccountCreated(AccountPublic):
    token: str = PydanticField(description="The bearer token. It is shown this once and cannot be recovered.")
