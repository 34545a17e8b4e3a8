"""Every request the system accepts, validated by one schema library (pydantic).

The gateway validates HTTP input with these models; the services validate their RPC
arguments with the same models, so a caller of the RPC API is held to the same rules.
"""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.errors import BadRequest
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
    """Validate or raise BadRequest with a message naming each field and why."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("body: must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise BadRequest("; ".join(f"{p['field']}: {p['problem']}" for p in problems_of(error))) from None
