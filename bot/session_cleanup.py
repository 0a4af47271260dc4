"""Deleting an ended picking session at Google (its baseUrls stop working), patiently when asked to."""

from __future__ import annotations

import asyncio
import logging
import time

from bot.google.errors import LinkBroken, NotLinked
from bot.google.picker import PickerClient
from storage.picks import PickRepository, PickSession

log = logging.getLogger(__name__)

GOOGLE_OUTAGE_PAUSES = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0)  # when the client's own retries have failed


async def delete_at_google(
    picker: PickerClient, repo: PickRepository, session: PickSession, *, patient: bool = False
) -> None:
    """Delete the picking session at Google and record that it is gone.

    When Google keeps failing, a `patient` caller (a delivery finishing, a background clean-up) tries again
    after growing pauses until it works or Google's own expiry makes it moot; others leave it to the next
    start, which retries every session not yet deleted.
    """
    pauses = iter(GOOGLE_OUTAGE_PAUSES if patient else ())
    while True:
        try:
            await picker.delete_session(session.user_id, session.google_session_id)
        except (LinkBroken, NotLinked) as exc:
            log.warning("cannot delete Google session of pick %s: %s", session.id, type(exc).__name__)
            return
        except Exception as exc:
            pause = next(pauses, None)
            if pause is None or time.time() + pause >= session.expire_time:
                log.warning("could not delete Google session of pick %s yet: %s", session.id, type(exc).__name__)
                return
            log.info(
                "could not delete Google session of pick %s (%s); again in %.0f s",
                session.id,
                type(exc).__name__,
                pause,
            )
            await asyncio.sleep(pause)
            continue
        await repo.mark_google_deleted(session.id)
        return
