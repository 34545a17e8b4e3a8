"""A built-in stand-in for the X API v2: realistic payloads, deterministic for a seed.

Hashtags and words follow Zipf's law (the ten populate tags among the hashtags),
follower counts a power law, languages and countries a realistic mix. Item n of a
seed is always the same tweet, so a run can be repeated exactly and resumed from
any position by another launcher.
"""
import array
import bisect
import functools
import itertools
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

import orjson

from services.sources.base import TweetSource, paced
from services.settings import setting

POPULATE_TAGS = ("openbanking", "remediation", "devops", "sre", "microservices",
                 "observability", "oauth", "metrics", "logmonitoring", "opentracing")

# Words in rough order of frequency; the head is common English, the tail topical.
WORDS = (
    "the to and a of in is it you that for on my this with be just so me at are have not "
    "was but your all we like do love can get what new now out up one about more when "
    "day today people time go how good know see if from its our great they will some "
    "music game news world video live watch happy best first year night thanks free life "
    "team work home friends show week big right need want think make check follow back "
    "bieber justin taylor swift football soccer nba election vote climate weather coffee "
    "cloud kubernetes docker python rust golang linux devops sre microservices observability "
    "oauth metrics logmonitoring opentracing openbanking remediation incident outage deploy "
    "release security privacy data ai robots space nasa mars bitcoin crypto market stocks "
    "movie netflix series anime kpop bts concert tour album single radio podcast book art "
    "photo travel beach summer winter rain snow food pizza tacos sushi vegan running gym "
    "yoga health doctor vaccine school college exam teacher student job hiring remote office"
).split()

EXTRA_TAGS = ("music", "football", "nba", "kpop", "bts", "news", "love", "travel", "food",
              "ai", "python", "kubernetes", "cloud", "crypto", "bitcoin", "climate", "art",
              "photography", "gaming", "anime", "movies", "fitness", "health", "startup",
              "marketing", "tech", "science", "space", "election", "weather")

LANGS = (("en", 46), ("es", 10), ("ja", 9), ("pt", 7), ("ar", 5), ("fr", 4), ("tr", 3),
         ("ko", 3), ("de", 3), ("in", 3), ("hi", 2), ("it", 2), ("und", 3))

PLACES = (("US", "United States", "Chicago, IL"), ("US", "United States", "Austin, TX"),
          ("GB", "United Kingdom", "London, England"), ("BR", "Brazil", "São Paulo, Brazil"),
          ("JP", "Japan", "Tokyo, Japan"), ("IN", "India", "Mumbai, India"),
          ("ES", "Spain", "Madrid, Spain"), ("MX", "Mexico", "Mexico City, Mexico"),
          ("FR", "France", "Paris, France"), ("DE", "Germany", "Berlin, Germany"),
          ("CA", "Canada", "Toronto, Ontario"), ("AR", "Argentina", "Buenos Aires, Argentina"),
          ("TR", "Turkey", "Istanbul, Turkey"), ("KR", "South Korea", "Seoul, Korea"),
          ("ID", "Indonesia", "Jakarta, Indonesia"), ("NG", "Nigeria", "Lagos, Nigeria"))
PLACE_SHARE = 0.3          # share of tweets that carry a place
# Stream tweet ids are X snowflakes ((ms since X's epoch) << 22 | worker << 12 | sequence): each
# seed owns the 2**30 ids that follow TWEET_ID_BASE + seed << 30 (256 ms of snowflake time, every
# worker and sequence), so the moment in the high bits comes from the seed (2022 for seed 0, 2037
# for the largest), every (seed, position) the API accepts gets an id of its own, and the largest
# stays below 2**63, a PostgreSQL bigint. A stream ends at MAX_POSITIONS items, limit or not.
TWEET_ID_BASE = 1_500_000_000_000_000_000
POSITION_BITS = 30
MAX_POSITIONS = 1 << POSITION_BITS
MAX_SEED = 2**31 - 1
# populate's ids (below every stream id: a sample never takes a streamed tweet's id)
SEARCH_ID_BASE = 1_400_000_000_000_000_000

