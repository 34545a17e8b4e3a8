"""No secret reaches a log line or an HTTP answer, with every service running at DEBUG.

The services run as real processes in the production flavor against the local fake X API,
so the bearer token is really sent (tweepy logs request headers at DEBUG). Every secret
has a known value: the X bearer token, an API token, a PostgreSQL password in DB_URI
(the local server trusts connections, so the password is carried but never checked) and
the password of a RabbitMQ user made for this module. Then every line every process wrote
is read back: each must be a JSON object with service, level and message, and none may
hold a secret.
"""
from __future__ import annotations

import json
import subprocess
import time
import uuid
from urllib.parse import quote, unquote

import pytest

from tests.fakes.fake_x_api import FakeXApi
from tests.system import SAMPLES, System

pytestmark = pytest.mark.integration

BEARER_TOKEN = "knownbearertoken7f3a9c"
ADMIN_TOKEN = "knownadmintoken123"
DB_PASSWORD = "knowndbpassword987"
AMQP_PASSWORD = "knownamqppassword456"
AUTHORIZATION = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# A token nobody configured: the gateway must refuse it without writing it down either.
WRONG_TOKEN = "knownwrongtoken555"
SECRETS = (BEARER_TOKEN, ADMIN_TOKEN, DB_PASSWORD, AMQP_PASSWORD, WRONG_TOKEN)
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def with_password(uri: str, user: str, password: str) -> str:
    """``scheme://user:password@rest`` from ``scheme://anything@rest``."""
    scheme, rest = uri.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest.split('@', 1)[1]}"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)




class AuthorizedSystem(System):
    """The services with API tokens on: the readiness probe has to send one too."""

    def ready_headers(self) -> dict:
        return AUTHORIZATION


@pytest.fixture(scope="module")
def amqp_user(amqp_uri):
    """A RabbitMQ user with a known password, allowed on the session's vhost; removed afterwards."""
    user = f"logsecrets_{uuid.uuid4().hex[:8]}"
    vhost = amqp_uri.rsplit("/", 1)[1]
    rabbitmqctl("add_user", user, AMQP_PASSWORD)
    try:
        rabbitmqctl("set_permissions", "-p", unquote(vhost), user, ".*", ".*", ".*")
        yield user
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_user", user], check=False, capture_output=True)


@pytest.fixture(scope="module")
def fake_x_api():
    with FakeXApi(token=BEARER_TOKEN) as api:
        yield api


@pytest.fixture(scope="module")
def exercised(db_uri, amqp_uri, amqp_user, fake_x_api, tmp_path_factory):
    """Every service at DEBUG with known secrets, driven through its routes; yields (system, answers)."""
    env = {
        "DB_URI": with_password(db_uri, "postgres", DB_PASSWORD),
        "AMQP_URI": with_password(amqp_uri, amqp_user, AMQP_PASSWORD),
        "FLAVOR": "production", "X_BEARER_TOKEN": BEARER_TOKEN, "X_API_BASE_URL": fake_x_api.base_url,
        "API_TOKENS": f"{ADMIN_TOKEN}:admin", "LOG_LEVEL": "DEBUG",
        "REPLAY_DIR": str(SAMPLES), "BATCH_MAX_WAIT": "0.2",
    }
    system = AuthorizedSystem(env, tmp_path_factory.mktemp("secret-logs"))
    answers = []

    def call(method: str, path: str, body=None, expected: int | None = None, headers=AUTHORIZATION):
        if method == "GET":
            answer = system.get(path, headers=headers)
        else:
            answer = system.post(path, body, headers=headers)
        answers.append((method, path, answer.status_code, answer.text))
        if expected is not None:
            assert answer.status_code == expected, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer

    try:
        system.start_all()
        call("GET", "/api/health", expected=200)  # the source check reaches the fake X API with the token
        run = call("POST", "/launch", {"track": ["the", "brexit"]}, expected=200).json()
        time.sleep(2.0)
        call("GET", "/statistics", expected=200)
        call("GET", f"/statistics/runs/{run['run_id']}", expected=200)
        again = call("POST", "/launch", {"track": ["again"]}, expected=200).json()
        call("POST", "/stop", expected=409)   # two runs: the stop must name one
        call("POST", "/stop", {"run_id": again["run_id"]}, expected=200)
        call("POST", "/stop", expected=200)
        call("POST", "/stop", expected=409)
        # a rate-limited search: the retry path logs about the request it repeats
        fake_x_api.rate_limit_next(1, reset_in=0.5, path="/2/tweets/search/recent")
        call("POST", "/api/v1/populate", {"tags": ["brexit"], "per_tag": 10}, expected=201)
        for view in ("/api/v1/users", "/api/v1/hour", "/api/v1/tags"):
            call("GET", view, expected=200)
        call("POST", "/launch", {"track": []}, expected=400)
        call("POST", "/launch", "not json at all", expected=400)
        call("GET", "/statistics", expected=401, headers={"Authorization": f"Bearer {WRONG_TOKEN}"})
        call("POST", "/stop", expected=401, headers={"Authorization": f"Bearer {WRONG_TOKEN}"})
        call("GET", "/statistics", expected=401, headers={})
        call("GET", "/metrics", expected=200)
        call("GET", "/statistics", expected=200)
        time.sleep(0.5)  # the last lines written
        yield system, answers
    finally:
        system.stop_all()


