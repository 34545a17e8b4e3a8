"""How the gateway loads its API tokens: the provider's start (its log lines and its refusal), the
settings it reads (FLAVOR, API_TOKENS, API_TOKENS_FILE), the secrets file, the entries and the table."""
import logging

import pytest

from services.gateway import auth
from services.gateway.auth import (
    ADMIN, OPERATOR, VIEWER, ApiTokens, Caller, TokenConfigError, TokenTable, parse_tokens, read_token_file,
)
from services.observability import logs

ROLES = "['admin', 'operator', 'viewer']"
PRODUCTION_REFUSAL = ("the production flavor needs API tokens: set API_TOKENS='token:admin,...' "
                      "or API_TOKENS_FILE to a secrets file")
OPEN_WARNING = ("no API tokens configured: the stage gateway is open to every caller "
                "(set API_TOKENS or API_TOKENS_FILE to require them)")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No token or flavor from the environment, and a registry of masked secrets of the test's own."""
    for name in ("API_TOKENS", "API_TOKENS_FILE", "FLAVOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(logs, "_REGISTERED_SECRETS", set())


class FakeContainer:
    def __init__(self, config):
        self.config = config


def started(config) -> ApiTokens:
    provider = ApiTokens()
    provider.container = FakeContainer(config)
    provider.setup()
    return provider


def auth_records(caplog) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "services.gateway.auth"]


# -- ApiTokens.setup ------------------------------------------------------------------------------

@pytest.mark.parametrize("flavor", ["stage", "production"])
def test_configured_tokens_are_counted_in_one_info_line_at_start(flavor, caplog):
    with caplog.at_level(logging.DEBUG, logger="services.gateway.auth"):
        provider = started({"FLAVOR": flavor, "API_TOKENS": "k1:admin:alice,k2:viewer,k3:operator:bob"})
    assert auth_records(caplog) == [(logging.INFO, "access control: 3 API token(s) configured")]
    assert provider.get_dependency(None) is provider.table
    assert provider.table.caller_of("k3") == Caller(OPERATOR, "bob") and not provider.table.open


def test_one_configured_token_is_counted_as_one(caplog):
    with caplog.at_level(logging.DEBUG, logger="services.gateway.auth"):
        started({"API_TOKENS": "only:viewer"})
    assert auth_records(caplog) == [(logging.INFO, "access control: 1 API token(s) configured")]


@pytest.mark.parametrize("flavor", ["production", "PRODUCTION", " Production\n"])
def test_production_without_tokens_refuses_to_start_with_what_to_set(flavor, caplog):
    provider = ApiTokens()
    provider.container = FakeContainer({"FLAVOR": flavor, "API_TOKENS": "", "API_TOKENS_FILE": ""})
    with caplog.at_level(logging.DEBUG, logger="services.gateway.auth"), \
            pytest.raises(TokenConfigError) as refused:
        provider.setup()
    assert str(refused.value) == PRODUCTION_REFUSAL
    assert auth_records(caplog) == []


@pytest.mark.parametrize("config", [{"FLAVOR": "stage"}, {"FLAVOR": ""}, {}, {"FLAVOR": "Stage ", "API_TOKENS": " "}])
def test_stage_without_tokens_starts_open_with_one_warning(config, caplog):
    with caplog.at_level(logging.DEBUG, logger="services.gateway.auth"):
        provider = started(config)
    assert auth_records(caplog) == [(logging.WARNING, OPEN_WARNING)]
    table = provider.get_dependency(None)
    assert table.open and not table.configured and len(table) == 0 and table.flavor == "stage"


# -- TokenTable.load ------------------------------------------------------------------------------

@pytest.mark.parametrize("written, flavor", [
    ("production", "production"), ("PRODUCTION", "production"), ("  Production \n", "production"),
    ("Stage", "stage"), ("", "stage"), (None, "stage"),
])
def test_the_flavor_is_read_case_folded_and_stripped_and_empty_is_stage(written, flavor):
    config = {"API_TOKENS": "k:admin"} if written is None else {"FLAVOR": written, "API_TOKENS": "k:admin"}
    assert TokenTable.load(config).flavor == flavor


