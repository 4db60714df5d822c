"""/api/v1/destinations: the places an order may be delivered to."""

from __future__ import annotations

from pydantic import BaseModel

from market.api.blueprints import v1_blueprint
from market.api.http import allow, respond
from market.models.common import Page, Role
from market.places import DESTINATIONS

destinations_api = v1_blueprint(
    "destinations", "/destinations", "Destinations", "Known delivery destinations, with their coordinates."
)


class DestinationPublic(BaseModel):
    key: str
    name: str
    name_zh: str
    latitude: float
    longitude: float


@destinations_api.get("", responses={200: Page[DestinationPublic]})
@allow(Role.admin, Role.cooperative, Role.buyer)
def list_destinations():
    """Every known destination; an order names one by key, English or Chinese name."""
    items = [
        DestinationPublic.model_validate(place, from_attributes=True).model_dump() for place in DESTINATIONS.values()
    ]
    return respond({"data": items, "count": len(items)})
