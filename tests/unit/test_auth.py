"""API tokens and roles: parsing, lookup, the role each route needs, and the gateway's answers."""
import hmac

import orjson
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.gateway import auth
from services.gateway.auth import (
    ADMIN, OPERATOR, VIEWER, Caller, TokenConfigError, TokenTable, bearer_token, parse_tokens, required_role,
)
from services.gateway.http import json_endpoint


@pytest.fixture(autouse=True)
def own_secret_registry(monkeypatch):
    """Tokens read from files are registered for log masking process-wide: keep each test's own."""
    from services.observability import logs
    monkeypatch.setattr(logs, "_REGISTERED_SECRETS", set())


def test_tokens_parse_from_commas_or_lines_and_token_role_names_the_user_after_the_role():
    expected = {"t1": Caller(ADMIN, ADMIN), "t2": Caller(VIEWER, VIEWER)}
    assert parse_tokens("t1:admin,t2:viewer") == expected
    assert parse_tokens("# ops\nt1:admin\n\n t2 : viewer \n") == expected
    assert parse_tokens("") == {}


def test_token_role_name_entries_give_each_token_its_user():
    assert parse_tokens("k1:admin:alice,k2:operator:bob,k3:viewer:carol.d@x") == {
        "k1": Caller(ADMIN, "alice"), "k2": Caller(OPERATOR, "bob"), "k3": Caller(VIEWER, "carol.d@x")}
    # a token may hold colons: the role is the last part, or the one before the name
    assert parse_tokens("a:b:operator:dave,c:d:viewer") == {"a:b": Caller(OPERATOR, "dave"), "c:d": Caller(VIEWER, VIEWER)}


@pytest.mark.parametrize("text, problem", [
    ("s3cret", "not 'token:role:name'"),
    (":admin", "has no token"),
    (":admin:alice", "has no token"),
    ("s3cret:root", "not 'token:role:name'"),
    ("s3cret:operator:two words", "has the name 'two words'"),
    ("s3cret:viewer:" + "n" * 65, "use 1 to 64"),
])
def test_bad_token_entries_are_refused_without_echoing_the_secret(text, problem):
    with pytest.raises(TokenConfigError) as error:
        parse_tokens(text)
    assert problem in str(error.value)
    assert "s3cret" not in str(error.value)


