"""A built-in stand-in for the X API v2: realistic payloads, deterministic for a seed.

Hashtags and words follow Zipf's law (the ten populate tags among the hashtags),
follower counts a power law, languages and countries a realistic mix. Item n of a
seed is always the same tweet, so a run can be repeated exactly and resumed from
any position by another launcher.
"""
import bisect
import functools
import itertools
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Iterator

import orjson

from services.sources.base import TweetSource, paced

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
TWEET_ID_BASE = 1_500_000_000_000_000_000
SEARCH_ID_BASE = 1_400_000_000_000_000_000

_CONTEXT = [{"domain": {"id": "46", "name": "Business Taxonomy",
                        "description": "Categories within Brand Verticals that narrow down the scope of Brands"},
             "entity": {"id": "1557696940178935808", "name": "Gaming Business",
                        "description": "Brands, companies, advertisers and every non-person handle with the profit intent related to softwares, apps, video games"}},
            {"domain": {"id": "131", "name": "Unified Twitter Taxonomy",
                        "description": "A taxonomy view into the Semantic Core knowledge graph"},
             "entity": {"id": "847544972781826048", "name": "Technology",
                        "description": "All about technology"}}]


def _zipf_cumulative(n: int, s: float = 1.1) -> list[float]:
    weights = [1 / (rank ** s) for rank in range(1, n + 1)]
    return list(itertools.accumulate(weights))


class _Pick:
    """Draws from a fixed list with cumulative weights (bisect: O(log n) per draw)."""

    def __init__(self, items, cumulative):
        self.items, self.cumulative, self.total = list(items), cumulative, cumulative[-1]

    def __call__(self, rng: random.Random):
        return self.items[bisect.bisect(self.cumulative, rng.random() * self.total)]


