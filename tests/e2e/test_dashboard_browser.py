"""The dashboard in a real browser (headless Chromium from the distribution, driven by Playwright):
a user starts a run from the page, watches the figures and both charts move, and stops it; a run
with failed batches reads in red with their cause, and its Retry button asks the API; named users'
runs are listed side by side with their owners, and each one's Stop stops that run only."""
import re
import shutil
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from services.storage.schema import failed_batches, runs
from tests.system import ROOT, free_port

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
    """A page of its own; whatever it loaded must have kept to the gateway's Content-Security-Policy."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    refused = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    yield page
    context.close()
    assert refused == [], f"the page broke the gateway's Content-Security-Policy: {refused}"


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

    loaded = page.goto(system.base_url + "/")
    policy = loaded.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert loaded.headers["x-content-type-options"] == "nosniff" and loaded.headers["referrer-policy"] == "no-referrer"
    expect(page.locator("#run-status")).to_have_text("No run yet")
    expect(page.locator("#health-badge")).to_have_text("healthy")
    expect(page.locator("#health-checks li")).to_have_count(4)   # database, broker, source; the pipeline report
    expect(page.locator("#me")).to_have_text("open gateway · admin")   # no token configured: everyone is an admin
    expect(page.locator("#runs-list .stop")).to_have_count(0)

    page.fill("#track-input", "the, love")
    page.click("summary")
    page.fill("#rate-input", "400")
    page.select_option("#source-input", "synthetic")
    page.click("#start")
    expect(page.locator("#run-message")).to_have_text(re.compile(r"^Run \d+ started\.$"))
    run_id = int(re.search(r"\d+", page.locator("#run-message").inner_text()).group())
    expect(page.locator("#run-status")).to_contain_text(f"Run {run_id} active")
    expect(page.locator("#run-track li")).to_have_text(["the", "love"])
    expect(page.locator("#start")).to_be_enabled()   # another run may be launched beside it
    row = page.locator(f'#runs-list li[data-run-id="{run_id}"]')
    expect(row.locator(".owner")).to_have_text("—")   # an open gateway's run has no owner

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

    row.locator(".stop").click()
    expect(page.locator("#runs-message")).to_have_text(re.compile(rf"^Run {run_id} stopped: [\d,]+ tweets\.$"))
    expect(row.locator(".status")).to_have_text("stopped")
    expect(row.locator(".stop")).to_have_count(0)
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


# --------------------------------------------------------------------------- failures on the page

# A cause as an exception could word it, with markup in it: the page must show it as text.
HOSTILE_CAUSE = ('psycopg2.errors.CheckViolation: new row violates check constraint '
                 '<img src=x onerror="window.injected = true"> <b>bold</b> & "quoted"')


def insert_run(engine, *, status: str, position: int, failed: list[tuple[int, int, str]] = ()) -> int:
    """A run that ended two minutes after it started, with no committed batch and the failed
    batches [start, end) given with their causes, written straight into the store."""
    with engine.begin() as conn:
        run_id = conn.execute(runs.insert().values(
            track=["the"], source="synthetic", status=status, position=position, batch_start=position,
            started_at=text("now() - interval '2 minutes'"), stopped_at=text("now()"),
        ).returning(runs.c.id)).scalar_one()
        for start, end, error in failed:
            row = {"run_id": run_id, "start_pos": start, "error": error,
                   "payload": {"run_id": run_id, "start": start, "end": end, "items": []}}
            if "end_pos" in failed_batches.c:
                row["end_pos"] = end
            conn.execute(failed_batches.insert().values(**row))
    return run_id


def test_a_run_with_failed_batches_shows_in_red_with_its_cause_and_can_be_retried(fresh_system, engine, page,
                                                                                 tmp_path):
    """Needs the run figures' failed_batches, failed_items and error, and the `draining` status."""
    system = fresh_system
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))

    plain = insert_run(engine, status="finished", position=0)
    failed = insert_run(engine, status="finished", position=2000,
                        failed=[(0, 1000, HOSTILE_CAUSE), (1000, 2000, "a later cause")])
    draining = insert_run(engine, status="finished", position=1000)   # nothing committed yet
    figures = {run["run_id"]: run for run in system.get("/statistics/runs").json()}
    assert (figures[failed]["failed_batches"], figures[failed]["failed_items"]) == (2, 2000)
    assert figures[failed]["error"] == HOSTILE_CAUSE            # the first failure's cause
    assert (figures[failed]["status"], figures[draining]["status"]) == ("finished", "draining")

    # the retry is answered here: this test is about the page (token, request, answer shown)
    retries = []

    def answer_retry(route, request):
        retries.append((request.method, request.url, request.headers.get("authorization")))
        if len(retries) == 1:
            route.fulfill(status=403, content_type="application/json",
                          body='{"error": "this needs the admin role"}')
        else:
            route.fulfill(status=200, content_type="application/json",
                          body=f'{{"run_id": {failed}, "retried": 2, "stored": 1, "still_failing": 1, '
                               f'"tweets_stored": 40}}')

    page.route(re.compile(r"/statistics/runs/\d+/retry$"), answer_retry)
    page.add_init_script("localStorage.setItem('apiToken', 'admin-token')")
    page.goto(system.base_url + "/")

    # every component answers; the health service's pipeline report names the failed batches
    expect(page.locator("#health-badge")).to_have_text("healthy · pipeline failed")
    expect(page.locator("#health-badge")).to_have_attribute("data-state", "warn")
    rows = page.locator("#runs-list > li")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-run-id", str(draining))   # newest first
    red = page.locator(f'#runs-list li[data-run-id="{failed}"]')
    expect(red).to_have_attribute("data-failed", "true")
    expect(red.locator(".status")).to_have_text("finished")
    expect(red.locator(".failed-count")).to_have_text("2 failed batches (2,000 items)")
    expect(red.locator(".cause")).to_have_text(HOSTILE_CAUSE)
    expect(red.locator(".cause")).to_be_visible()
    assert red.locator("img, b").count() == 0 and page.evaluate("window.injected") is None
    bad = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--bad').trim()")
    assert red.evaluate("li => getComputedStyle(li).borderTopColor") == page.evaluate(
        "color => { const probe = document.createElement('i'); probe.style.color = color; document.body.append(probe);"
        " const rgb = getComputedStyle(probe).color; probe.remove(); return rgb; }", bad)
    assert red.evaluate("li => getComputedStyle(li.querySelector('.run-failure')).color") == red.evaluate(
        "li => getComputedStyle(li).borderTopColor")

    amber = page.locator(f'#runs-list li[data-run-id="{draining}"]')
    expect(amber.locator(".status")).to_have_text("draining")
    expect(amber).to_have_attribute("data-failed", "false")
    assert amber.evaluate("li => getComputedStyle(li.querySelector('.status')).fontStyle") == "italic"
    expect(amber.locator(".retry")).to_have_count(0)
    calm = page.locator(f'#runs-list li[data-run-id="{plain}"]')
    expect(calm.locator(".status")).to_have_text("finished")
    expect(calm).to_have_attribute("data-failed", "false")
    expect(calm.locator(".run-failure, .retry")).to_have_count(0)
    save_screenshot(page, tmp_path, "dashboard-failures.png")

    # a refusal is shown as one, then an accepted retry's answer; the token goes with both
    red.locator(".retry").click()
    expect(page.locator("#runs-message")).to_have_text(f"Run {failed} not retried: this needs the admin role")
    expect(page.locator("#runs-message")).to_have_class(re.compile(r"\berror\b"))
    expect(red.locator(".retry")).to_be_enabled()
    red.locator(".retry").click()
    expect(page.locator("#runs-message")).to_have_text(f"Run {failed}: 2 batches retried, 1 stored, 1 still failing.")
    assert [(method, url.rsplit("/", 3)[-3:], token) for method, url, token in retries] == [
        ("POST", ["runs", str(failed), "retry"], "Bearer admin-token")] * 2
    save_screenshot(page, tmp_path, "dashboard-retried.png")
    page.emulate_media(color_scheme="dark")
    expect(red.locator(".cause")).to_be_visible()
    save_screenshot(page, tmp_path, "dashboard-failures-dark.png")
    page.emulate_media(color_scheme="light")

    # a phone: the run list folds, nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    save_screenshot(page, tmp_path, "dashboard-failures-phone.png")
    # Chromium logs the 403 served above as an error; nothing else may be logged
    assert [p for p in problems if "status of 403" not in p] == []
    assert len(problems) <= 1


