"""Deleting a session at Google once: a second caller in the same replica (a user's new pick closing their sessions
while a clean-up waits out Google) or in another one leaves it to the first."""

from __future__ import annotations

import asyncio
import time
from typing import cast

from bot.google.picker import PickerClient
from bot.session_cleanup import GoogleCleanup
from storage.database import Database
from storage.leases import LeaseRepository
from storage.picks import PickRepository
from tests.unit.conftest import waiting_session


class SlowGoogle:
    """Google's sessions.delete, answering only when told to."""

    def __init__(self) -> None:
        self.deletes = 0
        self.answer = asyncio.Event()

    async def delete_session(self, user_id: int, session_id: str) -> None:
        self.deletes += 1
        await self.answer.wait()


async def test_a_session_is_deleted_once_while_others_ask_meanwhile(db: Database) -> None:
    picks = PickRepository(db)
    session = await waiting_session(picks, time.time() + 600)
    await picks.set_status(session.id, "done")
    google = SlowGoogle()
    here = GoogleCleanup(cast(PickerClient, google), picks, LeaseRepository(db, "test", 30))
    there = GoogleCleanup(cast(PickerClient, google), picks, LeaseRepository(db, "b", 30))
    first = asyncio.create_task(here.delete(session, patient=True))
    while google.deletes == 0:  # noqa: ASYNC110 - the fake has no event for a call's arrival; it comes within a loop turn
        await asyncio.sleep(0)
    async with asyncio.timeout(10):  # a second DELETE would wait for Google's answer, which waits for the test
        await here.delete(session)  # the same replica: its claim in the database is no use here
        await there.delete(session)  # another replica
    assert google.deletes == 1
    google.answer.set()
    await first
    assert [s.id for s in await picks.sessions_to_delete_at_google()] == []
    await there.delete(session)  # deleted already: nothing to do
    assert google.deletes == 1
