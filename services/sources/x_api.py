"""The production tweet source: the real X API v2 through tweepy.

``search`` pages ``GET /2/tweets/search/recent`` with ``tweepy.Paginator``; ``stream`` adds the
run's filtered-stream rules and takes its share of the process's one connection to
``GET /2/tweets/search/stream`` (``services.sources.x_stream.StreamHub``: the API allows one
connection per app). That connection is a ``tweepy.StreamingClient`` on a thread of its own; each
line, as the bytes the API sent, goes to the run(s) its ``matching_rules`` name, through a queue
per run. Under ``nameko run`` everything is eventlet-patched, so those threads and queues are green.

A new rule applies within about 20 s after it is added: the first seconds of a run may miss posts.

Retrying and the per-window request caps (rule changes, connects) live in
``services.sources.backoff``; this module only says what failed.
"""
import functools
import logging
import math
import re
import threading
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
    WindowLimiter,
    rate_limit_reset,
    transient_http_errors,
    with_retries,
    within_limit,
)
from services.sources.base import SourceError, TweetSource
from services.sources.x_stream import RULE_TAG_PREFIX, PREVIOUS_CONNECTION_GRACE, StreamHub, Subscription
from services.settings import setting

log = logging.getLogger(__name__)

TOKEN_MISSING = "X_BEARER_TOKEN is not set: the production flavor needs an X API bearer token"
TWEEPY_API_HOST = "https://api.twitter.com"  # tweepy hardcodes it
RATE_WINDOW = 900.0  # seconds: the X API counts requests per 15-minute window

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
        self._last_response: Optional[requests.Response] = None
        # on_request_error only gets the status; the reset time and the problem are in the response
        self.session.hooks["response"].append(self._remember_response)

    def _remember_response(self, response, *args, **kwargs):
        self._last_response = response

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

    def _problem(self) -> dict:
        try:
            problem = self._last_response.json()
        except (AttributeError, ValueError, requests.RequestException):
            return {}
        return problem if isinstance(problem, dict) else {}

    def on_request_error(self, status_code: int) -> None:
        if status_code == 429 and self._problem().get("connection_issue") == "TooManyConnections":
            # another connection of the app is open (the last one, not yet closed at the API's end):
            # it goes away by itself, so this is no rate limit to wait out
            self._end(Retryable("another stream connection of this app is open (HTTP 429 TooManyConnections)"))
        elif status_code == 429:
            headers = self._last_response.headers if self._last_response is not None else {}
            self._end(Retryable("stream rate limit reached (HTTP 429)", retry_at=rate_limit_reset(headers)))
        elif status_code >= 500:
            self._end(Retryable(f"stream server error (HTTP {status_code})"))
        else:
            detail = "; the bearer token was rejected" if status_code == 401 else ""
            self._end(SourceError(f"X API refused the stream: HTTP {status_code}{detail}"))

    def on_exception(self, exception: Exception) -> None:
        log.warning("X API stream failed: %s", type(exception).__name__, exc_info=exception)
        self._end(Retryable(f"stream failed ({type(exception).__name__})"))


