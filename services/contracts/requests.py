"""Every request the system accepts: the models, one validator and one rule for query strings.

The gateway validates HTTP input with these models and the services validate their RPC arguments with
the same ones, so a caller of the RPC API is held to the same rules (pydantic, strict: nothing is
converted silently). Query strings carry only text: an integer parameter takes digits ("10" -> 10),
a moment an ISO 8601 text; anything else (a Unix timestamp, "yesterday", 1.5) is refused.

A time window is either ``minutes`` (the current minute and the ones before it) or ``from`` with an
optional ``to`` (now when absent). It covers every whole minute that overlaps [from, to): tweets are
counted by the minute of their created_at, in UTC.
"""
import re
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.contracts.errors import BadRequest
from services.sources.synthetic import MAX_POSITIONS, MAX_SEED
from services.tweets.track import MAX_PHRASES, phrase_problem


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LaunchRequest(_Strict):
    track: list[str] = Field(min_length=1, max_length=MAX_PHRASES)
    source: Literal["synthetic", "replay", "x"] | None = None
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    rate: float | None = Field(default=None, ge=0, le=1_000_000)
    limit: int | None = Field(default=None, ge=1, le=MAX_POSITIONS)
    files: list[str] | None = Field(default=None, min_length=1, max_length=100)
    batch_size: int | None = Field(default=None, ge=1, le=5000)
    # X runs: stop after reading this many posts from the X API (each is billed)
    max_posts: int | None = Field(default=None, ge=1, le=MAX_POSITIONS)

    @field_validator("rate", mode="before")
    @classmethod
    def _int_rate_is_fine(cls, value):
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("track")
    @classmethod
    def _phrases(cls, phrases):
        for index, phrase in enumerate(phrases):
            problem = phrase_problem(phrase) or unstorable(phrase)
            if problem:
                raise ValueError(f"phrase {index} ({phrase!r}) {problem}")
        return phrases

    @field_validator("files")
    @classmethod
    def _file_names(cls, files):
        for index, name in enumerate(files or ()):
            problem = unstorable(name)
            if problem:
                raise ValueError(f"file {index} ({name!r}) {problem}")
        return files


def unstorable(text: str) -> str | None:
    """Why the run's row cannot keep ``text``: PostgreSQL's text and jsonb refuse the NUL character
    (the launch failed with a 500); no file name holds one either."""
    return "contains the NUL character (U+0000)" if "\x00" in text else None


def problems_of(error: ValidationError) -> list[dict]:
    """pydantic's errors as a list of {field, problem} a user can act on."""
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "is not a known field"
        elif item["type"] == "missing":
            message = "is required"
        problems.append({"field": field, "problem": message.removeprefix("Value error, ")})
    return problems


