"""/api/v1/contracts: what match runs agreed; each party sees its own."""

from __future__ import annotations

from market.api.blueprints import IdPath, v1_blueprint
from market.api.http import PageQuery, allow, current_actor, db, page_of, respond
from market.api.serialize import contract_out
from market.models.common import ContractStatus, Page, Product, QueryId, Role
from market.models.contract import ContractPublic
from market.services import contracts

contracts_api = v1_blueprint(
    "contracts", "/contracts", "Contracts", "Matched tonnes from one offer to one order at one price."
)


class ContractQuery(PageQuery):
    status: ContractStatus | None = None
    product: Product | None = None
    match_run_id: QueryId | None = None


@contracts_api.get("", responses={200: Page[ContractPublic]})
@allow(Role.admin, Role.cooperative, Role.buyer)
def list_contracts(query: ContractQuery):
    """Admins: every contract. Cooperatives and buyers: their own."""
    rows, count = contracts.list_contracts(
        db(),
        actor=current_actor(),
        page=query.page(),
        status=query.status,
        product=query.product,
        match_run_id=query.match_run_id,
    )
    return respond(page_of([contract_out(row) for row in rows], count))


@contracts_api.get("/<int:id>", responses={200: ContractPublic})
@allow(Role.admin, Role.cooperative, Role.buyer)
def get_contract(path: IdPath):
    """One contract."""
    return respond(contract_out(contracts.get_contract(db(), actor=current_actor(), contract_id=path.id)))
