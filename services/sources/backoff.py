"""Retrying X API calls: which failures are worth another try, and how long to wait.

Kept apart from the request code (as twarc2 keeps ``@rate_limit`` and
``@catch_request_exceptions`` around plain request methods): a request method
only says *what* failed by raising :class:`Retryable`; :class:`RetryPolicy`
decides *when* to try again. :class:`WindowLimiter` keeps requests within a cap
per window (the X API's 100 rule changes and 50 stream connects per 15 minutes)
by waiting *before* a request, so that the cap is never reached at all.
"""
import collections
import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import requests
import tweepy

from services.sources.base import SourceError

log = logging.getLogger(__name__)


class Retryable(Exception):
    """A failure that may pass when tried again later.

    ``retry_at``: epoch seconds before which trying again is pointless (the
    ``x-rate-limit-reset`` of a 429). ``progressed``: the attempt got somewhere
    before failing (a stream delivered data), so the backoff starts over.
    """

    def __init__(self, reason: str, *, retry_at: Optional[float] = None, progressed: bool = False):
        super().__init__(reason)
        self.retry_at = retry_at
        self.progressed = progressed


class RetriesExhausted(SourceError):
    """Still failing after every retry the policy allows."""


def _never_stopped(seconds: float) -> bool:
    time.sleep(seconds)
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff: initial, initial*factor, ... up to ``cap`` seconds.

    A rate-limited failure waits at least until its reset time (capped at
    ``rate_limit_cap``: the X API windows are 15 minutes).
    """

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    max_retries: float = 5
    rate_limit_cap: float = 900.0
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def delay(self, failures: int) -> float:
        return min(self.cap, self.initial * self.factor ** max(0, failures - 1))

    def wait_after(self, error: Retryable, failures: int) -> float:
        wait = self.delay(failures)
        if error.retry_at is not None:
            wait = max(wait, min(self.rate_limit_cap, error.retry_at - self.clock()))
        return wait

    def call(self, fn: Callable, *args, wait: Callable[[float], bool] = _never_stopped, **kwargs):
        """Call ``fn`` until it returns, raises something not Retryable, or retries run out.

        ``wait(seconds)`` pauses between attempts and returns True when the caller
        was asked to stop meanwhile (``threading.Event.wait`` does exactly that);
        then ``call`` returns None without another attempt.
        """
        failures = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except Retryable as error:
                failures = 1 if error.progressed else failures + 1
                if failures > self.max_retries:
                    raise RetriesExhausted(f"{error}; gave up after {self.max_retries} retries") from error
                pause = self.wait_after(error, failures)
                log.warning("X API %s: %s; retrying in %.2f s (retry %d)",
                            getattr(fn, "__name__", "call").strip("_"), error, pause, failures)
                if wait(pause):
                    return None


class WindowLimiter:
    """At most ``limit`` requests in any ``window`` seconds; a request beyond that waits its turn.

    A sliding window: a request may go when fewer than ``limit`` went in the last ``window``
    seconds, which keeps within the X API's fixed 15-minute windows too, whenever they begin.
    Callers queue on a lock, so concurrent ones go one after the other and the limit holds for
    all of them together. ``name`` (the setting of the limit) and ``what`` appear in the log
    line that says a request waits. ``clock`` and ``wait`` (as in ``RetryPolicy.call``) are
    time.monotonic and a plain sleep unless a test gives its own.
    """

    def __init__(self, limit: int, window: float, *, name: str, clock: Callable[[], float] = time.monotonic,
                 wait: Callable[[float], bool] = _never_stopped):
        if limit < 1:
            raise ValueError(f"{name} must be at least 1, got {limit}")
        self.limit, self.window, self.name, self.clock, self.wait = limit, window, name, clock, wait
        self._sent: collections.deque[float] = collections.deque()
        self._turn = threading.Lock()    # callers wait their turn on it
        self._counts = threading.Lock()  # _sent, which wait_time() also reads from outside a turn

    def wait_time(self) -> float:
        """Seconds before the next request may go (0: now)."""
        with self._counts:
            now = self.clock()
            while self._sent and now - self._sent[0] >= self.window:
                self._sent.popleft()
            return 0.0 if len(self._sent) < self.limit else self._sent[0] + self.window - now

    def acquire(self, what: str, wait: Optional[Callable[[float], bool]] = None) -> bool:
        """Wait until a request may go, and count it as gone. ``wait`` (else the limiter's own) as
        in ``RetryPolicy.call``: False when it returned True (asked to stop) meanwhile, and then
        nothing is counted."""
        wait = wait or self.wait
        with self._turn:
            pause = self.wait_time()
            if pause > 0:
                log.info("X API %s waits %.0f s: %d requests in the last %.0f s is the limit (%s)",
                         what, pause, self.limit, self.window, self.name)
            while pause > 0:
                if wait(pause):
                    return False
                pause = self.wait_time()
            with self._counts:
                self._sent.append(self.clock())
            return True


def with_retries(method):
    """Retry a method of an object that carries a ``retry_policy`` (a RetryPolicy)."""
    @functools.wraps(method)
    def retried(self, *args, **kwargs):
        return self.retry_policy.call(method, self, *args, **kwargs)
    return retried


def within_limit(limiter_attribute: str, what: str):
    """Wait for the turn of a request (``what``, for the log) under the object's WindowLimiter
    ``limiter_attribute`` before each call of a method; under ``with_retries`` each attempt is a
    request, and counts."""
    def decorate(method):
        @functools.wraps(method)
        def limited(self, *args, **kwargs):
            getattr(self, limiter_attribute).acquire(what)
            return method(self, *args, **kwargs)
        return limited
    return decorate


def transient_http_errors(fn):
    """Turn the failures of one tweepy/requests call that may pass by themselves into Retryable:
    rate limits (429, with their reset time), server errors (5xx), network errors."""
    @functools.wraps(fn)
    def classified(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except tweepy.TooManyRequests as exc:
            raise Retryable("rate limit reached (HTTP 429)", retry_at=exc.reset_time) from exc
        except tweepy.TwitterServerError as exc:
            raise Retryable(f"server error (HTTP {exc.response.status_code})") from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Retryable(f"cannot reach the API ({type(exc).__name__})") from exc
    return classified


def rate_limit_reset(headers) -> Optional[float]:
    """The epoch second an ``x-rate-limit-reset`` header names, None when absent or garbled."""
    value = headers.get("x-rate-limit-reset")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
