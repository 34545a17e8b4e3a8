"""The OpenAPI document of the gateway: every route, what it takes and what it answers.

Request schemas come from the pydantic models the gateway validates with, so the document
cannot drift from the validation; answers are described by the models below (documentation
only: the services build plain dicts). Extra keys in an answer are allowed, as DESIGN.md says.

The document is OpenAPI 3.0 (not 3.1) because the Swagger UI that the swagger-ui-bundle package
ships (4.x) renders only 3.0; pydantic writes JSON Schema 2020-12, so ``openapi30`` rewrites the
few constructs that differ (null in anyOf -> nullable, const -> enum, numeric exclusive bounds).
"""
import copy
import functools
import re
from datetime import datetime
from importlib import metadata
from typing import Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from services.contracts.requests import (
    AggregatesRequest,
    HourQuery,
    LaunchRequest,
    OwnerQuery,
    RunsQuery,
    StopRequest,
    PopulateRequest,
    TagsQuery,
    TopHashtagsRequest,
    UserTweetsRequest,
)
from services.gateway.auth import ADMIN, OPERATOR, OPERATOR_ROUTES, WRITE_METHODS, required_role
from services.settings import default

OPENAPI_VERSION = "3.0.3"


# -- answers -------------------------------------------------------------------------------

class ErrorAnswer(BaseModel):
    """Every 4xx/5xx answer: what went wrong, in words a caller can act on."""
    error: str


class SourceUnavailableAnswer(ErrorAnswer):
    """A source this deployment does not offer (no X bearer token, no replay directory)."""
    available_sources: list[str] = Field(description="the sources it does offer")


class LaunchAnswer(BaseModel):
    process_started: bool
    run_id: int


class BudgetAnswer(BaseModel):
    """Posts read from the X API this calendar month (UTC), across the app, against X_MONTHLY_POST_BUDGET."""
    month: str = Field(description="YYYY-MM")
    budget: int
    used: int
    left: int
    price_per_post: float = Field(description="X_PRICE_PER_POST, in dollars")
    estimated_cost: float = Field(description="used x price_per_post")
    cost_at_budget: float = Field(description="budget x price_per_post")


class CallerAnswer(BaseModel):
    """Who the API token says the caller is (an open stage gateway: an admin without a name)."""
    role: Literal["admin", "operator", "viewer"]
    name: str | None


class StatisticsAnswer(BaseModel):
    """Over every run ever made (or one owner's): matched tweets, the seconds during which at least one
    run streamed (runs side by side count their shared time once), and their ratio."""
    amount: int
    speed: float
    elapsed_time: int


class RunAnswer(BaseModel):
    """One run's figures (``amount`` = ``matched``: tweets it matched, each once)."""
    run_id: int
    owner: str | None = Field(description="the user who launched it; null when launched through an open gateway")
    track: list[str]
    source: str
    status: Literal["active", "draining", "stopped", "finished", "failed"] = Field(
        description="`draining`: ended by itself, its last batches not all committed yet; its figures are final "
                    "once it reads `finished`")
    started_at: datetime
    stopped_at: datetime | None
    received: int
    matched: int
    bad: int
    bad_reasons: dict[str, int] = Field(default_factory=dict, description="`bad` by reason")
    stored: int
    amount: int
    elapsed_time: int
    speed: float
    dispatched_items: int
    committed_items: int
    failed_batches: int = Field(description="batches kept as failed (POST /statistics/runs/{run_id}/retry "
                                            "sends them through again)")
    failed_items: int = Field(description="source items in those batches")
    error: str | None = Field(default=None, description="the run's own failure, else its first failed batch's cause")


class RetryAnswer(BaseModel):
    """What a retry of a run's failed batches did (each batch once; the ledger keeps every tweet once)."""
    run_id: int
    retried: int = Field(description="failed batches sent through again")
    stored: int = Field(description="of them, now committed")
    still_failing: int = Field(description="of them, failed again: kept with their new cause")
    tweets_stored: int = Field(description="tweets stored for the first time by the retry")


class PopulateAnswer(BaseModel):
    stored: dict[str, int] = Field(description="tweets stored for the first time, per tag")
    total: int
    fetched: dict[str, int] = Field(description="tweets the source returned, per tag")
    bad: int


class TopUser(BaseModel):
    username: str
    followers: int


class HourCount(BaseModel):
    date: datetime = Field(description="the hour (UTC)")
    count: int


class HourOfDayCount(BaseModel):
    hour: int = Field(ge=0, le=23)
    count: int


class TagCount(BaseModel):
    tag: str
    country: str
    language: str
    count: int