# Context annotations as the X API attaches them (domains and entities seen in the recorded samples)
_ANNOTATION_DOMAINS = (
    ("45", "Brand Vertical", "Top level entities that describe a Brands industry"),
    ("46", "Brand Category", "Categories within Brand Verticals that narrow down the scope of Brands"),
    ("47", "Brand", "Brands and Companies"),
    ("65", "Interests and Hobbies Vertical", "Top level interests and hobbies groupings, like Food or Travel"),
    ("66", "Interests and Hobbies Category",
     "A grouping of interests and hobbies entities, like Novelty Food or Destinations"),
    ("67", "Interests and Hobbies",
     "Interests, opinions, and behaviors of individuals, groups, or cultures; like Speciality Cooking or Theme Parks"),
    ("131", "Unified Twitter Taxonomy", "A taxonomy view into the Semantic Core knowledge graph"),
)
_CONTEXT = [{"domain": {"id": domain_id, "name": name, "description": description},
             "entity": {"id": str(781_974_596_000_000_000 + 7_919 * index), "name": entity.title(),
                        "description": f"All about {entity}"}}
            for index, ((domain_id, name, description), entity) in enumerate(zip(
                _ANNOTATION_DOMAINS * 6,
                ("gaming business", "technology", "music", "football", "drinks", "pets", "travel", "news",
                 "movies", "television", "politics", "weather", "food", "fitness", "cryptocurrencies",
                 "space", "books", "fashion", "cars", "science", "health", "education", "art", "photography",
                 "dogs", "coffee", "celebrity", "business", "software", "cloud platform", "podcasts",
                 "concerts", "outdoors", "beauty", "finance", "entertainment", "video games", "anime",
                 "basketball", "soccer", "elections", "nature"), strict=True))]
ANNOTATION_TYPES = ("Person", "Place", "Organization", "Product", "Other")
SOURCES = ("Twitter for iPhone", "Twitter for Android", "Twitter Web App", "TweetDeck", "Buffer")
RETWEET_SHARE, QUOTE_SHARE, REPLY_SHARE = 0.35, 0.08, 0.12
MEDIA_SHARE = 0.25
BODY_POOL = 4096           # pre-rendered tweet bodies the stream recombines (see SyntheticSource.item)
AUTHOR_BUCKETS = 1 << 14   # the author pick's table (_Pick; a power of two): 256 KB, 15 ms once per seed
_MASK = (1 << 64) - 1


def _mix(value: int) -> int:
    """splitmix64: a well-spread 64-bit hash, so each position gets its own draws without
    seeding a Mersenne Twister per tweet (that was a sixth of the launcher's time)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def stream_tweet_id(seed: int, position: int) -> int:
    """The id of the stream's item ``position`` for ``seed`` (see TWEET_ID_BASE)."""
    if not 0 <= seed <= MAX_SEED or not 0 <= position < MAX_POSITIONS:
        raise ValueError(f"seed {seed} or position {position} is outside the synthetic stream's ids")
    return TWEET_ID_BASE + (seed << POSITION_BITS) + position


def _compact(rendered: bytes) -> bytes:
    """A copy of exactly its length: orjson's small outputs keep a 4 KB buffer each."""
    return bytes(memoryview(rendered))


def _shifted(entities: dict, offset: int) -> dict:
    """The entities of a text that got ``offset`` characters put in front of it."""
    return {kind: [dict(e, start=e["start"] + offset, end=e["end"] + offset) for e in items]
            for kind, items in entities.items()}


def _zipf_cumulative(n: int, s: float = 1.1) -> list[float]:
    weights = [1 / (rank ** s) for rank in range(1, n + 1)]
    return list(itertools.accumulate(weights))


