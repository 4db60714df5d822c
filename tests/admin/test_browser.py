"""The console in a real browser: Debian's Chromium, driven by Playwright, against `market serve`.

The server is the real one (gunicorn, two workers, SQLite prepared through the services);
the browser signs in with an admin token, reviews and approves the proposed run, reads
the contracts, switches language and signs out. A screenshot of each step is written to
test-artifacts/admin/. Without Chromium or Playwright the test is skipped on a developer's
machine and fails under CI (`CI` set).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from market.config import load_settings
from market.db import make_engine
from tests.admin.conftest import build_market
from tests.conftest import require_service
from tests.workers.processes import ROOT, free_port, running, venv_env, wait_for

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("MARKET_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
ARTIFACTS = ROOT / "test-artifacts" / "admin"
TIMEOUT_MS = 10_000


@pytest.fixture
def chromium():
    """Playwright's Chromium driver on Debian's Chromium (never a downloaded browser)."""
    if importlib.util.find_spec("playwright") is None:
        require_service("Playwright", "the playwright package is not installed (pip install -e '.[test]')")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def server(sqlite_template, tmp_path):
    """`market serve` on a SQLite market holding one proposed run; yields (base URL, the market)."""
    database = tmp_path / "browser.db"
    shutil.copy(sqlite_template, database)
    database_url = f"sqlite:///{database}"
    engine = make_engine(load_settings(database_url=database_url))
    market = build_market(engine)
    engine.dispose()

    port = free_port()
    log = tmp_path / "serve.log"
    env = venv_env(
        {"DATABASE_URL": database_url, "SECRET_KEY": "browser-test", "REDIS_URL": "", "LOG_LEVEL": "WARNING"}
    )
    base = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                return response.status if response.status == 200 else None
        except OSError:
            return None

    with running(["market", "serve", "--port", str(port), "--workers", "2"], env=env, log=log) as process:
        wait_for(healthy, process=process, log=log, what="market serve")
        yield base, market


def test_an_admin_reviews_and_approves_a_run_in_a_real_browser(chromium, server):
    from playwright.sync_api import expect

    base, market = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    started = time.monotonic()
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))

    def shot(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    # 1. Not signed in: the console sends the browser to sign in (in Chinese, from Accept-Language).
    page.goto(base + "/admin/")
    expect(page).to_have_url(base + "/admin/sign-in?next=/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    shot("01-sign-in")

    # 2. Sign in with the admin token: the home page lists the run awaiting review.
    page.get_by_label("管理员 API 令牌").fill(market.admin_token)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(base + "/admin/")
    expect(page.locator(".flash-success")).to_have_text(f"已登录：{market.admin_name}。")
    expect(page.get_by_role("heading", name="待审核的撮合")).to_be_visible()
    shot("02-home")

    # 3. The review page: the report's figures, and the optimum vs first come, first served chart.
    page.locator("a.run-link", has_text=f"第 {market.run_id} 轮撮合").click()
    expect(page).to_have_url(f"{base}/admin/runs/{market.run_id}")
    expect(page.locator("#run-status")).to_have_text("待审核")
    expect(page.locator("#totals")).to_contain_text("100")
    expect(page.locator("#totals")).to_contain_text("需求 135 吨（满足率 74.1%）")
    expect(page.locator("#totals")).to_contain_text("751,680.00")
    expect(page.locator("#by-product tbody tr", has_text="苹果")).to_contain_text("76.9%")
    expect(page.locator("#by-agreement")).to_contain_text("468,000.00")
    expect(page.locator("#by-buyer")).to_contain_text("283,680.00")
    expect(page.locator("#unmatched")).to_contain_text("货源已售罄")
    expect(page.locator("svg.chart[aria-label='撮合吨数']")).to_be_visible()
    expect(page.locator("svg.chart[aria-label='交易收益（元）']")).to_be_visible()
    assert page.locator("svg.chart[aria-label='撮合吨数'] rect.bar").count() == 2
    shot("03-review")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "03-review-phone.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling of the page
    page.set_viewport_size({"width": 1280, "height": 900})

    # 4. Approve: the status turns approved and a message says so.
    page.locator("#approve").click()
    expect(page.locator("#run-status")).to_have_text("已批准")
    expect(page.locator(".flash-success")).to_have_text(f"第 {market.run_id} 轮撮合已批准：其合同均已确认。")
    expect(page.locator("#approve")).to_have_count(0)
    shot("04-approved")

    # 5. The contracts are confirmed.
    page.get_by_role("link", name="合同", exact=True).click()
    expect(page).to_have_url(base + "/admin/contracts")
    rows = page.locator("#contracts tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="已确认")).to_have_count(2)
    expect(rows.filter(has_text="东莞市泽景公司")).to_contain_text("468,000.00")
    shot("05-contracts")

    # 6. English, and back to Chinese, on the same page.
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Contracts")
    expect(rows.filter(has_text="Confirmed")).to_have_count(2)
    expect(rows.filter(has_text="Dongguan Zejing Co.")).to_contain_text("Apple")
    shot("06-english")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("合同")
    shot("07-chinese")

    # 7. Sign out: back to the sign-in page, and the console is closed again.
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(base + "/admin/sign-in")
    expect(page.locator(".flash-success")).to_have_text("您已退出登录。")
    shot("08-signed-out")
    page.goto(base + "/admin/contracts")
    expect(page).to_have_url(base + "/admin/sign-in?next=/admin/contracts")

    context.close()
    assert not errors, errors
    assert time.monotonic() - started < 60