def test_production_with_no_tokens_is_not_open_whatever_the_case_it_is_written_in():
    assert not TokenTable.load({"FLAVOR": " PRODUCTION "}).open
    assert TokenTable.load({"FLAVOR": " STAGE "}).open


def test_the_flavor_comes_from_the_environment_when_the_config_lacks_it(monkeypatch):
    monkeypatch.setenv("FLAVOR", "production")
    assert TokenTable.load({}).flavor == "production"


def test_tokens_listed_in_api_tokens_are_loaded_with_their_callers_and_registered_for_masking():
    table = TokenTable.load({"API_TOKENS": "  k1:admin:alice, ab:cd-secret:operator:dave  "})
    assert len(table) == 2
    assert table.caller_of("k1") == Caller(ADMIN, "alice") and table.caller_of("ab:cd-secret") == Caller(OPERATOR, "dave")
    # registered as parsed: a token holding a colon is masked whole, its user's name is not
    assert logs._REGISTERED_SECRETS == {"k1", "ab:cd-secret"}
    assert logs.redact("dave sent ab:cd-secret", logs.secret_values({})) == "dave sent ***"


def test_tokens_read_from_the_file_are_loaded_and_registered_for_masking(tmp_path):
    secrets = tmp_path / "api_tokens"
    secrets.write_text("# the team\nfile-token-1:admin:alice\nfile-token-2:operator\n")
    table = TokenTable.load({"API_TOKENS_FILE": f"  {secrets}\n"})
    assert table.caller_of("file-token-1") == Caller(ADMIN, "alice")
    assert table.caller_of("file-token-2") == Caller(OPERATOR, OPERATOR) and len(table) == 2
    assert logs._REGISTERED_SECRETS == {"file-token-1", "file-token-2"}
    assert logs.redact("sent file-token-2", logs.secret_values({})) == "sent ***"


def test_blank_api_tokens_beside_a_file_is_not_both(tmp_path):
    secrets = tmp_path / "api_tokens"
    secrets.write_text("f:viewer\n")
    table = TokenTable.load({"API_TOKENS": "  ", "API_TOKENS_FILE": str(secrets)})
    assert table.caller_of("f") == Caller(VIEWER, VIEWER) and logs._REGISTERED_SECRETS == {"f"}
    table = TokenTable.load({"API_TOKENS": "k:admin", "API_TOKENS_FILE": " "})
    assert table.caller_of("k") == Caller(ADMIN, ADMIN) and logs._REGISTERED_SECRETS == {"f", "k"}


def test_api_tokens_and_a_file_both_set_are_refused_before_the_file_is_read(tmp_path):
    with pytest.raises(TokenConfigError) as refused:
        TokenTable.load({"API_TOKENS": "k:admin", "API_TOKENS_FILE": str(tmp_path / "missing")})
    assert str(refused.value) == "set API_TOKENS or API_TOKENS_FILE, not both"
    assert logs._REGISTERED_SECRETS == set()


def test_a_file_named_in_the_environment_is_read_when_the_config_lacks_it(tmp_path, monkeypatch):
    secrets = tmp_path / "api_tokens"
    secrets.write_text("env-file-token:operator:carol")
    monkeypatch.setenv("API_TOKENS_FILE", str(secrets))
    assert TokenTable.load({}).caller_of("env-file-token") == Caller(OPERATOR, "carol")


# -- read_token_file ------------------------------------------------------------------------------

def test_a_token_file_outside_the_repository_is_read_as_it_is(tmp_path):
    secrets = tmp_path / "tokens"
    secrets.write_text("a:admin\n\nb:viewer:bea\n")
    assert read_token_file(str(secrets)) == "a:admin\n\nb:viewer:bea\n"


@pytest.mark.parametrize("inside", ["setup.cfg", "config/no-such-file", "."])
def test_a_token_file_inside_the_repository_is_refused_naming_it_even_before_it_exists(inside):
    name = str(auth.REPOSITORY / inside)
    with pytest.raises(TokenConfigError) as refused:
        read_token_file(name)
    assert str(refused.value) == (f"API_TOKENS_FILE {name} is inside the repository; keep secrets out of it "
                                  "(e.g. a Docker secret under /run/secrets)")


