"""Deleting ended picking sessions at Google (their baseUrls stop working), patiently when asked to, and by one
caller at a time across replicas."""

from __future__ import annotations

import asyncio
import logging
import time

from bot.google.errors import LinkBroken, NotLinked
from bot.google.picker import PickerClient
from storage.leases import LeaseRepository
from storage.picks import PickRepository, PickSession

log = logging.getLogger(__name__)

GOOGLE_OUTAGE_PAUSES = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0)  # when the client's own retries have failed


class GoogleCleanup:
    """Deletes a session at Google once: whoever deletes it claims it first (a lease the keeper renews), so that no
    second caller (another replica's start-up clean-up, a user's new pick) sends the same DELETE while the first
    waits out Google's Retry-After, which the second one would break."""

    def __init__(self, picker: PickerClient, repo: PickRepository, leases: LeaseRepository) -> None:
        self._picker = picker
        self._repo = repo
        self._leases = leases
        self._deleting: set[int] = set()  # here: the claim in the database is a replica's, not a caller's

    async def delete(self, session: PickSession, *, patient: bool = False) -> None:
        """Delete the picking session at Google and record that it is gone; nothing when it is gone already or
        someone else is deleting it.

        When Google keeps failing, a `patient` caller (a delivery finishing, a background clean-up) tries again
        after growing pauses until it works or Google's own expiry makes it moot; others leave it to the next
        start, which retries every session not yet deleted.
        """
        if session.id in self._deleting or not await self._leases.claim_deletion(session.id):
            return
        self._deleting.add(session.id)
        try:
            if await self._delete(session, patient):
                await self._repo.mark_google_deleted(session.id)
        finally:
            self._deleting.discard(session.id)
            await self._leases.release("deletion", session.id)

    async def _delete(self, session: PickSession, patient: bool) -> bool:
        """Whether Google deleted it (or has it gone already)."""
        pauses = iter(GOOGLE_OUTAGE_PAUSES if patient else ())
        while True:
            try:
                await self._picker.delete_session(session.user_id, session.google_session_id)
            except (LinkBroken, NotLinked) as exc:
                log.warning("cannot delete Google session of pick %s: %s", session.id, type(exc).__name__)
                return False
            except Exception as exc:
                pause = next(pauses, None)
                if pause is None or time.time() + pause >= session.expire_time:
                    log.warning("could not delete Google session of pick %s yet: %s", session.id, type(exc).__name__)
                    return False
                log.info(
                    "could not delete Google session of pick %s (%s); again in %.0f s",
                    session.id,
                    type(exc).__name__,
                    pause,
                )
                await asyncio.sleep(pause)
                continue
            return True
