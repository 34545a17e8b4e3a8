"""The seed walk-through as a user meets it, over the real processes: populate, then the views and
health, with figures that agree with the store; and a replay of the real samples whose views match
figures worked out here from the sample file with plain ``json``."""
import json
import re
from collections import Counter

from sqlalchemy import text

from tests.system import SAMPLES

POPULATE_TAGS = ["openbanking", "remediation", "devops", "sre", "microservices",
                 "observability", "oauth", "metrics", "logmonitoring", "opentracing"]


def stored_tags(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT tag, count(*) FROM tweet_tags GROUP BY tag")).all())


def stored_tweets(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM tweets")).scalar()


def per_tag(rows) -> Counter:
    totals = Counter()
    for row in rows:
        totals[row["tag"]] += row["count"]
    return totals


def test_seed_walkthrough_populate_then_users_hour_tags_and_health(fresh_system, engine):
    system = fresh_system
    for path in ("/api/v1/users", "/api/v1/hour", "/api/v1/tags"):
        empty = system.get(path)
        assert (empty.status_code, empty.json()) == (200, [])

    populated = system.post("/api/v1/populate")

    assert populated.status_code == 201, populated.text
    answer = populated.json()
    assert list(answer["stored"]) == POPULATE_TAGS and answer["total"] == sum(answer["stored"].values()) == 1000
    tweets = stored_tweets(engine)
    assert tweets == 1000

    users = system.get("/api/v1/users").json()
    with engine.connect() as conn:
        authors = conn.execute(text(
            "SELECT DISTINCT u.username, u.followers FROM tweets t JOIN users u ON u.id = t.author_id")).all()
    assert users == [{"username": name, "followers": count}
                     for name, count in sorted(authors, key=lambda a: (-a[1], a[0]))[:5]]

    hours = system.get("/api/v1/hour").json()
    assert sum(row["count"] for row in hours) == tweets
    assert [row["date"] for row in hours] == sorted(row["date"] for row in hours)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00:00Z", row["date"]) for row in hours)
    by_hour_of_day = system.get("/api/v1/hour", params={"by": "hour_of_day"}).json()
    assert [row["hour"] for row in by_hour_of_day] == list(range(24))
    assert sum(row["count"] for row in by_hour_of_day) == tweets

    tags = system.get("/api/v1/tags", params={"limit": 10_000}).json()
    assert per_tag(tags) == Counter(stored_tags(engine))   # every stored tweet's tags, each counted once
    assert all(per_tag(tags)[tag] >= 100 for tag in POPULATE_TAGS)
    assert [(-r["count"], r["tag"], r["country"], r["language"]) for r in tags] == sorted(
        (-r["count"], r["tag"], r["country"], r["language"]) for r in tags)
    assert len(system.get("/api/v1/tags", params={"limit": 3}).json()) == 3

    health = system.get("/api/health")
    assert (health.status_code, health.json()) == (
        200, {"status": "ok", "checks": {"database": "ok", "broker": "ok", "source": "ok", "pipeline": "ok"}})

    again = system.post("/api/v1/populate", {"tags": ["devops"], "per_tag": 100})
    assert again.status_code == 201 and again.json()["stored"] == {"devops": 0} and again.json()["total"] == 0
    assert stored_tweets(engine) == tweets

    metrics = system.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    assert re.search(r'tweetstream_http_requests_total\{[^}]*route="/api/v1/populate"[^}]*status="201"[^}]*\} 2\.0',
                     metrics.text)
    assert 'tweetstream_health_check_up{check="database"} 1.0' in metrics.text


def test_bad_input_is_a_400_with_a_json_reason(system):
    for path, body, reason in (
            ("/api/v1/populate", {"tags": "devops"}, "tags: Input should be a valid list"),
            ("/api/v1/populate", {"tags": []}, "tags: List should have at least 1 item"),
            ("/api/v1/populate", {"per_tag": 5}, "per_tag: Input should be greater than or equal to 10"),
            ("/api/v1/populate", {"per_tag": 1001}, "per_tag: Input should be less than or equal to 1000")):
        refused = system.post(path, body)
        assert refused.status_code == 400 and reason in refused.json()["error"], refused.text
    refused = system.get("/api/v1/hour", params={"by": "week"})
    assert refused.status_code == 400 and "by: Input should be 'hour' or 'hour_of_day'" in refused.json()["error"]


# --- replaying the real samples --------------------------------------------------------

def matches_brexit(tweet: dict) -> bool:
    """The track term "brexit" (DESIGN.md): a word of the text, a hashtag, a mentioned
    username or a word of an expanded URL, case-folded."""
    entities = tweet.get("entities") or {}
    words = re.findall(r"\w+", tweet["text"].casefold())
    words += [h["tag"].casefold() for h in entities.get("hashtags", [])]
    words += [m["username"].casefold() for m in entities.get("mentions", [])]
    for url in entities.get("urls", []):
        words += re.findall(r"\w+", (url.get("expanded_url") or url.get("url") or "").casefold())
    return "brexit" in words


def brexit_expectations() -> dict:
    (page,) = [json.loads(line) for line in (SAMPLES / "brexit.jsonl").read_text().splitlines() if line.strip()]
    matched = [t for t in page["data"] if matches_brexit(t)]
    profiles = {u["id"]: (u["username"], u["public_metrics"]["followers_count"]) for u in page["includes"]["users"]}
    authors = {profiles[t["author_id"]] for t in matched}
    hours = Counter(t["created_at"][:13] + ":00:00Z" for t in matched)
    tags = Counter()
    for t in matched:   # the page has no places: every tweet counts under "unknown"
        for tag in {h["tag"].casefold() for h in (t.get("entities") or {}).get("hashtags", [])}:
            tags[(tag, "unknown", t.get("lang") or "und")] += 1
    return {
        "count": len(matched),
        "users": [{"username": u, "followers": f} for u, f in sorted(authors, key=lambda a: (-a[1], a[0]))[:5]],
        "hour": [{"date": h, "count": n} for h, n in sorted(hours.items())],
        "tags": sorted(({"tag": k[0], "country": k[1], "language": k[2], "count": n} for k, n in tags.items()),
                       key=lambda r: (-r["count"], r["tag"], r["country"], r["language"])),
    }


def test_replayed_samples_give_the_figures_of_the_file_and_populate_adds_to_them(fresh_system, engine):
    system = fresh_system
    expected = brexit_expectations()
    launched = system.post("/launch", {"track": ["brexit"], "source": "replay", "files": ["brexit.jsonl"]})
    assert launched.status_code == 200, launched.text

    run = system.wait_run_done(launched.json()["run_id"])

    assert run["amount"] == expected["count"] > 50
    assert system.get("/api/v1/users").json() == expected["users"]
    assert system.get("/api/v1/hour").json() == expected["hour"]
    assert system.get("/api/v1/tags", params={"limit": 10_000}).json() == expected["tags"]

    # streamed and populated tweets alike: the views cover both
    assert system.post("/api/v1/populate", {"tags": ["devops", "sre"], "per_tag": 50}).status_code == 201
    tweets = stored_tweets(engine)
    assert tweets == expected["count"] + 100
    assert sum(row["count"] for row in system.get("/api/v1/hour").json()) == tweets
    assert per_tag(system.get("/api/v1/tags", params={"limit": 10_000}).json()) == Counter(stored_tags(engine))