class HealthAnswer(BaseModel):
    status: Literal["ok", "failed"]
    checks: dict[str, str] = Field(description='each check: "ok" or why it failed')
    error: str | None = None


class HashtagCount(BaseModel):
    tag: str = Field(description="case-folded, without '#'")
    count: int


class MinuteCount(BaseModel):
    minute: datetime = Field(description="the minute's start (UTC)")
    count: int


class UserTweet(BaseModel):
    id: str = Field(description="the tweet id, as a string (it exceeds 2^53)")
    text: str
    created_at: datetime
    lang: str
    country: str | None = None
    hashtags: list[str]


class UserTweetsAnswer(BaseModel):
    username: str
    name: str | None = None
    followers: int
    tweet_count: int = Field(description="every stored tweet of the author")
    tweets: list[UserTweet] = Field(description="newest first, at most `limit`")


REQUEST_MODELS = (LaunchRequest, StopRequest, PopulateRequest, HourQuery, TagsQuery, TopHashtagsRequest, AggregatesRequest,
                  UserTweetsRequest)
ANSWER_MODELS = (ErrorAnswer, LaunchAnswer, CallerAnswer, BudgetAnswer, StatisticsAnswer,
                 RunAnswer, RetryAnswer, PopulateAnswer, TopUser, HourCount,
                 HourOfDayCount, TagCount, HealthAnswer, HashtagCount, MinuteCount, UserTweet, UserTweetsAnswer,
                 SourceUnavailableAnswer)


# -- JSON Schema 2020-12 -> OpenAPI 3.0 ---------------------------------------------------------

def openapi30(schema):
    """Rewrite pydantic's JSON Schema into the OpenAPI 3.0 schema dialect."""
    if isinstance(schema, list):
        return [openapi30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: (value if key in ("default", "enum", "const") else openapi30(value))
           for key, value in schema.items()}
    if "properties" in schema:  # property names are not keywords: rewrite only their schemas
        out["properties"] = {name: openapi30(sub) for name, sub in schema["properties"].items()}
    for combinator in ("anyOf", "oneOf"):
        options = out.get(combinator)
        if not options or {"type": "null"} not in options:
            continue
        rest = [option for option in options if option != {"type": "null"}]
        siblings = {key: value for key, value in out.items() if key != combinator}
        if len(rest) == 1 and "$ref" not in rest[0]:
            out = {**rest[0], **siblings}
        elif len(rest) == 1:  # 3.0 ignores keywords beside $ref
            out = {"allOf": rest, **siblings}
        else:
            out = {combinator: rest, **siblings}
        out["nullable"] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    for exclusive, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        bound = out.get(exclusive)
        if isinstance(bound, (int, float)) and not isinstance(bound, bool):
            out[inclusive], out[exclusive] = bound, True
    return out


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _array_of(model: type[BaseModel]) -> dict:
    return {"type": "array", "items": _ref(model)}


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(description, _ref(ErrorAnswer))


def _content(description: str, *media_types: str) -> dict:
    return {"description": description, "content": {m: {"schema": {"type": "string"}} for m in media_types}}


BAD_REQUEST = _error("the input is not acceptable; `error` names each parameter and why")
FAILED = _error("a service failed; `error` says which and why")
TIMED_OUT = _error(f"a service did not answer within RPC_TIMEOUT seconds ({default('RPC_TIMEOUT'):g} by default)")


def parameters_of(model: type[BaseModel], where: str = "query", only: tuple[str, ...] | None = None) -> list[dict]:
    """OpenAPI parameters from a model's fields: an absent parameter takes its default (never null)."""
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", ()))
    parameters = []
    for name, field_schema in schema["properties"].items():
        if only is not None and name not in only:
            continue
        field_schema = dict(field_schema)
        options = field_schema.pop("anyOf", None)
        if options:
            field_schema.update(next(o for o in options if o != {"type": "null"}))
        if field_schema.get("default", 0) is None:
            del field_schema["default"]
        field_schema.pop("title", None)
        description = field_schema.pop("description", None)
        parameter = {"name": name, "in": where, "required": where == "path" or name in required,
                     "schema": openapi30(field_schema)}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _operation(summary: str, tag: str, responses: dict, *, parameters=(), body=None, description=None) -> dict:
    operation = {"summary": summary, "tags": [tag], "operationId": None, "responses": responses}
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = list(parameters)
    if body is not None:
        operation["requestBody"] = body
    return operation