def validate(model: type[BaseModel], data) -> BaseModel:
    """The one validator: ``data`` (a JSON body, a query string's parameters or an RPC's arguments) as
    ``model``, or BadRequest naming each field by its public name (``from``, not the attribute
    ``start``) and why."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("body: must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        public = {name: field.alias or name for name, field in model.model_fields.items()}
        raise BadRequest("; ".join(f"{public.get(p['field'], p['field'])}: {p['problem']}"
                                   for p in problems_of(error))) from None


DEFAULT_TAGS = ("openbanking", "remediation", "devops", "sre", "microservices",
                "observability", "oauth", "metrics", "logmonitoring", "opentracing")
DEFAULT_PER_TAG = 100
MAX_TAGS = 50            # 50 tags x 1000 tweets: one populate stays within tens of seconds
MAX_TAG_LENGTH = 100
# Hashtags are letters, digits and underscores (unicode); a leading '#' is allowed and dropped.
_HASHTAG = re.compile(r"#?\w+")

# /api/v1/tags: tag_counts grows with tags x countries x languages, not with tweets, but a
# long tail of hashtags still makes it large; the answer is the top rows by count.
DEFAULT_TAG_ROWS = 100
MAX_TAG_ROWS = 10_000


class PopulateRequest(_Strict):
    """``{"tags": [...], "per_tag": n}``, both optional."""

    tags: list[str] = Field(default=list(DEFAULT_TAGS), min_length=1, max_length=MAX_TAGS)
    per_tag: int = Field(default=DEFAULT_PER_TAG, ge=10, le=1000)

    @field_validator("tags")
    @classmethod
    def _hashtags(cls, tags):
        normalised = []
        for index, tag in enumerate(tags):
            if not _HASHTAG.fullmatch(tag) or len(tag.removeprefix("#")) > MAX_TAG_LENGTH:
                raise ValueError(f"tag {index} ({tag!r}) is not a hashtag: letters, digits and _ only, "
                                 f"at most {MAX_TAG_LENGTH} of them")
            normalised.append(tag.removeprefix("#").casefold())
        # case-folded like stored tags, each once, in the order given
        return list(dict.fromkeys(normalised))


_INTEGER = re.compile(r"[+-]?\d{1,18}")


def _integer_from_text(value):
    """'10' -> 10, so a query string can carry an integer; anything else is left to strict validation."""
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return value


class _Query(_Strict):
    """Parameters of a query string, which carries only text: the one coercion rule is that an
    integer parameter takes digits ("500" -> 500). Everything else is validated as strictly as a body."""

    @model_validator(mode="before")
    @classmethod
    def _integers_from_text(cls, data):
        if not isinstance(data, dict):
            return data
        integers = {field.alias or name for name, field in cls.model_fields.items()
                    if field.annotation in (int, int | None)}
        return {key: _integer_from_text(value) if key in integers else value for key, value in data.items()}


class HourQuery(_Query):
    """``/api/v1/hour?by=hour`` (each hour in time order) or ``?by=hour_of_day`` (24 rows)."""

    by: Literal["hour", "hour_of_day"] = "hour"


class TagsQuery(_Query):
    """``/api/v1/tags?limit=n``: the n rows with the highest counts."""

    limit: int = Field(default=DEFAULT_TAG_ROWS, ge=1, le=MAX_TAG_ROWS)


MAX_WINDOW = timedelta(days=7)
MAX_WINDOW_MINUTES = int(MAX_WINDOW.total_seconds() // 60)
DEFAULT_WINDOW_MINUTES = 60
MINUTE = timedelta(minutes=1)

_USERNAME = re.compile(r"@?([A-Za-z0-9_]{1,50})")


def parse_moment(value) -> datetime:
    """An ISO 8601 date or date-time; one without an offset is taken as UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date-time (e.g. 2024-05-01T12:00:00Z)") from None
    else:
        raise ValueError("must be an ISO 8601 date-time (e.g. 2024-05-01T12:00:00Z)")
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


