"""Signing in to the console with an admin token, the session cookie, revocation and signing out."""

from __future__ import annotations

import pytest

from market.app import create_app
from market.config import ConfigError, load_settings
from market.db import session_scope
from market.models import Account, MatchRun
from market.models.common import MatchRunStatus, utcnow
from tests.admin.conftest import csrf_token, post_form, sign_in, text

PAGES = ["/admin/", "/admin/runs", "/admin/runs/1", "/admin/contracts", "/admin/contracts/1", "/admin/runs?status=x"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_a_stranger_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.location.startswith("/admin/sign-in?next=")
    assert client.get(response.location).status_code == 200


def test_a_post_without_a_session_changes_nothing(client, market, engine):
    response = client.post(f"/admin/runs/{market.run_id}/approve", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 303 and response.location.startswith("/admin/sign-in")
    with session_scope(engine) as session:
        assert session.get(MatchRun, market.run_id).status == MatchRunStatus.proposed


def test_the_sign_in_page_and_its_assets_need_no_session(client):
    page = client.get("/admin/sign-in")
    assert page.status_code == 200 and 'name="token"' in text(page) and 'type="password"' in text(page)
    assert client.get("/admin/static/admin.css").status_code == 200
    assert client.get("/admin/static/favicon.svg").status_code == 200


def test_an_admin_token_signs_in_with_a_guarded_cookie(client, market):
    response = sign_in(client, market.admin_token)
    assert response.status_code == 303 and response.location == "/admin/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("market_admin=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/admin"):
        assert attribute in cookie
    assert "Secure" not in cookie  # off unless SESSION_COOKIE_SECURE says so
    assert market.admin_token not in cookie  # only the account id travels, signed
    home = client.get("/admin/")
    assert home.status_code == 200 and market.admin_name in text(home)
    assert f"已登录：{market.admin_name}。" in text(home)


def test_sign_in_returns_to_the_page_asked_for_and_never_to_another_site(client, market):
    asked = client.get(f"/admin/runs/{market.run_id}").location
    token = csrf_token(client, asked)
    response = client.post(asked, data={"token": market.admin_token, "csrf_token": token})
    assert response.location == f"/admin/runs/{market.run_id}"
    client.post("/admin/sign-out", data={"csrf_token": csrf_token(client, "/admin/")})
    for evil in ("https://evil.example/admin", "//evil.example/admin", "/api/v1/me"):
        response = sign_in(client, market.admin_token, next=evil)
        assert response.location == "/admin/", evil
        client.post("/admin/sign-out", data={"csrf_token": csrf_token(client, "/admin/")})


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("zh-CN", "这是合作社账户的令牌：只有协作办的管理员令牌才能进入控制台。"),
        ("en", "This is a cooperative account's token: only the cooperation office's admin tokens open the console."),
    ],
)
def test_a_cooperative_token_is_refused_in_the_pages_language(client, market, language, message):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    response = sign_in(client, market.coop_token)
    assert response.status_code == 403
    assert message in text(response)
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("token", ["mkt_not-a-token", "hello", " "])
def test_an_unknown_token_is_refused(client, market, token):
    response = sign_in(client, token)
    assert response.status_code in (401, 422)
    assert "该令牌无效" in text(response) or "请粘贴协作办领取的管理员令牌" in text(response)
    assert client.get("/admin/").status_code == 302


def test_a_revoked_token_ends_its_session_at_the_next_request(client, market, engine):
    sign_in(client, market.admin_token)
    assert client.get("/admin/runs").status_code == 200
    with session_scope(engine) as session:
        account = session.get(Account, market.admin_id)
        account.revoked_at = utcnow()
        session.add(account)

    response = client.get("/admin/runs")
    assert response.status_code == 302 and response.location.startswith("/admin/sign-in")
    page = client.get(response.location)
    assert "您的登录已失效" in text(page)
    assert client.get("/admin/runs").status_code == 302  # and it stays ended
    # The revoked token cannot sign in again either.
    assert sign_in(client, market.admin_token).status_code == 401


def test_signing_out_ends_the_session(admin_client):
    response = post_form(admin_client, "/admin/sign-out")
    assert response.status_code == 303 and response.location == "/admin/sign-in"
    assert "您已退出登录。" in text(admin_client.get("/admin/sign-in"))
    assert admin_client.get("/admin/").status_code == 302


def test_secure_cookies_are_configurable(settings, market, monkeypatch):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")
    app = create_app(load_settings(database_url=settings.database_url, redis_url="", secret_key="k"))
    try:
        client = app.test_client()
        response = sign_in(client, market.admin_token)
        assert "Secure" in response.headers["Set-Cookie"]
    finally:
        app.extensions["market.engine"].dispose()
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "maybe")
    with pytest.raises(ConfigError, match="SESSION_COOKIE_SECURE"):
        load_settings()


def test_pages_forbid_framing_and_caching(admin_client):
    response = admin_client.get("/admin/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no scripts at all
    assert response.headers["Cache-Control"] == "no-store"
