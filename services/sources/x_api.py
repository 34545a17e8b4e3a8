"""The production tweet source: the real X API v2 through tweepy.

``search`` pages ``GET /2/tweets/search/recent`` with ``tweepy.Paginator``;
``stream`` replaces our filtered-stream rules and reads ``GET /2/tweets/search/stream``
with a ``tweepy.StreamingClient`` on a thread of its own, handing each line, as
the bytes the API sent, to the consuming generator through a queue. Under
``nameko run`` everything is eventlet-patched, so that thread and queue are green.

Retrying lives in ``services.sources.backoff``; this module only says what failed.
"""
import functools
import logging
import math
import queue
import re
import threading
import weakref
from dataclasses import replace
from typing import Iterator, Optional

import requests
import tweepy
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

from services.sources.backoff import (
    RetriesExhausted,
    Retryable,
    RetryPolicy,
    rate_limit_reset,
    transient_http_errors,
    with_retries,
)
from services.sources.base import SourceError, TweetSource
from services.settings import setting

log = logging.getLogger(__name__)

TOKEN_MISSING = "X_BEARER_TOKEN is not set: the production flavor needs an X API bearer token"
RULE_TAG_PREFIX = "tweetstream-"
TWEEPY_API_HOST = "https://api.twitter.com"  # tweepy hardcodes it

# What search and stream ask for: enough to fill tweets, users, hashtags and places.
REQUESTED_FIELDS = dict(
    expansions=["author_id", "geo.place_id", "entities.mentions.username"],
    tweet_fields=["created_at", "lang", "entities", "geo", "public_metrics", "author_id"],
    user_fields=["username", "name", "public_metrics"],
    place_fields=["country_code", "full_name", "country"],
)


# --- secrets stay out of logs -------------------------------------------------

class RedactBearerTokens(logging.Filter):
    """tweepy logs its request headers at DEBUG, Authorization included: blank the token out."""

    _BEARER = re.compile(r"(Bearer\s+)[^\s'\",}]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._BEARER.sub(r"\1<redacted>", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def _redact_tweepy_logs() -> None:
    # A logger's filters only see records logged on that very logger, so each tweepy module gets one.
    for name in ("tweepy.client", "tweepy.streaming"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactBearerTokens) for f in logger.filters):
            logger.addFilter(RedactBearerTokens())


_redact_tweepy_logs()


# --- where requests go --------------------------------------------------------

class ApiHostAdapter(HTTPAdapter):
    """Transport for ``https://api.twitter.com`` on one tweepy session.

    Sends to ``base_url`` instead when one is set (a local fake API in tests), and
    gives requests that carry no timeout (tweepy's REST calls) ``default_timeout``.
    """

    def __init__(self, base_url: str = "", default_timeout: float = 10.0):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.default_timeout = default_timeout

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        if self.base_url and request.url.startswith(TWEEPY_API_HOST):
            request.url = self.base_url + request.url[len(TWEEPY_API_HOST):]
            # the session chose proxies for api.twitter.com; choose again for where we really go
            proxies = get_environ_proxies(request.url)
        if timeout is None:
            timeout = self.default_timeout
        return super().send(request, stream=stream, timeout=timeout, verify=verify,
                            cert=cert, proxies=proxies)

    def mount_on(self, session: requests.Session) -> None:
        session.mount(TWEEPY_API_HOST + "/", self)


# --- stream rules -------------------------------------------------------------

_PLAIN_WORD = re.compile(r"[#@]?\w+")


def _keyword(word: str) -> str:
    # Lower case: X matches keywords case-insensitively, and "or" is then never the OR operator.
    word = word.lower()
    if _PLAIN_WORD.fullmatch(word):
        return word
    # Punctuation could read as an operator (-, :, parentheses); a quoted word is matched literally.
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def phrase_clause(phrase: str) -> str:
    """Track semantics are "every word of the phrase": X ANDs space-separated keywords."""
    words = [_keyword(word) for word in phrase.split()]
    return words[0] if len(words) == 1 else "(" + " ".join(words) + ")"


def rule_tag(run_id: Optional[int]) -> str:
    return f"{RULE_TAG_PREFIX}run-{run_id if run_id is not None else 'adhoc'}"


