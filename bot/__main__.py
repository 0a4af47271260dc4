"""`python -m bot`: load settings, set up logging, run until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import sys

from bot.app import StartupError, run
from bot.config import ConfigError, load_settings
from bot.logs import setup_logging


def main() -> None:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    setup_logging(
        settings.log_level,
        [settings.telegram_bot_token, settings.google_client_secret, settings.encryption_key or ""],
        settings.log_format,
    )
    try:
        asyncio.run(run(settings))
    except StartupError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