def test_role_of_compares_every_token_in_constant_time(monkeypatch):
    compared = []
    compare_digest = hmac.compare_digest

    def recording_compare(a, b):
        compared.append(b)
        return compare_digest(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", recording_compare)
    table = TokenTable({"first": ADMIN, "second": VIEWER})
    assert table.role_of("first") == ADMIN
    assert compared == [b"first", b"second"]  # no early exit on a match
    assert table.role_of("second") == VIEWER
    assert table.role_of("secon") is None and table.role_of("") is None and table.role_of(None) is None


def test_admin_may_do_all_operator_launches_and_reads_viewer_only_reads():
    table = TokenTable({"a": ADMIN})
    assert table.may(ADMIN, ADMIN) and table.may(ADMIN, OPERATOR) and table.may(ADMIN, VIEWER)
    assert table.may(OPERATOR, OPERATOR) and table.may(OPERATOR, VIEWER) and not table.may(OPERATOR, ADMIN)
    assert table.may(VIEWER, VIEWER) and not table.may(VIEWER, ADMIN) and not table.may(VIEWER, OPERATOR)
    assert not table.may(None, VIEWER)


@pytest.mark.parametrize("route, method, role", [
    ("/launch", "POST", OPERATOR), ("/stop", "POST", OPERATOR), ("/api/v1/populate", "POST", ADMIN),
    ("/statistics/runs/<run_id>/retry", "POST", OPERATOR),
    ("/statistics", "GET", VIEWER), ("/api/v1/users", "GET", VIEWER), ("/statistics/runs/<run_id>", "GET", VIEWER),
    ("/anything", "DELETE", ADMIN), ("/anything", "PUT", ADMIN),
    ("/api/health", "GET", None), ("/metrics", "GET", None), ("/", "GET", None), ("/static", "GET", None),
    ("/openapi.json", "GET", None), ("/docs", "GET", None), ("/docs/assets", "GET", None),
])
def test_each_route_needs_the_role_its_method_implies(route, method, role):
    assert required_role(route, method) == role


def test_tokens_load_from_the_environment_or_a_secrets_file(tmp_path, monkeypatch):
    monkeypatch.setenv("API_TOKENS", "x:admin")
    assert TokenTable.load({}).role_of("x") == ADMIN
    # the Nameko config wins over the environment
    assert TokenTable.load({"API_TOKENS": "z:viewer"}).role_of("z") == VIEWER
    secrets = tmp_path / "api_tokens"
    secrets.write_text("y:viewer\n")
    monkeypatch.delenv("API_TOKENS")
    monkeypatch.setenv("API_TOKENS_FILE", str(secrets))
    table = TokenTable.load({})
    assert table.role_of("y") == VIEWER and len(table) == 1


def test_a_token_file_inside_the_repository_is_refused():
    with pytest.raises(TokenConfigError, match="inside the repository"):
        TokenTable.load({"API_TOKENS_FILE": str(auth.REPOSITORY / "setup.cfg")})


def test_both_sources_at_once_or_an_unreadable_file_are_refused(tmp_path):
    with pytest.raises(TokenConfigError, match="not both"):
        TokenTable.load({"API_TOKENS": "x:admin", "API_TOKENS_FILE": str(tmp_path / "t")})
    with pytest.raises(TokenConfigError, match="cannot be read"):
        TokenTable.load({"API_TOKENS_FILE": str(tmp_path / "missing")})


def test_stage_without_tokens_is_open_production_is_not():
    assert TokenTable({}, "stage").open
    assert not TokenTable({}, "production").open
    assert not TokenTable({"x": ADMIN}, "stage").open


@pytest.mark.parametrize("header, token", [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None), (None, None), ("", None),
])
def test_bearer_token_is_read_from_the_authorization_header(header, token):
    assert bearer_token(header) == token


class FakeGateway:
    """A service instance as a worker sees it: ``api_tokens`` is what ApiTokens gives."""

    def __init__(self, table):
        self.api_tokens = table

    @json_endpoint("/launch")
    def launch(self, request):
        return {"launched": True}

    @json_endpoint("/statistics")
    def statistics(self, request):
        return {"amount": 1}

    @json_endpoint("/api/health")
    def health(self, request):
        return {"status": "ok"}


