"""Chinese and English: the default from Accept-Language (else Chinese), a switch on every page kept in the session."""

from __future__ import annotations

import re

import pytest

from tests.admin.conftest import csrf_token, post_form, sign_in, text


def _lang(response) -> str:
    return re.search(r'<html lang="([^"]+)"', text(response)).group(1)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "zh-CN"),
        ("zh-CN,zh;q=0.9", "zh-CN"),
        ("zh-TW", "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("en-GB", "en"),
        ("fr-FR,de;q=0.8", "zh-CN"),
        ("fr-FR,en;q=0.5", "en"),
    ],
)
def test_the_default_comes_from_accept_language_then_chinese(client, accept, expected):
    headers = {} if accept is None else {"Accept-Language": accept}
    page = client.get("/admin/sign-in", headers=headers)
    assert _lang(page) == expected
    assert ("<h1>登录</h1>" if expected == "zh-CN" else "<h1>Sign in</h1>") in text(page)


def test_the_switch_is_on_every_page_and_sticks(admin_client, market):
    pages = ["/admin/", "/admin/runs", f"/admin/runs/{market.run_id}", "/admin/contracts", "/admin/contracts/1"]
    pages += ["/admin/deliveries", "/admin/reports"]
    for path in pages:
        page = text(admin_client.get(path))
        assert 'action="/admin/language"' in page and 'value="en"' in page and 'value="zh_Hans_CN"' in page, path

    run_page = f"/admin/runs/{market.run_id}"
    response = post_form(admin_client, "/admin/language", {"lang": "en", "next": run_page}, page=run_page)
    assert response.status_code == 303 and response.location == run_page
    english = admin_client.get(run_page, headers={"Accept-Language": "zh-CN"})  # the choice beats the header
    assert _lang(english) == "en"
    body = text(english)
    for words in (
        "Match run 1",
        "Awaiting review",
        "By product",
        "Apple",
        "Eggs",
        "Purchase agreements",
        "Unmatched orders",
        "Supply exhausted",
        "Price gap: ask plus freight is not below the bid",
        "Optimum vs first come, first served",
        "Approve the run",
        "Sayu Apple Cooperative",
        "Dongguan Zejing Co.",
    ):
        assert words in body, words
    assert "苹果" not in body and "待审核" not in body

    for path in pages:
        assert _lang(admin_client.get(path)) == "en", path

    post_form(admin_client, "/admin/language", {"lang": "zh_Hans_CN", "next": "/admin/runs"})
    chinese = text(admin_client.get(run_page))
    for words in (
        "第 1 轮撮合",
        "待审核",
        "按产品",
        "苹果",
        "鸡蛋",
        "采购协议",
        "未撮合订单",
        "货源已售罄",
        "最优撮合与先到先得对比",
        "批准",
        "洒渔镇苹果专业合作社",
        "东莞市泽景公司",
    ):
        assert words in chinese, words


def test_the_choice_outlives_signing_out_and_works_before_signing_in(client, market):
    token = csrf_token(client)
    response = client.post("/admin/language", data={"lang": "en", "next": "/admin/sign-in", "csrf_token": token})
    assert response.location == "/admin/sign-in"
    assert "<h1>Sign in</h1>" in text(client.get("/admin/sign-in"))
    sign_in(client, market.admin_token)
    assert "Signed in as" in text(client.get("/admin/"))
    post_form(client, "/admin/sign-out")
    assert "You have signed out." in text(client.get("/admin/sign-in"))


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin", "/api/v1/me", ""])
def test_the_switch_only_returns_to_console_pages(admin_client, target):
    response = post_form(admin_client, "/admin/language", {"lang": "en", "next": target})
    assert response.location == "/admin/"


def test_an_unknown_language_changes_nothing(admin_client):
    response = post_form(admin_client, "/admin/language", {"lang": "fr", "next": "/admin/runs"})
    assert response.status_code == 303
    assert _lang(admin_client.get("/admin/runs")) == "zh-CN"
