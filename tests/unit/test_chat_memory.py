"""A chat's memory of what it was sent (no repeats), on both databases: forgotten after DEDUP_DAYS (everything with 0),
and "Send them anyway" reopening a pick once, for its picker only, while the offer lasts and a copy is remembered."""

from __future__ import annotations

import time

from bot.outcomes import SkipReason
from bot.retention import forget_old_sends
from storage.chat_memory import ChatMemoryRepository, Sent, media_key
from storage.database import Database
from storage.picks import PickItem, PickRepository, PickSession
from tests.unit.conftest import waiting_session

DAY = 86_400.0


def sent(chat_id: int, media_id: str, content: str) -> Sent:
    return Sent(chat_id, media_key(1, media_id), content, f"file-{content}", "photo")


async def test_what_a_chat_was_sent_is_forgotten_after_dedup_days(db: Database) -> None:
    memory = ChatMemoryRepository(db)
    await memory.remember([sent(-100, "old", "h-old"), sent(-100, "new", "h-new")])
    await db.execute("UPDATE chat_memory SET seen_at = ? WHERE content_hash = 'h-old'", (time.time() - 366 * DAY,))
    assert await forget_old_sends(memory, 365) == 1
    assert await memory.seen_media(-100, media_key(1, "old")) is None
    assert await memory.seen_media(-100, media_key(1, "new")) == "h-new"
    assert await memory.seen_content(-100, "h-new") and not await memory.seen_content(-200, "h-new")
    assert await forget_old_sends(memory, 0) == 1  # DEDUP_DAYS=0: nothing is kept
    assert await memory.copy_of("h-new") is None


async def finished_with_a_repeat(picks: PickRepository, memory: ChatMemoryRepository) -> PickSession:
    """A done pick of user 1 whose second item was skipped as a repeat of a copy the chat remembers."""
    session = await waiting_session(picks, time.time() + 3600)
    await picks.save_items(
        session.id, [PickItem(n, f"m{n}", "PHOTO", f"{n}.jpg", "image/jpeg", 1, 1) for n in range(2)]
    )
    await picks.mark_sent(session.id, {0: 10})
    await picks.mark_skipped(session.id, 1, SkipReason.REPEAT, seen_hash="h1")
    await memory.remember([sent(1, "m1", "h1")])
    await picks.set_status(session.id, "done")
    return session


async def reopen(picks: PickRepository, session_id: int, user_id: int) -> PickSession | None:
    return await picks.reopen_for_repeats(session_id, user_id, holder="test", lease_seconds=30)


async def test_send_them_anyway_reopens_a_pick_once_for_its_picker(db: Database) -> None:
    picks, memory = PickRepository(db), ChatMemoryRepository(db)
    session = await finished_with_a_repeat(picks, memory)
    assert await reopen(picks, session.id, 1) is None  # no summary offered it yet
    await picks.offer_repeats(session.id, time.time() + DAY)
    assert await reopen(picks, session.id, 2) is None  # not the picker
    reopened = await reopen(picks, session.id, 1)
    assert reopened is not None and reopened.status == "delivering" and reopened.repeats_until is None
    items = await picks.items(session.id)
    assert [(i.status, i.reason, i.seen_hash) for i in items] == [("sent", None, None), ("pending", None, "h1")]
    assert await reopen(picks, session.id, 1) is None  # used


async def test_send_them_anyway_changes_nothing_once_expired_or_forgotten(db: Database) -> None:
    picks, memory = PickRepository(db), ChatMemoryRepository(db)
    session = await finished_with_a_repeat(picks, memory)
    await picks.offer_repeats(session.id, time.time() - 1)
    assert await reopen(picks, session.id, 1) is None  # expired
    await picks.offer_repeats(session.id, time.time() + DAY)
    await memory.forget_before(time.time() + 1)
    assert await reopen(picks, session.id, 1) is None  # no copy left to send
    after = await picks.get_session(session.id)
    assert after is not None and after.status == "done"
    assert [i.status for i in await picks.items(session.id)] == ["sent", "skipped"]
