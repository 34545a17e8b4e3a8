"""Who may call what: API tokens with roles, and the role each gateway route needs.

Tokens come from ``API_TOKENS="token1:admin,token2:viewer"`` or from a secrets file named by
``API_TOKENS_FILE`` (same format, one entry a line or comma separated; never a file inside the
repository). A caller sends ``Authorization: Bearer <token>``.

- ``admin`` may launch, stop and populate (every POST/PUT/PATCH/DELETE), and read everything;
- ``viewer`` may read every view and the statistics (every GET);
- the probes (``/api/health``, ``/metrics``) and the dashboard with its document are public.

Stage with no token configured stays open (a warning at start); production refuses to start.
"""
import hmac
import logging
from collections.abc import Mapping
from pathlib import Path

from nameko.extensions import DependencyProvider

from services.observability.logs import register_secrets
from services.settings import setting

log = logging.getLogger(__name__)

ADMIN = "admin"
VIEWER = "viewer"
# what each role may also do: an admin reads too
GRANTS = {ADMIN: frozenset({ADMIN, VIEWER}), VIEWER: frozenset({VIEWER})}

# json_endpoint route names anyone may call: probes must answer without a secret, and the
# dashboard (with its OpenAPI document and Swagger UI) asks the user for a token on a 401
PUBLIC_ROUTES = frozenset({"/api/health", "/metrics", "/", "/static", "/openapi.json", "/docs", "/docs/assets"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

REPOSITORY = Path(__file__).resolve().parents[2]


class TokenConfigError(ValueError):
    """The token configuration is unusable; the gateway must not start with it."""


def required_role(route: str, method: str) -> str | None:
    """The role a route needs when it does not name one: None (public), admin to change, viewer to read."""
    if route in PUBLIC_ROUTES:
        return None
    return ADMIN if method.upper() in WRITE_METHODS else VIEWER


def parse_tokens(text: str) -> dict[str, str]:
    """``token:role`` entries separated by commas or new lines (blank ones and # comments skipped)."""
    tokens = {}
    for number, entry in enumerate(text.replace(",", "\n").splitlines(), 1):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        token, separator, role = entry.rpartition(":")
        token, role = token.strip(), role.strip()
        if not separator or not token:
            # never echo the entry: it holds a secret
            raise TokenConfigError(f"API token entry {number} is not 'token:role'")
        if role not in GRANTS:
            raise TokenConfigError(f"API token entry {number} has role {role!r}; use one of {sorted(GRANTS)}")
        tokens[token] = role
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

    def __init__(self, tokens: Mapping[str, str], flavor: str = "stage"):
        self._tokens = [(token.encode(), role) for token, role in tokens.items()]
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

    def role_of(self, token: str | None) -> str | None:
        if not token:
            return None
        presented = token.encode()
        found = None
        # compare with every token, in constant time each, so timing tells nothing about which is near
        for known, role in self._tokens:
            if hmac.compare_digest(presented, known):
                found = role
        return found

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
        if file_name:
            register_secrets(tokens)  # not in the environment, where the log filter looks for secrets
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
