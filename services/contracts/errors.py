"""Errors that cross service boundaries. Nameko's RemoteError carries the class name
(``exc_type``), which the gateway maps to an HTTP status."""
from services.sources.base import SourceUnavailable


class BadRequest(ValueError):
    """The caller sent something unacceptable (400)."""


class NotFound(LookupError):
    """The thing asked for does not exist (404)."""


class Forbidden(PermissionError):
    """The caller's role may do this, but not to this thing, e.g. another user's run (403)."""


class Conflict(Exception):
    """The request clashes with the current state, e.g. a run is already active (409)."""


class BudgetExhausted(Exception):
    """The X API's monthly post budget (X_MONTHLY_POST_BUDGET) cannot pay for this (429)."""


class SourceFailed(Exception):
    """The tweet source failed (500 with the reason)."""


class StorageFailed(Exception):
    """The database could not store what was asked (500 with the reason)."""


HTTP_STATUS = {"BadRequest": 400, "ValidationError": 400, "Forbidden": 403, "NotFound": 404, "Conflict": 409, "BudgetExhausted": 429,
               # well-formed and valid, but this deployment cannot do it: not the caller's syntax (400)
               # nor a state the caller could change and retry (409)
               "SourceUnavailable": 422,
               "SourceFailed": 500, "SourceError": 500,
               "StorageFailed": 500}

# What an RPC entrypoint raises to answer its caller (4xx), not because it failed: declared as
# ``@rpc(expected_exceptions=ANSWERS)``, so that Nameko does not log them as errors with a traceback.
ANSWERS = (BadRequest, Forbidden, NotFound, Conflict, BudgetExhausted, SourceUnavailable)
