"""Turn raw X API v2 documents into plain records.

One parser for every source: filtered-stream messages, search pages and twarc2
"flattened" tweets all come through ``parse_documents``. A document that cannot
be read is counted as bad and skipped; it never raises.

A raw line is first read as a filtered-stream message, decoding only the fields used here
(msgspec, typed): that skips most of a 4 KB message (5 us against 14 us for orjson reading it
all). A line that is anything else, has a field of an unexpected type, or a value that is not
plain (see below), is read again by the general reader, which decides what it is: both readings
give the same records.

Validation happens here, item by item, so that one bad value never fails the batch it is
stored with: every record this module gives can be written by services.storage.ingest (JSON
made by orjson, read by PostgreSQL into bigint, text, timestamptz and jsonb columns). An item
that cannot be stored is counted bad with a short reason (``ParsedBatch.bad_reasons``); a user
or place that cannot be stored is unreadable, as good as absent (a tweet keeps it as a
reference only). The rules:

- ids (tweet ``id``, ``author_id``, user ``id``) are bigints: 0 < n <= 2**63-1, else "id out of
  range" / "author_id out of range". They are read with ``int()``, as the general reader always
  did: a string of digits, an integer, a float or a boolean (the float truncated); anything else
  is "bad id". orjson reads an integer past 64 bits as a float: its int is out of range too.
- a follower count is 0 <= n <= 2**63-1, read the same way; otherwise the user is unreadable.
  A negative count has no clear meaning (0 would be a guess that the newest sighting then
  writes over a true count), so it is not normalised.
- PostgreSQL text and jsonb cannot hold NUL: NULs are dropped from every string that is stored
  (text, lang, hashtags, username, name, place id, country code, full name); the rest of
  the string means what it meant. A hashtag or lang that is empty once NULs are dropped is
  absent ("und" for lang).
- a string that is not valid UTF-8 (a lone surrogate) cannot be written by orjson. msgspec and
  orjson refuse a raw line holding one (as an escape, or as bytes that are not UTF-8): it is
  read again by the stdlib reader, which keeps it, so that only the item holding it is lost;
  a document already decoded (``response.json()``) may hold one too. The item is bad,
  "invalid UTF-8" (a user or place, unreadable): what the surrogate stood for is lost, so
  dropping it would change the text's meaning.
- strings that are keys of btree indexes (at most about 2,700 bytes an entry) are bounded:
  a hashtag (tweet_tags, tag_counts; case-folding can triple its bytes), username and place id
  at 500 bytes of UTF-8, lang at 35 characters (what RFC 5646 asks a language tag field to
  hold), country code at 8. A tweet is bad ("hashtag too long", "lang too long", "place_id too long");
  a user or place unreadable. Tweet text, user name and place full name are not indexed: no bound.
- ``created_at`` is ISO 8601, naive read as UTC, kept in UTC; unparseable is "bad created_at".
  timestamptz holds any year Python does, but a moment within a day of year 1 or 9999 cannot be
  read back into a Python datetime in every session time zone: "created_at out of range".
- a field of the wrong type (text not a string, hashtags not a list of objects, ...) makes the
  tweet bad ("bad text", "bad hashtags"); a missing one "missing field text". Mentions and urls
  are not stored but go to ``wanted``: they must be strings (valid UTF-8, NULs kept).
- nesting deeper than orjson's limit (1024), or a number past a double's range (orjson refuses
  both): the line is read again part by part (a message's tweet, each tweet, user and place of
  a page, a flattened tweet's author), so that only the part nested too deep is lost, "too
  deeply nested"; a number past a double's range is read as infinity, which no rule accepts.
- a line that is not JSON is "not JSON"; a document with no tweet "not a tweet" (an
  error-only message "API error").
"""
import functools
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator

import msgspec
import orjson

BIGINT_MAX = 2**63 - 1
KEY_BYTES = 500            # hashtag, username, place id
_KEY_CHARS_SURE = KEY_BYTES // 4   # this many characters fit in KEY_BYTES whatever they are
LANG_CHARS = 35
COUNTRY_CHARS = 8
# a day inside Python's range, so that any session time zone reads the stored moment back
_EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)
_LATEST = datetime(9999, 12, 30, tzinfo=timezone.utc)


