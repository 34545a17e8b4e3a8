"""Who may call what: API tokens with roles, and the role each gateway route needs.

Tokens come from ``API_TOKENS="token1:admin:alice,token2:operator:bob,token3:viewer"`` or from a
secrets file named by ``API_TOKENS_FILE`` (same format, one entry a line or comma separated; never a
file inside the repository). An entry is ``token:role:name``; ``token:role`` names its user after
the role. A caller sends ``Authorization: Bearer <token>``; logs name the user, never the token.

- ``admin`` may do everything (populate, every run's stop and retry) and read everything;
- ``operator`` may launch runs, stop and retry their own, and read everything;
- ``viewer`` may read every view and the statistics (every GET);
- the probes (``/api/health``, ``/metrics``) and the dashboard with its document are public.

Stage with no token configured stays open (a warning at start): every caller is an admin without a
name, and runs have no owner. Production refuses to start without tokens.
"""
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nameko.extensions import DependencyProvider

from services.contracts.requests import USER_NAME
from services.observability.logs import register_secrets
from services.settings import setting

log = logging.getLogger(__name__)

ADMIN = "admin"
OPERATOR = "operator"
VIEWER = "viewer"
# what each role may also do: an admin does what an operator does, and both read
GRANTS = {ADMIN: frozenset({ADMIN, OPERATOR, VIEWER}), OPERATOR: frozenset({OPERATOR, VIEWER}),
          VIEWER: frozenset({VIEWER})}


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a role and a user's name (None in an open stage gateway)."""

    role: str
    name: str | None

    def as_rpc(self) -> dict:
        """What the gateway tells the services that act for the caller (the launcher)."""
        return {"role": self.role, "name": self.name}


#: every caller of an open stage gateway
OPEN = Caller(ADMIN, None)

# json_endpoint route names anyone may call: probes must answer without a secret, and the
# dashboard (with its OpenAPI document and Swagger UI) asks the user for a token on a 401
PUBLIC_ROUTES = frozenset({"/api/health", "/metrics", "/", "/static", "/openapi.json", "/docs", "/docs/assets"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# the writes an operator may send (to their own runs: the launcher checks whose run it is); every
# other write needs an admin
OPERATOR_ROUTES = frozenset({"/launch", "/stop", "/statistics/runs/<run_id>/retry"})

REPOSITORY = Path(__file__).resolve().parents[2]


class TokenConfigError(ValueError):
    """The token configuration is unusable; the gateway must not start with it."""


def required_role(route: str, method: str) -> str | None:
    """The role a route needs when it does not name one: None (public), operator to launch, stop and
    retry, admin for every other change, viewer to read."""
    if route in PUBLIC_ROUTES:
        return None
    if method.upper() not in WRITE_METHODS:
        return VIEWER
    return OPERATOR if route in OPERATOR_ROUTES else ADMIN


def parse_tokens(text: str) -> dict[str, Caller]:
    """``token:role:name`` or ``token:role`` entries separated by commas or new lines (blank ones and
    # comments skipped). A token may hold colons itself: the role is the last part or the one before
    a name."""
    tokens = {}
    for number, entry in enumerate(text.replace(",", "\n").splitlines(), 1):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        parts = [part.strip() for part in entry.split(":")]
        if len(parts) >= 3 and parts[-1] in GRANTS and parts[-2] in GRANTS:
            raise TokenConfigError(f"API token entry {number} is ambiguous: a user may not be named after a role")
        if len(parts) >= 2 and parts[-1] in GRANTS:
            token, role, name = ":".join(parts[:-1]), parts[-1], parts[-1]
        elif len(parts) >= 3 and parts[-2] in GRANTS:
            token, role, name = ":".join(parts[:-2]), parts[-2], parts[-1]
        else:
            # never echo the entry: it holds a secret
            raise TokenConfigError(f"API token entry {number} is not 'token:role:name' or 'token:role' "
                                   f"with a role of {sorted(GRANTS)}")
        if not token.strip():
            raise TokenConfigError(f"API token entry {number} has no token")
        if not USER_NAME.fullmatch(name):
            raise TokenConfigError(f"API token entry {number} has the name {name!r}; "
                                   "use 1 to 64 letters, digits or . _ @ -")
        if token.strip() in tokens:
            raise TokenConfigError(f"API token entry {number} repeats the token of an earlier entry")
        tokens[token.strip()] = Caller(role, name)
    return tokens


def read_token_file(name: str) -> str:
    path = Path(name).resolve()
    if path.is_relative_to(REPOSITORY):
        raise TokenConfigError(f"API_TOKENS_FILE {name} is inside the repository; keep secrets out of it "
                               "(e.g. a Docker secret under /run/secrets)")
    try:
        return path.read_text()
    except OSError as error:
        raise TokenConfigError(f"API_TOKENS_FILE {name} cannot be read ({error.strerror})") from None


class TokenTable:
    """The configured tokens: answers which role a presented token has."""

    def __init__(self, tokens: Mapping[str, Caller | str], flavor: str = "stage"):
        self._tokens = [(token.encode(), who if isinstance(who, Caller) else Caller(who, who))
                        for token, who in tokens.items()]
        self.flavor = flavor

    def __len__(self) -> int:
        return len(self._tokens)

    @property
    def configured(self) -> bool:
        return bool(self._tokens)

    @property
    def open(self) -> bool:
        """No token configured on stage: everyone may do everything (a warning said so at start)."""
        return not self._tokens and self.flavor != "production"

    def caller_of(self, token: str | None) -> Caller | None:
        if not token:
            return None
        presented = token.encode()
        found = None
        # compare with every token, in constant time each, so timing tells nothing about which is near
        for known, caller in self._tokens:
            if hmac.compare_digest(presented, known):
                found = caller
        return found

    def role_of(self, token: str | None) -> str | None:
        caller = self.caller_of(token)
        return caller.role if caller else None

    def may(self, role: str | None, required: str) -> bool:
        return role is not None and required in GRANTS[role]

    @classmethod
    def load(cls, config: Mapping) -> "TokenTable":
        """API_TOKENS, or the file API_TOKENS_FILE, from the Nameko config (else config.yml, services/settings.py)."""
        flavor = str(setting(config, "FLAVOR")).strip().lower()
        listed = str(setting(config, "API_TOKENS") or "").strip()
        file_name = str(setting(config, "API_TOKENS_FILE") or "").strip()
        if listed and file_name:
            raise TokenConfigError("set API_TOKENS or API_TOKENS_FILE, not both")
        text = read_token_file(file_name) if file_name else listed
        tokens = parse_tokens(text)
        # masked in this process's logs as parsed here: the log filter's own reading of API_TOKENS
        # cannot tell a token's colons from the separators
        register_secrets(tokens)
        return cls(tokens, flavor)


class ApiTokens(DependencyProvider):
    """Loads the API tokens when the gateway starts; gives each worker the table to ask ``role_of``."""

    def setup(self):
        self.table = TokenTable.load(self.container.config)
        if self.table.configured:
            log.info("access control: %d API token(s) configured", len(self.table))
        elif self.table.flavor == "production":
            # raising here stops the container: better no gateway than an open one in production
            raise TokenConfigError("the production flavor needs API tokens: set API_TOKENS='token:admin,...' "
                                   "or API_TOKENS_FILE to a secrets file")
        else:
            log.warning("no API tokens configured: the stage gateway is open to every caller "
                        "(set API_TOKENS or API_TOKENS_FILE to require them)")

    def get_dependency(self, worker_ctx):
        return self.table


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None when absent or another scheme)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
