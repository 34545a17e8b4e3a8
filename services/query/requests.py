"""What populate and the views accept, validated the same way at the gateway and in the query service."""
import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from services.schemas import _Strict

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


class _Query(_Strict):
    # Query-string values arrive as strings: let "500" be read as the int 500.
    model_config = ConfigDict(extra="forbid", strict=False)


class HourQuery(_Query):
    """``/api/v1/hour?by=hour`` (each hour in time order) or ``?by=hour_of_day`` (24 rows)."""

    by: Literal["hour", "hour_of_day"] = "hour"


class TagsQuery(_Query):
    """``/api/v1/tags?limit=n``: the n rows with the highest counts."""

    limit: int = Field(default=DEFAULT_TAG_ROWS, ge=1, le=MAX_TAG_ROWS)
