"""The dashboard in a real browser (headless Chromium from the distribution, driven by Playwright):
a user starts a run from the page, watches the figures and both charts move, and stops it."""
import re
import shutil
from pathlib import Path

import pytest

from tests.system import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
OUTPUT = ROOT / "build" / "test-output"

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: "
                                     "pip install playwright (its own browser download is not needed)")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)

expect = playwright_api.expect


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    """Into the test's tmp_path, and a copy in build/test-output/ for people and CI to look at."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, OUTPUT / name)
    return shot


def number_on(page, selector: str) -> float:
    return float(re.sub(r"[^\d.]", "", page.locator(selector).inner_text()) or "nan")


def wait_for_number_above(page, selector: str, floor: float) -> None:
    page.wait_for_function(
        "([selector, floor]) => Number(document.querySelector(selector).textContent.replace(/[^0-9.]/g, '')) > floor",
        arg=[selector, floor])


def wait_for_data_above(page, selector: str, key: str, floor: float) -> None:
    page.wait_for_function("([selector, key, floor]) => Number(document.querySelector(selector).dataset[key]) > floor",
                           arg=[selector, key, floor])


def test_a_run_started_and_stopped_from_the_page(fresh_system, page, tmp_path):
    system = fresh_system
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(system.base_url + "/")
    expect(page.locator("#run-status")).to_have_text("No run yet")
    expect(page.locator("#health-badge")).to_have_text("healthy")
    expect(page.locator("#health-checks li")).to_have_count(3)
    expect(page.locator("#stop")).to_be_disabled()

    page.fill("#track-input", "the, love")
    page.click("summary")
    page.fill("#rate-input", "400")
    page.select_option("#source-input", "synthetic")
    page.click("#start")
    expect(page.locator("#run-message")).to_have_text(re.compile(r"^Run \d+ started\.$"))
    run_id = int(re.search(r"\d+", page.locator("#run-message").inner_text()).group())
    expect(page.locator("#run-status")).to_contain_text(f"Run {run_id} active")
    expect(page.locator("#run-track li")).to_have_text(["the", "love"])
    expect(page.locator("#start")).to_be_disabled()

    # the figures and both charts fill, then move on the next refreshes
    wait_for_number_above(page, "#amount", 0)
    wait_for_data_above(page, "#hashtags-chart", "bars", 2)
    wait_for_data_above(page, "#minutes-chart", "total", 0)
    expect(page.locator("#minutes-chart circle")).to_have_count(30)
    amount, bar_total = number_on(page, "#amount"), float(page.locator("#hashtags-chart").get_attribute("data-total"))
    line_total = float(page.locator("#minutes-chart").get_attribute("data-total"))
    wait_for_number_above(page, "#amount", amount)
    wait_for_data_above(page, "#hashtags-chart", "total", bar_total)
    wait_for_data_above(page, "#minutes-chart", "total", line_total)
    assert page.locator("#speed").inner_text() not in ("–", "0")
    save_screenshot(page, tmp_path, "dashboard-running.png")

    page.click("#stop")
    expect(page.locator("#run-message")).to_have_text(re.compile(rf"^Run {run_id} stopped: [\d,]+ tweets\.$"))
    expect(page.locator("#run-status")).to_contain_text(f"last: run {run_id} stopped")
    expect(page.locator("#start")).to_be_enabled()

    # once nothing moves, the page shows what the API says
    final = system.get("/statistics").json()
    expect(page.locator("#amount")).to_have_text(f"{final['amount']:,}")
    top = system.get("/api/v1/hashtags/top", params={"limit": 10, "minutes": 60}).json()
    labels = ["#" + row["tag"] for row in top]
    expect(page.locator("#hashtags-chart .bar .label")).to_have_text(
        [label if len(label) <= 18 else label[:17] + "…" for label in labels])  # long tags are cut
    minutes = system.get("/api/v1/aggregates", params={"minutes": 30}).json()
    expect(page.locator("#minutes-chart")).to_have_attribute("data-total", str(sum(m["count"] for m in minutes)))
    assert sum(m["count"] for m in minutes) == final["amount"]  # synthetic tweets are created now
    save_screenshot(page, tmp_path, "dashboard-stopped.png")

    # a phone: one column, nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("Math.max(...[...document.querySelectorAll('.chart svg')].map(s => s.getBoundingClientRect().right))") <= 390
    save_screenshot(page, tmp_path, "dashboard-phone.png")

    assert problems == []


def test_a_401_asks_for_a_token_and_then_sends_it(system, page):
    seen = []

    def guard(route, request):
        # stands in for access control: the API wants "Bearer s3cret"
        seen.append(request.headers.get("authorization"))
        if request.headers.get("authorization") == "Bearer s3cret":
            route.continue_()
        else:
            route.fulfill(status=401, content_type="application/json", body='{"error": "a token is required"}')

    page.route(re.compile(r"/(statistics|api/)"), guard)
    page.goto(system.base_url + "/")
    expect(page.locator("#token-panel")).to_be_visible()
    expect(page.locator("#amount")).to_have_text("–")

    page.fill("#token-input", "s3cret")
    page.click("#token-form button")
    expect(page.locator("#token-panel")).to_be_hidden()
    expect(page.locator("#amount")).to_have_text(re.compile(r"^[\d,]+$"))
    assert page.evaluate("localStorage.getItem('apiToken')") == "s3cret"
    assert "Bearer s3cret" in seen and None in seen

    # the token stays for the next visit
    page.reload()
    expect(page.locator("#amount")).to_have_text(re.compile(r"^[\d,]+$"))
    expect(page.locator("#token-panel")).to_be_hidden()


def test_swagger_ui_shows_every_operation(system, page, tmp_path):
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    document = system.get("/openapi.json").json()
    operations = sum(len(item) for item in document["paths"].values())

    page.goto(system.base_url + "/docs")
    expect(page.locator(".opblock")).to_have_count(operations)
    expect(page.locator(".opblock-summary-path").filter(has_text="/api/v1/aggregates")).to_have_count(1)
    save_screenshot(page, tmp_path, "swagger-ui.png")
    assert problems == []
