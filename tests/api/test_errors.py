"""The problem responses every endpoint shares: 401, 403, 404, 400, 405, 413."""

import pytest
from sqlmodel import func, select

from market.db import session_scope
from market.models import Account, AuditEvent, Cooperative, SupplyOffer
from market.models.common import utcnow
from tests.api.helpers import agreement_body, cooperative_body, field_names, offer_body, order_body
from tests.conftest import bearer


def _is_problem(response, status: int) -> None:
    assert response.status_code == status, response.data
    assert response.content_type == "application/problem+json"
    body = response.json
    assert set(body) == {"type", "title", "status", "detail", "errors"}
    assert body["status"] == status and body["title"] and body["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer mkt_not-a-real-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "bearer " + "x" * 5000},
    ],
)
def test_requests_without_a_valid_token_are_401(client, world, headers):
    for method, path in (("get", "/api/v1/offers"), ("post", "/api/v1/offers"), ("get", "/api/v1/me")):
        response = getattr(client, method)(path, headers=headers, json=offer_body() if method == "post" else None)
        _is_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_401(client, world, engine):
    assert client.get("/api/v1/me", headers=world.coop).status_code == 200
    with session_scope(engine) as session:
        for account in session.exec(select(Account).where(Account.role == "cooperative")).all():
            account.revoked_at = utcnow()
            session.add(account)
    _is_problem(client.get("/api/v1/me", headers=world.coop), 401)


def test_me_tells_the_account_without_its_token(client, world):
    me = client.get("/api/v1/me", headers=world.coop).json
    assert me["role"] == "cooperative" and me["cooperative_id"] == world.coop_id
    assert "token" not in me and "token_hash" not in me
    assert world.coop["Authorization"].removeprefix("Bearer ").startswith(me["token_prefix"])


def test_public_endpoints_need_no_token(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200


def test_unknown_paths_and_methods_are_problems(client, world):
    _is_problem(client.get("/api/v1/nothing-here", headers=world.admin), 404)
    _is_problem(client.get("/api/v1/offers/not-a-number", headers=world.admin), 404)
    response = client.delete("/api/v1/offers", headers=world.admin)
    _is_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_a_body_that_is_not_json_is_400_and_writes_nothing(client, world, engine):
    for data, content_type, detail in (
        ("product=apple&tonnes=5", "application/x-www-form-urlencoded", "sent with Content-Type: application/json"),
        ('{"product": "apple",', "application/json", "Expecting property name enclosed in double quotes"),
        ('{"product": "apple",\n "tonnes": 5,}', "application/json", "(line 2, column 14)"),
        ("\xff\xfe", "application/json", "not valid JSON"),
        (b'{"tonnes": "\xff"}', "application/json", "it is not UTF-8 text"),
        ("<offer/>", "text/xml", "sent with Content-Type: application/json"),
        ('{"tonnes": 1' + "0" * 5000 + "}", "application/json", "a number of more than 4,300 digits"),
        ("[" * 100_000, "application/json", "nests arrays or objects too deeply"),
    ):
        response = client.post("/api/v1/offers", data=data, headers=world.coop | {"Content-Type": content_type})
        _is_problem(response, 400)
        assert detail in response.json["detail"], (data[:40], response.json["detail"])
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(SupplyOffer)).one() == 0


def test_an_empty_body_is_a_422_naming_each_required_field(client, world, engine):
    response = client.post("/api/v1/offers", headers=world.coop)
    _is_problem(response, 422)
    assert field_names(response) == {"product", "grade", "tonnes", "min_price_per_tonne", "available_from"} | {
        "available_until"
    }
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(SupplyOffer)).one() == 0


def test_a_body_over_one_mebibyte_is_413_and_writes_nothing(client, world, engine):
    body = offer_body(variety="x" * (1024 * 1024))
    response = client.post("/api/v1/offers", json=body, headers=world.coop)
    _is_problem(response, 413)
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(SupplyOffer)).one() == 0


def test_errors_write_no_audit_events(client, world, engine):
    with session_scope(engine) as session:
        before = session.exec(select(func.count()).select_from(AuditEvent)).one()
    client.post("/api/v1/offers", json=offer_body(tonnes="-1"), headers=world.coop)
    client.post("/api/v1/offers", json=offer_body(), headers=world.buyer)
    client.post("/api/v1/offers/12345/withdraw", headers=world.coop)
    client.post("/api/v1/cooperatives", json={"name": "x"}, headers=world.admin)
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(AuditEvent)).one() == before


