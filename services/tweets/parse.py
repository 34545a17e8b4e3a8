"""Turn raw X API v2 documents into plain records.

One parser for every source: filtered-stream messages, search pages and twarc2
"flattened" tweets all come through ``parse_documents``. A document that cannot
be read is counted as bad and skipped; it never raises.

A raw line is first read as a filtered-stream message, decoding only the fields used here
(msgspec, typed): that skips most of a 4 KB message (5 us against 14 us for orjson reading it
all). A line that is anything else, or has a field of an unexpected type, is read again by the
general reader, which decides what it is: both readings give the same records.
"""
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator

import msgspec
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
    """The users of a batch by id. What a reader found (a raw object from the general reader, a
    typed record from the stream-message reader) is made into a User only when asked for.

    Most users a stream message brings (people mentioned or retweeted, authors of tweets
    that do not match) are never stored; reading them all was a fifth of the filter's time.
    The latest sighting of an id wins; an object that cannot be read is as good as absent.
    """

    __slots__ = ("_entries",)

    def __init__(self):
        # by id: what was found (not read yet), the User read from it, or None (unreadable)
        self._entries: dict[int, "dict | _StreamUser | User | None"] = {}

    def add_raw(self, obj) -> None:
        try:
            user_id = int(obj["id"])
        except (KeyError, TypeError, ValueError):
            return
        self._entries[user_id] = obj

    def add_found(self, user_id: int, found: "_StreamUser") -> None:
        self._entries[user_id] = found

    def __getitem__(self, user_id: int) -> User:
        entry = self._entries[user_id]
        if type(entry) is User:
            return entry
        if entry is not None:
            try:
                entry = entry.to_user() if type(entry) is _StreamUser else _user(entry)
            except (KeyError, TypeError, ValueError, AttributeError):
                entry = None
            self._entries[user_id] = entry
        if entry is None:
            raise KeyError(user_id)
        return entry

    def __iter__(self) -> Iterator[int]:
        return (user_id for user_id in list(self._entries) if user_id in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


# Whether a tweet is wanted, asked of its (text, hashtags, mentions, urls) before it is made
# into a Tweet: a run's track terms (TrackMatcher.matches_parts).
Wanted = Callable[[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], bool]


@dataclass(slots=True)
class ParsedBatch:
    tweets: list[Tweet] = field(default_factory=list)
    users: Users = field(default_factory=Users)
    places: dict[str, Place] = field(default_factory=dict)
    bad: int = 0
    unwanted: int = 0   # tweets read whole and valid, left out by ``wanted``

    @property
    def received(self) -> int:
        """Every item the source produced: tweets read (wanted or not) plus items that could not be read."""
        return len(self.tweets) + self.unwanted + self.bad


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


def _objects(container, key: str) -> list:
    """``container[key]`` when it is a list, else nothing: an odd ``includes`` is as good as none."""
    found = container.get(key) if isinstance(container, dict) else None
    return found if isinstance(found, list) else []


def _add_includes(includes, into: ParsedBatch) -> None:
    for obj in _objects(includes, "users"):
        into.users.add_raw(obj)  # an unreadable author only matters if a tweet needs it
    for obj in _objects(includes, "places"):
        try:
            place = _place(obj)
        except (KeyError, TypeError):
            continue
        into.places[place.id] = place


def _add_tweet(obj, into: ParsedBatch, wanted: Wanted | None = None) -> bool:
    """Add a tweet, or count it bad or unwanted; True when it was left out as unwanted."""
    try:
        tweet = _tweet(obj)
    except (KeyError, TypeError, ValueError, AttributeError):
        into.bad += 1
        return False
    if wanted is None or wanted(tweet.text, tweet.hashtags, tweet.mentions, tweet.urls):
        into.tweets.append(tweet)
        return False
    into.unwanted += 1
    return True


def _add_flattened(doc: dict, into: ParsedBatch, wanted: Wanted | None) -> None:
    """twarc2 flatten inlines the author (and the place, into ``geo``)."""
    author = doc.get("author")
    if isinstance(author, dict):
        into.users.add_raw(author)
    geo = doc.get("geo") or {}
    if isinstance(geo, dict) and geo.get("place_id") and "country_code" in geo:
        into.places[geo["place_id"]] = Place(geo["place_id"], geo.get("country_code"), geo.get("full_name"))
    _add_tweet(doc, into, wanted)


def add_document(doc, into: ParsedBatch, wanted: Wanted | None = None) -> None:
    if not isinstance(doc, dict):
        into.bad += 1
        return
    data = doc.get("data")
    if isinstance(data, dict):                      # filtered-stream message
        if not _add_tweet(data, into, wanted):      # the users and places of one left out are never used
            _add_includes(doc.get("includes"), into)
    elif isinstance(data, list):                    # search page
        _add_includes(doc.get("includes"), into)
        for obj in data:
            _add_tweet(obj, into, wanted)
    elif "id" in doc and "text" in doc:             # flattened tweet
        _add_flattened(doc, into, wanted)
    else:                                           # error-only message, or something else
        into.bad += 1


# -- the fast reading of a filtered-stream message: only the fields used above -------------------

class _Hashtag(msgspec.Struct):
    tag: str | None = None


class _Mention(msgspec.Struct):
    username: str | None = None


class _Url(msgspec.Struct):
    url: str | None = None
    expanded_url: str | None = None


class _Entities(msgspec.Struct):
    hashtags: list[_Hashtag] | None = None
    mentions: list[_Mention] | None = None
    urls: list[_Url] | None = None


class _Geo(msgspec.Struct):
    place_id: str | None = None


class _StreamTweet(msgspec.Struct):
    id: str
    text: str
    created_at: str
    author_id: str
    lang: str | None = None
    entities: _Entities | None = None
    geo: _Geo | None = None


class _Metrics(msgspec.Struct):
    followers_count: int | None = None


class _StreamUser(msgspec.Struct):
    id: str
    username: str
    name: str | None = None
    public_metrics: _Metrics | None = None

    def to_user(self) -> User:
        return User(id=int(self.id), username=self.username, name=self.name or "",
                    followers=(self.public_metrics and self.public_metrics.followers_count) or 0)


class _StreamPlace(msgspec.Struct):
    id: str
    country_code: str | None = None
    full_name: str | None = None


class _Includes(msgspec.Struct):
    users: list[_StreamUser] | None = None
    places: list[_StreamPlace] | None = None


class _StreamMessage(msgspec.Struct):
    data: _StreamTweet
    # read with the rest, even for a tweet that is not wanted: leaving its 2 KB unread (msgspec.Raw)
    # saved 0.9 of 5.0 us a message, and reading it apart later cost 2.9 us
    includes: _Includes | None = None


_read_stream_message = msgspec.json.Decoder(_StreamMessage).decode


def _add_stream_message(line: bytes | memoryview | str, into: ParsedBatch, wanted: Wanted | None) -> None:
    """Add a stream message's tweet, its users (read into Users when needed) and its places,
    as ``add_document`` would; raises, having added nothing, for anything else (then the
    general reader decides)."""
    message = _read_stream_message(line)
    data = message.data
    entities = data.entities
    hashtags = mentions = urls = ()
    if entities is not None:
        # tuple of a list: a quarter faster than of a generator
        if entities.hashtags:
            hashtags = tuple([h.tag for h in entities.hashtags if h.tag])
        if entities.mentions:
            mentions = tuple([m.username for m in entities.mentions if m.username])
        if entities.urls:
            urls = tuple([u.expanded_url or u.url or "" for u in entities.urls])
    # read before asking ``wanted``: a tweet the general reader finds bad is bad either way
    tweet_id, author_id, created_at = int(data.id), int(data.author_id), parse_created_at(data.created_at)
    if wanted is not None and not wanted(data.text, hashtags, mentions, urls):
        into.unwanted += 1
        return
    includes = message.includes
    if includes is not None:
        # made into Users only for the authors that are stored (see Users)
        users = [(int(u.id), u) for u in includes.users or ()]
        places = [Place(p.id, p.country_code, p.full_name) for p in includes.places or ()]
        for user_id, found in users:
            into.users.add_found(user_id, found)
        for place in places:
            into.places[place.id] = place
    into.tweets.append(Tweet(id=tweet_id, text=data.text, created_at=created_at, lang=data.lang or "und",
                             author_id=author_id, hashtags=hashtags, mentions=mentions, urls=urls,
                             place_id=data.geo.place_id if data.geo is not None else None))


def parse_documents(lines: Iterable[bytes | memoryview | str | dict], into: ParsedBatch | None = None,
                    wanted: Wanted | None = None) -> ParsedBatch:
    """Read raw lines (bytes, views of bytes, or text), or documents already decoded. With
    ``wanted``, only the tweets it wants are kept (with their users and places); the others
    are counted."""
    batch = into if into is not None else ParsedBatch()
    for line in lines:
        if isinstance(line, dict):
            add_document(line, batch, wanted)
            continue
        try:
            _add_stream_message(line, batch, wanted)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError, TypeError):
            pass   # not a stream message as the API sends it: read it whole
        else:
            continue
        if isinstance(line, memoryview):   # a line of a batch message (services.wire)
            line = line.tobytes()
        if not line or line.isspace():
            continue  # keep-alive newline
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            batch.bad += 1
            continue
        add_document(doc, batch, wanted)
    return batch
