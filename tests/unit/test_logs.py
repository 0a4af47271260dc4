"""Log lines: text or JSON, secrets masked either way."""

from __future__ import annotations

import json
import logging
import sys

from bot.logs import JsonFormatter, RedactingFormatter

SECRET = "client-secret-value"


def record(message: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(f"failed with {SECRET}")
        except RuntimeError:
            exc_info = sys.exc_info()
    entry = logging.LogRecord("bot.test", logging.WARNING, __file__, 1, message, args, exc_info)
    entry.__dict__.update(extra)
    return entry


def test_json_lines_carry_the_context_ids_and_no_secrets() -> None:
    formatter = JsonFormatter([SECRET])
    line = formatter.format(
        record(
            "GET https://api.telegram.org/bot123:ABC-def/getMe?code=4/0Ab%s said %s",
            "x",
            f'"{SECRET}"',
            exc=True,
            user_id=7,
            chat_id=-100,
            session_id=3,
        )
    )
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "bot.test"
    assert entry["time"].endswith("+00:00")
    assert entry["message"] == 'GET https://api.telegram.org/bot***/getMe?code=*** said "***"'
    assert (entry["user_id"], entry["chat_id"], entry["session_id"]) == (7, -100, 3)
    assert "RuntimeError: failed with ***" in entry["exception"]
    assert SECRET not in line


def test_ids_are_left_out_when_not_given() -> None:
    entry = json.loads(JsonFormatter([]).format(record("plain")))
    assert set(entry) == {"time", "level", "logger", "message"}


def test_a_replica_on_postgresql_names_itself_in_every_line() -> None:
    entry = json.loads(JsonFormatter([], replica="web-2").format(record("plain")))
    assert entry["replica"] == "web-2"


def test_a_secret_known_later_is_masked_from_then_on() -> None:
    formatter = RedactingFormatter("%(message)s", [])
    assert formatter.format(record("webhook secret abcdef123")) == "webhook secret abcdef123"
    formatter.add_secret("abcdef123")
    assert formatter.format(record("webhook secret abcdef123")) == "webhook secret ***"