class _Bad(ValueError):
    """An item that cannot be stored; its message is the reason counted."""


class _Unreadable:
    """A part of a raw line that could not be decoded, standing where it was (see _reread)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


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
        except (KeyError, TypeError, ValueError, OverflowError):
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
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
                entry = None   # wrong, missing or out of bounds (see the module's rules)
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
    bad: int = 0        # always sum(bad_reasons.values())
    unwanted: int = 0   # tweets read whole and valid, left out by ``wanted``
    bad_reasons: Counter = field(default_factory=Counter)   # reason -> items counted bad for it

    def add_bad(self, reason: str) -> None:
        self.bad += 1
        self.bad_reasons[reason] += 1

    @property
    def received(self) -> int:
        """Every item the source produced: tweets read (wanted or not) plus items that could not be read."""
        return len(self.tweets) + self.unwanted + self.bad


@functools.lru_cache(maxsize=4096)   # tweets of the same second share the value
def parse_created_at(value: str) -> datetime:
    """The moment, in UTC; ValueError or TypeError when it is not one, _Bad when out of range."""
    # fromisoformat handles "...000Z" since Python 3.11 (giving timezone.utc itself)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    elif moment.tzinfo is not timezone.utc:
        try:
            moment = moment.astimezone(timezone.utc)
        except OverflowError:
            raise _Bad("created_at out of range") from None
    if not _EARLIEST <= moment <= _LATEST:
        raise _Bad("created_at out of range")
    return moment


def _created_at(value) -> datetime:
    try:
        return parse_created_at(value)
    except _Bad:
        raise
    except (ValueError, TypeError, OverflowError):   # TypeError: not a string, or unhashable for the cache
        raise _Bad("bad created_at") from None


def _id(value, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise _Bad(f"bad {name}") from None
    if not 0 < number <= BIGINT_MAX:
        raise _Bad(f"{name} out of range")
    return number


def _utf8(value, name: str) -> str:
    """A string that orjson can write."""
    if not isinstance(value, str):
        raise _Bad(f"bad {name}")
    if not value.isascii():   # O(1); only text that is not ASCII can hold a surrogate
        try:
            value.encode()
        except UnicodeEncodeError:
            raise _Bad("invalid UTF-8") from None
    return value


def _string(value, name: str) -> str:
    """A string that can be stored: valid UTF-8, its NULs dropped."""
    value = _utf8(value, name)
    return value.replace("\x00", "") if "\x00" in value else value


def _key(value, name: str) -> str:
    """A string that is (part of) an index key: bounded in UTF-8 bytes."""
    value = _string(value, name)
    if len(value) > _KEY_CHARS_SURE and len(value.encode()) > KEY_BYTES:
        raise _Bad(f"{name} too long")
    return value


def _required(obj: dict, key: str):
    try:
        return obj[key]
    except KeyError:
        raise _Bad(f"missing field {key}") from None


def _object(obj: dict, key: str) -> dict:
    found = obj.get(key) or {}
    if not isinstance(found, dict):
        raise _Bad(f"bad {key}")
    return found


def _list(obj: dict, key: str) -> list:
    found = obj.get(key) or ()
    if not isinstance(found, (list, tuple)):
        raise _Bad(f"bad {key}")
    return found


def _entity(entity, key: str, name: str):
    """``entity[key]`` of one of a tweet's entities (a hashtag, a mention, a url)."""
    if not isinstance(entity, dict):
        raise _Bad(f"bad {name}")
    return entity.get(key)


def _lang(value) -> str:
    lang = _string(value or "und", "lang")
    if len(lang) > LANG_CHARS:
        raise _Bad("lang too long")
    return lang or "und"


