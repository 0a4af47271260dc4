"""Fixtures shared by the emulators' own tests: each emulator, a bot client of the Telegram one, plain HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator

CLIENT_ID = "cid.apps.googleusercontent.com"
SECRET = "secret"
REDIRECT = "http://127.0.0.1:8765/oauth/callback"
TOKEN = "123456:TEST"
ALICE, BOB = 111, 222


@pytest.fixture
async def google() -> AsyncIterator[GoogleEmulator]:
    async with GoogleEmulator(client_id=CLIENT_ID, client_secret=SECRET, redirect_uris={REDIRECT}) as g:
        yield g


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(token=TOKEN, bot_username="photos_test_bot")
    await emulator.start()
    emulator.add_user(ALICE, "Alice", username="alice")
    emulator.add_user(BOB, "Bob")
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def bot(tg: TelegramEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=f"{tg.url}/bot", base_file_url=f"{tg.url}/file/bot") as client:
        yield client


@pytest.fixture
def started(tg: TelegramEmulator) -> TelegramEmulator:
    """Alice has opened the private chat with the bot."""
    tg.send_text(ALICE, "/start")
    tg.pending_updates.clear()
    return tg
