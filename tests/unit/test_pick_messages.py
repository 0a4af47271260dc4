"""The pick's summary: within Telegram's 4096 characters, valid HTML, and never re-sent after a refusal."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest
from telegram import Message
from telegram.error import BadRequest, NetworkError
from telegram.ext import ExtBot

from bot.flood import SendInfo
from bot.outcomes import SkipReason
from bot.pick_messages import MAX_TEXT, PickMessages, Skipped, Summary, render_summary
from bot.texts import ENGLISH, Speaker
from emulators.telegram import parse_html


async def english(chat_id: int) -> Speaker:
    return ENGLISH


def test_a_summary_of_many_refusals_stays_within_telegrams_limit() -> None:
    skipped = [
        Skipped(f"<{n:04d}>_" + "very_long_name" * 20 + ".jpg", 2_000_000, SkipReason.TELEGRAM_REFUSED, f"E{n} " * 80)
        for n in range(300)
    ] + [Skipped("late.mp4", None, SkipReason.STILL_PROCESSING, None)]
    text = render_summary(
        ENGLISH, Summary(total=400, sent=99, skipped=skipped, posted_in=("Family <3", "https://t.me/x"))
    )
    plain, _ = parse_html(text)  # valid HTML: escaped names, whole lines only
    assert len(text.encode("utf-16-le")) // 2 <= MAX_TEXT
    lines = plain.splitlines()
    assert lines[0] == "✅ Delivered 99 of 400" and lines[-1].startswith("Posted in Family <3")
    counts = [re.match(r"· (\d+) ", line) for line in lines[1:-2]]
    listed = sum(int(count.group(1)) for count in counts if count is not None)
    assert len(counts) > 3 and all(counts)
    more = re.fullmatch(r"· and (\d+) more not delivered \(too many reasons to list here\)", lines[-2])
    assert more is not None and listed + int(more.group(1)) == 301
    assert all(len(line) < 400 for line in lines)  # names and reasons are cut short


def test_a_short_summary_is_left_whole() -> None:
    skipped = [Skipped("a.jpg", None, SkipReason.UNAVAILABLE, None)]
    assert render_summary(ENGLISH, Summary(total=2, sent=1, skipped=skipped)) == (
        "✅ Delivered 1 of 2\n· 1 Google could not provide it: a.jpg"
    )


class Chat:
    """A bot whose sendMessage fails with `errors` in turn."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.attempts = 0

    async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> Message:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return cast(Message, object())


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_pause(seconds: float) -> None:
        pass

    monkeypatch.setattr("bot.pick_messages.asyncio.sleep", no_pause)


async def test_a_refused_summary_is_not_sent_again() -> None:
    """BadRequest is a NetworkError in python-telegram-bot: it must not be taken for a network failure."""
    chat = Chat(BadRequest("Message is too long"))
    await PickMessages(cast(ExtBot[SendInfo], chat), english).summary(7, Summary(total=1, sent=1))
    assert chat.attempts == 1


async def test_a_summary_lost_to_the_network_is_sent_again() -> None:
    chat = Chat(NetworkError("Bad Gateway"), NetworkError("Bad Gateway"))
    await PickMessages(cast(ExtBot[SendInfo], chat), english).summary(7, Summary(total=1, sent=1))
    assert chat.attempts == 3


async def test_an_albums_captions_look_the_chats_language_up_once() -> None:
    """Captions are made per album: one language lookup (a database read) for its ten photos, not one each."""
    lookups: list[int] = []

    async def counted(chat_id: int) -> Speaker:
        lookups.append(chat_id)
        return ENGLISH

    messages = PickMessages(cast(ExtBot[SendInfo], None), counted)
    taken = 1_700_000_000.0
    album = [(taken, "Pixel 8"), (None, None), *[(taken, None)] * 8]
    captions = await messages.item_captions(-100, "camera", album)
    assert lookups == [-100]
    assert captions[0] is not None and "Pixel 8" in captions[0]
    assert captions[1] is None and all(c is not None and "Pixel" not in c for c in captions[2:])
    assert await messages.item_captions(-100, "none", album) == [None] * 10
    assert lookups == [-100]  # no captions asked: no lookup at all