def _paths() -> dict:
    window = ("Windows: `minutes` (the current minute and the N-1 before it; 60 when nothing is given) or "
              "`from` with an optional `to` (ISO 8601, at most 7 days apart; `to` defaults to now). "
              "Counts are by the minute of each tweet's created_at, in UTC.")
    return {
        "/launch": {"post": _operation(
            "Start a stream run with track terms", "streams",
            {"200": _json("the run started", _ref(LaunchAnswer)), "400": BAD_REQUEST,
             "409": _error("MAX_ACTIVE_RUNS runs are active already"),
             "429": _error("an X run: this month's X_MONTHLY_POST_BUDGET is used up"),
             "422": _json("the chosen source is not offered by this deployment", _ref(SourceUnavailableAnswer)),
             "500": FAILED, "504": TIMED_OUT},
            body={"required": True, "content": {"application/json": {"schema": _ref(LaunchRequest)}}},
        )},
        "/stop": {"post": _operation(
            "Stop a run: the one named, or the caller's only active run", "streams",
            {"200": _json("the run stopped; its final figures", _ref(RunAnswer)), "400": BAD_REQUEST,
             "404": _error("no such run"),
             "409": _error("no run of the caller's is active, several are (the message lists them), "
                           "or the named run is not active"),
             "500": FAILED, "504": TIMED_OUT},
            body={"required": False, "content": {"application/json": {"schema": _ref(StopRequest)}}},
            description="`{\"run_id\": n}` stops that run (its owner's or an admin's to stop); without a body, "
                        "the caller's only active run.",
        )},
        "/statistics": {"get": _operation(
            "Amount, speed and elapsed time over every run, or one owner's", "streams",
            {"200": _json("the figures", _ref(StatisticsAnswer)), "400": BAD_REQUEST, "500": FAILED,
             "504": TIMED_OUT},
            parameters=parameters_of(OwnerQuery),
        )},
        "/statistics/budget": {"get": _operation(
            "The X API's posts this month against the monthly budget, with the estimated cost", "streams",
            {"200": _json("the budget", _ref(BudgetAnswer)), "500": FAILED, "504": TIMED_OUT},
        )},
        "/statistics/runs": {"get": _operation(
            "The runs with their figures, newest first, a page at a time", "streams",
            {"200": _json("the runs; the next page: `cursor` = the last run_id", _array_of(RunAnswer)),
             "400": BAD_REQUEST, "500": FAILED, "504": TIMED_OUT},
            parameters=parameters_of(RunsQuery),
        )},
        "/statistics/runs/{run_id}": {"get": _operation(
            "One run's figures", "streams",
            {"200": _json("the run", _ref(RunAnswer)), "404": _error("no such run"), "500": FAILED, "504": TIMED_OUT},
            parameters=[{"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        )},
        "/statistics/runs/{run_id}/retry": {"post": _operation(
            "Send a run's failed batches through the filter again (its owner or an admin)", "streams",
            {"200": _json("what the retry did", _ref(RetryAnswer)), "404": _error("no such run"),
             "500": FAILED, "504": TIMED_OUT},
            parameters=[{"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        )},
        "/api/v1/populate": {"post": _operation(
            "Fetch and store recent tweets for each tag", "views",
            {"201": _json("what was stored per tag", _ref(PopulateAnswer)), "400": BAD_REQUEST,
             "429": _error("from the X API: more posts than this month's X_MONTHLY_POST_BUDGET has left; "
                           "`error` says how many are left"),
             "500": _error("the source or the database failed; `error` says why")},
            body={"required": False, "content": {"application/json": {"schema": _ref(PopulateRequest)}}},
            description="The body is optional: ten default tags, 100 tweets each.",
        )},
        "/api/v1/users": {"get": _operation(
            "The five most-followed authors", "views",
            {"200": _json("the authors", _array_of(TopUser)), "500": FAILED, "504": TIMED_OUT},
        )},
        "/api/v1/hour": {"get": _operation(
            "Tweets per hour", "views",
            {"200": _json("`by=hour`: each hour (UTC) with tweets, in time order; `by=hour_of_day`: 24 rows",
                          {"anyOf": [_array_of(HourCount), _array_of(HourOfDayCount)]}),
             "400": BAD_REQUEST, "500": FAILED, "504": TIMED_OUT},
            parameters=parameters_of(HourQuery),
        )},
        "/api/v1/tags": {"get": _operation(
            "Tweets per tag, country and language, biggest first", "views",
            {"200": _json("the rows", _array_of(TagCount)), "400": BAD_REQUEST, "500": FAILED, "504": TIMED_OUT},
            parameters=parameters_of(TagsQuery),
        )},
        "/api/v1/hashtags/top": {"get": _operation(
            "The most used hashtags in a time window", "analytics",
            {"200": _json("most used first, ties by tag", _array_of(HashtagCount)), "400": BAD_REQUEST,
             "500": FAILED, "504": TIMED_OUT},
            parameters=parameters_of(TopHashtagsRequest), description=window,
        )},
        "/api/v1/aggregates": {"get": _operation(
            "Tweets per minute in a time window, with filters", "analytics",
            {"200": _json("every minute of the window in order, 0 where no tweet", _array_of(MinuteCount)),
             "400": BAD_REQUEST, "500": FAILED, "504": TIMED_OUT},
            parameters=parameters_of(AggregatesRequest),
            description=window + " Filters combine with AND.",
        )},
        "/api/v1/users/{username}/tweets": {"get": _operation(
            "One author's profile and newest tweets", "analytics",
            {"200": _json("the author and tweets", _ref(UserTweetsAnswer)), "400": BAD_REQUEST,
             "404": _error("no stored tweet has this author"), "500": FAILED, "504": TIMED_OUT},
            parameters=parameters_of(UserTweetsRequest, "path", ("username",))
            + parameters_of(UserTweetsRequest, "query", ("limit",)),
        )},
        "/api/me": {"get": _operation(
            "The caller's role and name", "streams",
            {"200": _json("the caller", _ref(CallerAnswer))},
        )},
        "/api/health": {"get": _operation(
            "Database, broker and tweet source checks", "operations",
            {"200": _json("every check passed", _ref(HealthAnswer)),
             "500": _json("a check failed; it says why", _ref(HealthAnswer))},
        )},
        "/metrics": {"get": _operation(
            "Prometheus metrics", "operations", {"200": _content("Prometheus text format", "text/plain")},
        )},
        "/": {"get": _operation(
            "The web dashboard", "site", {"200": _content("the dashboard page", "text/html")},
        )},
        "/static/{path}": {"get": _operation(
            "The dashboard's scripts and styles", "site",
            {"200": _content("the file", "text/html", "text/css", "text/javascript"),
             "304": {"description": "not modified"}, "404": _error("no such file")},
            parameters=[{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
        )},
        "/openapi.json": {"get": _operation(
            "This document", "site", {"200": _json("the OpenAPI document", {"type": "object"})},
        )},
        "/docs": {"get": _operation(
            "Swagger UI over this document", "site", {"200": _content("the Swagger UI page", "text/html")},
        )},
        "/docs/assets/{path}": {"get": _operation(
            "Swagger UI's scripts and styles (from the swagger-ui-bundle package)", "site",
            {"200": _content("the file", "text/css", "text/javascript", "text/html", "image/png",
                             "application/octet-stream"),
             "304": {"description": "not modified"}, "404": _error("no such file, or Swagger UI is not installed")},
            parameters=[{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
        )},
    }


def _version() -> str:
    try:
        return metadata.version("tweetstream")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@functools.cache
def _document() -> dict:
    _, definitions = models_json_schema([(model, "validation") for model in REQUEST_MODELS + ANSWER_MODELS],
                                        ref_template="#/components/schemas/{model}")
    paths = _paths()
    for path, operations in paths.items():
        for method, operation in operations.items():
            # "get /api/v1/hashtags/top" -> get_api_v1_hashtags_top: unique, and stable across versions
            operation["operationId"] = (method + path).replace("/", "_").replace("{", "").replace("}", "").replace(
                ".", "_").rstrip("_") or method
            # the same rule the gateway enforces (services/gateway/auth.py)
            role = required_role(re.sub(r"/\{[^}]+\}$", "", path), method)
            if method.upper() in WRITE_METHODS and re.sub(r"\{(\w+)\}", r"<\1>", path) in OPERATOR_ROUTES:
                role = OPERATOR
            if role is None:
                operation["security"] = []
            else:
                operation["responses"].setdefault("401", _error("no API token, or an unknown one"))
                if role == ADMIN:
                    operation["responses"].setdefault("403", _error("this needs the admin role"))
                elif role == OPERATOR:
                    operation["responses"].setdefault(
                        "403", _error("this needs the operator role, and an operator's own run (or an admin)"))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Tweet stream analytics", "version": _version(),
                 "description": "Stream runs over track terms, their statistics, and analytic views of the "
                                "stored tweets. Every error is a JSON object with an `error` string."},
        "servers": [{"url": "/"}],
        "tags": [{"name": "streams"}, {"name": "views"}, {"name": "analytics"}, {"name": "operations"},
                 {"name": "site"}],
        "paths": paths,
        "components": {"schemas": {name: openapi30(schema) for name, schema in definitions["$defs"].items()},
                       "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearerAuth": []}],
    }


def openapi_document() -> dict:
    """The document (a copy: callers may change theirs)."""
    return copy.deepcopy(_document())