class _Pick:
    """Draws from a fixed list with cumulative weights (bisect: O(log n) per draw).

    With ``buckets`` (a power of two, so that each bucket's bounds are exact), a table of where
    each 1/buckets of the weight starts and ends narrows the bisect first: the same item every
    time, and most draws need no comparison at all. Over the 20,000 authors the plain bisect took
    7.4% of the launcher's CPU under perf during ingest (1.4-1.8% with the table), nearly all of it
    the float comparisons of its 15 steps (in a tight loop, with the weights in the cache, it
    looked cheap).
    """

    def __init__(self, items, cumulative, buckets: int = 0):
        self.items, self.cumulative, self.total = list(items), cumulative, cumulative[-1]
        self.buckets = buckets
        if buckets & (buckets - 1):
            raise ValueError(f"buckets must be a power of two, not {buckets}")
        if buckets:
            # edges[b]: the bisect's answer at the start of bucket b; a fraction in bucket b gets an
            # answer between edges[b] and edges[b + 1] (a bisect is monotonic in its value)
            edges = array.array("l", map(functools.partial(bisect.bisect, cumulative),
                                         (b / buckets * self.total for b in range(buckets + 1))))
            self._first, self._last = edges[:-1], edges[1:]

    def __call__(self, rng: random.Random):
        return self.at(rng.random())

    def at(self, fraction: float):
        """The item at ``fraction`` (0 <= fraction < 1) of the cumulative weight."""
        if self.buckets:
            bucket = int(fraction * self.buckets)
            first, last = self._first[bucket], self._last[bucket]
            if first == last:
                return self.items[first]
            return self.items[bisect.bisect(self.cumulative, fraction * self.total, first,
                                            min(last + 1, len(self.cumulative)))]
        return self.items[bisect.bisect(self.cumulative, fraction * self.total)]


@functools.lru_cache(maxsize=4096)
def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@functools.lru_cache(maxsize=64)   # item() callers ask for the same moment many times
def _iso_bytes(moment: datetime) -> bytes:
    return _iso(moment).encode()