class _Window(_Query):
    start: datetime | None = Field(default=None, alias="from",
                                   description="ISO 8601 start of the window (inclusive)")
    end: datetime | None = Field(default=None, alias="to", validate_default=True,
                                 description="ISO 8601 end of the window (exclusive); now when absent")
    minutes: int | None = Field(default=None, ge=1, le=MAX_WINDOW_MINUTES,
                                description=f"the last N minutes, this one included (default "
                                            f"{DEFAULT_WINDOW_MINUTES}); not together with from/to")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso_8601(cls, value):
        return None if value is None else parse_moment(value)

    # The checks sit on fields (not on the model) so that an error names the parameter to fix.
    @field_validator("end")
    @classmethod
    def _ends_after_start(cls, end, info):
        start = info.data.get("start")
        if start is None:
            if end is not None and "start" in info.data:
                raise ValueError("needs from")
            return end
        until = end or datetime.now(timezone.utc)
        if until < start:
            raise ValueError("is before from" if end else "defaults to now, which is before from")
        if until - start > MAX_WINDOW:
            raise ValueError(f"the window from `from` to `to` is longer than {MAX_WINDOW.days} days")
        return end


    @field_validator("minutes")
    @classmethod
    def _minutes_or_range(cls, minutes, info):
        if minutes is not None and (info.data.get("start") or info.data.get("end")):
            raise ValueError("give either minutes or from/to, not both")
        return minutes

    def minute_range(self, now: datetime) -> tuple[datetime, datetime]:
        """(first, last) minute of the window, both included; last < first when it is empty."""
        if self.start is None:
            last = minute_of(now.astimezone(timezone.utc))
            return last - ((self.minutes or DEFAULT_WINDOW_MINUTES) - 1) * MINUTE, last
        end = self.end or now.astimezone(timezone.utc)
        last = minute_of(end)
        if last == end:  # `to` on a minute boundary: that minute starts after the window
            last -= MINUTE
        return minute_of(self.start), last

    def for_rpc(self) -> dict:
        """The request as the query service's RPC takes it (JSON, with the public names)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class TopHashtagsRequest(_Window):
    limit: int = Field(default=10, ge=1, le=100, description="how many hashtags, most used first")



class AggregatesRequest(_Window):
    tag: str | None = Field(default=None, min_length=1, max_length=140,
                            description="only tweets carrying this hashtag (case-insensitive, '#' optional)")
    lang: str | None = Field(default=None, min_length=1, max_length=35,
                             description="only tweets in this language (X's lang code, e.g. en, und)")
    country: str | None = Field(default=None, min_length=2, max_length=7,
                                description="only tweets from this country code (e.g. US), or 'unknown'")
    run_id: int | None = Field(default=None, ge=0, le=2**63 - 1,
                               description="only tweets first stored by this run (0: populated tweets)")


    @field_validator("tag")
    @classmethod
    def _tag_as_stored(cls, tag):
        tag = tag.strip().removeprefix("#").casefold()
        if not tag:
            raise ValueError("is empty")
        return tag

    @field_validator("lang")
    @classmethod
    def _lang_as_stored(cls, lang):
        return lang.strip().lower()

    @field_validator("country")
    @classmethod
    def _country_as_stored(cls, country):
        country = country.strip()
        return "unknown" if country.lower() == "unknown" else country.upper()


class UserTweetsRequest(_Query):
    username: str = Field(description="the author's username, '@' optional, any case")
    limit: int = Field(default=200, ge=1, le=1000, description="at most this many tweets, newest first")

    @field_validator("username", mode="before")
    @classmethod
    def _plain_username(cls, value):
        match = _USERNAME.fullmatch(value.strip()) if isinstance(value, str) else None
        if not match:
            raise ValueError("must be 1 to 50 letters, digits or underscores")
        return match.group(1)



# -- runs side by side: who stops which, which are listed ------------------------------------------

#: a user's name in an API token entry (token:role:name), a run's owner and ?owner=
USER_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
RUN_STATUSES = ("active", "draining", "finished", "stopped", "failed")
MAX_RUNS_PAGE = 1000


def _user_name(value):
    if isinstance(value, str) and not USER_NAME.fullmatch(value):
        raise ValueError("must be 1 to 64 letters, digits or . _ @ -")
    return value


class StopRequest(_Strict):
    """``POST /stop``: ``{"run_id": n}`` stops that run; an empty body, the caller's only active run."""

    run_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class OwnerQuery(_Query):
    """``/statistics?owner=name``: one user's runs only."""

    owner: str | None = Field(default=None, description="only the runs this user launched")

    _owner_name = field_validator("owner")(_user_name)


class RunsQuery(OwnerQuery):
    """``/statistics/runs``: newest first; ``cursor`` is the last run_id of the page before."""

    status: Literal[RUN_STATUSES] | None = Field(default=None, description="only runs in this state")
    limit: int = Field(default=100, ge=1, le=MAX_RUNS_PAGE, description="at most this many runs")
    cursor: int | None = Field(default=None, ge=1, le=2**63 - 1,
                               description="runs older than this run_id: the last run_id of the page before")
