"""The console in a real browser: Debian's Chromium, driven by Playwright, against `market serve`.

The server is the real one (gunicorn, two workers, SQLite prepared through the services);
the browser signs in with an admin token, reads the dashboard, reviews and approves the
proposed run and sees the dashboard's contracted tonnes move; the cooperative then ships a
load and the buyer accepts it through the JSON API (as their ERP would), and the dashboard's
delivered tonnes move too. The browser reads the deliveries, the contract, the reports (and
downloads one), the contracts, switches language and signs out. A screenshot of each step is
written to test-artifacts/admin/, some also at a phone's width. Without Chromium or
Playwright the test is skipped on a developer's machine and fails under CI (`CI` set).
"""

from __future__ import annotations

import importlib.util
import json
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


def _api(base: str, method: str, path: str, token: str, body: dict | None = None) -> dict:
    """A call to the JSON API with a bearer token, as a party's ERP makes it."""
    request = urllib.request.Request(
        base + "/api/v1" + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_an_admin_follows_a_run_from_review_to_delivery_in_a_real_browser(chromium, server):
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

    # 2. Sign in with the admin token: the dashboard, with nothing contracted yet and the run awaiting review.
    page.get_by_label("管理员 API 令牌").fill(market.admin_token)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(base + "/admin/")
    expect(page.locator(".flash-success")).to_have_text(f"已登录：{market.admin_name}。")
    expect(page.get_by_role("heading", name="待审核的撮合")).to_be_visible()
    contracted, delivered = page.locator("#kpi-contracted .kpi-value"), page.locator("#kpi-delivered .kpi-value")
    expect(contracted).to_have_text("0")
    expect(delivered).to_have_text("0")
    expect(page.locator(f"#agreement-{market.agreement_id}")).to_contain_text("进度落后")
    shot("02-dashboard")

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

    # 5. Back on the dashboard, the run's 100 t are contracted (751,680.00 yuan); nothing is delivered yet.
    page.get_by_role("link", name="首页", exact=True).click()
    expect(page).to_have_url(base + "/admin/")
    expect(contracted).to_have_text("100")
    expect(page.locator("#kpi-contracted .kpi-note")).to_have_text("合同金额 751,680.00 元")
    expect(delivered).to_have_text("0")
    expect(page.locator("svg.chart[aria-label='合同吨数与交付吨数（按月份）']")).to_be_visible()
    expect(page.locator("#chart-month-tonnes")).to_contain_text("2020年10月")
    shot("05-dashboard-approved")

    # 6. Sayu ships 40 t to Baikang and Baikang's weighbridge accepts 39.5 t, through the API.
    contract = _api(base, "GET", "/contracts", market.baikang_token)["data"][0]
    load = {"tonnes": "40", "shipped_on": "2020-10-08", "ticket": "ZY-0081"}
    delivery = _api(base, "POST", f"/contracts/{contract['id']}/deliveries", market.coop_token, load)
    verdict = {"accepted_tonnes": "39.5", "reason": "500 kg bruised"}
    _api(base, "POST", f"/deliveries/{delivery['id']}/accept", market.baikang_token, verdict)
    page.reload()
    expect(delivered).to_have_text("39.5")
    expect(page.locator("#kpi-earned .kpi-value")).to_have_text("280,134.00")  # 39.5 t x 7,092.00 yuan/t
    expect(page.locator("#kpi-household .kpi-value")).to_have_text("2,334.45")  # over Sayu's 120 households
    shot("06-dashboard-delivered")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "06-dashboard-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    # 7. The deliveries: the load, what was accepted and why the rest was not; it links to its contract.
    page.get_by_role("link", name="交付", exact=True).click()
    expect(page).to_have_url(base + "/admin/deliveries")
    load_row = page.locator("#deliveries tbody tr", has_text="ZY-0081")
    expect(load_row).to_contain_text("已验收")
    expect(load_row).to_contain_text("500 kg bruised")
    expect(load_row).to_contain_text("280,134.00")
    shot("07-deliveries")
    load_row.get_by_role("link", name=f"合同 {contract['id']}").click()
    expect(page).to_have_url(f"{base}/admin/contracts/{contract['id']}")
    expect(page.locator("#contract-status")).to_have_text("已履约")
    expect(page.locator("#contract-deliveries")).to_contain_text("ZY-0081")
    expect(page.locator("#close-form")).to_have_count(0)  # fulfilled: nothing to close
    shot("08-contract")

    # 8. The reports, and a download of the summary as the office sends it upward.
    page.get_by_role("link", name="报表", exact=True).click()
    expect(page).to_have_url(base + "/admin/reports")
    expect(page.locator("#summary tbody tr", has_text="苹果")).to_contain_text("280,134.00")
    expect(page.locator("#poverty tbody tr", has_text="洒渔镇")).to_contain_text("2,334.45")
    shot("09-reports")
    with page.expect_download() as download:
        page.locator("section[aria-labelledby='summary-heading'] .downloads a", has_text="CSV").click()
    assert download.value.suggested_filename == "market-summary-product-start_end.csv"
    assert Path(download.value.path()).read_bytes().startswith(b"\xef\xbb\xbf")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "09-reports-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    # 9. The contracts: Baikang's fulfilled; Zejing's call-off, with nothing shipped, is closed short.
    page.get_by_role("link", name="合同", exact=True).click()
    expect(page).to_have_url(base + "/admin/contracts")
    rows = page.locator("#contracts tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="已确认")).to_have_count(1)
    expect(rows.filter(has_text="已履约")).to_have_count(1)
    expect(rows.filter(has_text="东莞市泽景公司")).to_contain_text("468,000.00")
    shot("10-contracts")
    rows.filter(has_text="东莞市泽景公司").get_by_role("link").first.click()
    reason = page.get_by_label("原因")
    expect(reason).to_have_attribute("required", "")  # the browser asks for a reason before sending the form
    reason.fill("冰雹损毁了剩余果品。")
    shot("11-close-short")
    page.locator("#close").click()
    expect(page.locator("#contract-status")).to_have_text("短量结案")
    expect(page.locator(".flash-success")).to_contain_text("已短量结案：未验收的 60 吨已退回采购方订单。")
    expect(page.locator("#close-reason")).to_have_text("已短量结案：冰雹损毁了剩余果品。")
    shot("12-closed-short")
    page.get_by_role("link", name="合同", exact=True).click()

    # 10. English, on the same page and then on the dashboard and the reports; and back to Chinese.
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Contracts")
    expect(rows.filter(has_text="Closed short")).to_have_count(1)
    expect(rows.filter(has_text="Dongguan Zejing Co.")).to_contain_text("Apple")
    shot("13-english")
    page.get_by_role("link", name="Home", exact=True).click()
    expect(page.locator("#kpi-delivered .kpi-label")).to_have_text("Tonnes delivered")
    expect(page.locator("#chart-month-tonnes")).to_contain_text("Oct 2020")
    expect(page.locator(f"#agreement-{market.agreement_id}")).to_contain_text("Behind pace")
    shot("14-dashboard-english")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "14-dashboard-english-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name="Reports", exact=True).click()
    page.get_by_label("Group by").select_option("month")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(base + "/admin/reports?group_by=month&from=&to=")
    expect(page.locator("#summary tbody tr", has_text="Oct 2020")).to_contain_text("39.5")
    shot("15-reports-english")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("报表")
    shot("16-chinese")

    # 11. Sign out: back to the sign-in page, and the console is closed again.
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(base + "/admin/sign-in")
    expect(page.locator(".flash-success")).to_have_text("您已退出登录。")
    shot("17-signed-out")
    page.goto(base + "/admin/contracts")
    expect(page).to_have_url(base + "/admin/sign-in?next=/admin/contracts")

    context.close()
    assert not errors, errors
    assert time.monotonic() - started < 60
