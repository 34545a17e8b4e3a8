"""JSON log lines, secret redaction and the log reader (services.observability.logs)."""
from __future__ import annotations

import io
import json
import logging
import logging.config
import subprocess
import sys
from datetime import datetime

import pytest
import yaml

from services.observability import logs
from services.settings import CONFIG_FILE, config_loader
from tests.unit.deployment_files import (
    ROOT,
)

# --------------------------------------------------------------------------- logs

@pytest.fixture
def log_to_buffer():
    """A logger whose handler is wired like the LOGGING snippet, writing to a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.JsonFormatter(service="filter"))
    handler.addFilter(logs.RedactSecrets())
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, buffer
    logger.removeHandler(handler)


def lines_of(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_formatter_writes_one_object_per_line_with_the_fields(log_to_buffer):
    logger, buffer = log_to_buffer
    logger.info("stored %d tweets", 42, extra={"run_id": 7, "batch": 3})
    logger.warning("from elsewhere", extra={"service": "launcher"})
    first, second = lines_of(buffer)
    assert first["message"] == "stored 42 tweets"
    assert first["level"] == "INFO"
    assert first["service"] == "filter"
    assert first["logger"] == "tests.observability"
    assert (first["run_id"], first["batch"]) == (7, 3)
    assert datetime.fromisoformat(first["ts"].replace("Z", "+00:00")).utcoffset().total_seconds() == 0
    assert second["service"] == "launcher"
    assert "run_id" not in second and "batch" not in second


def test_json_formatter_keeps_a_line_orjson_refuses(log_to_buffer):
    logger, buffer = log_to_buffer
    logger.info("huge batch", extra={"batch": 2**70})   # over 64 bits: orjson refuses it
    [entry] = lines_of(buffer)
    assert entry["batch"] == 2**70 and entry["message"] == "huge batch"


def test_the_soak_finds_the_formatters_error_lines(log_to_buffer):
    from tools.soak import ERROR_LINE
    logger, buffer = log_to_buffer
    logger.error("lost the broker")
    logger.info("level ERROR mentioned in a message")
    error, info = buffer.getvalue().splitlines()
    assert ERROR_LINE.search(error) and not ERROR_LINE.search(info)


def test_json_formatter_keeps_the_traceback(log_to_buffer):
    logger, buffer = log_to_buffer
    try:
        raise ValueError("bad payload")
    except ValueError:
        logger.exception("batch failed")
    [entry] = lines_of(buffer)
    assert "ValueError: bad payload" in entry["exc"]


def test_redaction_masks_environment_secrets_in_message_and_args(log_to_buffer, monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", "AAAA-bearer-secret")
    monkeypatch.setenv("DB_PASSWORD", "db-pass-123")
    monkeypatch.setenv("API_TOKENS", "tok-admin-1:admin,tok-viewer-2:viewer")
    logger, buffer = log_to_buffer
    logger.info("token AAAA-bearer-secret in the message")
    logger.info("token %s and %s in args", "AAAA-bearer-secret", "tok-viewer-2")
    logger.info("api %(token)s", {"token": "tok-admin-1"})
    logger.error("not a string arg: %s", RuntimeError("login failed with db-pass-123"))
    output = buffer.getvalue()
    for secret in ("AAAA-bearer-secret", "tok-admin-1", "tok-viewer-2", "db-pass-123"):
        assert secret not in output
    messages = [entry["message"] for entry in lines_of(buffer)]
    assert messages[0] == "token *** in the message"
    assert messages[1] == "token *** and *** in args"
    assert messages[2] == "api ***"


def test_redaction_keeps_api_token_roles(monkeypatch):
    monkeypatch.setenv("API_TOKENS", "t-one:admin, t-two:viewer")
    assert logs.redact("admin t-one viewer t-two", logs.secret_values()) == "admin *** viewer ***"


def test_redaction_masks_uri_passwords_and_tracebacks(log_to_buffer, monkeypatch):
    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    logger, buffer = log_to_buffer
    logger.info("connecting to %s", "postgresql://postgres:hunter2@db:5432/tweets")
    try:
        raise ConnectionError("amqp://guest:s3cret@rabbitmq:5672/ refused")
    except ConnectionError:
        logger.exception("broker down")
    output = buffer.getvalue()
    assert "hunter2" not in output and "s3cret" not in output
    first, second = lines_of(buffer)
    assert first["message"] == "connecting to postgresql://postgres:***@db:5432/tweets"
    assert "amqp://guest:***@rabbitmq:5672/" in second["exc"]


def test_redaction_ignores_unset_and_empty_variables(monkeypatch):
    for name in ("X_BEARER_TOKEN", "DB_PASSWORD", "POSTGRES_PASSWORD"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("API_TOKENS", "")
    assert logs.secret_values() == []
    assert logs.redact("nothing to hide", []) == "nothing to hide"


def test_config_yml_logging_configures_json_lines_on_stdout(monkeypatch, capsys):
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("X_BEARER_TOKEN", "snippet-secret")
    monkeypatch.setenv("SERVICE_NAME", "launcher")
    config = yaml.load(CONFIG_FILE.read_text(), Loader=config_loader())["LOGGING"]
    assert config["root"]["level"] == "WARNING"
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        logging.getLogger("some.library").info("below the level")
        logging.getLogger("some.library").warning("token snippet-secret")
        [line] = capsys.readouterr().out.splitlines()
    finally:
        for handler in root.handlers:
            if handler not in saved[0]:
                root.removeHandler(handler)
        for handler in saved[0]:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved[1])
    assert json.loads(line)["message"] == "token ***"
    assert json.loads(line)["service"] == "launcher"


def test_log_reader_prints_lines_for_people():
    line = json.dumps({"ts": "2024-05-01T10:00:00.000Z", "level": "INFO", "service": "filter",
                       "logger": "x", "message": "stored", "run_id": 4, "batch": 9})
    assert logs.readable(line) == "2024-05-01T10:00:00.000Z INFO    filter [run=4 batch=9] stored"
    assert logs.readable("plain text, not JSON") == "plain text, not JSON"
    assert logs.readable('["a", "json", "list"]') == '["a", "json", "list"]'
    assert logs.readable("filter_1  | " + line).startswith("filter_1  | 2024-05-01T10:00:00.000Z INFO")


def test_log_reader_runs_as_a_module_on_stdin():
    line = json.dumps({"ts": "t", "level": "ERROR", "service": "gateway", "message": "boom"})
    result = subprocess.run(
        [sys.executable, "-m", "services.observability.logs"],
        input=f"{line}\nraw line\n", capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["t ERROR   gateway boom", "raw line"]


