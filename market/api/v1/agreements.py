"""/api/v1/agreements: season-long purchase agreements and how far along they are."""

from __future__ import annotations

from market.api.blueprints import IdPath, v1_blueprint
from market.api.http import PageQuery, allow, current_actor, db, idempotent, page_of, respond
from market.api.serialize import agreement_out
from market.clock import office_today
from market.models.agreement import AgreementCreate, AgreementPublic
from market.models.common import Page, Product, Role
from market.services import agreements

agreements_api = v1_blueprint(
    "agreements",
    "/agreements",
    "Agreements",
    "Purchase agreements between one buyer and one cooperative; the parties see their own.",
)


class AgreementQuery(PageQuery):
    product: Product | None = None


@agreements_api.post("", responses={201: AgreementPublic})
@allow(Role.admin)
@idempotent
def create_agreement(body: AgreementCreate):
    """Record a purchase agreement brokered by the office."""
    agreement = agreements.create_agreement(db(), actor=current_actor(), data=body)
    return respond(agreement_out(agreement, office_today()), 201)


@agreements_api.get("", responses={200: Page[AgreementPublic]})
@allow(Role.admin, Role.cooperative, Role.buyer)
def list_agreements(query: AgreementQuery):
    """Admins: every agreement. Parties: their own, with progress."""
    rows, count = agreements.list_agreements(db(), actor=current_actor(), page=query.page(), product=query.product)
    return respond(page_of([agreement_out(row, office_today()) for row in rows], count))


@agreements_api.get("/<int:id>", responses={200: AgreementPublic})
@allow(Role.admin, Role.cooperative, Role.buyer)
def get_agreement(path: IdPath):
    """One agreement with its progress."""
    return respond(
        agreement_out(agreements.get_agreement(db(), actor=current_actor(), agreement_id=path.id), office_today())
    )