def build_stream_rules(track: list[str], *, tag: str, max_len: int, max_rules: int) -> list[tweepy.StreamRule]:
    """OR the phrases together, as many per rule as fit in ``max_len`` characters."""
    clauses = list(dict.fromkeys(phrase_clause(p) for p in track if p.split()))
    if not clauses:
        raise SourceError("no track terms to build X stream rules from")
    values: list[str] = []
    current = ""
    for clause in clauses:
        if len(clause) > max_len:
            raise SourceError(f"track term {clause!r} is longer than an X stream rule may be ({max_len} characters)")
        joined = f"{current} OR {clause}" if current else clause
        if len(joined) <= max_len:
            current = joined
        else:
            values.append(current)
            current = clause
    values.append(current)
    if len(values) > max_rules:
        raise SourceError(
            f"the {len(clauses)} track terms do not fit in X stream rules: they need {len(values)} rules "
            f"of at most {max_len} characters and only {max_rules} are allowed (X_MAX_RULES)")
    return [tweepy.StreamRule(value=value, tag=tag) for value in values]


# --- errors users can read ----------------------------------------------------

def _explained(what: str):
    """Turn what is left of a failed X API call into a SourceError naming the call and the HTTP status."""
    def decorate(fn):
        @functools.wraps(fn)
        def explained(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except tweepy.HTTPException as exc:
                status = exc.response.status_code
                detail = "; the bearer token was rejected" if status == 401 else ""
                raise SourceError(f"X API {what} failed: HTTP {status} {exc.response.reason}{detail}") from exc
            except (Retryable, RetriesExhausted) as exc:
                raise SourceError(f"X API {what} failed: {exc}") from exc
            except requests.RequestException as exc:
                raise SourceError(f"X API {what} failed: cannot reach the API ({type(exc).__name__})") from exc
        return explained
    return decorate


# --- the filtered stream ------------------------------------------------------

class StreamConnection(tweepy.StreamingClient):
    """A StreamingClient that hands raw lines to ``on_line`` and ends at the first failure.

    tweepy would retry on its own with fixed waits (60 s after a 429, reset header
    ignored); instead every connection attempt ends here and says why, as the
    exception ``connect_once`` raises, so that a RetryPolicy decides the waits.
    """

    def __init__(self, bearer_token: str, on_line, **kwargs):
        super().__init__(bearer_token, return_type=requests.Response, wait_on_rate_limit=False, **kwargs)
        self._on_line = on_line
        self._stop_requested = False
        self._ending: Optional[Exception] = None
        self._lines_this_connection = 0
        self._last_headers: dict = {}
        # on_request_error only gets the status; the reset time is in the headers
        self.session.hooks["response"].append(self._remember_headers)

    def _remember_headers(self, response, *args, **kwargs):
        self._last_headers = response.headers

    def connect_once(self, **params) -> None:
        """One connection: returns once stop() was called, raises how it ended otherwise."""
        if self._stop_requested:
            return
        self._ending = None
        self._lines_this_connection = 0
        self.filter(**params)
        if self._ending is not None and not self._stop_requested:  # after stop() nothing is a failure
            raise self._ending

    def stop(self) -> None:
        """End the connection for good, from any thread; tweepy notices at the next line or keep-alive."""
        self._stop_requested = True
        self.disconnect()

    def on_connect(self) -> None:
        # filter() sets running=True itself, which would undo a stop() that came just before it
        if self._stop_requested:
            self.disconnect()

    def on_keep_alive(self) -> None:
        if self._stop_requested:
            self.disconnect()

    def _end(self, error: Exception) -> None:
        self._ending = error
        self.disconnect()

    def on_data(self, raw_data: bytes) -> None:
        if self._stop_requested:
            self.disconnect()
            return
        self._lines_this_connection += 1
        self._on_line(raw_data)

    def on_closed(self, response) -> None:
        self._end(Retryable("the API closed the stream", progressed=self._lines_this_connection > 0))

    def on_connection_error(self) -> None:
        self._end(Retryable("stream connection lost", progressed=self._lines_this_connection > 0))

    def on_request_error(self, status_code: int) -> None:
        if status_code == 429:
            self._end(Retryable("stream rate limit reached (HTTP 429)",
                                retry_at=rate_limit_reset(self._last_headers)))
        elif status_code >= 500:
            self._end(Retryable(f"stream server error (HTTP {status_code})"))
        else:
            detail = "; the bearer token was rejected" if status_code == 401 else ""
            self._end(SourceError(f"X API refused the stream: HTTP {status_code}{detail}"))

    def on_exception(self, exception: Exception) -> None:
        log.warning("X API stream failed: %s", type(exception).__name__, exc_info=exception)
        self._end(Retryable(f"stream failed ({type(exception).__name__})"))


class FilteredStream:
    """One running filtered stream: a connection thread feeding lines to the consumer's generator."""

    _END = object()

    def __init__(self, make_connection, policy: RetryPolicy, queue_size: int):
        self._stopped = threading.Event()
        self._lines: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: Optional[SourceError] = None
        self._policy = policy
        self.connection: StreamConnection = make_connection(self._enqueue)
        self.thread: Optional[threading.Thread] = None

    def lines(self, **params) -> Iterator[bytes]:
        self.thread = threading.Thread(target=self._pump, kwargs=params, name="x-filtered-stream", daemon=True)
        self.thread.start()
        try:
            while not self._stopped.is_set():
                line = self._lines.get()
                if line is self._END:
                    break
                yield line
            if self._error is not None:
                raise self._error
        finally:
            self.stop()

    def stop(self) -> None:
        self._stopped.set()
        self.connection.stop()
        try:  # wake the consumer if it waits on an empty queue
            self._lines.put_nowait(self._END)
        except queue.Full:
            pass  # it is not waiting, and it checks _stopped before the next get

    def _enqueue(self, line: bytes) -> None:
        # Blocking when the consumer lags pushes back on the socket, as the API expects,
        # but never past stop(): nobody would ever take the line.
        while not self._stopped.is_set():
            try:
                self._lines.put(line, timeout=0.5)
                return
            except queue.Full:
                continue

    def _pump(self, **params) -> None:
        try:
            while not self._stopped.is_set():
                self._policy.call(self.connection.connect_once, wait=self._stopped.wait, **params)
        except SourceError as exc:
            self._error = exc
        except Exception as exc:  # never let the consumer wait forever on a dead thread
            log.exception("X API stream thread failed")
            self._error = SourceError(f"X API stream failed ({type(exc).__name__})")
        finally:
            self._enqueue(self._END)


# --- the source ---------------------------------------------------------------

def _setting(config: dict, key: str, convert):
    value = setting(config, key)
    if value is None:
        return convert()
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise SourceError(f"{key} must be a {convert.__name__}, got {value!r}") from None


def configured_token(config: dict) -> str:
    """X_BEARER_TOKEN; empty when there is none."""
    return str(setting(config, "X_BEARER_TOKEN") or "").strip()


class XApiSource(TweetSource):
    """Tweets from the X API v2: filtered stream for runs, recent search for populate."""

    name = "x"
    deterministic = False

    def __init__(self, bearer_token: str, *, run_id: Optional[int] = None, base_url: str,
                 rule_max_len: int, max_rules: int, http_timeout: float, check_timeout: float,
                 retry_policy: RetryPolicy, queue_size: int = 10_000):
        """Built by ``from_config``, which reads each setting's one default from config.yml."""
        if not bearer_token:
            raise SourceError(TOKEN_MISSING)
        self._bearer_token = bearer_token
        self.run_id = run_id
        self.base_url = base_url
        self.rule_max_len = rule_max_len
        self.max_rules = max_rules
        self.http_timeout = http_timeout
        self.check_timeout = check_timeout
        self.retry_policy = retry_policy
        self.queue_size = queue_size
        self._streams: "weakref.WeakSet[FilteredStream]" = weakref.WeakSet()

    @classmethod
    def from_config(cls, config: dict, *, run_id: Optional[int] = None, **_other_sources_options) -> "XApiSource":
        token = configured_token(config)
        if not token:
            raise SourceError(TOKEN_MISSING)
        return cls(
            token,
            run_id=run_id,
            base_url=_setting(config, "X_API_BASE_URL", str),
            rule_max_len=_setting(config, "X_RULE_MAX_LEN", int),
            max_rules=_setting(config, "X_MAX_RULES", int),
            http_timeout=_setting(config, "X_HTTP_TIMEOUT", float),
            check_timeout=_setting(config, "X_CHECK_TIMEOUT", float),
            retry_policy=RetryPolicy(
                initial=_setting(config, "X_RETRY_INITIAL", float),
                cap=_setting(config, "X_RETRY_MAX_WAIT", float),
                max_retries=_setting(config, "X_MAX_RETRIES", int),
            ),
        )

    def __repr__(self) -> str:
        return f"XApiSource(base_url={self.base_url or TWEEPY_API_HOST!r}, run_id={self.run_id!r})"

    # tweepy clients, pointed at our transport

    def _client(self) -> tweepy.Client:
        client = tweepy.Client(self._bearer_token, return_type=requests.Response, wait_on_rate_limit=False)
        ApiHostAdapter(self.base_url, self.http_timeout).mount_on(client.session)
        return client

    def _stream_connection(self, on_line, timeout: Optional[float] = None) -> StreamConnection:
        connection = StreamConnection(self._bearer_token, on_line)
        ApiHostAdapter(self.base_url, timeout or self.http_timeout).mount_on(connection.session)
        return connection

    # search

    def search(self, tag: str, limit: int) -> Iterator[dict]:
        if limit <= 0:
            return
        pages = iter(tweepy.Paginator(
            self._client().search_recent_tweets,
            query=f"#{tag.lstrip('#')} -is:retweet",
            max_results=min(100, max(10, limit)),
            **REQUESTED_FIELDS,
        ))
        remaining = limit
        while remaining > 0:
            response = self._next_page(pages)
            if response is None:
                return
            page = response.json()
            tweets = page.get("data") or []
            if not tweets:
                return
            if len(tweets) > remaining:
                page["data"] = tweets = tweets[:remaining]
                page.setdefault("meta", {})["result_count"] = remaining
            remaining -= len(tweets)
            yield page

    @_explained("search")
    @with_retries
    @transient_http_errors
    def _next_page(self, pages) -> Optional[requests.Response]:
        # a failed next() leaves the Paginator's next_token alone, so retrying asks for the same page
        return next(pages, None)

    # stream

    def stream(self, track: list[str], start: int = 0) -> Iterator[bytes]:
        """Replace our rules with ones for ``track``, then yield the stream's lines.

        ``start`` only numbers the items: a live stream cannot be rewound.
        """
        rules = build_stream_rules(track, tag=rule_tag(self.run_id),
                                   max_len=self.rule_max_len, max_rules=self.max_rules)
        # the stream reconnects for as long as it is wanted
        stream_policy = replace(self.retry_policy, max_retries=math.inf)
        stream = FilteredStream(self._stream_connection, stream_policy, self.queue_size)
        self._replace_rules(stream.connection, rules)
        self._streams.add(stream)
        return stream.lines(**REQUESTED_FIELDS)

    def _replace_rules(self, connection: StreamConnection, rules: list[tweepy.StreamRule]) -> None:
        """Delete our earlier rules (any run's), keep everybody else's, add this run's."""
        ours = [rule["id"] for rule in self._current_rules(connection)
                if (rule.get("tag") or "").startswith(RULE_TAG_PREFIX)]
        if ours:
            self._delete_rules(connection, ours)
        self._add_rules(connection, rules)

    @_explained("reading stream rules")
    @with_retries
    @transient_http_errors
    def _current_rules(self, connection: StreamConnection) -> list[dict]:
        return connection.get_rules().json().get("data") or []

    @_explained("deleting stream rules")
    @with_retries
    @transient_http_errors
    def _delete_rules(self, connection: StreamConnection, ids: list[str]) -> None:
        answer = connection.delete_rules(ids).json()
        if answer.get("errors"):  # someone else deleted them meanwhile: nothing left to do
            log.warning("X API did not delete every old stream rule: %s", answer["errors"])

    @_explained("adding stream rules")
    @with_retries
    @transient_http_errors
    def _add_rules(self, connection: StreamConnection, rules: list[tweepy.StreamRule]) -> None:
        answer = connection.add_rules(rules).json()
        if answer.get("errors"):
            problems = "; ".join(f"{e.get('title', 'error')}: {e.get('value', '')}" for e in answer["errors"])
            raise SourceError(f"X API refused the stream rules: {problems}")

    # health and shutdown

    @_explained("check")
    def check(self) -> None:
        self._stream_connection(on_line=None, timeout=self.check_timeout).get_rules()

    def close(self) -> None:
        for stream in list(self._streams):
            stream.stop()
