"""The filter's batch commit against the real PostgreSQL: exactly-once effects."""
import json
import re
from collections import Counter
from datetime import timezone

from sqlalchemy import text

from services.filter.pipeline import process_batch
from services.sources.synthetic import SyntheticSource
from services.storage import runs
from tests.system import SAMPLES

TABLES = ("tweets", "users", "places", "tweet_tags", "hour_counts", "tag_counts", "minute_counts",
          "minute_tag_counts", "minute_tag_totals", "run_batches", "run_totals")


def snapshot(engine) -> dict:
    """Everything a batch can change, row for row."""
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2")).all() for t in TABLES}


def new_run(engine, track) -> int:
    with engine.begin() as conn:
        run_id = runs.create_run(conn, track, "replay", {}, "test-owner")
        runs.end_run(conn, run_id, runs.STOPPED)  # only one run may be active at a time
    return run_id


def sample_batch(run_id, track, name="streaming_output_with_error.jsonl", start=0):
    items = (SAMPLES / name).read_text().splitlines()
    return {"run_id": run_id, "start": start, "end": start + len(items), "source": "replay",
            "track": track, "items": items}


def test_a_batch_delivered_twice_changes_nothing_the_second_time(clean_db):
    run_id = new_run(clean_db, ["dogs"])
    batch = sample_batch(run_id, ["dogs"])
    assert process_batch(clean_db, batch) == 6
    first = snapshot(clean_db)
    assert process_batch(clean_db, batch) is None
    assert snapshot(clean_db) == first
    with clean_db.connect() as conn:
        figures = runs.run_figures(conn, run_id)
    assert (figures["received"], figures["bad"], figures["matched"], figures["stored"]) == (8, 1, 6, 6)


def test_a_second_run_counts_tweets_already_stored_but_stores_them_once(clean_db):
    first, second = new_run(clean_db, ["dogs"]), new_run(clean_db, ["dogs"])
    process_batch(clean_db, sample_batch(first, ["dogs"]))
    process_batch(clean_db, sample_batch(second, ["dogs"]))
    with clean_db.connect() as conn:
        a, b = runs.run_figures(conn, first), runs.run_figures(conn, second)
        assert conn.execute(text("SELECT count(*) FROM tweets")).scalar() == 6
        assert conn.execute(text("SELECT sum(count) FROM hour_counts")).scalar() == 6
        overall = runs.overall_figures(conn)
    assert a["amount"] == b["amount"] == 6
    assert (a["stored"], b["stored"]) == (6, 0)
    assert overall["amount"] == 12


ROLLUP_FILES = ("brexit.jsonl", "streaming_output_with_error.jsonl", "geo_tweets.jsonl")
ROLLUP_TRACK = ["brexit", "dogs", "harrypotter", "location"]


def raw_expectations(lines: list[str], run_id: int) -> dict:
    """The figures of the sample lines worked out with plain ``json``, as DESIGN.md states the rules:
    a tweet matches a term that is a word of its text, one of its hashtags, a mentioned username or
    a word of an expanded URL (case-folded); it is stored once; it counts under its created_at's hour
    and minute, its lang, and its place's country ("unknown" without one); each of its hashtags once."""
    tweets, countries, unreadable = {}, {}, 0
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            unreadable += 1
            continue
        countries.update((p["id"], p.get("country_code")) for p in doc.get("includes", {}).get("places", []))
        for tweet in doc["data"] if isinstance(doc["data"], list) else [doc["data"]]:
            entities = tweet.get("entities") or {}
            words = re.findall(r"\w+", tweet["text"].casefold())
            words += [h["tag"].casefold() for h in entities.get("hashtags", [])]
            words += [m["username"].casefold() for m in entities.get("mentions", [])]
            for url in entities.get("urls", []):
                words += re.findall(r"\w+", (url.get("expanded_url") or url.get("url") or "").casefold())
            if set(words) & set(ROLLUP_TRACK):
                tweets.setdefault(tweet["id"], tweet)
    counts = {name: Counter() for name in ("hour", "minute", "tag", "minute_tag", "author")}
    for tweet in tweets.values():
        hour, minute, lang = tweet["created_at"][:13], tweet["created_at"][:16], tweet.get("lang") or "und"
        country = countries.get((tweet.get("geo") or {}).get("place_id")) or "unknown"
        counts["hour"][hour] += 1
        counts["minute"][(minute, run_id, lang, country)] += 1
        counts["author"][int(tweet["author_id"])] += 1
        for tag in {h["tag"].casefold() for h in (tweet.get("entities") or {}).get("hashtags", [])}:
            counts["tag"][(tag, country, lang)] += 1
            counts["minute_tag"][(minute, tag)] += 1
    return {"stored": len(tweets), "unreadable": unreadable, **counts}


