"""Turn raw X API v2 documents into plain records.

One parser for every source: filtered-stream messages, search pages and twarc2
"flattened" tweets all come through ``parse_documents``. A document that cannot
be read is counted as bad and skipped; it never raises.
"""
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Iterator

import orjson


@dataclass(slots=True)
class Tweet:
    id: int
    text: str
    created_at: datetime
    lang: str
    author_id: int
    hashtags: tuple[str, ...]          # as written, without '#'
    mentions: tuple[str, ...]          # usernames, without '@'
    urls: tuple[str, ...]              # expanded URLs
    place_id: str | None


@dataclass(slots=True)
class User:
    id: int
    username: str
    name: str
    followers: int


@dataclass(slots=True)
class Place:
    id: str
    country_code: str | None
    full_name: str | None


class Users(Mapping):
    """The users of a batch by id, each read from its raw object only when asked for.

    Most users a stream message brings (people mentioned or retweeted, authors of tweets
    that do not match) are never stored; reading them all was a fifth of the filter's time.
    The latest sighting of an id wins; an object that cannot be read is as good as absent.
    """

    __slots__ = ("_raw", "_read")

    def __init__(self):
        self._raw: dict[int, dict] = {}
        self._read: dict[int, User | None] = {}

    def add_raw(self, obj) -> None:
        try:
            user_id = int(obj["id"])
        except (KeyError, TypeError, ValueError):
            return
        self._raw[user_id] = obj
        self._read.pop(user_id, None)

    def __getitem__(self, user_id: int) -> User:
        user = self._read.get(user_id, False)
        if user is False:
            try:
                user = _user(self._raw[user_id])
            except KeyError:
                if user_id not in self._raw:
                    raise
                user = None
            except (TypeError, ValueError, AttributeError):
                user = None
            self._read[user_id] = user
        if user is None:
            raise KeyError(user_id)
        return user

    def __iter__(self) -> Iterator[int]:
        return (user_id for user_id in list(self._raw) if user_id in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(slots=True)
class ParsedBatch:
    tweets: list[Tweet] = field(default_factory=list)
    users: Users = field(default_factory=Users)
    places: dict[str, Place] = field(default_factory=dict)
    bad: int = 0

    @property
    def received(self) -> int:
        """Every item the source produced: tweets read plus items that could not be read."""
        return len(self.tweets) + self.bad


@functools.lru_cache(maxsize=4096)   # tweets of the same second share the value
def parse_created_at(value: str) -> datetime:
    # fromisoformat handles "...000Z" since Python 3.11
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _tweet(obj: dict) -> Tweet:
    entities = obj.get("entities") or {}
    geo = obj.get("geo") or {}
    return Tweet(
        id=int(obj["id"]),
        text=obj["text"],
        created_at=parse_created_at(obj["created_at"]),
        lang=obj.get("lang") or "und",
        author_id=int(obj["author_id"]),
        hashtags=tuple(h["tag"] for h in entities.get("hashtags") or () if h.get("tag")),
        mentions=tuple(m["username"] for m in entities.get("mentions") or () if m.get("username")),
        urls=tuple(u.get("expanded_url") or u.get("url") or "" for u in entities.get("urls") or ()),
        place_id=geo.get("place_id"),
    )


def _user(obj: dict) -> User:
    metrics = obj.get("public_metrics") or {}
    return User(
        id=int(obj["id"]),
        username=obj["username"],
        name=obj.get("name") or "",
        followers=int(metrics.get("followers_count") or 0),
    )


def _place(obj: dict) -> Place:
    return Place(id=obj["id"], country_code=obj.get("country_code"), full_name=obj.get("full_name"))


def _add_includes(includes: dict, into: ParsedBatch) -> None:
    for obj in includes.get("users") or ():
        into.users.add_raw(obj)  # an unreadable author only matters if a tweet needs it
    for obj in includes.get("places") or ():
        try:
            place = _place(obj)
        except (KeyError, TypeError):
            continue
        into.places[place.id] = place


def _add_tweet(obj, into: ParsedBatch) -> None:
    try:
        tweet = _tweet(obj)
    except (KeyError, TypeError, ValueError, AttributeError):
        into.bad += 1
        return
    into.tweets.append(tweet)


def _add_flattened(doc: dict, into: ParsedBatch) -> None:
    """twarc2 flatten inlines the author (and the place, into ``geo``)."""
    author = doc.get("author")
    if isinstance(author, dict):
        into.users.add_raw(author)
    geo = doc.get("geo") or {}
    if isinstance(geo, dict) and geo.get("place_id") and "country_code" in geo:
        into.places[geo["place_id"]] = Place(geo["place_id"], geo.get("country_code"), geo.get("full_name"))
    _add_tweet(doc, into)


def add_document(doc, into: ParsedBatch) -> None:
    if not isinstance(doc, dict):
        into.bad += 1
        return
    data = doc.get("data")
    if isinstance(data, dict):                      # filtered-stream message
        _add_includes(doc.get("includes") or {}, into)
        _add_tweet(data, into)
    elif isinstance(data, list):                    # search page
        _add_includes(doc.get("includes") or {}, into)
        for obj in data:
            _add_tweet(obj, into)
    elif "id" in doc and "text" in doc:             # flattened tweet
        _add_flattened(doc, into)
    else:                                           # error-only message, or something else
        into.bad += 1


def parse_documents(lines: Iterable[bytes | str | dict], into: ParsedBatch | None = None) -> ParsedBatch:
    """Read raw lines, or documents already decoded."""
    batch = into if into is not None else ParsedBatch()
    for line in lines:
        if isinstance(line, dict):
            add_document(line, batch)
            continue
        if not line or line.isspace():
            continue  # keep-alive newline
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            batch.bad += 1
            continue
        add_document(doc, batch)
    return batch