def _tweet(obj) -> Tweet:
    if type(obj) is _Unreadable:
        raise _Bad(obj.reason)
    if not isinstance(obj, dict):
        raise _Bad("not a tweet")
    tweet_id = _id(_required(obj, "id"), "id")
    text = _string(_required(obj, "text"), "text")
    created_at = _created_at(_required(obj, "created_at"))
    author_id = _id(_required(obj, "author_id"), "author_id")
    lang = _lang(obj.get("lang"))
    entities = _object(obj, "entities")
    hashtags = []
    for h in _list(entities, "hashtags"):
        tag = _entity(h, "tag", "hashtags")
        if tag and (tag := _key(tag, "hashtag")):   # a tag of NULs only is no tag
            hashtags.append(tag)
    # mentions and urls are not stored: strings for ``wanted``, as read (NULs kept), valid UTF-8
    mentions = []
    for m in _list(entities, "mentions"):
        username = _entity(m, "username", "mentions")
        if username:
            mentions.append(_utf8(username, "mentions"))
    urls = [_utf8(_entity(u, "expanded_url", "urls") or u.get("url") or "", "urls")
            for u in _list(entities, "urls")]
    place_id = _object(obj, "geo").get("place_id")
    return Tweet(
        id=tweet_id, text=text, created_at=created_at, lang=lang, author_id=author_id,
        hashtags=tuple(hashtags), mentions=tuple(mentions), urls=tuple(urls),
        place_id=None if place_id is None else _key(place_id, "place_id"),
    )


def _make_user(user_id, username, name, followers) -> User:
    """Raises ValueError (or TypeError) for a user that cannot be stored."""
    followers = int(followers)
    if not 0 <= followers <= BIGINT_MAX:
        raise _Bad("followers out of range")
    return User(id=_id(user_id, "id"), username=_key(username, "username"), name=_string(name, "name"),
                followers=followers)


def _user(obj: dict) -> User:
    metrics = obj.get("public_metrics") or {}
    return _make_user(obj["id"], obj["username"], obj.get("name") or "", metrics.get("followers_count") or 0)


def _make_place(place_id, country_code, full_name) -> Place:
    """Raises ValueError for a place that cannot be stored."""
    if country_code is not None:
        country_code = _string(country_code, "country_code")
        if len(country_code) > COUNTRY_CHARS:
            raise _Bad("country_code too long")
    return Place(id=_key(place_id, "place_id"), country_code=country_code,
                 full_name=None if full_name is None else _string(full_name, "full_name"))


def _place(obj: dict) -> Place:
    return _make_place(obj["id"], obj.get("country_code"), obj.get("full_name"))


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
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        into.places[place.id] = place


def _add_tweet(obj, into: ParsedBatch, wanted: Wanted | None = None) -> bool:
    """Add a tweet, or count it bad or unwanted; True when it was left out as unwanted."""
    try:
        tweet = _tweet(obj)
    except _Bad as bad:
        into.add_bad(str(bad))
        return False
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):   # none known: a safety net
        into.add_bad("unreadable tweet")
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
        try:
            place = _make_place(geo["place_id"], geo.get("country_code"), geo.get("full_name"))
        except (TypeError, ValueError):
            pass   # the tweet is still read: its geo decides whether it is bad
        else:
            into.places[place.id] = place
    _add_tweet(doc, into, wanted)


def add_document(doc, into: ParsedBatch, wanted: Wanted | None = None) -> None:
    if not isinstance(doc, dict):
        into.add_bad(doc.reason if type(doc) is _Unreadable else "not a tweet")
        return
    data = doc.get("data")
    if isinstance(data, dict) or type(data) is _Unreadable:   # filtered-stream message
        if not _add_tweet(data, into, wanted):      # the users and places of one left out are never used
            _add_includes(doc.get("includes"), into)
    elif isinstance(data, list):                    # search page
        _add_includes(doc.get("includes"), into)
        for obj in data:
            _add_tweet(obj, into, wanted)
    elif "id" in doc and "text" in doc:             # flattened tweet
        _add_flattened(doc, into, wanted)
    else:                                           # error-only message, or something else
        into.add_bad("API error" if "errors" in doc else "not a tweet")


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
        username, name = self.username, self.name or ""
        followers = (self.public_metrics and self.public_metrics.followers_count) or 0
        user_id = int(self.id)
        # msgspec gave valid UTF-8: a plain user needs no more than this; the others, the rules
        if 0 < user_id <= BIGINT_MAX and 0 <= followers <= BIGINT_MAX and len(username) <= _KEY_CHARS_SURE \
                and "\x00" not in username and "\x00" not in name:
            return User(id=user_id, username=username, name=name, followers=followers)
        return _make_user(user_id, username, name, followers)


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