def test_an_unexpected_error_is_a_500_problem_without_internals(client, world, monkeypatch):
    from market.services import offers

    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(offers, "list_offers", explode)
    response = client.get("/api/v1/offers", headers=world.coop)
    _is_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)


def test_a_connection_lost_while_closing_the_session_keeps_the_answer_already_made(client, world, engine, monkeypatch):
    """The database restarting just after a request committed: closing its session fails, the 201 stands."""
    from sqlalchemy.exc import OperationalError
    from sqlmodel import Session

    closing, invalidated = Session.close, []

    def close_on_a_lost_connection(session):
        closing(session)
        raise OperationalError("ROLLBACK", None, Exception("the connection is lost"))

    def invalidate(session):
        invalidated.append(session)

    monkeypatch.setattr(Session, "close", close_on_a_lost_connection)
    monkeypatch.setattr(Session, "invalidate", invalidate)
    response = client.post("/api/v1/offers", json=offer_body(), headers=world.coop)
    monkeypatch.undo()
    assert response.status_code == 201, response.data
    assert len(invalidated) == 1
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(SupplyOffer)).one() == 1


def test_token_of_a_cooperative_cannot_reach_admin_endpoints(client, world):
    for method, path in (
        ("get", "/api/v1/cooperatives"),
        ("post", "/api/v1/cooperatives"),
        ("get", "/api/v1/buyers"),
        ("post", "/api/v1/buyers"),
        ("get", "/api/v1/accounts"),
        ("post", "/api/v1/accounts"),
        ("post", "/api/v1/agreements"),
    ):
        for headers in (world.coop, world.buyer):
            response = getattr(client, method)(path, headers=headers, json={} if method == "post" else None)
            _is_problem(response, 403)
            assert response.json["detail"].endswith("accounts may not call this endpoint")


def test_options_tells_every_role_the_methods_of_a_path(client, world):
    """Routed to one of the path's endpoints, OPTIONS was held to that endpoint's roles (an admin got
    a 403 on /offers, whose POST is the cooperatives')."""
    for headers in (world.admin, world.coop, world.buyer):
        response = client.options("/api/v1/offers", headers=headers)
        assert response.status_code == 200, response.data
        assert {"GET", "POST"} <= set(response.headers["Allow"].split(", "))


def test_bearer_scheme_is_case_insensitive(client, world):
    token = world.coop["Authorization"].removeprefix("Bearer ")
    assert client.get("/api/v1/me", headers={"Authorization": f"bearer {token}"}).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200


def test_control_characters_in_text_are_a_422_naming_the_field_and_write_nothing(client, world, engine):
    for body, headers, path, field in (
        (offer_body(variety="Red\x01Fuji"), world.coop, "/api/v1/offers", "variety"),
        (offer_body(brand="昭阳\x7f红"), world.coop, "/api/v1/offers", "brand"),
        (offer_body(variety="Red\x85Fuji"), world.coop, "/api/v1/offers", "variety"),
        (cooperative_body(name="Ctl", name_zh="控制\x02社"), world.admin, "/api/v1/cooperatives", "name_zh"),
    ):
        response = client.post(path, json=body, headers=headers)
        _is_problem(response, 422)
        assert [error["field"] for error in response.json["errors"]] == [field], response.json
        assert "control characters" in response.json["detail"]
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(SupplyOffer)).one() == 0
        assert session.exec(select(Cooperative).where(Cooperative.name == "Ctl")).first() is None
    # Tabs and line breaks are text.
    assert client.post("/api/v1/offers", json=offer_body(variety="Red\tFuji"), headers=world.coop).status_code == 201


def test_a_body_that_is_json_but_not_an_object_is_a_422_and_writes_nothing(client, world, engine):
    from market.models import MatchRun

    for path, headers, body in (
        # A JSON string holding a whole body was once decoded a second time, and accepted.
        ("/api/v1/match-runs", world.admin, '"{\\"product\\": \\"egg\\"}"'),
        ("/api/v1/offers", world.coop, '"x"'),
        ("/api/v1/offers", world.coop, "[]"),
        ("/api/v1/orders", world.buyer, "5"),
    ):
        response = client.post(path, data=body, headers=headers | {"Content-Type": "application/json"})
        _is_problem(response, 422)
        assert response.json["errors"] == [{"field": "body", "message": "a JSON object is required"}], body
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(MatchRun)).one() == 0
        assert session.exec(select(func.count()).select_from(SupplyOffer)).one() == 0