# --------------------------------------------------------------------------- everyone's runs

NAMED_TOKENS = "t-op:operator:olga,t-admin:admin:root,t-view:viewer:vera"


@pytest.fixture(scope="module")
def named_gateway(system):
    """A gateway replica that knows named users, beside the module's open one (same services)."""
    port = free_port()
    process = system.start("gateway", replica="named", WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", API_TOKENS=NAMED_TOKENS)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None and time.monotonic() < deadline, f"no named gateway\n{system.tail()}"
            try:
                if requests.get(url + "/openapi.json", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        yield url
    finally:
        system.signal("gateway-named", 15)


def as_user(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def use_token(page, url: str, token: str) -> None:
    """The page as a user whose token the browser keeps (set before the page's script runs)."""
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))   # a JSON page asks for one
    page.goto(url + "/openapi.json")   # the origin, without the dashboard's script
    page.evaluate("token => localStorage.setItem('apiToken', token)", token)
    page.goto(url + "/")


def test_everyones_runs_are_listed_and_each_stop_stops_its_own_run(fresh_system, named_gateway, page, tmp_path):
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    started = []
    for token, term in (("t-op", "love"), ("t-admin", "the")):
        answer = requests.post(named_gateway + "/launch", json={"track": [term], "rate": 50, "source": "synthetic"},
                               headers=as_user(token), timeout=60)
        assert answer.status_code == 200, answer.text
        started.append(answer.json()["run_id"])
    olgas, roots = started

    def status_of(run_id: int) -> str:
        return requests.get(f"{named_gateway}/statistics/runs/{run_id}", headers=as_user("t-view"), timeout=30).json()["status"]

    try:
        use_token(page, named_gateway, "t-op")
        expect(page.locator("#me")).to_have_text("olga · operator")
        rows = page.locator("#runs-list > li")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_have_attribute("data-run-id", str(roots))   # newest first
        expect(rows.locator(".owner")).to_have_text(["root", "olga"])
        expect(rows.locator(".status")).to_have_text(["active", "active"])
        mine, theirs = (page.locator(f'#runs-list li[data-run-id="{run_id}"]') for run_id in (olgas, roots))
        expect(mine.locator(".stop")).to_be_enabled()
        expect(theirs.locator(".stop")).to_have_count(0)                    # an operator stops their own only
        expect(page.locator("#run-status")).to_contain_text(f"Run {olgas} active")   # the caller's own run
        expect(page.locator("#run-status")).to_contain_text("1 other run active")
        expect(page.locator("#start")).to_be_enabled()                       # launching beside other runs
        expect(page.locator("#role-note")).to_be_hidden()
        save_screenshot(page, tmp_path, "dashboard-runs-of-everyone.png")

        mine.locator(".stop").click()
        expect(page.locator("#runs-message")).to_have_text(re.compile(rf"^Run {olgas} stopped: [\d,]+ tweets\.$"))
        assert (status_of(olgas), status_of(roots)) == ("stopped", "active")
        expect(mine.locator(".status")).to_have_text("stopped")
        expect(mine.locator(".stop")).to_have_count(0)
        expect(theirs.locator(".status")).to_have_text("active")

        # an admin may stop anyone's run; a viewer none, and may not launch
        use_token(page, named_gateway, "t-admin")
        expect(page.locator("#me")).to_have_text("root · admin")
        expect(theirs.locator(".stop")).to_be_enabled()
        use_token(page, named_gateway, "t-view")
        expect(page.locator("#me")).to_have_text("vera · viewer")
        expect(rows).to_have_count(2)
        expect(page.locator("#runs-list .stop")).to_have_count(0)
        expect(page.locator("#start")).to_be_disabled()
        expect(page.locator("#track-input")).to_be_disabled()
        expect(page.locator("#role-note")).to_have_text(re.compile("needs the operator role"))
        assert status_of(roots) == "active"
        assert problems == []
    finally:
        for run_id in started:
            requests.post(named_gateway + "/stop", json={"run_id": run_id}, headers=as_user("t-admin"), timeout=60)
