"""One X filtered-stream connection for every X run of the process.

The X API v2 (pay-per-use since February 2026) allows ONE filtered-stream connection per app,
at most 1,000 rules of at most 1,024 characters (``X_MAX_RULES``, ``X_RULE_MAX_LEN``), and per
15 minutes 100 rule changes and 50 connects (``X_RULE_CHANGES_PER_WINDOW``,
``X_CONNECTS_PER_WINDOW``; a change is one request to the rules endpoint, which may add or delete
many rules). A post comes once however many rules it matches, and names them in its
``matching_rules`` (``[{"id", "tag"}]``).

:class:`StreamHub` holds that one connection (a ``FilteredStream`` of ``x_api``) for the process
while at least one run streams, and closes it when the last run stops:

- Each run owns the rules tagged ``tweetstream-run-<id>`` (``rule_tag``). Launching a run adds
  only its rules; stopping it (``source.close()``, or its generator closed) deletes only its rules.
  The X API refuses a second rule of the same value, so a run whose rule has the value of a rule
  already there (another run's, or another program's) shares that rule instead of adding one:
  the hub routes by rule id as well as by tag, and deletes a rule of ours once no run of the
  hub needs it (never a rule without our prefix).
- Each line goes to the run(s) whose tag, or a rule they share, is in its ``matching_rules``;
  a line matching two runs goes to both. The filter then applies each run's own track terms,
  so a run never counts a post it would not match. A line matching no active run is dropped
  (counted at DEBUG). A line without ``matching_rules`` (an error message of the API, a line
  that cannot be read) goes to every run, as each run's own connection passed it on before.
- ``X_MAX_RULES`` is the app-wide limit: a run whose new rules would take the rules of ours
  over it fails, naming the limit and how many are in use.
- When the hub starts the connection, rules of ours that no run of this hub streams (a crash
  left them) are deleted; a rule of the run being launched that it still wants is kept instead.
  Rules without our prefix are never touched.
- Rule changes and connects wait for their turn (``backoff.WindowLimiter``) rather than exceed
  the limits; a launch that waits says so in a log line.

A new rule applies within about 20 s after it is added: the first seconds of a run may miss
posts. Several launcher processes holding X runs of the same app cannot share one connection:
the API refuses every connection but one (HTTP 429 ``TooManyConnections``, retried with
backoff), and each hub's start deletes the rules of runs it does not stream. X runs belong in
one launcher process per app.
"""
import json
import logging
import queue
import threading
from typing import Callable, Iterator, Optional

from services.sources.base import SourceError

log = logging.getLogger(__name__)

RULE_TAG_PREFIX = "tweetstream-"
PREVIOUS_CONNECTION_GRACE = 60.0  # seconds a new connection waits for the last one to close

_END = object()
_KEY = b'"matching_rules"'
_DECODER = json.JSONDecoder()


def is_ours(rule: dict) -> bool:
    return (rule.get("tag") or "").startswith(RULE_TAG_PREFIX)


def matching_rules_of(line: bytes) -> Optional[list]:
    """The ``matching_rules`` of a stream line; None when it has none or cannot be read.

    The API writes the key last, so only the end of the line is decoded; the whole line is
    decoded only when that fails. Inside a JSON string a quote is escaped, so ``"matching_rules"``
    followed by a colon is the key itself.
    """
    at = line.rfind(_KEY)
    if at < 0:
        return None
    rest = line[at + len(_KEY):].lstrip()
    if rest.startswith(b":"):
        try:
            value, _ = _DECODER.raw_decode(rest[1:].lstrip().decode("utf-8"))
            if isinstance(value, list):
                return value
        except ValueError:  # UnicodeDecodeError included
            pass
    try:
        document = json.loads(line)
    except ValueError:
        return None
    value = document.get("matching_rules") if isinstance(document, dict) else None
    return value if isinstance(value, list) else None


