"""Logging set-up: one line per event, secrets masked, chatty library loggers quietened."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# URLs of the Bot API carry the token; OAuth redirects carry codes. Mask both shapes wherever they appear.
_PATTERNS = (
    re.compile(r"bot\d+:[A-Za-z0-9_-]+"),
    re.compile(r"(?i)\b(code|access_token|refresh_token|client_secret|token|state)=[^&\s\"']+"),
)


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _PATTERNS[0].sub("bot***", text)
        return _PATTERNS[1].sub(lambda m: f"{m.group(1)}=***", text)


def setup_logging(level: str, secrets: Iterable[str]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO (the Bot API URL holds the token); aiohttp's access log
    # prints query strings (the OAuth callback's code). Neither is needed at INFO.
    for name in ("httpx", "httpcore", "aiohttp.access", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