def test_rollups_hold_the_figures_worked_out_from_the_raw_sample_files(clean_db):
    run_id = new_run(clean_db, ROLLUP_TRACK)
    lines = [line for name in ROLLUP_FILES for line in (SAMPLES / name).read_text().splitlines() if line.strip()]
    expected = raw_expectations(lines, run_id)
    assert expected["stored"] > 60 and len(expected["tag"]) > 20   # the files give the rollups something to hold

    batch = {"run_id": run_id, "start": 0, "end": len(lines), "source": "replay", "track": ROLLUP_TRACK,
             "items": lines}
    assert process_batch(clean_db, batch) == expected["stored"]

    def utc(moment, shape):
        return moment.astimezone(timezone.utc).strftime(shape)

    with clean_db.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).all()  # noqa: E731
        assert q("SELECT count(*) FROM tweets") == [(expected["stored"],)]
        assert Counter({utc(h, "%Y-%m-%dT%H"): n for h, n in q("SELECT hour, count FROM hour_counts")}) == \
            expected["hour"]
        assert Counter({(utc(m, "%Y-%m-%dT%H:%M"), r, lang, c): n
                        for m, r, lang, c, n in q("SELECT minute, run_id, lang, country, count FROM minute_counts")}) == \
            expected["minute"]
        assert Counter({(tag, c, lang): n for tag, c, lang, n in q("SELECT tag, country, lang, count FROM tag_counts")}) == \
            expected["tag"]
        assert Counter({(utc(m, "%Y-%m-%dT%H:%M"), tag): n
                        for m, tag, n in q("SELECT minute, tag, count FROM minute_tag_totals")}) == expected["minute_tag"]
        assert Counter({(utc(m, "%Y-%m-%dT%H:%M"), tag): n
                        for m, tag, n in q("SELECT minute, tag, sum(count) FROM minute_tag_counts GROUP BY 1, 2")}) == \
            expected["minute_tag"]
        # only authors are kept, each with the count of its stored tweets
        assert Counter(dict(q("SELECT id, tweet_count FROM users"))) == expected["author"]
        totals = conn.execute(text("SELECT items, bad, stored FROM run_totals WHERE run_id = :r"), {"r": run_id}).one()
    assert tuple(totals) == (len(lines), expected["unreadable"], expected["stored"])


def test_a_batch_that_cannot_be_stored_is_kept_not_lost(clean_db):
    batch = sample_batch(999_999, ["dogs"])  # no such run: the ledger's foreign key refuses it
    assert process_batch(clean_db, batch) is None
    with clean_db.connect() as conn:
        kept = conn.execute(text("SELECT run_id, start_pos, payload FROM failed_batches")).all()
    assert [(r.run_id, r.start_pos) for r in kept] == [(999_999, 0)]
    assert kept[0].payload["items"] == batch["items"]


def test_a_batch_the_parser_chokes_on_is_kept_not_lost(clean_db, monkeypatch):
    from services.filter import pipeline
    run_id = new_run(clean_db, ["dogs"])
    batch = sample_batch(run_id, ["dogs"])

    def choke(*_args):
        raise RuntimeError("a parser bug")
    monkeypatch.setattr(pipeline, "prepare", choke)
    assert process_batch(clean_db, batch) is None
    with clean_db.connect() as conn:
        kept = conn.execute(text("SELECT run_id, start_pos, error, payload FROM failed_batches")).all()
    assert [(r.run_id, r.start_pos, r.error) for r in kept] == [(run_id, 0, "RuntimeError: a parser bug")]
    assert kept[0].payload["items"] == batch["items"]


def test_a_stream_message_with_odd_includes_is_read_with_the_rest_of_its_batch(clean_db):
    import orjson
    run_id = new_run(clean_db, ["dogs"])
    batch = sample_batch(run_id, ["dogs"])
    odd = orjson.loads(batch["items"][1])   # a tweet that matches "dogs"
    for number, includes in enumerate(([1], "x", {"users": 5, "places": {"id": "p"}})):
        odd["data"]["id"] = str(10 ** 18 + number)
        odd["includes"] = includes
        batch["items"].append(orjson.dumps(odd).decode())
    batch["end"] = len(batch["items"])
    assert process_batch(clean_db, batch) == 6 + 3
    with clean_db.connect() as conn:
        figures = runs.run_figures(conn, run_id)
    assert (figures["received"], figures["bad"], figures["matched"], figures["stored"]) == (11, 1, 9, 9)


