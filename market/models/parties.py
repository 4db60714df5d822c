"""The two sides of the market: producer cooperatives (sellers) and buyers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, StrictFloat, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Column, Float
from sqlmodel import Field, SQLModel

from market.models.common import InvalidField, RequestModel, ShortText, Timestamp, WholeNumber, utcnow


# Coordinates (plain floats) locate townships and cities for transport distances; they are not
# quantities that are added up, so floating point is exact enough here.
class Cooperative(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("member_households >= 0", name="member_households"),
        CheckConstraint("poor_households >= 0 AND poor_households <= member_households", name="poor_households"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    name_zh: str = Field(max_length=120)
    township: str = Field(max_length=120)
    township_zh: str | None = Field(default=None, max_length=120)
    county: str = Field(max_length=120)
    latitude: float = Field(sa_column=Column(Float, nullable=False))
    longitude: float = Field(sa_column=Column(Float, nullable=False))
    member_households: int = Field(default=0)
    # 建档立卡户: households on the poverty register, what "带贫" is measured by.
    poor_households: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)


class Buyer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    name_zh: str = Field(max_length=120)
    city: str = Field(max_length=120)
    latitude: float = Field(sa_column=Column(Float, nullable=False))
    longitude: float = Field(sa_column=Column(Float, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)


class _Located(RequestModel):
    latitude: StrictFloat = PydanticField(ge=-90, le=90, examples=[27.4332])
    longitude: StrictFloat = PydanticField(ge=-180, le=180, examples=[103.6002])


class CooperativeCreate(_Located):
    name: ShortText = PydanticField(examples=["Sayu Apple Cooperative"])
    name_zh: ShortText = PydanticField(examples=["洒渔镇苹果专业合作社"])
    township: ShortText = PydanticField(examples=["Sayu"])
    township_zh: ShortText | None = PydanticField(default=None, examples=["洒渔镇"])
    county: ShortText = PydanticField(default="Zhaoyang District", examples=["Zhaoyang District"])
    member_households: WholeNumber = PydanticField(default=0, ge=0, le=1_000_000)
    poor_households: WholeNumber = PydanticField(default=0, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _poor_within_members(self) -> CooperativeCreate:
        if self.poor_households > self.member_households:
            raise InvalidField("poor_households", "cannot exceed member_households")
        return self


class CooperativePublic(BaseModel):
    id: int
    name: str
    name_zh: str
    township: str
    township_zh: str | None
    county: str
    latitude: float
    longitude: float
    member_households: int
    poor_households: int
    created_at: datetime


class BuyerCreate(_Located):
    name: ShortText = PydanticField(examples=["Dongguan Zejing Co."])
    name_zh: ShortText = PydanticField(examples=["东莞市泽景公司"])
    city: ShortText = PydanticField(examples=["Dongguan"])


class BuyerPublic(BaseModel):
    id: int
    name: str
    name_zh: str
    city: str
    latitude: float
    longitude: float
    created_at: datetime
