"""The requests of runs side by side, over their whole input domains: POST /stop's body, the run
listing's and the statistics' query strings, and API token entries (token:role:name)."""
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.contracts.errors import BadRequest
from services.contracts.requests import RUN_STATUSES, USER_NAME, OwnerQuery, RunsQuery, StopRequest, validate
from services.gateway.auth import GRANTS, Caller, TokenConfigError, parse_tokens

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["run_id", "runid", "id", ""]), json_values, max_size=3) | json_values)
def test_any_stop_body_is_a_run_id_or_nothing_or_a_bad_request_naming_the_field(body):
    try:
        stop = validate(StopRequest, body)
    except BadRequest as refused:
        assert str(refused)
        return
    assert stop.run_id is None or (isinstance(stop.run_id, int) and 1 <= stop.run_id < 2**63)


@pytest.mark.parametrize("body, run_id", [(None, None), ({}, None), ({"run_id": 1}, 1), ({"run_id": 2**63 - 1}, 2**63 - 1)])
def test_stop_bodies_at_the_edges_are_read(body, run_id):
    assert validate(StopRequest, body).run_id == run_id


@pytest.mark.parametrize("body", [{"run_id": 0}, {"run_id": 2**63}, {"run_id": "5"}, {"run_id": 1.0}, {"run_id": True},
                                  {"run": 5}, [5], "5"])
def test_stop_bodies_out_of_the_domain_are_refused(body):
    with pytest.raises(BadRequest):
        validate(StopRequest, body)


query_text = st.text(alphabet=string.printable + "éß٣\x00", max_size=12)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["status", "owner", "limit", "cursor", "other"]), query_text, max_size=4))
def test_any_run_listing_query_string_is_read_or_refused_never_raised(query):
    try:
        wanted = validate(RunsQuery, query)
    except BadRequest as refused:
        assert str(refused)
        return
    assert set(query) <= {"status", "owner", "limit", "cursor"}
    assert wanted.status in (None, *RUN_STATUSES)
    assert 1 <= wanted.limit <= 1000 and (wanted.cursor is None or wanted.cursor >= 1)
    assert wanted.owner is None or USER_NAME.fullmatch(wanted.owner)


@pytest.mark.parametrize("query, field", [({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "-1"}, "limit"),
                                          ({"cursor": "0"}, "cursor"), ({"status": "running"}, "status"),
                                          ({"owner": "a b"}, "owner"), ({"owner": ""}, "owner"), ({"owner": "x" * 65}, "owner")])
def test_run_listing_parameters_out_of_the_domain_name_the_parameter(query, field):
    with pytest.raises(BadRequest, match=f"^{field}: "):
        validate(RunsQuery, query)


def test_the_statistics_take_an_owner_only():
    assert validate(OwnerQuery, {"owner": "alice"}).owner == "alice"
    with pytest.raises(BadRequest, match="limit"):
        validate(OwnerQuery, {"limit": "5"})


names = st.from_regex(USER_NAME, fullmatch=True)
tokens = st.text(alphabet=string.ascii_letters + string.digits + "-_.~+/=:", min_size=1, max_size=40).filter(
    lambda token: token.strip(":") == token and token.strip() and not set(token.split(":")) & set(GRANTS))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(tokens, st.sampled_from(sorted(GRANTS)), st.none() | names.filter(lambda n: n not in GRANTS)),
                min_size=1, max_size=5, unique_by=lambda entry: entry[0]))
def test_token_entries_give_each_token_its_role_and_name(entries):
    text = ",".join(f"{token}:{role}" + (f":{name}" if name else "") for token, role, name in entries)
    # token:role names the user after the role
    assert parse_tokens(text) == {token: Caller(role, name or role) for token, role, name in entries}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.digits, min_size=1, max_size=8), st.text(max_size=40).filter(lambda t: "," not in t))
def test_any_token_entry_is_read_or_refused_without_echoing_its_token(digits, tail):
    secret = f"S3CRET{digits}"
    try:
        parsed = parse_tokens(f"{secret}:{tail}")
    except TokenConfigError as refused:
        assert "S3CRET" not in str(refused)
        return
    assert all(caller.role in GRANTS and USER_NAME.fullmatch(caller.name) for caller in parsed.values())
