"""Start the emulators, set up the demo world, run the real bot (bot.app.run) against them with the demo
page mounted on its web server, print the address; SIGTERM or Ctrl-C stops everything."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import webbrowser
from pathlib import Path

from cryptography.fernet import Fernet

from bot.app import StartupError, run
from bot.config import ConfigError, load_settings
from bot.logs import setup_logging
from emulators.demo import world
from emulators.demo.page import DemoPage
from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot demo", description=__doc__)
    parser.add_argument("--open", action="store_true", help="open the page in the browser")
    parser.add_argument("--language", default="en", help="the language code of the demo's Telegram users")
    args = parser.parse_args(argv)
    # A fresh temporary folder each time: the emulators keep their state in memory, so a database kept from
    # an earlier run would hold Google links and chats that no longer exist. It is removed at exit.
    with tempfile.TemporaryDirectory(prefix="photos-bot-demo-") as folder:
        try:
            asyncio.run(demo(Path(folder), args.open, args.language))
        except (StartupError, ConfigError) as exc:
            print(f"Cannot start the demo: {exc}", file=sys.stderr)
            sys.exit(1)


async def demo(folder: Path, open_browser: bool, language: str) -> None:
    (folder / "files").mkdir()
    tg = TelegramEmulator(world.BOT_TOKEN, world.BOT_USERNAME, bot_first_name="Photos", files_dir=folder / "files")
    google = GoogleEmulator(world.CLIENT_ID, world.CLIENT_SECRET)
    google.consent_page = True
    await tg.start()
    await google.start()
    try:
        world.populate(tg, google, language)
        port = os.environ.get("HTTP_PORT", "").strip() or "8080"
        address = f"http://localhost:{port}"
        google.redirect_uris.add(f"{address}/oauth/callback")
        settings = load_settings(
            {
                "TELEGRAM_BOT_TOKEN": world.BOT_TOKEN,
                "TELEGRAM_API_URL": tg.url,
                "GOOGLE_CLIENT_ID": world.CLIENT_ID,
                "GOOGLE_CLIENT_SECRET": world.CLIENT_SECRET,
                "GOOGLE_AUTH_URL": google.auth_url,
                "GOOGLE_TOKEN_URL": google.token_url,
                "GOOGLE_REVOKE_URL": google.revoke_url,
                "GOOGLE_USERINFO_URL": google.userinfo_url,
                "PICKER_API_URL": google.picker_api_url,
                "PUBLIC_URL": address,
                "HTTP_HOST": "127.0.0.1",  # the emulators answer anyone who can reach them: this machine only
                "HTTP_PORT": port,
                "DATABASE_URL": f"sqlite:///{folder / 'bot.sqlite3'}",
                "ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "LOG_LEVEL": os.environ.get("LOG_LEVEL", "").strip() or "WARNING",
                "SIGN_IN_BY_PASTE": "false",  # the browser is on this machine: Google's redirect reaches the bot
            },
            dotenv=folder / ".env",  # never the working directory's .env: the demo needs none and uses none
        )
        setup_logging(settings.log_level, [])
        page = DemoPage(tg, google)
        announce = asyncio.create_task(_announce(tg, f"{address}/", open_browser))
        try:
            await run(settings, mount=page.mount)
        finally:
            announce.cancel()
    finally:
        await tg.stop()
        await google.stop()
        # Anything the bot did that the real services would refuse or show badly (the tests look for these).
        for violation in tg.violations + google.violations:
            print(f"emulator violation: {violation}", file=sys.stderr)


async def _announce(tg: TelegramEmulator, url: str, open_browser: bool) -> None:
    """Print the address once the bot receives updates (its web server is listening by then)."""
    await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), timeout=60, what="the bot polling")
    print(url, flush=True)
    if open_browser:
        await asyncio.to_thread(webbrowser.open, url)