@functools.lru_cache(maxsize=4096)
def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SyntheticSource(TweetSource):
    name = "synthetic"
    deterministic = True

    def __init__(self, seed: int = 1, rate: float = 50.0, limit: int | None = None,
                 users: int = 20_000, run_id: int | None = None, clock=time.monotonic, sleep=time.sleep):
        self.seed = int(seed)
        self.rate = float(rate)
        self.limit = limit
        self.run_id = run_id
        self._clock, self._sleep = clock, sleep
        rng = random.Random(self.seed)
        tags = list(POPULATE_TAGS) + list(EXTRA_TAGS)
        rng.shuffle(tags)  # the populate tags land at various Zipf ranks
        self.pick_tag = _Pick(tags, _zipf_cumulative(len(tags)))
        self.pick_word = _Pick(WORDS, _zipf_cumulative(len(WORDS), 0.9))
        self.pick_lang = _Pick([l for l, _ in LANGS], list(itertools.accumulate(w for _, w in LANGS)))
        self.users = [self._make_user(rng, i) for i in range(users)]
        self.pick_user = _Pick(range(users), _zipf_cumulative(users, 0.8))
        self.places = [{"id": f"{0x5a1e000 + i:016x}", "full_name": full, "country": country,
                        "country_code": code, "name": full.split(",")[0], "place_type": "city"}
                       for i, (code, country, full) in enumerate(PLACES)]
        self.pick_place = _Pick(range(len(PLACES)), _zipf_cumulative(len(PLACES), 0.7))

    @classmethod
    def from_config(cls, config: dict, seed=None, rate=None, limit=None, run_id=None, **_ignored):
        return cls(
            seed=seed if seed is not None else int(config.get("SYNTHETIC_SEED", 1)),
            rate=rate if rate is not None else float(config.get("SYNTHETIC_RATE", 50)),
            limit=limit, run_id=run_id,
        )

    def _make_user(self, rng: random.Random, index: int) -> dict:
        name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}{index}"
        # Pareto tail: most accounts have a few hundred followers, a handful millions
        followers = int(min(rng.paretovariate(1.16) * 40, 150_000_000))
        return {
            "id": str(10_000_000 + self.seed * 1_000_000_000 + index), "username": name[:15] + str(index)[-3:],
            "name": name.replace("_", " ").title(),
            "public_metrics": {"followers_count": followers, "following_count": int(rng.paretovariate(1.5) * 50),
                               "tweet_count": int(rng.paretovariate(1.2) * 300), "listed_count": followers // 900},
            "created_at": "2015-06-01T12:00:00.000Z", "verified": followers > 1_000_000,
            "description": " ".join(rng.choice(WORDS) for _ in range(12)),
            "profile_image_url": f"https://pbs.twimg.com/profile_images/{index}/avatar_normal.jpg",
        }

    def tweet(self, tweet_id: int, rng: random.Random, created: datetime, forced_tag: str | None = None):
        """One tweet with its author and place; the same rng state always gives the same tweet."""
        author = self.users[self.pick_user(rng)]
        words = [self.pick_word(rng) for _ in range(rng.randint(6, 22))]
        tags = {self.pick_tag(rng) for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 3)))}
        if forced_tag:
            tags.add(forced_tag)
        mentioned = [self.users[self.pick_user(rng)] for _ in range(rng.choice((0, 0, 0, 1, 2)))]
        text = " ".join(words)
        entities: dict = {}
        if mentioned:
            prefix = " ".join("@" + u["username"] for u in mentioned) + " "
            entities["mentions"] = [{"start": 0, "end": 0, "username": u["username"], "id": u["id"]}
                                    for u in mentioned]
            text = prefix + text
        if tags:
            entities["hashtags"] = []
            for tag in sorted(tags):
                start = len(text) + 1
                text += f" #{tag}"
                entities["hashtags"].append({"start": start, "end": start + len(tag) + 1, "tag": tag})
        if rng.random() < 0.2:
            slug = rng.choice(WORDS)
            entities["urls"] = [{"start": len(text) + 1, "end": len(text) + 24, "url": "https://t.co/x1y2z3",
                                 "expanded_url": f"https://example.com/{slug}/{tweet_id % 10_000}",
                                 "display_url": f"example.com/{slug}/…"}]
            text += " https://t.co/x1y2z3"
        data = {
            "id": str(tweet_id), "text": text, "author_id": author["id"], "created_at": _iso(created),
            "lang": self.pick_lang(rng), "conversation_id": str(tweet_id), "reply_settings": "everyone",
            "possibly_sensitive": False, "source": "Twitter for iPhone", "entities": entities,
            "public_metrics": {"retweet_count": int(rng.paretovariate(2)) - 1, "reply_count": 0,
                               "like_count": int(rng.paretovariate(1.5)) - 1, "quote_count": 0},
            "context_annotations": _CONTEXT,
        }
        place = None
        if rng.random() < PLACE_SHARE:
            place = self.places[self.pick_place(rng)]
            data["geo"] = {"place_id": place["id"]}
        return data, [author, *mentioned], place

    def item(self, position: int, now: datetime | None = None) -> bytes:
        """The stream message at a position, as the filtered stream sends it."""
        rng = random.Random(self.seed * 1_000_003 + position)
        data, users, place = self.tweet(TWEET_ID_BASE + self.seed * 10_000_000_000 + position, rng,
                                        now or datetime.now(timezone.utc))
        message = {"data": data, "includes": {"users": users},
                   "matching_rules": [{"id": str(1_700_000_000_000_000_000 + (self.run_id or 0)),
                                       "tag": f"tweetstream-run-{self.run_id or 0}"}]}
        if place:
            message["includes"]["places"] = [place]
        return orjson.dumps(message)

    def stream(self, track: list[str], start: int = 0) -> Iterator[bytes]:
        positions = itertools.count(start) if self.limit is None else range(start, self.limit)
        now = datetime.now(timezone.utc)
        for count, position in enumerate(paced(positions, self.rate, self._clock, self._sleep)):
            if count % 256 == 0:  # formatting the clock per tweet cost a tenth of the launcher
                now = datetime.now(timezone.utc)
            yield self.item(position, now)

    def search(self, tag: str, limit: int) -> Iterator[dict]:
        """Recent search: ``limit`` tweets carrying #tag, spread over the last 7 days, newest first."""
        tag_key = sum(ord(c) * 31 ** i for i, c in enumerate(tag.casefold())) % 1_000_000
        now = datetime.now(timezone.utc).replace(microsecond=0)
        page_size = 100
        for page_start in range(0, limit, page_size):
            data, users, places = [], {}, {}
            for index in range(page_start, min(limit, page_start + page_size)):
                rng = random.Random((self.seed * 1_000_003 + tag_key) * 10_007 + index)
                created = now - timedelta(seconds=rng.randrange(7 * 24 * 3600))
                tweet_id = SEARCH_ID_BASE + tag_key * 100_000 + index
                tweet, tweet_users, place = self.tweet(tweet_id, rng, created, forced_tag=tag)
                data.append(tweet)
                users.update((u["id"], u) for u in tweet_users)
                if place:
                    places[place["id"]] = place
            data.sort(key=lambda t: t["created_at"], reverse=True)
            page = {"data": data, "includes": {"users": list(users.values()), "places": list(places.values())},
                    "meta": {"result_count": len(data), "newest_id": data[0]["id"], "oldest_id": data[-1]["id"]}}
            if page_start + page_size < limit:
                page["meta"]["next_token"] = f"{tag}-{page_start + page_size}"
            yield page