def test_populating_a_streamed_tweet_marks_its_tag_fetched_without_counting_it_twice(clean_db):
    from services.storage.ingest import store_tweets
    from services.tweets.parse import parse_documents
    run_id = new_run(clean_db, ["dogs"])
    process_batch(clean_db, sample_batch(run_id, ["dogs"]))  # tweet 4 carries #dogs
    parsed = parse_documents((SAMPLES / "streaming_output_with_error.jsonl").read_bytes().splitlines())
    with clean_db.begin() as conn:
        before = conn.execute(text("SELECT sum(count) FROM tag_counts WHERE tag = 'dogs'")).scalar()
        store_tweets(conn.connection.cursor(), parsed.tweets, parsed.users, parsed.places,
                     run_id=None, populate_tag="dogs")
    with clean_db.connect() as conn:
        rows = conn.execute(text("SELECT tweet_id, populated FROM tweet_tags WHERE tag = 'dogs' ORDER BY 1")).all()
        after = conn.execute(text("SELECT sum(count) FROM tag_counts WHERE tag = 'dogs'")).scalar()
    assert len(rows) == 7 and all(populated for _, populated in rows)  # every fetched tweet
    # one tweet already had the tag as a hashtag: it is counted once, not again
    assert (before, after) == (1, 7)


def test_authors_tweet_counts_follow_the_stored_tweets_through_redeliveries(clean_db):
    run_id = new_run(clean_db, ["the"])
    source = SyntheticSource(seed=12, rate=0)
    items = [source.item(i).decode() for i in range(1000)]
    for start in (0, 500, 0, 250):  # a redelivery, and an overlapping second run's batch below
        process_batch(clean_db, {"run_id": run_id, "start": start, "end": start + 500, "source": "synthetic",
                                 "track": ["the"], "items": items[start:start + 500]})
    with clean_db.connect() as conn:
        kept = conn.execute(text("SELECT id, tweet_count FROM users ORDER BY id")).all()
        counted = conn.execute(text("SELECT author_id, count(*) FROM tweets GROUP BY 1 ORDER BY 1")).all()
    assert kept == counted and sum(n for _, n in kept) > 0


def test_batches_committed_together_are_each_stored_once(clean_db):
    from services.filter.pipeline import commit_batches, prepare
    run_id = new_run(clean_db, ["the"])
    items = [item.decode() for item in map(SyntheticSource(seed=21, rate=0).item, range(600))]
    batch = lambda start, end: prepare({"run_id": run_id, "start": start, "end": end,  # noqa: E731
                                        "track": ["the"], "items": items[start:end]})
    first = batch(0, 400)
    assert commit_batches(clean_db, [first])[0] > 0
    # a redelivery, and two batches that overlap each other in one transaction
    results = commit_batches(clean_db, [batch(0, 400), batch(400, 600), batch(300, 600)])
    with clean_db.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM tweets")).scalar()
        ledger = dict(conn.execute(text("SELECT start_pos, stored FROM run_batches")).all())
    tail_matched = len({t.id for t in batch(400, 600).matched})
    assert results == [None, tail_matched, 0]
    assert ledger == {0: len(first.matched), 400: tail_matched, 300: 0}
    assert stored == sum(ledger.values())
    with clean_db.connect() as conn:
        totals = conn.execute(text("SELECT items, stored FROM run_totals WHERE run_id = :r"), {"r": run_id}).one()
    assert tuple(totals) == (400 + 200 + 300, stored)


def test_a_batch_twice_in_one_group_is_stored_and_counted_once(clean_db):
    from services.filter.pipeline import commit_batches, prepare
    run_id = new_run(clean_db, ["dogs"])
    copies = [prepare(sample_batch(run_id, ["dogs"])) for _ in range(2)]
    assert commit_batches(clean_db, copies) == [6, None]
    with clean_db.connect() as conn:
        totals = conn.execute(text("SELECT items, received, matched, stored FROM run_totals")).all()
        assert conn.execute(text("SELECT count(*) FROM tweets")).scalar() == 6
    assert [tuple(row) for row in totals] == [(8, 8, 6, 6)]


def test_the_group_committer_keeps_a_bad_batch_from_failing_the_others(clean_db):
    import eventlet
    import pytest
    from eventlet.queue import LightQueue
    from psycopg2.errors import ForeignKeyViolation

    from services.filter.committer import GroupCommitter
    from services.filter.pipeline import prepare
    run_id = new_run(clean_db, ["dogs"])
    committer = GroupCommitter()
    committer.engine, committer.pending = clean_db, LightQueue()
    waiting = [eventlet.spawn(committer.commit, prepare(sample_batch(rid, ["dogs"], start=start)))
               for rid, start in ((run_id, 0), (999_999, 0), (run_id, 8))]
    eventlet.sleep(0)                      # all three are queued before the writer looks
    assert committer.pending.qsize() == 3
    writer = eventlet.spawn(committer._write)
    try:
        assert waiting[0].wait() == 6 and waiting[2].wait() == 0
        with pytest.raises(ForeignKeyViolation):   # its own error, for its worker to record
            waiting[1].wait()
    finally:
        writer.kill()
