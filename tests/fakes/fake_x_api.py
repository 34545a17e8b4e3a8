"""A local fake of the X API v2 endpoints the production source uses, serving real recorded payloads.

- ``GET /2/tweets/search/recent``: the tweets of brexit.jsonl, noflat.jsonl and geo_tweets.jsonl,
  in that order, in pages of ``max_results`` with ``next_token`` paging and the ``includes``
  (users, places) the requested ``expansions`` call for. The query is recorded, not evaluated:
  every query gets the same recordings.
- ``GET/POST /2/tweets/search/stream/rules``: tagged rules kept in memory (``add``, ``delete`` by
  ids) with the pay-per-use plan's limits (1,000 rules of at most 1,024 characters; a value
  already there is a ``DuplicateRule``); every change asked for is recorded. Past
  ``rule_changes_per_window`` changes (POSTs) in ``rate_window`` seconds: 429 until the window moves.
- ``GET /2/tweets/search/stream``: ONE connection at a time (a second one gets 429 with the API's
  ``TooManyConnections`` problem), ``connects_per_window`` connects per window. A chunked
  response of the posts of the timeline (streaming_output_with_error.jsonl, its truncated line
  included, then whatever ``publish`` adds), ``\\r\\n`` keep-alives between them and after them
  until the client goes. Like the live stream, a post is not sent again on reconnection: a new
  connection carries on where the last one stopped.
- What the fake evaluates: each post goes out with ``matching_rules`` listing the id and tag of
  every current rule it matches, and a post matching none is not sent (``skipped`` counts it).
  A rule is clauses joined by `` OR ``; a clause matches when each of its keywords (quoted or
  not; parentheses dropped; operators such as ``has:images`` and negations ignored), split into
  words as the track matcher does, is a word of the post's text (case-insensitive, so ``#dogs``
  gives ``dogs``). A line the fake cannot read (the recording's truncated one) goes out as
  recorded. ``sent_lines`` holds exactly the bytes of every line sent.
- Faults on demand: 429 with ``x-rate-limit-reset`` for the next N requests, a stream
  connection dropped after K lines, requests left hanging for a while. Every request needs ``Authorization: Bearer <token>``.

    with FakeXApi(token="t") as api:
        source = XApiSource.from_config({"X_BEARER_TOKEN": "t", "X_API_BASE_URL": api.base_url})
"""
import collections
import itertools
import json
import math
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, urlsplit

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "x-api-samples"
SEARCH_FILES = ("brexit.jsonl", "noflat.jsonl", "geo_tweets.jsonl")
STREAM_FILE = "streaming_output_with_error.jsonl"


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class RecordedCorpus:
    """The recorded tweets, users and places, indexed the way the expansions need them."""

    def __init__(self, samples: Path = SAMPLES):
        self.tweets: list[dict] = []
        self.users_by_id: dict[str, dict] = {}
        self.users_by_name: dict[str, dict] = {}
        self.places_by_id: dict[str, dict] = {}
        for name in SEARCH_FILES:
            for line in (samples / name).read_text(encoding="utf-8").splitlines():
                page = json.loads(line)
                self.tweets.extend(page.get("data", []))
                for user in page.get("includes", {}).get("users", []):
                    self.users_by_id[user["id"]] = user
                    self.users_by_name[user["username"].lower()] = user
                for place in page.get("includes", {}).get("places", []):
                    self.places_by_id[place["id"]] = place
        # exactly the bytes of each line, without its line break; the last line is truncated
        self.stream_lines: list[bytes] = (samples / STREAM_FILE).read_bytes().splitlines()

    def includes_for(self, tweets: list[dict], expansions: set[str]) -> dict:
        users: dict[str, dict] = {}
        places: dict[str, dict] = {}
        for tweet in tweets:
            if "author_id" in expansions and tweet.get("author_id") in self.users_by_id:
                users.setdefault(tweet["author_id"], self.users_by_id[tweet["author_id"]])
            if "entities.mentions.username" in expansions:
                for mention in tweet.get("entities", {}).get("mentions", []):
                    user = self.users_by_name.get(mention["username"].lower())
                    if user:
                        users.setdefault(user["id"], user)
            place_id = tweet.get("geo", {}).get("place_id")
            if "geo.place_id" in expansions and place_id in self.places_by_id:
                places.setdefault(place_id, self.places_by_id[place_id])
        includes = {}
        if users:
            includes["users"] = list(users.values())
        if places:
            includes["places"] = list(places.values())
        return includes


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict
    body: Optional[dict]
    at: float
    authorized: bool
    status: int = 0


@dataclass
class _Faults:
    rate_limited_requests: int = 0
    rate_limit_reset_in: float = 1.0
    rate_limit_path: str = ""
    disconnect_after_lines: Optional[int] = None
    stalled_requests: int = 0
    stall_for: float = 0.0


