"""Webhook mode: Telegram POSTs each update to us, proving it is Telegram with a secret token."""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from telegram import Bot, Update

from bot.crypto import create_private_file

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_FILE_NAME = "webhook.secret"


def load_or_create_secret(configured: str | None, data_dir: Path) -> str:
    """TELEGRAM_WEBHOOK_SECRET, or the secret generated once and kept beside the database (mode 0600)."""
    if configured:
        return configured
    path = data_dir / SECRET_FILE_NAME
    if not path.exists():
        create_private_file(path, secrets.token_urlsafe(32).encode("ascii"))  # 43 of [A-Za-z0-9_-]
        log.info("TELEGRAM_WEBHOOK_SECRET is not set: generated one into %s (mode 0600)", path)
    return path.read_text(encoding="ascii").strip()


def update_receiver(
    secret: str, bot: Bot, queue: asyncio.Queue[object], accepting: Callable[[], bool]
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler for POST WEBHOOK_PATH: check the secret, parse the update, queue it for the application."""
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), expected):
            log.warning("refused a webhook request without the right secret token")
            return web.Response(status=403)
        if not accepting():
            return web.Response(status=503)  # starting or stopping: Telegram delivers it again later
        try:
            data = await request.json()
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update = Update.de_json(data, bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return web.Response(status=400)
        await queue.put(update)
        return web.Response()

    return receive
