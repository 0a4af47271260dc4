"""Webhook mode pieces: the generated secret, and the receiver while the bot is not accepting updates."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from telegram import Bot

from bot.config import WEBHOOK_SECRET
from bot.webhook import SECRET_FILE_NAME, SECRET_HEADER, WEBHOOK_PATH, load_or_create_secret, update_receiver


def test_secret_is_generated_once_private_and_valid(tmp_path: Path) -> None:
    secret = load_or_create_secret(None, tmp_path)
    assert WEBHOOK_SECRET.fullmatch(secret) and len(secret) >= 32
    assert stat.S_IMODE((tmp_path / SECRET_FILE_NAME).stat().st_mode) == 0o600
    assert load_or_create_secret(None, tmp_path) == secret
    assert load_or_create_secret("configured", tmp_path) == "configured"


async def test_updates_wait_at_telegram_while_the_bot_starts_or_stops() -> None:
    queue: asyncio.Queue[object] = asyncio.Queue()
    accepting = False
    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, update_receiver("s3cret", Bot("1:x"), queue, lambda: accepting))
    async with TestClient(TestServer(app)) as client:
        headers = {SECRET_HEADER: "s3cret"}
        assert (await client.post(WEBHOOK_PATH, json={"update_id": 1}, headers=headers)).status == 503
        accepting = True
        assert (await client.post(WEBHOOK_PATH, json={"update_id": 2}, headers=headers)).status == 200
    update = queue.get_nowait()
    assert getattr(update, "update_id", None) == 2 and queue.empty()
