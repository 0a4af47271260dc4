"""Helpers for pick tests: link, start a pick, inspect what arrived."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from emulators.google import GoogleEmulator, MediaItem, SessionRecord
from emulators.telegram import MessageRecord, TelegramEmulator
from tests.harness import BotProcess, Person, rows

RENDITION = "=w2560-h2560"


async def link(person: Person) -> None:
    await person.link()
    await person.tg.wait_for_message(person.user_id, lambda m: "Linked to" in (m.text or ""))


async def no_active_picks(bot: BotProcess, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait until the bot's database holds no pick under way (the bot runs in another process)."""
    async with asyncio.timeout(timeout):
        while await rows(bot, "SELECT 1 FROM pick_sessions WHERE status IN ('waiting', 'picked', 'delivering')"):  # noqa: ASYNC110  (the state lives in another process's database)
            await asyncio.sleep(0.02)


async def start_pick(person: Person, command: str = "/pick", chat_id: int | None = None) -> tuple[Any, SessionRecord]:
    known = set(person.google.sessions)
    prompt = await person.reply_to(command, lambda m: "Open Google Photos" in str(m.reply_markup), chat_id)
    session = await person.google.wait_for_session(lambda s: s.id not in known)
    return prompt, session


async def wait_summary(tg: TelegramEmulator, chat_id: int, timeout: float = 30.0) -> MessageRecord:  # noqa: ASYNC109
    return await tg.wait_for_message(chat_id, lambda m: "Delivered" in (m.text or ""), timeout=timeout)


def media(tg: TelegramEmulator, chat_id: int) -> list[MessageRecord]:
    return [m for m in tg.messages(chat_id) if m.from_bot and m.kind in ("photo", "video", "document")]


def served_sha(google: GoogleEmulator, item: MediaItem, suffix: str) -> str:
    hashes = {s.sha256 for s in google.served if s.item_id == item.id and s.suffix == suffix}
    assert len(hashes) == 1, f"{item.filename}{suffix} served {len(hashes)} different bodies"
    return hashes.pop()


def assert_delivered_in_order(
    tg: TelegramEmulator, google: GoogleEmulator, chat_id: int, expected: list[tuple[MediaItem, str]]
) -> None:
    """Exactly these items, each once, in this order, byte for byte what Google served."""
    delivered = [m.file.sha256 for m in media(tg, chat_id) if m.file is not None]
    assert delivered == [served_sha(google, item, suffix) for item, suffix in expected]


def temp_files(bot: BotProcess) -> list[Path]:
    """Files left in the bot's work directories (os.walk, unlike rglob, skips a folder the bot removes meanwhile)."""
    return [Path(folder) / name for folder, _, names in os.walk(bot.workdir / "data" / "tmp") for name in names]


async def wait_prompt_stored(bot: BotProcess, google_session_id: str) -> None:
    """Wait until the bot has recorded the message id of the pick's prompt, which it does just after sending it: a
    /cancel typed before that (no person is that quick) gets a new message, the prompt being unknown to edit."""
    sql = "SELECT 1 FROM pick_sessions WHERE google_session_id = ? AND prompt_message_id IS NOT NULL"
    async with asyncio.timeout(20):
        while not await rows(bot, sql, (google_session_id,)):  # noqa: ASYNC110  (another process's database)
            await asyncio.sleep(0.02)


async def wait_items_sent(bot: BotProcess, count: int, timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Wait until the bot's database records `count` items as sent (the bot runs in another process)."""

    async def sent() -> int:
        [row] = await rows(bot, "SELECT count(*) AS n FROM pick_items WHERE status = 'sent'")
        return int(row["n"])

    async with asyncio.timeout(timeout):
        while await sent() < count:  # noqa: ASYNC110  (the state lives in another process's database)
            await asyncio.sleep(0.02)
