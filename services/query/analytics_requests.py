"""Input of the live analytics views (/api/v1/hashtags/top, /api/v1/aggregates, /api/v1/users/<name>/tweets).

The gateway validates the query string with these models, and the query service validates its RPC
arguments with the same ones. Query strings carry only text, so integers and ISO 8601 moments are
read from strings here; anything else (a Unix timestamp, "yesterday", 1.5) is refused.

A time window is either ``minutes`` (the current minute and the ones before it) or ``from`` with an
optional ``to`` (now when absent). It covers every whole minute that overlaps [from, to): tweets are
counted by the minute of their created_at, in UTC.
"""
import re
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, Field, ValidationError, field_validator

from services.errors import BadRequest
from services.schemas import _Strict, problems_of

MAX_WINDOW = timedelta(days=7)
MAX_WINDOW_MINUTES = int(MAX_WINDOW.total_seconds() // 60)
DEFAULT_WINDOW_MINUTES = 60
MINUTE = timedelta(minutes=1)

_INTEGER = re.compile(r"[+-]?\d{1,18}")
_USERNAME = re.compile(r"@?([A-Za-z0-9_]{1,50})")


def _integer_from_text(value):
    """'10' -> 10, so a query string can carry an integer; anything else is left to strict validation."""
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return value


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


def validate_query(model: type[BaseModel], params: dict | None) -> BaseModel:
    """Like services.schemas.validate, but every problem names the public parameter
    (``from``, not the attribute ``start``), also when it concerns an absent one."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise BadRequest("query: must be an object of parameters")
    try:
        return model.model_validate(params)
    except ValidationError as error:
        public = {name: field.alias or name for name, field in model.model_fields.items()}
        raise BadRequest("; ".join(f"{public.get(p['field'], p['field'])}: {p['problem']}"
                                   for p in problems_of(error))) from None


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


class _Window(_Strict):
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

    @field_validator("minutes", mode="before")
    @classmethod
    def _minutes_from_text(cls, value):
        return _integer_from_text(value)

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

    @field_validator("limit", mode="before")
    @classmethod
    def _limit_from_text(cls, value):
        return _integer_from_text(value)


class AggregatesRequest(_Window):
    tag: str | None = Field(default=None, min_length=1, max_length=140,
                            description="only tweets carrying this hashtag (case-insensitive, '#' optional)")
    lang: str | None = Field(default=None, min_length=1, max_length=35,
                             description="only tweets in this language (X's lang code, e.g. en, und)")
    country: str | None = Field(default=None, min_length=2, max_length=7,
                                description="only tweets from this country code (e.g. US), or 'unknown'")
    run_id: int | None = Field(default=None, ge=0, le=2**63 - 1,
                               description="only tweets first stored by this run (0: populated tweets)")

    @field_validator("run_id", mode="before")
    @classmethod
    def _run_id_from_text(cls, value):
        return _integer_from_text(value)

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


class UserTweetsRequest(_Strict):
    username: str = Field(description="the author's username, '@' optional, any case")
    limit: int = Field(default=200, ge=1, le=1000, description="at most this many tweets, newest first")

    @field_validator("username", mode="before")
    @classmethod
    def _plain_username(cls, value):
        match = _USERNAME.fullmatch(value.strip()) if isinstance(value, str) else None
        if not match:
            raise ValueError("must be 1 to 50 letters, digits or underscores")
        return match.group(1)

    @field_validator("limit", mode="before")
    @classmethod
    def _limit_from_text(cls, value):
        return _integer_from_text(value)