def test_a_link_outside_the_repository_to_a_file_inside_it_is_refused(tmp_path):
    link = tmp_path / "tokens"
    link.symlink_to(auth.REPOSITORY / "setup.cfg")
    with pytest.raises(TokenConfigError, match="is inside the repository"):
        read_token_file(str(link))


def test_an_unreadable_token_file_is_refused_naming_the_file_and_why(tmp_path):
    missing = str(tmp_path / "missing")
    with pytest.raises(TokenConfigError) as refused:
        read_token_file(missing)
    assert str(refused.value) == f"API_TOKENS_FILE {missing} cannot be read (No such file or directory)"
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    with pytest.raises(TokenConfigError) as refused:
        read_token_file(str(tmp_path))
    assert str(refused.value) == f"API_TOKENS_FILE {tmp_path} cannot be read (Is a directory)"


# -- parse_tokens ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("s3cret", f"API token entry 1 is not 'token:role:name' or 'token:role' with a role of {ROLES}"),
    ("k:admin,s3cret:root", f"API token entry 2 is not 'token:role:name' or 'token:role' with a role of {ROLES}"),
    ("k:admin\n\n# note\ns3cret:Admin", f"API token entry 4 is not 'token:role:name' or 'token:role' with a role of {ROLES}"),
    ("k:admin, :viewer", "API token entry 2 has no token"),
    (" : operator : dave", "API token entry 1 has no token"),
    ("s3cret:viewer:two words", "API token entry 1 has the name 'two words'; use 1 to 64 letters, digits or . _ @ -"),
    ("s3cret:operator:", "API token entry 1 has the name ''; use 1 to 64 letters, digits or . _ @ -"),
])
def test_a_bad_entry_is_refused_by_its_number_with_the_exact_reason_and_never_the_secret(text, message):
    with pytest.raises(TokenConfigError) as refused:
        parse_tokens(text)
    assert str(refused.value) == message
    assert "s3cret" not in str(refused.value)


def test_a_name_of_64_characters_is_kept_and_one_of_65_refused():
    assert parse_tokens("k:viewer:" + "n" * 64) == {"k": Caller(VIEWER, "n" * 64)}
    with pytest.raises(TokenConfigError, match="entry 1 has the name"):
        parse_tokens("k:viewer:" + "n" * 65)


def test_entries_are_stripped_around_each_part_and_the_role_found_from_the_end():
    assert parse_tokens(" k1 : admin : alice \n\tk2:viewer\r\n") == {
        "k1": Caller(ADMIN, "alice"), "k2": Caller(VIEWER, VIEWER)}
    assert parse_tokens("a:b:c:operator:dave") == {"a:b:c": Caller(OPERATOR, "dave")}
    assert parse_tokens("a:b:c:operator") == {"a:b:c": Caller(OPERATOR, OPERATOR)}


def test_blank_lines_and_comments_give_no_tokens():
    assert parse_tokens("\n  \n# k:admin\n , ,") == {}


# -- TokenTable -----------------------------------------------------------------------------------

def test_a_mapping_of_plain_roles_makes_callers_named_after_their_role():
    table = TokenTable({"k1": ADMIN, "k2": OPERATOR, "k3": VIEWER})
    assert [table.caller_of(token) for token in ("k1", "k2", "k3")] == [
        Caller(ADMIN, ADMIN), Caller(OPERATOR, OPERATOR), Caller(VIEWER, VIEWER)]
    assert [table.role_of(token) for token in ("k1", "k2", "k3")] == [ADMIN, OPERATOR, VIEWER]
    assert len(table) == 3 and table.configured and table.flavor == "stage"


def test_a_mapping_of_callers_keeps_each_caller_and_the_flavor_given():
    table = TokenTable({"k1": Caller(OPERATOR, "bob"), "k2": VIEWER}, "production")
    assert table.caller_of("k1") == Caller(OPERATOR, "bob") and table.caller_of("k2") == Caller(VIEWER, VIEWER)
    assert table.flavor == "production" and not table.open


def test_an_unknown_empty_or_missing_token_has_no_caller():
    table = TokenTable({"k1": ADMIN})
    assert table.caller_of("k2") is None and table.caller_of("") is None and table.caller_of(None) is None
    assert table.caller_of("k1 ") is None and table.role_of("K1") is None