def call(gateway, name, method, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = Request(EnvironBuilder(method=method, path="/", headers=headers).get_environ())
    response = getattr(gateway, name)(request)
    return response.status_code, orjson.loads(response.get_data()), response.headers


def test_the_endpoint_answers_401_403_or_passes_by_role():
    gateway = FakeGateway(TokenTable({"adm": ADMIN, "view": VIEWER}))
    status, body, headers = call(gateway, "launch", "POST")
    assert status == 401 and "token is required" in body["error"] and headers["WWW-Authenticate"].startswith("Bearer")
    status, body, _ = call(gateway, "statistics", "GET", "nope")
    assert status == 401 and "not valid" in body["error"] and "nope" not in body["error"]
    status, body, _ = call(gateway, "launch", "POST", "view")
    assert status == 403 and "needs the operator role" in body["error"]
    assert call(gateway, "launch", "POST", "adm")[:2] == (200, {"launched": True})
    assert call(TokenGateway := FakeGateway(TokenTable({"op": OPERATOR})), "launch", "POST", "op")[0] == 200
    assert call(TokenGateway, "statistics", "GET", "op")[0] == 200
    assert call(gateway, "statistics", "GET", "view")[:2] == (200, {"amount": 1})
    assert call(gateway, "statistics", "GET", "adm")[:2] == (200, {"amount": 1})
    assert call(gateway, "health", "GET")[:2] == (200, {"status": "ok"})


def test_an_open_stage_gateway_lets_everyone_through():
    gateway = FakeGateway(TokenTable({}, "stage"))
    assert call(gateway, "launch", "POST")[0] == 200


def test_a_named_role_overrides_the_method_default():
    class Gateway(FakeGateway):
        @json_endpoint("/launch", role=None)
        def public_launch(self, request):
            return {"public": True}

        @json_endpoint("/statistics", role=ADMIN)
        def admin_statistics(self, request):
            return {"secret": True}

    gateway = Gateway(TokenTable({"view": VIEWER}))
    assert call(gateway, "public_launch", "POST")[0] == 200
    assert call(gateway, "admin_statistics", "GET", "view")[0] == 403


class ContainerStub:
    def __init__(self, config):
        self.config = config


def provider(config):
    tokens = auth.ApiTokens()
    tokens.container = ContainerStub(config)
    return tokens


def test_the_provider_refuses_to_start_production_without_tokens(monkeypatch):
    monkeypatch.delenv("API_TOKENS", raising=False)
    monkeypatch.delenv("API_TOKENS_FILE", raising=False)
    with pytest.raises(TokenConfigError, match="production flavor needs API tokens"):
        provider({"FLAVOR": "production"}).setup()


def test_the_provider_warns_that_stage_without_tokens_is_open(monkeypatch, caplog):
    monkeypatch.delenv("API_TOKENS", raising=False)
    monkeypatch.delenv("API_TOKENS_FILE", raising=False)
    tokens = provider({"FLAVOR": "stage"})
    with caplog.at_level("WARNING", logger="services.gateway.auth"):
        tokens.setup()
    assert "open to every caller" in caplog.text
    assert tokens.get_dependency(None).open


def test_the_provider_gives_workers_the_configured_roles(monkeypatch):
    monkeypatch.delenv("API_TOKENS_FILE", raising=False)
    tokens = provider({"FLAVOR": "production", "API_TOKENS": "k1:admin,k2:viewer"})
    tokens.setup()
    table = tokens.get_dependency(None)
    assert table.role_of("k1") == ADMIN and table.role_of("k2") == VIEWER and not table.open


def test_tokens_from_a_file_are_masked_in_logs(tmp_path):
    import logging

    from services.gateway.auth import TokenTable
    from services.observability.logs import RedactSecrets

    secret_file = tmp_path / "api_tokens"
    secret_file.write_text("file-only-token-4711:admin\n")
    TokenTable.load({"API_TOKENS_FILE": str(secret_file), "API_TOKENS": ""})
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "caller sent %s", ("file-only-token-4711",), None)
    RedactSecrets().filter(record)
    assert "file-only-token-4711" not in record.getMessage()


def test_every_answer_carries_the_security_headers_whatever_its_status():
    from services.gateway.http import SECURITY_HEADERS

    gateway = FakeGateway(TokenTable({"adm": ADMIN, "view": VIEWER}))
    answers = [call(gateway, "launch", "POST"), call(gateway, "launch", "POST", "view"),
               call(gateway, "launch", "POST", "adm"), call(gateway, "health", "GET")]
    assert [status for status, _, _ in answers] == [401, 403, 200, 200]
    for _, _, headers in answers:
        assert {name: headers[name] for name in SECURITY_HEADERS} == SECURITY_HEADERS
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("text, problem", [
    ("t1:admin,t1:viewer", "entry 2 repeats the token of an earlier entry"),
    ("tok:admin:viewer", "entry 1 is ambiguous: a user may not be named after a role"),
])
def test_a_repeated_token_or_a_user_named_after_a_role_is_refused(text, problem):
    with pytest.raises(TokenConfigError, match=problem):
        parse_tokens(text)


def test_api_tokens_separated_by_new_lines_are_masked_in_logs_too(monkeypatch):
    from services.observability import logs
    monkeypatch.setenv("API_TOKENS", "t1-secret:admin\nt2-secret:viewer")
    assert logs.redact("t1-secret and t2-secret", logs.secret_values()) == "*** and ***"


def test_the_caller_the_gateway_passes_on_is_what_the_launcher_reads():
    assert Caller(OPERATOR, "bob").as_rpc() == {"role": "operator", "name": "bob"}
    assert auth.OPEN.as_rpc() == {"role": "admin", "name": None}
