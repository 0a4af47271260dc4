"""Retention: a finished pick's items (file names, sizes, outcomes) are deleted RETENTION_DAYS after it ended, and
what a chat was sent (digests and file_ids, to skip repeats) DEDUP_DAYS after it was sent."""

from __future__ import annotations

import asyncio
import logging
import time

from storage.chat_memory import ChatMemoryRepository
from storage.picks import PickRepository

log = logging.getLogger(__name__)

PURGE_EVERY = 3600.0  # seconds
PICKS_PER_BATCH = 20  # at most 40 000 rows per statement: other database work goes on in between


async def purge_old_items(picks: PickRepository, retention_days: float) -> int:
    """Delete the items of every pick that ended more than `retention_days` ago; returns how many went."""
    cutoff = time.time() - retention_days * 86_400
    total = 0
    while deleted := await picks.delete_items_ended_before(cutoff, PICKS_PER_BATCH):
        total += deleted
    if total:
        log.info("retention: deleted %d items of picks that ended over %g days ago", total, retention_days)
    return total


async def forget_old_sends(memory: ChatMemoryRepository, dedup_days: float) -> int:
    """Forget what chats were sent more than `dedup_days` ago (with 0, everything: repeats are off)."""
    forgotten = await memory.forget_before(time.time() - dedup_days * 86_400)
    if forgotten:
        log.info("retention: forgot %d items chats were sent over %g days ago", forgotten, dedup_days)
    return forgotten


async def keep_purging(
    picks: PickRepository, retention_days: float, memory: ChatMemoryRepository, dedup_days: float
) -> None:
    """Run until cancelled: purge now, then every PURGE_EVERY seconds."""
    while True:
        try:
            await purge_old_items(picks, retention_days)
            await forget_old_sends(memory, dedup_days)
        except Exception:
            log.exception("retention: could not delete old items; trying again later")
        await asyncio.sleep(PURGE_EVERY)