_CLAUSE_SEPARATOR = re.compile(r"\s+OR\s+")
_TERM = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s"]+)')
_WORD = re.compile(r"\w+")
_MATCHING_RULES = re.compile(rb'"matching_rules":\s*\[[^\]]*\]')
TOO_MANY_CONNECTIONS = {
    "title": "ConnectionException",
    "detail": "This stream is currently at the maximum allowed connection limit.",
    "connection_issue": "TooManyConnections",
    "type": "https://api.twitter.com/2/problems/streaming-connection",
}


def words_of(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


def rule_matches(value: str, words: set[str]) -> bool:
    """The fake's reading of a rule (see the module's text) against the words of a post."""
    for clause in _CLAUSE_SEPARATOR.split(value):
        keywords: list[str] = []
        for quoted, bare in _TERM.findall(clause.replace("(", " ").replace(")", " ")):
            if bare and (":" in bare or bare.startswith("-")):
                continue  # an operator: not evaluated
            keywords.extend(_WORD.findall((quoted or bare).casefold()))
        if keywords and all(keyword in words for keyword in keywords):
            return True
    return False


def with_matching_rules(line: bytes, matching: list[dict]) -> bytes:
    """The recorded line with its ``matching_rules`` replaced, every other byte as recorded."""
    value = b'"matching_rules": ' + json.dumps(matching).encode()
    if _MATCHING_RULES.search(line):
        return _MATCHING_RULES.sub(lambda _: value, line, count=1)
    end = line.rstrip().rfind(b"}")
    return line[:end] + b", " + value + line[end:]


@dataclass
class FakeXApi:
    token: str = "fake-bearer-token"
    rule_max_len: int = 1024
    max_rules: int = 1000
    rule_changes_per_window: int = 100
    connects_per_window: int = 50
    rate_window: float = 900.0
    keep_alive_interval: float = 0.05
    corpus: RecordedCorpus = field(default_factory=RecordedCorpus)
    #: the posts the stream goes through, in order; None: the recorded stream lines
    timeline: Optional[list[bytes]] = None

    def __post_init__(self):
        self.requests: list[RecordedRequest] = []
        self.rules: dict[str, dict] = {}
        self.rule_changes: list[dict] = []
        self.rate_limit_resets: list[int] = []
        self.stream_connections = 0  # connections served (200)
        self.open_connections = 0
        self.stream_position = 0
        self.sent_lines: list[bytes] = []
        self.skipped = 0  # posts no rule matched, not sent
        if self.timeline is None:
            self.timeline = list(self.corpus.stream_lines)
        self._change_times: collections.deque[float] = collections.deque()
        self._connect_times: collections.deque[float] = collections.deque()
        self._faults = _Faults()
        self._rule_ids = itertools.count(1_500_000_000_000_000_000)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: Optional[ThreadingHTTPServer] = None

    # lifecycle

    def start(self) -> "FakeXApi":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-x-api", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeXApi":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # scripting

    def add_rule(self, value: str, tag: Optional[str] = None) -> dict:
        """A rule that exists before the test (someone else's, or a previous run's)."""
        with self._lock:
            return self._create_rule(value, tag)

    def rate_limit_next(self, count: int, *, reset_in: float = 1.0, path: str = "") -> None:
        """Answer the next ``count`` requests (whose path starts with ``path``) with 429."""
        with self._lock:
            self._faults.rate_limited_requests = count
            self._faults.rate_limit_reset_in = reset_in
            self._faults.rate_limit_path = path

    def disconnect_stream_after(self, lines: int) -> None:
        """Drop the next stream connection, without ending the chunked body, after ``lines`` lines."""
        with self._lock:
            self._faults.disconnect_after_lines = lines

    def stall_next(self, count: int, seconds: float) -> None:
        """Keep the next ``count`` requests waiting ``seconds`` before answering (a hung API)."""
        with self._lock:
            self._faults.stalled_requests = count
            self._faults.stall_for = seconds

    def publish(self, *lines: bytes) -> None:
        """More posts for the stream, after those of the timeline."""
        with self._lock:
            self.timeline.extend(lines)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def rules_tagged(self, tag: str) -> list[dict]:
        with self._lock:
            return [rule for rule in self.rules.values() if rule.get("tag") == tag]

    # request handling (on the server's threads)

    def _record(self, handler: "_Handler", body: Optional[dict]) -> RecordedRequest:
        url = urlsplit(handler.path)
        request = RecordedRequest(
            method=handler.command, path=url.path,
            params={k: v[-1] for k, v in parse_qs(url.query).items()}, body=body, at=time.time(),
            authorized=handler.headers.get("Authorization") == f"Bearer {self.token}",
        )
        with self._lock:
            self.requests.append(request)
        return request

    def _take_stall(self) -> float:
        with self._lock:
            if self._faults.stalled_requests <= 0:
                return 0.0
            self._faults.stalled_requests -= 1
            return self._faults.stall_for

    def _take_rate_limit(self, path: str) -> Optional[int]:
        with self._lock:
            faults = self._faults
            if faults.rate_limited_requests <= 0 or not path.startswith(faults.rate_limit_path):
                return None
            faults.rate_limited_requests -= 1
            reset = math.ceil(time.time() + faults.rate_limit_reset_in)
            self.rate_limit_resets.append(reset)
            return reset

    def _create_rule(self, value: str, tag: Optional[str]) -> dict:
        rule = {"id": str(next(self._rule_ids)), "value": value}
        if tag is not None:
            rule["tag"] = tag
        self.rules[rule["id"]] = rule
        return rule

    def search_page(self, params: dict) -> tuple[int, dict]:
        try:
            max_results = int(params.get("max_results", "10"))
        except ValueError:
            max_results = 0
        if not 10 <= max_results <= 100:
            return 400, _problem("Invalid Request", "The `max_results` query parameter value "
                                 f"[{params.get('max_results')}] is not between 10 and 100")
        if not params.get("query"):
            return 400, _problem("Invalid Request", "The `query` query parameter can not be empty")
        token = params.get("next_token", "fake-0")
        if not token.startswith("fake-") or not token[5:].isdigit():
            return 400, _problem("Invalid Request", "The `next_token` query parameter value is invalid")
        offset = int(token[5:])
        tweets = self.corpus.tweets[offset:offset + max_results]
        if not tweets:
            return 200, {"meta": {"result_count": 0}}
        meta = {"newest_id": tweets[0]["id"], "oldest_id": tweets[-1]["id"], "result_count": len(tweets)}
        if offset + max_results < len(self.corpus.tweets):
            meta["next_token"] = f"fake-{offset + max_results}"
        expansions = set(filter(None, params.get("expansions", "").split(",")))
        page = {"data": tweets, "meta": meta}
        includes = self.corpus.includes_for(tweets, expansions)
        if includes:
            page["includes"] = includes
        return 200, page

    def rules_listing(self) -> tuple[int, dict]:
        with self._lock:
            rules = list(self.rules.values())
        meta = {"sent": _now_iso(), "result_count": len(rules)}
        return 200, ({"data": rules, "meta": meta} if rules else {"meta": meta})

    def _over_window(self, times: collections.deque, limit: int) -> Optional[int]:
        """None when one more request fits in the window (and then it is counted), else the reset time."""
        now = time.time()
        while times and now - times[0] >= self.rate_window:
            times.popleft()
        if len(times) >= limit:
            reset = math.ceil(times[0] + self.rate_window)
            self.rate_limit_resets.append(reset)
            return reset
        times.append(now)
        return None

    def change_rules(self, body: Optional[dict]) -> tuple[int, dict, Optional[int]]:
        if not isinstance(body, dict) or not ({"add", "delete"} & body.keys()):
            return 400, _problem("Invalid Request", "One or more parameters to your request was invalid."), None
        with self._lock:
            reset = self._over_window(self._change_times, self.rule_changes_per_window)
            if reset is not None:
                return 429, _too_many_requests(), reset
            self.rule_changes.append(body)
            if "delete" in body:
                return 200, self._delete_rules(body["delete"].get("ids", [])), None
            return 201, self._add_rules(body["add"]), None

    def _delete_rules(self, ids: list) -> dict:
        errors = [{"value": i, "details": ["Rule does not exist"], "title": "RuleNotFound",
                   "type": "https://api.twitter.com/2/problems/invalid-rules"}
                  for i in ids if i not in self.rules]
        deleted = [self.rules.pop(i) for i in ids if i in self.rules]
        answer = {"meta": {"sent": _now_iso(),
                           "summary": {"deleted": len(deleted), "not_deleted": len(errors)}}}
        if errors:
            answer["errors"] = errors
        return answer

    def _add_rules(self, wanted: list) -> dict:
        created, errors = [], []
        existing_values = {rule["value"] for rule in self.rules.values()}
        for rule in wanted:
            value = rule.get("value", "")
            if len(value) > self.rule_max_len:
                errors.append(_rule_error(value, "RuleLengthExceeded",
                                          f"Rules must be {self.rule_max_len} characters or less"))
            elif value in existing_values:
                errors.append(_rule_error(value, "DuplicateRule", "This rule already exists"))
            elif len(self.rules) >= self.max_rules:
                errors.append(_rule_error(value, "RulesCapExceeded",
                                          f"You cannot create more than {self.max_rules} rules"))
            else:
                created.append(self._create_rule(value, rule.get("tag")))
                existing_values.add(value)
        answer = {"meta": {"sent": _now_iso(), "summary": {
            "created": len(created), "not_created": len(errors),
            "valid": len(created), "invalid": len(errors)}}}
        if created:
            answer["data"] = created
        if errors:
            answer["errors"] = errors
        return answer

    def next_stream_line(self) -> Optional[bytes]:
        """The next post of the timeline that matches a current rule, as sent; None when none is left."""
        with self._lock:
            while self.stream_position < len(self.timeline):
                line = self.timeline[self.stream_position]
                self.stream_position += 1
                try:
                    text = json.loads(line)["data"]["text"]
                except (ValueError, KeyError, TypeError):
                    self.sent_lines.append(line)  # not a post the fake can read: as recorded
                    return line
                words = words_of(text)
                matching = [{"id": rule["id"], "tag": rule.get("tag")}
                            for rule in self.rules.values() if rule_matches(rule["value"], words)]
                if not matching:
                    self.skipped += 1
                    continue
                sent = with_matching_rules(line, matching)
                self.sent_lines.append(sent)
                return sent
            return None

    def open_stream(self) -> tuple[Optional[dict], Optional[int]]:
        """Let a connection in: (None, None), or the 429 problem and reset time that refuse it."""
        with self._lock:
            if self.open_connections >= 1:
                return TOO_MANY_CONNECTIONS, None
            reset = self._over_window(self._connect_times, self.connects_per_window)
            if reset is not None:
                return _too_many_requests(), reset
            self.open_connections += 1
            self.stream_connections += 1
            return None, None

    def close_stream(self) -> None:
        with self._lock:
            self.open_connections -= 1

    def take_disconnect(self) -> Optional[int]:
        with self._lock:
            lines, self._faults.disconnect_after_lines = self._faults.disconnect_after_lines, None
            return lines


def _problem(title: str, detail: str) -> dict:
    return {"errors": [{"message": detail}], "title": title, "detail": detail,
            "type": "https://api.twitter.com/2/problems/invalid-request"}


def _too_many_requests() -> dict:
    return {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}


def _rate_limit_headers(limit: int, reset: Optional[int]) -> dict:
    headers = {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": "0"}
    if reset is not None:
        headers["x-rate-limit-reset"] = str(reset)
    return headers


def _rule_error(value: str, title: str, detail: str) -> dict:
    return {"value": value, "details": [detail], "title": title,
            "type": "https://api.twitter.com/2/problems/invalid-rules"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked stream, and keep-alive like the real API

    @property
    def fake(self) -> FakeXApi:
        return self.server.fake

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self._serve(body=None)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._serve(body=body)

    def _serve(self, body):
        request = self.fake._record(self, body)
        self.fake._stopping.wait(self.fake._take_stall())
        if not request.authorized:
            request.status = 401
            return self._json(401, {"title": "Unauthorized", "type": "about:blank",
                                    "status": 401, "detail": "Unauthorized"})
        reset = self.fake._take_rate_limit(request.path)
        if reset is not None:
            request.status = 429
            return self._json(429, _too_many_requests(), headers=_rate_limit_headers(50, reset))
        route = (self.command, request.path)
        if route == ("GET", "/2/tweets/search/recent"):
            request.status, answer = self.fake.search_page(request.params)
        elif route == ("GET", "/2/tweets/search/stream/rules"):
            request.status, answer = self.fake.rules_listing()
        elif route == ("POST", "/2/tweets/search/stream/rules"):
            request.status, answer, reset = self.fake.change_rules(body)
            if reset is not None:
                return self._json(429, answer, headers=_rate_limit_headers(self.fake.rule_changes_per_window, reset))
        elif route == ("GET", "/2/tweets/search/stream"):
            refused, reset = self.fake.open_stream()
            if refused is not None:
                request.status = 429
                return self._json(429, refused, headers=_rate_limit_headers(self.fake.connects_per_window, reset))
            request.status = 200
            return self._stream()
        else:
            request.status, answer = 404, _problem("Not Found Error", f"no route {self.command} {request.path}")
        self._json(request.status, answer)

    def _json(self, status: int, answer: dict, headers: Optional[dict] = None):
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self):
        """Serve one stream connection, already counted open by ``open_stream``."""
        fake = self.fake
        try:
            self._stream_lines()
        finally:
            fake.close_stream()

    def _stream_lines(self):
        fake = self.fake
        drop_after = fake.take_disconnect()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            while not fake._stopping.is_set():
                if drop_after is not None and sent >= drop_after:
                    # gone without the last chunk, as a dropped connection looks to the client
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                line = fake.next_stream_line()
                if line is not None:
                    self._chunk(line + b"\r\n")
                    sent += 1
                else:
                    time.sleep(fake.keep_alive_interval)
                self._chunk(b"\r\n")  # keep-alive
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client went away
        self.close_connection = True

    def _chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