def _make_user(seed: int, rng: random.Random, index: int) -> dict:
    name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}{index}"
    # Pareto tail: most accounts have a few hundred followers, a handful millions
    followers = int(min(rng.paretovariate(1.16) * 40, 150_000_000))
    bio_tag = rng.choice(EXTRA_TAGS)
    description = " ".join(rng.choice(WORDS) for _ in range(12)) + f" #{bio_tag}"
    return {
        "id": str(10_000_000 + seed * 1_000_000_000 + index), "username": name[:15] + str(index)[-3:],
        "name": name.replace("_", " ").title(),
        "public_metrics": {"followers_count": followers, "following_count": int(rng.paretovariate(1.5) * 50),
                           "tweet_count": int(rng.paretovariate(1.2) * 300), "listed_count": followers // 900},
        "created_at": "2015-06-01T12:00:00.000Z", "verified": followers > 1_000_000, "protected": False,
        "description": description,
        "entities": {"description": {"hashtags": [{"start": len(description) - len(bio_tag) - 1,
                                                   "end": len(description), "tag": bio_tag}]}},
        "location": rng.choice(PLACES)[2], "url": "",
        "profile_image_url": f"https://pbs.twimg.com/profile_images/{index}/avatar_normal.jpg",
    }


@dataclass(frozen=True, slots=True)
class _SeedTables:
    """What a seed determines before any tweet: the weighted picks, the users, the places, the
    per-position fields item() draws, pre-rendered, and the stream's pool of bodies."""
    pick_tag: _Pick
    pick_word: _Pick
    pick_lang: _Pick
    user_json: list[bytes]
    user_ids: list[bytes]
    pick_user: _Pick
    places: list[dict]
    pick_place: _Pick
    langs: list[bytes]
    metrics_json: list[bytes]
    # the stream's pre-rendered bodies by index (SyntheticSource._body), filled as they are first
    # needed or all at once by prepare(), and the moment they were rendered at
    bodies: dict[int, tuple]
    bodies_created: datetime


# A launch builds its source twice (to check the options, then to stream), with the same seed:
# the second build, 0.3 s of the launcher's time, was inside the run. Runs stream side by side, each
# with its own seed: room for MAX_ACTIVE_RUNS' default (10) and two launches being checked, so that
# one run's launch never evicts another's tables (about 19 MB a seed).
@functools.lru_cache(maxsize=12)
def _seed_tables(seed: int, users: int) -> _SeedTables:
    rng = random.Random(seed)
    tags = list(POPULATE_TAGS) + list(EXTRA_TAGS)
    rng.shuffle(tags)  # the populate tags land at various Zipf ranks
    pick_lang = _Pick([lang for lang, _ in LANGS], list(itertools.accumulate(w for _, w in LANGS)))
    # kept rendered: 20,000 user dicts took over 100 MB of the launcher
    user_json = [_compact(orjson.dumps(_make_user(seed, rng, i))) for i in range(users)]
    metrics_rng = random.Random(seed + 1)
    return _SeedTables(
        pick_tag=_Pick(tags, _zipf_cumulative(len(tags))),
        pick_word=_Pick(WORDS, _zipf_cumulative(len(WORDS), 0.9)),
        pick_lang=pick_lang,
        user_json=user_json,
        user_ids=[orjson.loads(user)["id"].encode() for user in user_json],
        pick_user=_Pick(range(users), _zipf_cumulative(users, 0.8), buckets=AUTHOR_BUCKETS),
        places=[{"id": f"{0x5a1e000 + i:016x}", "full_name": full, "country": country,
                 "country_code": code, "name": full.split(",")[0], "place_type": "city"}
                for i, (code, country, full) in enumerate(PLACES)],
        pick_place=_Pick(range(len(PLACES)), _zipf_cumulative(len(PLACES), 0.7)),
        langs=[pick_lang.at((slot + 0.5) / 256).encode() for slot in range(256)],
        metrics_json=[_compact(orjson.dumps({"retweet_count": int(metrics_rng.paretovariate(2)) - 1,
                                             "reply_count": int(metrics_rng.paretovariate(3)) - 1,
                                             "like_count": int(metrics_rng.paretovariate(1.5)) - 1,
                                             "quote_count": int(metrics_rng.paretovariate(4)) - 1}))
                      for _ in range(512)],
        bodies={},
        bodies_created=datetime.now(timezone.utc).replace(microsecond=0),
    )


class SyntheticSource(TweetSource):
    """Tweets drawn from the seed: ``tweet`` builds one from a random state, ``item`` is the
    stream message at a position.

    The stream recombines a pool of BODY_POOL tweet bodies (text, entities, annotations,
    media, referenced tweets, place), each built once by ``tweet`` and kept pre-rendered,
    with what each position draws for itself: its id, author, time, language and metrics.
    At the rates the benchmark asks for, building every tweet from scratch took the
    launcher a whole core, which the pipeline it measures needs.
    """
    name = "synthetic"
    deterministic = True

    def __init__(self, seed: int = 1, rate: float = 50.0, limit: int | None = None,
                 users: int = 20_000, run_id: int | None = None, clock=time.monotonic, sleep=time.sleep):
        self.seed = int(seed)
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed {self.seed} is outside 0 to {MAX_SEED}")
        self.rate = float(rate)
        self.limit = limit
        self.run_id = run_id
        self._clock, self._sleep = clock, sleep
        tables = _seed_tables(self.seed, users)
        self.pick_tag, self.pick_word, self.pick_lang = tables.pick_tag, tables.pick_word, tables.pick_lang
        self._user_json, self._user_ids, self.pick_user = tables.user_json, tables.user_ids, tables.pick_user
        self.places, self.pick_place = tables.places, tables.pick_place
        self._langs, self._metrics_json = tables.langs, tables.metrics_json
        self._seed_draw = _mix(self.seed)
        self._bodies, self._bodies_created = tables.bodies, tables.bodies_created
        self._matching_rules = orjson.dumps([{"id": str(1_700_000_000_000_000_000 + (self.run_id or 0)),
                                              "tag": f"tweetstream-run-{self.run_id or 0}"}])

    @classmethod
    def from_config(cls, config: dict, seed=None, rate=None, limit=None, run_id=None, **_ignored):
        return cls(
            seed=seed if seed is not None else int(setting(config, "SYNTHETIC_SEED")),
            rate=rate if rate is not None else float(setting(config, "SYNTHETIC_RATE")),
            limit=limit, run_id=run_id,
        )

    def user(self, index: int) -> dict:
        return orjson.loads(self._user_json[index])

    def _compose(self, rng: random.Random, forced_tag: str | None) -> tuple[str, dict, list]:
        """A text with its entities (mentions, hashtags, URL, annotations) and the users it mentions."""
        words = [self.pick_word(rng) for _ in range(rng.randint(6, 22))]
        tags = {self.pick_tag(rng) for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 3)))}
        if forced_tag:
            tags.add(forced_tag)
        mentioned = [self.user(self.pick_user(rng)) for _ in range(rng.choice((0, 0, 0, 1, 2)))]
        entities: dict = {}
        text = ""
        if mentioned:
            entities["mentions"] = []
            for user in mentioned:
                entities["mentions"].append({"start": len(text), "end": len(text) + len(user["username"]) + 1,
                                             "username": user["username"], "id": user["id"]})
                text += f"@{user['username']} "
        words_start = len(text)
        text += " ".join(words)
        if rng.random() < 0.4:
            word = rng.choice(words)
            at = text.index(word, words_start)
            entities["annotations"] = [{"start": at, "end": at + len(word) - 1,
                                        "probability": round(rng.uniform(0.3, 0.99), 4),
                                        "type": rng.choice(ANNOTATION_TYPES), "normalized_text": word.title()}]
        if tags:
            entities["hashtags"] = []
            for tag in sorted(tags):
                start = len(text) + 1
                text += f" #{tag}"
                entities["hashtags"].append({"start": start, "end": start + len(tag) + 1, "tag": tag})
        if rng.random() < 0.2:
            slug = rng.choice(WORDS)
            entities["urls"] = [{"start": len(text) + 1, "end": len(text) + 24, "url": "https://t.co/x1y2z3",
                                 "expanded_url": f"https://example.com/{slug}/{rng.randrange(10_000)}",
                                 "display_url": f"example.com/{slug}/…"}]
            text += " https://t.co/x1y2z3"
        return text, entities, mentioned

    def _tweet_object(self, rng: random.Random, tweet_id: int, author: dict, created: datetime,
                      text: str, entities: dict) -> dict:
        return {
            "id": str(tweet_id), "edit_history_tweet_ids": [str(tweet_id)], "text": text,
            "author_id": author["id"], "created_at": _iso(created), "lang": self.pick_lang(rng),
            "conversation_id": str(tweet_id), "reply_settings": "everyone", "possibly_sensitive": False,
            "source": rng.choice(SOURCES), "entities": entities,
            "public_metrics": {"retweet_count": int(rng.paretovariate(2)) - 1, "reply_count": 0,
                               "like_count": int(rng.paretovariate(1.5)) - 1, "quote_count": 0},
            "context_annotations": rng.sample(_CONTEXT, rng.randint(2, 9)),
        }

    def tweet(self, tweet_id: int, rng: random.Random, created: datetime,
              forced_tag: str | None = None) -> tuple[dict, dict]:
        """One tweet and its v2 ``includes`` (users, places, referenced tweets, media);
        the same rng state always gives the same tweet."""
        author = self.user(self.pick_user(rng))
        text, entities, mentioned = self._compose(rng, forced_tag)
        users = {author["id"]: author, **{u["id"]: u for u in mentioned}}
        includes: dict = {}
        kind = rng.random()
        referenced = None
        if kind < RETWEET_SHARE + QUOTE_SHARE:
            original_author = self.user(self.pick_user(rng))
            original_id = TWEET_ID_BASE - rng.randrange(1, 10 ** 12)
            original = self._tweet_object(rng, original_id, original_author,
                                          created - timedelta(minutes=rng.randrange(1, 600)), text, entities)
            users[original_author["id"]] = original_author
            includes["tweets"] = [original]
            if kind < RETWEET_SHARE:  # a retweet carries the original's text and entities
                prefix = f"RT @{original_author['username']}: "
                entities = _shifted(entities, len(prefix))
                entities.setdefault("mentions", []).insert(0, {
                    "start": 3, "end": 4 + len(original_author["username"]),
                    "username": original_author["username"], "id": original_author["id"]})
                text = prefix + text
                referenced = {"type": "retweeted", "id": str(original_id)}
            else:                     # a quote comments with its own words and links the original
                text, entities, more = self._compose(rng, forced_tag)
                users.update((u["id"], u) for u in more)
                referenced = {"type": "quoted", "id": str(original_id)}
        data = self._tweet_object(rng, tweet_id, author, created, text, entities)
        if referenced:
            data["referenced_tweets"] = [referenced]
        elif kind < RETWEET_SHARE + QUOTE_SHARE + REPLY_SHARE:
            replied_to = self.user(self.pick_user(rng))
            users[replied_to["id"]] = replied_to
            data["in_reply_to_user_id"] = replied_to["id"]
            data["referenced_tweets"] = [{"type": "replied_to", "id": str(TWEET_ID_BASE - rng.randrange(1, 10 ** 12))}]
        if rng.random() < MEDIA_SHARE:
            key = f"3_{TWEET_ID_BASE + rng.randrange(10 ** 15)}"
            data["attachments"] = {"media_keys": [key]}
            includes["media"] = [{"media_key": key, "type": "photo", "width": rng.choice((1200, 1536, 2048)),
                                  "height": rng.choice((675, 1152, 1536)),
                                  "url": f"https://pbs.twimg.com/media/{key[2:]}.jpg"}]
        if rng.random() < PLACE_SHARE:
            place = self.places[self.pick_place(rng)]
            data["geo"] = {"place_id": place["id"]}
            includes["places"] = [place]
        return data, {"users": list(users.values()), **includes}

    # Per-position fields of a stream message; the rest of it comes from a pre-rendered body.
    _PER_POSITION = ("id", "edit_history_tweet_ids", "conversation_id", "author_id", "created_at", "lang",
                     "public_metrics")

    def _body(self, index: int) -> tuple[bytes, bytes, frozenset]:
        """Body ``index``: the data fields after the per-position ones, the users it brings
        (mentioned, retweeted, replied to) and the rest of its includes, as JSON fragments."""
        body = self._bodies.get(index)
        if body is None:
            data, includes = self.tweet(TWEET_ID_BASE, random.Random(self.seed * 1_000_003 + index),
                                        self._bodies_created)
            body_author = data["author_id"]
            referenced = {m["id"] for m in data["entities"].get("mentions", ())} | {
                data.get("in_reply_to_user_id")} | {t["author_id"] for t in includes.get("tweets", ())}
            for key in self._PER_POSITION:
                data.pop(key, None)
            # the body's author is drawn per position instead, unless the body refers to it too
            others = [u for u in includes.pop("users") if u["id"] != body_author or u["id"] in referenced]
            rest = orjson.dumps(includes)[1:] if includes else b"}"   # b'"places":[...]}' or b"}"
            body = (orjson.dumps(data)[1:],
                    b"".join(b"," + orjson.dumps(user) for user in others) + (b"]," + rest if includes else b"]}"),
                    frozenset(user["id"].encode() for user in others))
            self._bodies[index] = body
        return body

    def prepare(self) -> None:
        """Render every body of the pool now. A launch's option check calls it, so a run's first
        second does not go to rendering them (about 0.2 s of launcher CPU, once per seed in a
        process; the run then reuses them, see _seed_tables)."""
        for index in range(BODY_POOL):
            self._body(index)

    def item(self, position: int, now: datetime | None = None) -> bytes:
        """The stream message at a position, as the filtered stream sends it."""
        return self._item(position, _iso_bytes(now or datetime.now(timezone.utc)))

    def _item(self, position: int, created_at: bytes) -> bytes:
        draw = _mix(self._seed_draw ^ position)
        data_rest, includes_rest, mentioned_ids = self._body(draw % BODY_POOL)
        author = self.pick_user.at(((draw >> 12) & 0xFFFFFFFFFF) / 2 ** 40)
        author_id = self._user_ids[author]
        tweet_id = b"%d" % stream_tweet_id(self.seed, position)
        if author_id in mentioned_ids:
            author_json = b""
            if includes_rest.startswith(b","):
                includes_rest = includes_rest[1:]
        else:
            author_json = self._user_json[author]
        # one join of the parts: a %-format of the whole message (and the users joined before it)
        # took a fifth longer (5.7-6.6 against 5.0-5.3 us an item, the same bytes)
        return b"".join((
            b'{"data":{"id":"', tweet_id, b'","edit_history_tweet_ids":["', tweet_id,
            b'"],"conversation_id":"', tweet_id, b'","author_id":"', author_id,
            b'","created_at":"', created_at,
            b'","lang":"', self._langs[(draw >> 52) & 0xFF],
            b'","public_metrics":', self._metrics_json[(draw >> 3) & 0x1FF], b",", data_rest,
            b',"includes":{"users":[', author_json, includes_rest,
            b',"matching_rules":', self._matching_rules, b"}"))

    def stream(self, track: list[str], start: int = 0) -> Iterator[bytes]:
        positions = range(start, MAX_POSITIONS if self.limit is None else min(self.limit, MAX_POSITIONS))
        created_at = b""
        for count, position in enumerate(paced(positions, self.rate, self._clock, self._sleep)):
            # formatting the clock per tweet cost a tenth of the launcher; even looking the
            # formatted moment up per tweet (_iso_bytes' cache) took 0.1 of an item's 2.4 us
            if count % 256 == 0:
                created_at = _iso_bytes(datetime.now(timezone.utc))
            yield self._item(position, created_at)

    def search(self, tag: str, limit: int) -> Iterator[dict]:
        """Recent search: ``limit`` tweets carrying #tag, spread over the last 7 days, newest first."""
        tag_key = sum(ord(c) * 31 ** i for i, c in enumerate(tag.casefold())) % 1_000_000
        now = datetime.now(timezone.utc).replace(microsecond=0)
        page_size = 100
        for page_start in range(0, limit, page_size):
            data, includes = [], {}
            for index in range(page_start, min(limit, page_start + page_size)):
                rng = random.Random((self.seed * 1_000_003 + tag_key) * 10_007 + index)
                created = now - timedelta(seconds=rng.randrange(7 * 24 * 3600))
                tweet_id = SEARCH_ID_BASE + tag_key * 100_000 + index
                tweet, tweet_includes = self.tweet(tweet_id, rng, created, forced_tag=tag)
                data.append(tweet)
                for kind, objects in tweet_includes.items():
                    key = "media_key" if kind == "media" else "id"
                    includes.setdefault(kind, {}).update((o[key], o) for o in objects)
            data.sort(key=lambda t: t["created_at"], reverse=True)
            page = {"data": data, "includes": {kind: list(objects.values()) for kind, objects in includes.items()},
                    "meta": {"result_count": len(data), "newest_id": data[0]["id"], "oldest_id": data[-1]["id"]}}
            if page_start + page_size < limit:
                page["meta"]["next_token"] = f"{tag}-{page_start + page_size}"
            yield page