class FilteredStream:
    """The running filtered stream: a connection thread handing each line to ``on_line``.

    It connects when ``connects`` lets it (``X_CONNECTS_PER_WINDOW``), reconnects by ``policy``
    for as long as it is wanted, and reports a failure it does not retry to ``on_end(self, error)``.
    """

    def __init__(self, connection: StreamConnection, policy: RetryPolicy, connects: WindowLimiter,
                 on_end, params: dict):
        self.connection = connection
        self._policy = policy
        self._connects = connects
        self._on_end = on_end
        self._params = params
        self._stopped = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def start(self, after: Optional[threading.Thread] = None) -> None:
        """Connect on a thread of its own, once the thread ``after`` (the last connection's) ended:
        the API refuses a second connection of the app."""
        self.thread = threading.Thread(target=self._pump, args=(after,), name="x-filtered-stream", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self.connection.stop()

    def _connect_once(self) -> None:
        if self._connects.acquire("stream connect", wait=self._stopped.wait):
            self.connection.connect_once(**self._params)

    def _pump(self, after: Optional[threading.Thread]) -> None:
        error: Optional[SourceError] = None
        try:
            if after is not None:
                after.join(PREVIOUS_CONNECTION_GRACE)
            while not self._stopped.is_set():
                self._policy.call(self._connect_once, wait=self._stopped.wait)
        except SourceError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - never let the runs wait forever on a dead thread
            log.exception("X API stream thread failed")
            error = SourceError(f"X API stream failed ({type(exc).__name__})")
        if error is not None and not self._stopped.is_set():
            self._on_end(self, error)


class StreamRules:
    """The app's filtered-stream rules (``/2/tweets/search/stream/rules``).

    Each request is retried by ``retry_policy``; each change (a POST) first waits for its turn
    under ``rule_changes`` (``X_RULE_CHANGES_PER_WINDOW``).
    """

    def __init__(self, client: StreamConnection, retry_policy: RetryPolicy, rule_changes: WindowLimiter):
        self.client, self.retry_policy, self.rule_changes = client, retry_policy, rule_changes

    @_explained("reading stream rules")
    @with_retries
    @transient_http_errors
    def current(self) -> list[dict]:
        return self.client.get_rules().json().get("data") or []

    @_explained("deleting stream rules")
    @with_retries
    @within_limit("rule_changes", "stream rule change")
    @transient_http_errors
    def delete(self, ids: list[str]) -> None:
        answer = self.client.delete_rules(ids).json()
        if answer.get("errors"):  # someone else deleted them meanwhile: nothing left to do
            log.warning("X API did not delete every stream rule asked: %s", answer["errors"])

    @_explained("adding stream rules")
    @with_retries
    @within_limit("rule_changes", "stream rule change")
    @transient_http_errors
    def add(self, rules: list[tweepy.StreamRule]) -> tuple[list[dict], list[dict]]:
        """The rules created, and the API's errors for those it refused."""
        answer = self.client.add_rules(rules).json()
        return answer.get("data") or [], answer.get("errors") or []


# one hub per app (bearer token) and API host in the process
_HUBS: dict[tuple[str, str], StreamHub] = {}
_HUBS_LOCK = threading.Lock()


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
                 retry_policy: RetryPolicy, rule_changes_per_window: int, connects_per_window: int,
                 queue_size: int = 10_000):
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
        self.rule_changes_per_window = rule_changes_per_window
        self.connects_per_window = connects_per_window
        self.queue_size = queue_size
        self._subscriptions: list[Subscription] = []

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
            rule_changes_per_window=_setting(config, "X_RULE_CHANGES_PER_WINDOW", int),
            connects_per_window=_setting(config, "X_CONNECTS_PER_WINDOW", int),
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

    def hub(self) -> StreamHub:
        """The process's one filtered stream of this app, made by the first source that needs it
        (its retry settings and limits then hold for every run of the process)."""
        key = (self._bearer_token, self.base_url)
        with _HUBS_LOCK:
            if key not in _HUBS:
                _HUBS[key] = self._new_hub()
            return _HUBS[key]

    def _new_hub(self) -> StreamHub:
        rule_changes = WindowLimiter(self.rule_changes_per_window, RATE_WINDOW, name="X_RULE_CHANGES_PER_WINDOW")
        connects = WindowLimiter(self.connects_per_window, RATE_WINDOW, name="X_CONNECTS_PER_WINDOW")
        rules = StreamRules(self._stream_connection(on_line=None), self.retry_policy, rule_changes)
        # the stream reconnects for as long as it is wanted
        stream_policy = replace(self.retry_policy, max_retries=math.inf)

        def make_stream(on_line, on_end) -> FilteredStream:
            return FilteredStream(self._stream_connection(on_line), stream_policy, connects, on_end, REQUESTED_FIELDS)

        return StreamHub(rules, make_stream, rule_changes=rule_changes)

    def stream(self, track: list[str], start: int = 0) -> Iterator[bytes]:
        """Add this run's rules for ``track``, then yield the lines of the shared stream they match.

        ``start`` only numbers the items: a live stream cannot be rewound.
        """
        tag = rule_tag(self.run_id)
        rules = build_stream_rules(track, tag=tag, max_len=self.rule_max_len, max_rules=self.max_rules)
        subscription = self.hub().subscribe(tag, rules, max_rules=self.max_rules, queue_size=self.queue_size)
        self._subscriptions.append(subscription)
        return subscription.lines()

    # health and shutdown

    @_explained("check")
    def check(self) -> None:
        self._stream_connection(on_line=None, timeout=self.check_timeout).get_rules()

    def close(self) -> None:
        """End this source's streams and delete their rules (the connection closes with the last run)."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for release in [subscription.hub.unsubscribe(subscription) for subscription in subscriptions]:
            release.join()
