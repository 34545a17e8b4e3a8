"""The bench explains a slow view with the statements the view itself sends (no copy of its SQL)."""
from datetime import datetime, timedelta, timezone

from services.storage.ingest import store_tweets
from services.tweets.parse import Place, Tweet, User
from tools import bench


def test_every_measured_view_is_explained_with_the_statements_it_sends(engine, clean_db, db_uri):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    tweets = [Tweet(id=n, text=f"tweet {n} #bench", created_at=now - timedelta(minutes=n), lang="en", author_id=7,
                    hashtags=("bench",), mentions=(), urls=(), place_id="p1") for n in range(1, 4)]
    with engine.begin() as conn:
        store_tweets(conn.connection.cursor(), tweets, {7: User(7, "benchy", "Benchy", 10)},
                     {"p1": Place("p1", "DE", "Berlin, Germany")}, run_id=None)
    urls, parameters = bench.view_urls(db_uri)
    assert parameters["username"] == "benchy"
    assert set(bench.view_calls(parameters)) == set(urls)

    plans = bench.explain_slow_views(db_uri, {view: {"p95_ms": 21} for view in urls}, parameters)

    assert set(plans) == set(urls)
    for view, plan in plans.items():
        assert "Execution Time" in plan, view
    user_tweets = plans["/api/v1/users/<username>/tweets"]
    assert user_tweets.count("Execution Time") == 1   # the author and their tweets in one statement
    assert "FROM tweets" in user_tweets and "WHERE author_id" in user_tweets and "parameters: {" in user_tweets
    # a view within its budget is not explained
    assert bench.explain_slow_views(db_uri, {"/api/v1/users": {"p95_ms": 20}}, parameters) == {}
    # nor one none of whose requests succeeded (no percentile): its failures are what shows
    assert bench.explain_slow_views(db_uri, {"/api/v1/users": {"p95_ms": None}}, parameters) == {}