# Each read by pydantic's lax mode as something else: true as buyer 1, 0 as 1970-01-01, "1_000" as 1000.
@pytest.mark.parametrize(
    ("path", "role", "body", "field"),
    [
        ("/api/v1/agreements", "admin", {"buyer_id": True}, "buyer_id"),
        ("/api/v1/agreements", "admin", {"cooperative_id": "1"}, "cooperative_id"),
        ("/api/v1/agreements", "admin", {"valid_from": 0}, "valid_from"),
        ("/api/v1/offers", "coop", {"tonnes": "1_000"}, "tonnes"),
        ("/api/v1/offers", "coop", {"tonnes": "\u0661\u0662"}, "tonnes"),
        ("/api/v1/offers", "coop", {"min_price_per_tonne": "1e3"}, "min_price_per_tonne"),
        ("/api/v1/offers", "coop", {"available_from": "2020-09-15T00:00:00"}, "available_from"),
        ("/api/v1/orders", "buyer", {"tonnes": "\uff11\uff12"}, "tonnes"),
        ("/api/v1/cooperatives", "admin", {"longitude": False}, "longitude"),
        ("/api/v1/cooperatives", "admin", {"member_households": True}, "member_households"),
    ],
)
def test_values_of_another_type_are_a_422_naming_the_field_and_write_nothing(
    client, world, engine, path, role, body, field
):
    bodies = {
        "/api/v1/agreements": agreement_body(world.buyer_id, world.coop_id),
        "/api/v1/offers": offer_body(),
        "/api/v1/orders": order_body(),
        "/api/v1/cooperatives": cooperative_body(),
    }
    headers = {"admin": world.admin, "coop": world.coop, "buyer": world.buyer}[role]
    assert client.post(path, json=bodies[path], headers=headers).status_code == 201  # the body as it should be
    with session_scope(engine) as session:
        before = session.exec(select(func.count()).select_from(AuditEvent)).one()
    response = client.post(path, json=bodies[path] | body, headers=headers)
    _is_problem(response, 422)
    assert field_names(response) == {field}
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(AuditEvent)).one() == before


def test_whole_numbers_may_be_written_with_a_zero_fraction_as_json_schema_integers_may(client, world):
    # JSON Schema's integer is any number without a fraction: 210.0 is 210, as the document promises.
    body = cooperative_body(member_households=210.0, poor_households=96.0)  # sent as 210.0 and 96.0
    response = client.post("/api/v1/cooperatives", json=body, headers=world.admin)
    assert response.status_code == 201, response.json
    assert (response.json["member_households"], response.json["poor_households"]) == (210, 96)
    agreement = agreement_body(float(world.buyer_id), world.coop_id)
    assert client.post("/api/v1/agreements", json=agreement, headers=world.admin).json["buyer_id"] == world.buyer_id
    for households in (210.5, 1e30):
        response = client.post(
            "/api/v1/cooperatives", json=cooperative_body(member_households=households), headers=world.admin
        )
        _is_problem(response, 422)
        assert field_names(response) == {"member_households"}


def test_a_report_period_is_days_written_yyyy_mm_dd(client, world):
    for query in ("to=0", "from=1600000000", "to=2020-01-01T00:00:00"):
        response = client.get(f"/api/v1/reports/summary?{query}", headers=world.admin)
        _is_problem(response, 422)
        assert field_names(response) == {query.split("=")[0]}
    assert client.get("/api/v1/reports/summary?from=2020-01-01&to=2020-12-31", headers=world.admin).status_code == 200


def test_an_agreement_id_written_as_text_is_a_422(client, world):
    agreement = client.post(
        "/api/v1/agreements", json=agreement_body(world.buyer_id, world.coop_id), headers=world.admin
    ).json
    assert (
        client.post("/api/v1/orders", json=order_body(agreement_id=agreement["id"]), headers=world.buyer).status_code
        == 201
    )
    response = client.post("/api/v1/orders", json=order_body(agreement_id=str(agreement["id"])), headers=world.buyer)
    _is_problem(response, 422)
    assert field_names(response) == {"agreement_id"}


def test_whole_numbers_in_a_query_are_digits(client, world):
    for path, field in (
        ("/api/v1/offers?limit=1_0", "limit"),
        ("/api/v1/offers?offset=+1", "offset"),
        ("/api/v1/contracts?match_run_id=0_2", "match_run_id"),
        ("/api/v1/deliveries?contract_id=%201", "contract_id"),
    ):
        response = client.get(path, headers=world.admin)
        _is_problem(response, 422)
        assert field_names(response) == {field}, path
    assert client.get("/api/v1/contracts?match_run_id=2&limit=10&offset=0", headers=world.admin).status_code == 200
