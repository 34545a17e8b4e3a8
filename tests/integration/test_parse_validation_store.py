"""A real search page with bad values in some of its items is stored: the bad items are counted
and left out by the parser, and the values at the rules' bounds (the longest keys, the extreme
dates, the largest bigint) are what PostgreSQL holds, indexes and gives back."""
import json
from collections import Counter
from datetime import datetime, timezone

import orjson
import pytest
from sqlalchemy import text

from services.storage.ingest import store_tweets
from services.tweets.parse import parse_documents
from tests.system import SAMPLES

pytestmark = pytest.mark.integration

BIGINT_MAX = 2**63 - 1


def mutated_page() -> tuple[bytes, dict]:
    page = orjson.loads((SAMPLES / "brexit.jsonl").read_bytes())
    data, users = page["data"], {u["id"]: u for u in page["includes"]["users"]}
    # bad: each costs its tweet
    data[0]["id"] = "1" * 20
    data[1]["author_id"] = str(2**63)
    data[2]["entities"] = {"hashtags": [{"tag": "x" * 100_000}]}
    data[3]["lang"] = "x" * 36
    data[4]["text"] = "SURROGATE"
    data[5]["an_unknown_field"] = "DEEP"
    data[6]["created_at"] = "0001-01-01T00:00:00Z"
    # at the bounds: kept
    at_bounds = data[10]
    at_bounds["text"] = "NUL\x00 inside"
    at_bounds["lang"] = "l" * 35
    at_bounds["entities"] = {"hashtags": [{"tag": "ΐ" * 250}, {"tag": "ta\x00g"}]}   # 500 bytes, 1,500 case-folded
    at_bounds["geo"] = {"place_id": "p" * 500}
    page["includes"]["places"] = [{"id": "p" * 500, "country_code": "ABCDEFGH", "full_name": "Some\x00where"}]
    author = users[at_bounds["author_id"]]
    author.update(username="é" * 250, name="Na\x00me", public_metrics={"followers_count": BIGINT_MAX})
    data[11]["created_at"] = "0001-01-02T00:00:00Z"
    data[12]["created_at"] = "9999-12-29T23:59:59.999Z"
    # an author whose follower count no bigint holds: absent, the tweet kept
    users[data[13]["author_id"]]["public_metrics"]["followers_count"] = 2**64
    raw = json.dumps(page, ensure_ascii=False).encode()
    raw = raw.replace(b'"SURROGATE"', b'"broken \\ud83d emoji"')
    raw = raw.replace(b'"DEEP"', b"[" * 10_000 + b"]" * 10_000)
    return raw, page


def test_a_page_with_bad_values_is_stored_without_them_and_the_values_at_the_bounds_read_back(clean_db):
    raw, page = mutated_page()
    batch = parse_documents([raw])
    assert batch.bad_reasons == Counter({
        "id out of range": 1, "author_id out of range": 1, "hashtag too long": 1, "lang too long": 1,
        "invalid UTF-8": 1, "too deeply nested": 1, "created_at out of range": 1})
    assert len(batch.tweets) == 93 and batch.bad == 7

    with clean_db.begin() as conn:
        stored = store_tweets(conn.connection.cursor(), batch.tweets, batch.users, batch.places,
                              run_id=None, populate_tag="brexit")
    assert stored == {t.id for t in batch.tweets}

    at_bounds, data = page["data"][10], page["data"]
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tweets")).scalar() == len(stored)
        row = conn.execute(text("SELECT text, lang, hashtags, place_id, country_code FROM tweets WHERE id = :id"),
                           {"id": int(at_bounds["id"])}).one()
        assert tuple(row) == ("NUL inside", "l" * 35, ["ΐ" * 250, "tag"], "p" * 500, "ABCDEFGH")
        tags = conn.execute(text("SELECT tag FROM tweet_tags WHERE tweet_id = :id ORDER BY tag"),
                            {"id": int(at_bounds["id"])}).scalars().all()
        assert sorted(tags) == sorted(["brexit", "ΐ".casefold() * 250, "tag"])
        assert conn.execute(text("SELECT count(*) FROM tag_counts WHERE tag = :tag"),
                            {"tag": "ΐ".casefold() * 250}).scalar() == 1
        assert tuple(conn.execute(text("SELECT id, country_code, full_name FROM places")).one()) == \
            ("p" * 500, "ABCDEFGH", "Somewhere")
        author = conn.execute(text("SELECT username, name, followers FROM users WHERE id = :id"),
                              {"id": int(at_bounds["author_id"])}).one()
        assert tuple(author) == ("é" * 250, "Name", BIGINT_MAX)
        assert conn.execute(text("SELECT count(*) FROM users WHERE lower(username) = lower(:u)"),
                            {"u": "é" * 250}).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM users WHERE id = :id"),
                            {"id": int(data[13]["author_id"])}).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM tweets WHERE id = :id"), {"id": int(data[13]["id"])}).scalar() == 1
        earliest, latest = conn.execute(text("SELECT min(created_at), max(created_at) FROM tweets")).one()
        assert earliest == datetime(1, 1, 2, tzinfo=timezone.utc)
        assert latest == datetime(9999, 12, 29, 23, 59, 59, 999000, tzinfo=timezone.utc)
        assert conn.execute(text("SELECT sum(count) FROM minute_counts")).scalar() == len(stored)