class _NotPlain(ValueError):
    """A stream message with a value the general reader must decide about."""


def _add_stream_message(line: bytes | memoryview | str, into: ParsedBatch, wanted: Wanted | None) -> None:
    """Add a stream message's tweet, its users (read into Users when needed) and its places,
    as ``add_document`` would; raises, having added nothing, for anything else (then the
    general reader decides). Only plain values pass here: an id out of range, a NUL, a key that
    may be too long, all go to the general reader, which alone applies the rules."""
    message = _read_stream_message(line)
    data = message.data
    entities = data.entities
    hashtags = mentions = urls = ()
    if entities is not None:
        # tuple of a list: a quarter faster than of a generator
        if entities.hashtags:
            hashtags = tuple([h.tag for h in entities.hashtags if h.tag])
            for tag in hashtags:
                if len(tag) > _KEY_CHARS_SURE or "\x00" in tag:
                    raise _NotPlain
        if entities.mentions:
            mentions = tuple([m.username for m in entities.mentions if m.username])
        if entities.urls:
            urls = tuple([u.expanded_url or u.url or "" for u in entities.urls])
    # read before asking ``wanted``: a tweet the general reader finds bad is bad either way
    tweet_id, author_id, created_at = int(data.id), int(data.author_id), parse_created_at(data.created_at)
    text, lang = data.text, data.lang or "und"
    place_id = data.geo.place_id if data.geo is not None else None
    # msgspec gives valid UTF-8 strings; NULs, lengths and ranges are checked here
    if not (0 < tweet_id <= BIGINT_MAX and 0 < author_id <= BIGINT_MAX) or "\x00" in text \
            or len(lang) > LANG_CHARS or "\x00" in lang \
            or (place_id is not None and (len(place_id) > _KEY_CHARS_SURE or "\x00" in place_id)):
        raise _NotPlain
    if wanted is not None and not wanted(text, hashtags, mentions, urls):
        into.unwanted += 1
        return
    includes = message.includes
    if includes is not None:
        # made into Users only for the authors that are stored (see Users)
        users = [(int(u.id), u) for u in includes.users or ()]
        places = []
        for p in includes.places or ():
            place_key, country, full_name = p.id, p.country_code, p.full_name
            if len(place_key) <= _KEY_CHARS_SURE and "\x00" not in place_key \
                    and (country is None or (len(country) <= COUNTRY_CHARS and "\x00" not in country)) \
                    and (full_name is None or "\x00" not in full_name):
                places.append(Place(place_key, country, full_name))   # plain: a quarter of _make_place's cost
                continue
            try:
                places.append(_make_place(place_key, country, full_name))
            except _Bad:
                pass   # unreadable, as the general reader finds it
        for user_id, found in users:
            into.users.add_found(user_id, found)
        for place in places:
            into.places[place.id] = place
    into.tweets.append(Tweet(id=tweet_id, text=text, created_at=created_at, lang=lang,
                             author_id=author_id, hashtags=hashtags, mentions=mentions, urls=urls,
                             place_id=place_id))


# -- reading again what orjson refused for its depth or its encoding ----------------------------

# a JSON string (escapes included) or a structural character: enough to find where a value ends
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]', re.S)


