"""Every id the synthetic source draws fits a PostgreSQL bigint, for every seed and position the API accepts.

A drawn seed (the launcher's clock in ms, modulo 2**31) once pushed the tweet ids past 2**63 for 16
days in every 25, and every batch of those runs failed to store.
"""
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.contracts.requests import LaunchRequest
from services.sources.synthetic import MAX_POSITIONS, MAX_SEED, SyntheticSource, stream_tweet_id

BIGINT_MAX = 2**63 - 1
seeds = st.integers(min_value=0, max_value=MAX_SEED)
positions = st.integers(min_value=0, max_value=MAX_POSITIONS - 1)


def test_the_api_accepts_exactly_the_seeds_and_limits_the_ids_are_made_for():
    top = LaunchRequest.model_fields
    seed_bounds = {type(m).__name__: m for m in top["seed"].metadata}
    limit_bounds = {type(m).__name__: m for m in top["limit"].metadata}
    assert seed_bounds["Ge"].ge == 0 and seed_bounds["Le"].le == MAX_SEED
    # a limit of MAX_POSITIONS streams positions 0 .. MAX_POSITIONS - 1
    assert limit_bounds["Le"].le == MAX_POSITIONS


@given(seeds, positions)
def test_a_stream_tweet_id_fits_in_63_bits_for_every_accepted_seed_and_position(seed, position):
    assert 0 < stream_tweet_id(seed, position) <= BIGINT_MAX


@given(seeds, positions, seeds, positions)
def test_two_different_seed_and_position_pairs_never_share_a_tweet_id(seed, position, other_seed, other_position):
    if (seed, position) != (other_seed, other_position):
        assert stream_tweet_id(seed, position) != stream_tweet_id(other_seed, other_position)


def test_the_extremes_of_the_seed_range_give_the_smallest_and_largest_ids():
    assert stream_tweet_id(MAX_SEED, MAX_POSITIONS - 1) <= BIGINT_MAX
    assert stream_tweet_id(0, MAX_POSITIONS - 1) < stream_tweet_id(1, 0)
    with pytest.raises(ValueError):
        stream_tweet_id(MAX_SEED + 1, 0)
    with pytest.raises(ValueError):
        stream_tweet_id(0, MAX_POSITIONS)


def test_the_high_bits_are_a_snowflake_moment_that_grows_with_the_seed():
    x_epoch_ms = 1288834974657
    moment = lambda seed: (stream_tweet_id(seed, 0) >> 22) + x_epoch_ms  # noqa: E731
    assert moment(0) < moment(1) < moment(MAX_SEED)
    # between 2021 and 2040: ids that look like the real API's
    assert 1_609_459_200_000 < moment(0) and moment(MAX_SEED) < 2_208_988_800_000


def _ids_in(message: dict) -> list[int]:
    data, includes = message["data"], message.get("includes", {})
    ids = [data["id"], data["author_id"], data["conversation_id"], *data["edit_history_tweet_ids"]]
    ids += [ref["id"] for ref in data.get("referenced_tweets", ())]
    ids += [user["id"] for user in includes.get("users", ())]
    ids += [t["id"] for t in includes.get("tweets", ())] + [t["author_id"] for t in includes.get("tweets", ())]
    ids += [key.split("_", 1)[1] for key in data.get("attachments", {}).get("media_keys", ())]
    ids += [m["id"] for m in data.get("entities", {}).get("mentions", ())]
    return [int(value) for value in ids]


@settings(max_examples=25, deadline=None)
@given(seeds, positions)
def test_every_id_in_a_stream_message_fits_a_bigint(seed, position):
    message = orjson.loads(SyntheticSource(seed=seed, rate=0, users=50).item(position))
    assert message["data"]["id"] == str(stream_tweet_id(seed, position))
    assert all(0 < value <= BIGINT_MAX for value in _ids_in(message)), _ids_in(message)


@pytest.mark.parametrize("seed", [0, 1, 772_000_000, 2**31 - 2, MAX_SEED])
def test_the_seeds_that_overflowed_before_stream_ids_that_fit(seed):
    source = SyntheticSource(seed=seed, rate=0, limit=3, users=50)
    for line in source.stream(["the"]):
        assert all(0 < value <= BIGINT_MAX for value in _ids_in(orjson.loads(line)))


def test_a_stream_without_a_limit_ends_at_the_last_position_it_has_ids_for():
    source = SyntheticSource(seed=MAX_SEED, rate=0, users=50)
    tail = list(source.stream(["the"], start=MAX_POSITIONS - 2))
    assert [orjson.loads(line)["data"]["id"] for line in tail] == [
        str(stream_tweet_id(MAX_SEED, MAX_POSITIONS - 2)), str(stream_tweet_id(MAX_SEED, MAX_POSITIONS - 1))]


def test_a_seed_outside_the_range_is_refused_by_the_source():
    with pytest.raises(ValueError, match="seed"):
        SyntheticSource(seed=MAX_SEED + 1, rate=0, users=50)
