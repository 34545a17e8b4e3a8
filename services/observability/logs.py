"""Structured logs: one JSON object per line on stdout, with secrets redacted.

The ``LOGGING`` section of ``config/config.yml`` wires these up (``nameko run`` hands it to
``logging.config.dictConfig``), with the service's name for every line (``SERVICE_NAME``). The filter sits on the
handler, not on a logger, so it also sees records propagated from every library's logger.

Reading the lines::

    python -m services.observability.logs [FILE...]     # or pipe them on stdin
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import re
import sys
from typing import Iterable, TextIO

import orjson

#: Extra fields copied into the JSON object when a call passes them with ``extra=``.
CONTEXT_FIELDS = ("run_id", "batch")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def __init__(self, service: str | None = None, **options):
        super().__init__(**options)
        self.service = service or None

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "service": getattr(record, "service", None) or self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        # default=str: an extra that is not JSON (a datetime, a Decimal) must not lose the line.
        # orjson: the gateway logs a line per request, and json.dumps was 1.8% of its CPU under load
        try:
            return orjson.dumps(entry, default=str).decode()
        except orjson.JSONEncodeError:   # what orjson refuses (an int over 64 bits, a lone surrogate)
            return json.dumps(entry, ensure_ascii=False, default=str)


# scheme://user:PASSWORD@host -- the user part stops at ':' '/' '@', the password at '@'.
_URI_PASSWORD = re.compile(r"(?P<prefix>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")
_SECRET_ENV_VARS = ("X_BEARER_TOKEN", "DB_PASSWORD", "POSTGRES_PASSWORD", "DB_READER_PASSWORD")
MASK = "***"


# Secrets that do not live in the environment (API tokens read from API_TOKENS_FILE).
_REGISTERED_SECRETS: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Mask these values too, from now on, in this process's logs."""
    _REGISTERED_SECRETS.update(v.strip() for v in values if v and v.strip())


def secret_values(environ=os.environ) -> list[str]:
    """The secret strings currently set in the environment or registered, longest first."""
    secrets = [environ.get(name, "") for name in _SECRET_ENV_VARS] + list(_REGISTERED_SECRETS)
    # API_TOKENS is "token:role,token:role": only the tokens are secret, not the roles.
    for entry in environ.get("API_TOKENS", "").replace(",", "\n").splitlines():
        secrets.append(entry.split(":", 1)[0])
    # Longest first, so a secret that contains another is masked whole.
    return sorted({s.strip() for s in secrets if s.strip()}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return _URI_PASSWORD.sub(lambda m: m.group("prefix") + MASK + "@", text)


class RedactSecrets(logging.Filter):
    """Masks secret values from the environment and URI passwords in every record.

    The message is rendered with its args first and the args dropped: that also covers
    args that are not strings but print a secret (an exception carrying a DB URI).
    The environment is read on every record, so a token set after start-up is masked too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = secret_values()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must still be logged, just redacted
            message = " ".join(str(part) for part in (record.msg, record.args))
        record.msg = redact(message, secrets)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


def readable(line: str) -> str:
    """One JSON log line as ``ts level service [run=N batch=M] message``; other lines as they are."""
    # `docker compose logs` puts "name  | " before each line; keep it and read the rest.
    prefix, body = "", line.rstrip("\n")
    if not body.lstrip().startswith("{") and " | {" in body:
        prefix, body = body.split(" | ", 1)
        prefix += " | "
    try:
        entry = json.loads(body)
    except ValueError:
        return line.rstrip("\n")
    if not isinstance(entry, dict) or "message" not in entry:
        return line.rstrip("\n")
    parts = [str(entry.get("ts", "-")), f"{entry.get('level', '-'):<7}", str(entry.get("service") or "-")]
    context = " ".join(f"{label}={entry[key]}" for key, label in (("run_id", "run"), ("batch", "batch")) if key in entry)
    if context:
        parts.append(f"[{context}]")
    parts.append(str(entry["message"]))
    text = prefix + " ".join(parts)
    if entry.get("exc"):
        text += "\n" + str(entry["exc"])
    return text


def print_readable(lines: Iterable[str], out: TextIO) -> None:
    for line in lines:
        out.write(readable(line) + "\n")
        out.flush()  # `make log` follows a live stream


def main(argv: list[str]) -> int:
    try:
        if not argv:
            print_readable(sys.stdin, sys.stdout)
        for path in argv:
            with open(path, encoding="utf-8", errors="replace") as lines:
                print_readable(lines, sys.stdout)
    except BrokenPipeError:  # piped into `head` or `less` that quit
        sys.stderr.close()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
