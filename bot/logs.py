"""Logging set-up: one line (text or JSON) per event, secrets masked, chatty library loggers quietened."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

# URLs of the Bot API carry the token; OAuth redirects carry codes. Mask both shapes wherever they appear.
_PATTERNS = (
    re.compile(r"bot\d+:[A-Za-z0-9_-]+"),
    re.compile(r"(?i)\b(code|access_token|refresh_token|client_secret|token|state|s)=[^&\s\"']+"),
)


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._secrets: list[str] = []
        for secret in secrets:
            self.add_secret(secret)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def add_secret(self, secret: str) -> None:
        if secret and len(secret) >= 6:
            self._secrets.append(secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _PATTERNS[0].sub("bot***", text)
        return _PATTERNS[1].sub(lambda m: f"{m.group(1)}=***", text)


# Ids handed to a log call with extra={...} become fields of the JSON line.
CONTEXT_FIELDS = ("user_id", "chat_id", "session_id")


class JsonFormatter(RedactingFormatter):
    """One JSON object per line: time, level, logger, message, the context ids given, any traceback."""

    def __init__(self, secrets: Iterable[str], replica: str | None = None) -> None:
        super().__init__("%(message)s", secrets)
        self._replica = replica

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        if self._replica is not None:
            entry["replica"] = self._replica
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value if isinstance(value, int) else self.redact(str(value))
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, secrets: Iterable[str], log_format: str = "text", replica: str | None = None) -> None:
    """`replica` (REPLICA_NAME, with several replicas on PostgreSQL) goes into every line: which process wrote it.
    Its characters are checked in bot/config.py, so it is safe inside the format string."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(secrets, replica))
    else:
        who = f" {replica}" if replica is not None else ""
        handler.setFormatter(RedactingFormatter(f"%(asctime)s{who} %(levelname)s %(name)s: %(message)s", secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings become log lines too, in the same format
    # httpx logs every request URL at INFO (the Bot API URL holds the token); aiohttp's access log
    # prints query strings (the OAuth callback's code). Neither is needed at INFO.
    # aiosqlite logs every statement with its parameters at DEBUG (ciphertexts, ids): too much even there.
    for name in ("httpx", "httpcore", "aiohttp.access", "apscheduler", "aiosqlite"):
        logging.getLogger(name).setLevel(logging.WARNING)


def mask(secret: str) -> None:
    """Mask one more secret in every log line from now on (one made after logging was set up)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, RedactingFormatter):
            handler.formatter.add_secret(secret)
