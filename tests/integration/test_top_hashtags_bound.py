"""The top-hashtags view sums only the tags that can reach the top: its answers must be exactly
those of summing every tag of the window, ties included, whether the bound is used or not."""
import random
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, text

from services.contracts.requests import MINUTE
from services.storage import analytics

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
EVERY_TAG = ("SELECT tag, sum(count) AS count FROM minute_tag_totals WHERE minute BETWEEN :first AND :last"
             " GROUP BY tag ORDER BY count DESC, tag LIMIT :limit")


def put(engine, counts: dict) -> None:
    """counts: {(minute offset, tag): count}"""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO minute_tag_totals (minute, tag, count) VALUES (:minute, :tag, :count)"),
                     [{"minute": START + offset * MINUTE, "tag": tag, "count": count}
                      for (offset, tag), count in counts.items()])


def answers(engine, first: datetime, last: datetime, limit: int) -> tuple[list, list, bool]:
    """(the view's answer, the answer of summing every tag, whether the view used the bound)"""
    with engine.connect() as conn:
        sent = []

        def record(_conn, _cursor, statement, *_):
            sent.append(statement)
        event.listen(conn, "before_cursor_execute", record)
        got = analytics.top_hashtags(conn, first, last, limit)
        event.remove(conn, "before_cursor_execute", record)
        want = [{"tag": tag, "count": int(count)}
                for tag, count in conn.execute(text(EVERY_TAG), {"first": first, "last": last, "limit": limit})]
    return got, want, any("count >= " in statement for statement in sent)


def test_a_tag_never_strong_lately_and_ties_at_the_last_place_are_found(clean_db):
    counts = {}
    for offset in range(60):
        for rank, tag in enumerate("abcdefghij"):     # strong all along: totals 2400, 2280 .. 1320
            counts[offset, tag] = 40 - 2 * rank
        counts[offset, f"tail{offset}"] = 1           # a long tail of one-minute tags
    counts[0, "early"] = 1500         # one burst an hour ago: ninth, absent from the latest minutes
    for offset in range(0, 60, 3):    # 20 minutes of 60, none of the latest: 1440, as "i"
        counts[offset, "hb"] = 72
    counts[30, "under"] = 1439        # a strong minute, but below the tenth total
    put(clean_db, counts)
    got, want, bounded = answers(clean_db, START, START + 59 * MINUTE, 10)
    assert bounded
    assert got == want
    assert [row["tag"] for row in got] == ["a", "b", "c", "d", "e", "f", "g", "h", "early", "hb"]
    assert got[-1]["count"] == 1440   # tied with "i", which comes after it by name


def test_random_windows_and_limits_answer_as_summing_every_tag(clean_db):
    rng = random.Random(7)
    tags = [f"t{rank}" for rank in range(400)]
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(tags))]
    counts = {}
    for offset in range(150):
        for tag in rng.choices(tags, weights, k=300):
            counts[offset, tag] = counts.get((offset, tag), 0) + 1
    put(clean_db, counts)
    used_bound = 0
    for _ in range(60):
        minutes = rng.choice((1, 2, 5, 30, 60, 60, 90, 120, 121, 140))
        last = START + rng.randrange(minutes - 1, 160) * MINUTE
        limit = rng.choice((1, 3, 10, 10, 20, 21, 50))
        got, want, bounded = answers(clean_db, last - (minutes - 1) * MINUTE, last, limit)
        assert got == want, (minutes, last, limit)
        used_bound += bounded
    assert used_bound >= 20     # the bound was really put to the test, not only the plain sum


def test_fewer_tags_than_asked_for_are_all_given(clean_db):
    put(clean_db, {(0, "solo"): 3, (1, "solo"): 2, (1, "duo"): 5})
    got, want, _ = answers(clean_db, START, START + 59 * MINUTE, 10)
    assert got == want
    assert got == [{"tag": "duo", "count": 5}, {"tag": "solo", "count": 5}]


def test_an_empty_window_has_no_tags(clean_db):
    put(clean_db, {(0, "solo"): 3})
    with clean_db.connect() as conn:
        assert analytics.top_hashtags(conn, START, START - MINUTE, 10) == []
