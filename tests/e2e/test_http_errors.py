"""Bad requests and access control against the running gateway: every answer is JSON, none a 500."""
import time

import pytest
import requests

from tests.system import free_port

pytestmark = pytest.mark.e2e

ADMIN_TOKEN, VIEWER_TOKEN = "adm-9f2c41d7e0", "view-3b8a6e5c12"


def assert_json_error(answer, status):
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert isinstance(answer.json()["error"], str) and answer.json()["error"]


def test_malformed_json_is_400(system):
    answer = requests.post(system.base_url + "/launch", data=b'{"track": ["x"', timeout=10,
                           headers={"Content-Type": "application/json"})
    assert_json_error(answer, 400)
    assert "not valid JSON" in answer.json()["error"]


def test_wrong_content_type_is_415(system):
    answer = requests.post(system.base_url + "/launch", data=b"<track>x</track>", timeout=10,
                           headers={"Content-Type": "application/xml"})
    assert_json_error(answer, 415)
    assert "application/json" in answer.json()["error"]


def test_a_body_over_64_kb_is_413(system):
    body = b'{"track": ["' + b"a" * (65 * 1024) + b'"]}'
    answer = requests.post(system.base_url + "/launch", data=body, timeout=10,
                           headers={"Content-Type": "application/json"})
    assert_json_error(answer, 413)


@pytest.mark.parametrize("method, path", [
    ("GET", "/nope"), ("POST", "/api/v1/nothing"), ("GET", "/statistics/runs/not-a-number"),
    ("DELETE", "/static/../../etc/passwd"), ("GET", "/launch/"),
    # a value the route's converter refuses: not an int, a sign, over a bigint (which failed with a 500)
    ("GET", "/statistics/runs/null,null"), ("GET", "/statistics/runs/-1"), ("GET", "/statistics/runs/1.5"),
    ("GET", "/statistics/runs/99999999999999999999"), ("POST", "/statistics/runs/abc/retry"),
    ("GET", "/api/v1/users/a%2Fb/tweets"), ("GET", "/statistics/runs/%00"),
    # a method no route has: werkzeug answered these with its HTML 405
    ("TRACE", "/statistics/runs/abc"), ("PROPFIND", "/nope"),
])
def test_an_unknown_route_is_404(system, method, path):
    answer = requests.request(method, system.base_url + path, timeout=10)
    assert_json_error(answer, 404)


@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/launch", "POST"), ("DELETE", "/statistics", "GET, HEAD"), ("PUT", "/stop", "POST"),
    ("POST", "/", "GET, HEAD"), ("POST", "/statistics/runs/3", "GET, HEAD"),
    ("TRACE", "/", "GET, HEAD"), ("TRACE", "/statistics/runs/3", "GET, HEAD"), ("PROPFIND", "/launch", "POST"),
])
def test_a_wrong_method_is_405_naming_the_allowed_ones(system, method, path, allowed):
    answer = requests.request(method, system.base_url + path, timeout=10)
    assert_json_error(answer, 405)
    assert answer.headers["Allow"] == allowed


def test_a_wrong_method_or_route_never_reaches_a_route(system):
    # what the catch-all must not swallow: the real routes still answer
    assert system.get("/statistics").status_code == 200
    assert system.get("/statistics/runs").status_code == 200
    assert system.get("/").headers["Content-Type"].startswith("text/html")


# -- access control: a second gateway with tokens, beside the open stage one ---------------------------

def wait_answering(url: str, process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway exited"
        try:
            if requests.get(url + "/openapi.json", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"no gateway at {url}")


@pytest.fixture(scope="module")
def guarded(system):
    """A gateway replica that requires tokens (the module's system stays open, as stage is by default)."""
    port = free_port()
    process = system.start("gateway", replica="guarded", WEB_SERVER_ADDRESS=f"127.0.0.1:{port}",
                           API_TOKENS=f"{ADMIN_TOKEN}:admin,{VIEWER_TOKEN}:viewer")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(url, process)
        yield url
    finally:
        system.signal("gateway-guarded", 15)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("method, path", [("GET", "/statistics"), ("POST", "/launch"), ("GET", "/api/v1/users"),
                                          ("POST", "/stop"), ("GET", "/statistics/runs")])
def test_no_token_or_an_unknown_one_is_401(guarded, method, path):
    for headers in ({}, bearer("guess"), {"Authorization": f"Basic {ADMIN_TOKEN}"}):
        answer = requests.request(method, guarded + path, headers=headers, json={"track": ["x"]}, timeout=10)
        assert_json_error(answer, 401)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path, needed", [("/launch", "operator"), ("/stop", "operator"), ("/api/v1/populate", "admin")])
def test_a_viewer_may_not_launch_stop_or_populate(guarded, path, needed):
    answer = requests.post(guarded + path, headers=bearer(VIEWER_TOKEN), json={"track": ["x"]}, timeout=10)
    assert_json_error(answer, 403)
    assert answer.json()["error"] == f"the viewer role may not do this; it needs the {needed} role"


@pytest.mark.parametrize("token", [VIEWER_TOKEN, ADMIN_TOKEN])
def test_viewers_and_admins_read_statistics_and_views(guarded, token):
    for path in ("/statistics", "/statistics/runs", "/api/v1/users", "/api/v1/tags", "/api/v1/hour"):
        answer = requests.get(guarded + path, headers=bearer(token), timeout=30)
        assert answer.status_code == 200, (path, answer.text)


def test_an_admin_passes_to_the_route_itself(fresh_system, guarded):
    # past access control the route answers as usual: a bad body is 400, a stop without a run 409
    answer = requests.post(guarded + "/launch", headers=bearer(ADMIN_TOKEN), json={"track": []}, timeout=10)
    assert_json_error(answer, 400)
    answer = requests.post(guarded + "/stop", headers=bearer(ADMIN_TOKEN), timeout=30)
    assert_json_error(answer, 409)


def test_probes_and_the_dashboard_stay_public(guarded):
    assert requests.get(guarded + "/metrics", timeout=10).status_code == 200
    assert requests.get(guarded + "/api/health", timeout=10).status_code in (200, 500)  # never 401
    assert requests.get(guarded + "/", timeout=10).status_code == 200
    assert requests.get(guarded + "/static/app.js", timeout=10).status_code == 200
    assert requests.get(guarded + "/openapi.json", timeout=10).status_code == 200
    assert requests.get(guarded + "/docs", timeout=10).status_code == 200


def test_tokens_never_appear_in_the_logs(system, guarded):
    requests.get(guarded + "/statistics", headers=bearer(ADMIN_TOKEN), timeout=10)
    requests.post(guarded + "/launch", headers=bearer(VIEWER_TOKEN), json={"track": ["x"]}, timeout=10)
    logs = "".join(path.read_text(errors="replace") for path in system.log_dir.glob("gateway*.log"))
    assert ADMIN_TOKEN not in logs and VIEWER_TOKEN not in logs


def test_production_refuses_to_start_without_tokens(system):
    port = free_port()
    process = system.start("gateway", replica="unguarded", FLAVOR="production", API_TOKENS="", API_TOKENS_FILE="",
                           WEB_SERVER_ADDRESS=f"127.0.0.1:{port}")
    try:
        exit_code = process.wait(timeout=30)
    except Exception:
        system.kill("gateway-unguarded")
        raise
    system.processes.pop("gateway-unguarded")
    assert exit_code != 0
    log = (system.log_dir / "gateway-unguarded.log").read_text(errors="replace")
    assert "production flavor needs API tokens" in log
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2)