def _members(raw: bytes) -> list[tuple[bytes | None, bytes]]:
    """The members of the JSON object or array ``raw`` (stripped), as raw text: (key or None,
    value). Found without decoding, so without a depth limit; ValueError when it does not close."""
    members, key, start, depth = [], None, 1, 0
    for token in _JSON_TOKEN.finditer(raw):
        first = raw[token.start()]
        if first == 0x22:                 # a string: its brackets and commas are text
            continue
        if first == 0x5B or first == 0x7B:   # [ {
            depth += 1
        elif first == 0x5D or first == 0x7D:   # ] }
            depth -= 1
            if depth == 0:
                value = raw[start:token.start()].strip()
                if value or key is not None:
                    members.append((key, value))
                if raw[token.end():].strip():
                    break
                return members
        elif depth == 1:
            if first == 0x3A:             # :
                key, start = raw[start:token.start()].strip(), token.end()
            else:                         # ,
                members.append((key, raw[start:token.start()].strip()))
                key, start = None, token.end()
    raise ValueError("not a JSON container")


def _decode_problem(error: orjson.JSONDecodeError) -> str:
    message = str(error)
    if "depth" in message or "recursion" in message:
        return "too deeply nested"
    if "UTF-8" in message or "surrogate" in message:
        return "invalid UTF-8"
    if "infinity" in message:   # JSON sets numbers no bound; orjson refuses one past a double's
        return "number out of range"
    return "not JSON"


_LENIENT = ("invalid UTF-8", "number out of range")   # what the stdlib reader reads


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _load_lenient(raw: bytes):
    """Like orjson.loads, but a string that is not valid UTF-8 is read, with lone surrogates
    in it, and a number past a double's range as infinity (the rules then make the item that
    holds either bad): stdlib json, only on this rare path."""
    return json.loads(raw.decode("utf-8", "surrogateescape"), parse_constant=_reject_constant)


def _load_part(raw: bytes):
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        problem = _decode_problem(error)
    if problem in _LENIENT:
        try:
            return _load_lenient(raw)
        except (ValueError, RecursionError):
            pass
    return _Unreadable(problem)


def _reread(line: bytes, error: orjson.JSONDecodeError):
    """The document of a line orjson refused, with what could not be read in it replaced by an
    _Unreadable; or an _Unreadable for the whole line."""
    problem = _decode_problem(error)
    if problem == "not JSON":
        return _Unreadable(problem)
    if problem in _LENIENT:
        try:
            return _load_lenient(line)
        except (ValueError, RecursionError):
            pass   # nested too deep as well, or not JSON where it is not UTF-8: read its parts
    try:
        raw = line.strip()
        if not raw.startswith(b"{"):
            return _Unreadable(problem)
        doc = {}
        for key, value in _members(raw):
            name = orjson.loads(key) if key is not None else None
            if not isinstance(name, str):
                return _Unreadable(problem)
            if name == "data" and value.startswith(b"["):          # a page: each tweet on its own
                doc[name] = [_load_part(part) for _, part in _members(value)]
            elif name == "includes" and value.startswith(b"{"):    # each user and place on its own
                doc[name] = {orjson.loads(k): [_load_part(part) for _, part in _members(v)]
                             if v.startswith(b"[") else _load_part(v) for k, v in _members(value)}
            else:
                doc[name] = _load_part(value)
    except (ValueError, TypeError):   # orjson.JSONDecodeError is a ValueError
        return _Unreadable(problem)
    if "data" not in doc:
        # a flattened tweet: its author is a part of its own, as in a page; any other part
        # unreadable makes the tweet unreadable, as a tweet of a page is read whole
        author = doc.get("author")
        for key, value in doc.items():
            if type(value) is _Unreadable and key != "author":
                return {"data": value, "includes": {"users": [author] if isinstance(author, dict) else []}}
    return doc


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
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError, TypeError, OverflowError, RecursionError):
            # not a stream message as the API sends it, or not plain (UnicodeError is a
            # ValueError; RecursionError: msgspec skips an unknown field by recursion): read it whole
            pass
        else:
            continue
        if isinstance(line, memoryview):   # a line of a batch message (services.contracts.wire)
            line = line.tobytes()
        if not line or line.isspace():
            continue  # keep-alive newline
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            doc = _reread(line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass"), error)
        add_document(doc, batch, wanted)
    return batch