def log_lines(system) -> dict[str, list[str]]:
    return {path.stem: path.read_text(encoding="utf-8", errors="replace").splitlines()
            for path in sorted(system.log_dir.glob("*.log"))}


def test_the_fake_x_api_really_got_the_bearer_token(exercised, fake_x_api):
    # otherwise the absence of the token in the logs would prove nothing
    for path in ("/2/tweets/search/stream", "/2/tweets/search/recent"):
        received = fake_x_api.requests_to(path)
        assert received and all(r.authorized for r in received), f"{path}: {received}"
    assert fake_x_api.rate_limit_resets, "the rate-limited search never happened"


def test_every_service_logged(exercised):
    system, _ = exercised
    lines = log_lines(system)
    assert set(lines) == set(system.available())
    for key, text in lines.items():
        assert text, f"{key} wrote no log line"


def test_no_secret_in_any_log_line(exercised):
    system, _ = exercised
    leaks = []
    for key, text in log_lines(system).items():
        for number, line in enumerate(text, 1):
            for secret in SECRETS:
                if secret in line or quote(secret, safe="") in line:
                    leaks.append(f"{key}.log:{number}: {line[:300]}")
    assert not leaks, "secrets in the logs:\n" + "\n".join(leaks)


def test_the_broker_uri_is_logged_with_its_password_masked(exercised, amqp_user):
    system, _ = exercised
    everything = "\n".join(line for text in log_lines(system).values() for line in text)
    assert f"{amqp_user}:***@" in everything, "the AMQP URI never shows in the logs: nothing proves it is masked"
    assert "guest:guest@" not in everything


def test_every_log_line_is_json_with_service_level_and_message(exercised):
    system, _ = exercised
    problems = []
    for key, text in log_lines(system).items():
        service = key.split("-", 1)[0]
        for number, line in enumerate(text, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                problems.append(f"{key}.log:{number} is not JSON: {line[:200]}")
                continue
            if not isinstance(entry, dict) or not {"service", "level", "message"} <= set(entry):
                problems.append(f"{key}.log:{number} lacks service/level/message: {line[:200]}")
            elif entry["service"] != service or entry["level"] not in LEVELS:
                problems.append(f"{key}.log:{number} says service={entry['service']!r} level={entry['level']!r}")
    assert not problems, f"{len(problems)} bad lines:\n" + "\n".join(problems[:40])


def test_no_secret_in_any_answer(exercised):
    _, answers = exercised
    assert len(answers) >= 15
    for method, path, status, body in answers:
        for secret in SECRETS:
            assert secret not in body, f"{method} {path} ({status}) answered with a secret"
