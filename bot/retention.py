"""Retention: a finished pick's items (file names, sizes, outcomes) are deleted RETENTION_DAYS after it ended."""

from __future__ import annotations

import asyncio
import logging
import time

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


async def keep_purging(picks: PickRepository, retention_days: float) -> None:
    """Run until cancelled: purge now, then every PURGE_EVERY seconds."""
    while True:
        try:
            await purge_old_items(picks, retention_days)
        except Exception:
            log.exception("retention: could not delete old items; trying again later")
        await asyncio.sleep(PURGE_EVERY)