class Subscription:
    """One run's share of the stream: the lines routed to it, in a queue its generator reads."""

    def __init__(self, hub: "StreamHub", tag: str, queue_size: int):
        self.hub, self.tag = hub, tag
        self.error: Optional[SourceError] = None
        self.released: Optional[threading.Thread] = None  # deletes its rules once it stopped
        self._lines: queue.Queue = queue.Queue(maxsize=queue_size)
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def lines(self) -> Iterator[bytes]:
        try:
            self.hub.connect(self)
            while not self._closed.is_set():
                line = self._lines.get()
                if line is _END:
                    break
                yield line
            if self.error is not None:
                raise self.error
        finally:
            self.hub.unsubscribe(self)

    def deliver(self, line: bytes) -> None:
        # Blocking while the run lags pushes back on the socket, as the API expects (and so holds
        # the other runs back too), but never past close(): nobody would ever take the line.
        while not self._closed.is_set():
            try:
                self._lines.put(line, timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self, error: Optional[SourceError] = None) -> None:
        if error is not None and self.error is None:
            self.error = error
        self._closed.set()
        try:  # wake the consumer if it waits on an empty queue
            self._lines.put_nowait(_END)
        except queue.Full:
            pass  # it is not waiting, and it checks _closed before the next get


class StreamHub:
    """The one filtered-stream connection of an app in this process, shared by its runs.

    ``rules``: the app's rules (``current()``, ``add(rules) -> (created, errors)``,
    ``delete(ids)``; each retried and rate-limited on its own). ``make_stream(on_line, on_end)``:
    a stopped connection (``start(after=thread)``, ``stop()``, ``thread``) that hands each line
    to ``on_line`` and a failure it will not retry to ``on_end(stream, error)``.
    """

    def __init__(self, rules, make_stream: Callable, *, rule_changes=None):
        self.rules = rules
        self._make_stream = make_stream
        self._rule_changes = rule_changes  # a WindowLimiter, only to say that a launch waits
        self._state = threading.RLock()      # what follows; never held across a request
        self._changes = threading.Lock()     # launches and stops change rules one at a time
        self._subscriptions: dict[str, Subscription] = {}
        self._owners: dict[str, set[Subscription]] = {}  # rule id -> the runs it serves
        self._ours: set[str] = set()  # rule ids of ours the runs use: deleted once none does
        self._stream = None
        self._previous_thread: Optional[threading.Thread] = None
        self.dropped = 0

    @property
    def streaming(self) -> bool:
        with self._state:
            return self._stream is not None

    def tags(self) -> list[str]:
        with self._state:
            return sorted(self._subscriptions)

    # launching and stopping

    def subscribe(self, tag: str, wanted: list, *, max_rules: int, queue_size: int) -> Subscription:
        """Give the run ``tag`` the rules ``wanted`` (``tweepy.StreamRule``s) and a share of the stream.

        Raises SourceError, with no rule changed, when they would take our rules over ``max_rules``.
        """
        subscription = Subscription(self, tag, queue_size)
        if self._rule_changes is not None and self._rule_changes.wait_time() > 0:
            log.info("launching %s waits about %.0f s: X stream rule changes are at their limit (%s)",
                     tag, self._rule_changes.wait_time(), self._rule_changes.name)
        with self._changes:
            with self._state:
                previous = self._subscriptions.get(tag)
            if previous is not None:  # the same run streamed again: the earlier stream ends
                self._detach(previous)
                self._release_rules(previous)
            listing = self.rules.current()
            with self._state:
                starting = self._stream is None and not self._subscriptions
                used = set(self._owners)
            values = {rule.value for rule in wanted}
            stale = [rule for rule in listing if is_ours(rule) and rule["id"] not in used
                     and (starting or rule.get("tag") == tag) and rule["value"] not in values]
            stale_ids = {rule["id"] for rule in stale}
            kept = [rule for rule in listing if rule["id"] not in stale_ids]
            existing = {rule["value"]: rule for rule in kept}
            shared = [existing[value] for value in values if value in existing]
            new = [rule for rule in wanted if rule.value not in existing]
            in_use = sum(1 for rule in kept if is_ours(rule))
            if in_use + len(new) > max_rules:
                raise SourceError(
                    f"the track terms need {len(new)} more X stream rules, but {in_use} of the {max_rules} "
                    f"allowed (X_MAX_RULES) are in use")
            if stale:
                log.info("deleting %d X stream rules of ours that no run here streams: %s",
                         len(stale), ", ".join(sorted({rule.get("tag") or "" for rule in stale})))
                self.rules.delete(sorted(stale_ids))
            created = self._add(new) if new else []
            with self._state:
                for rule in shared + created:
                    self._owners.setdefault(rule["id"], set()).add(subscription)
                self._ours.update(rule["id"] for rule in created)  # ours, whatever the answer says of tags
                self._ours.update(rule["id"] for rule in shared if is_ours(rule))
                self._subscriptions[tag] = subscription
        log.info("%s streams with %d X stream rules (%d added, %d shared); a new rule applies within "
                 "about 20 s", tag, len(shared) + len(created), len(created), len(shared))
        return subscription

    def _add(self, new: list) -> list[dict]:
        created, errors = self.rules.add(new)
        if errors:
            if created:  # nothing half-done
                self.rules.delete([rule["id"] for rule in created])
            problems = "; ".join(f"{e.get('title', 'error')}: {e.get('value', '')}" for e in errors)
            raise SourceError(f"X API refused the stream rules: {problems}")
        return created

    def unsubscribe(self, subscription: Subscription) -> threading.Thread:
        """End the run's share of the stream now; its rules are deleted on a thread of their own
        (returned, to join), so that a generator closed on the connection's thread never waits.
        The connection closes when no run is left."""
        self._detach(subscription)
        with self._state:
            if subscription.released is None:
                subscription.released = threading.Thread(
                    target=self._release, args=(subscription,), name="x-stream-rules", daemon=True)
                subscription.released.start()
            return subscription.released

    def _detach(self, subscription: Subscription) -> None:
        stream = None
        with self._state:
            if self._subscriptions.get(subscription.tag) is subscription:
                del self._subscriptions[subscription.tag]
            subscription.close()
            if not self._subscriptions and self._stream is not None:
                stream, self._stream = self._stream, None
                self._previous_thread = stream.thread
        if stream is not None:
            log.info("no X run streams any more: closing the filtered stream")
            stream.stop()

    def _release(self, subscription: Subscription) -> None:
        with self._changes:
            self._release_rules(subscription)

    def _release_rules(self, subscription: Subscription) -> None:
        """Delete the rules of ours only this run used (with ``_changes`` held)."""
        unused = []
        with self._state:
            for rule_id in [rule_id for rule_id, runs in self._owners.items() if subscription in runs]:
                runs = self._owners[rule_id]
                runs.discard(subscription)
                if not runs:
                    del self._owners[rule_id]
                    if rule_id in self._ours:
                        self._ours.discard(rule_id)
                        unused.append(rule_id)
        if not unused:
            return
        try:
            self.rules.delete(unused)
        except SourceError as error:
            log.warning("the X stream rules of %s were not deleted (%s); the next start of the stream "
                        "deletes them", subscription.tag, error)

    # the connection

    def connect(self, subscription: Subscription) -> None:
        """Start the connection, unless it runs or the run stopped already (its first line is asked for)."""
        with self._state:
            if self._stream is not None or self._subscriptions.get(subscription.tag) is not subscription:
                return
            stream = self._stream = self._make_stream(self._route, self._ended)
            after, self._previous_thread = self._previous_thread, None
        log.info("opening the X filtered stream for %s", ", ".join(self.tags()))
        stream.start(after=after)

    def _ended(self, stream, error: SourceError) -> None:
        """The connection failed for good: every run it served fails with ``error``."""
        with self._state:
            if self._stream is not stream:
                return
            self._stream = None
            failed = list(self._subscriptions.values())
            self._subscriptions.clear()
        for subscription in failed:
            subscription.close(error)

    def _route(self, line: bytes) -> None:
        matching = matching_rules_of(line)
        with self._state:
            if matching is None:
                targets = list(self._subscriptions.values())
            else:
                found: dict[int, Subscription] = {}
                for rule in matching:
                    if not isinstance(rule, dict):
                        continue
                    for subscription in self._owners.get(str(rule.get("id")), ()):
                        found.setdefault(id(subscription), subscription)
                    tagged = self._subscriptions.get(rule.get("tag"))
                    if tagged is not None:
                        found.setdefault(id(tagged), tagged)
                targets = [subscription for subscription in found.values() if not subscription.closed]
                if not targets:
                    self.dropped += 1
                    dropped = self.dropped
        if not targets:
            if matching is not None:
                log.debug("an X stream line matched no active run's rules: dropped (%d so far)", dropped)
            return
        for subscription in targets:
            subscription.deliver(line)
