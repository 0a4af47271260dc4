"""Several deliveries write through the one shared connection at once (found by the chaos suite)."""

from __future__ import annotations

import asyncio
import time

from storage.database import Database
from storage.picks import PickItem, PickRepository, Route, SentItem


async def test_deliveries_that_list_at_the_same_moment_both_save_their_items(db: Database) -> None:
    picks = PickRepository(db)
    sessions = [
        await picks.create_session(
            google_session_id=f"g{n}",
            user_id=n,
            route=Route(n, n, n, n),
            picker_uri="u",
            delivery_mode="photos",
            poll_interval=5,
            poll_deadline=time.time() + 60,
            expire_time=time.time() + 60,
        )
        for n in range(1, 4)
    ]
    first = sessions[0]
    await picks.save_items(first.id, [PickItem(0, "x", "PHOTO", "x.jpg", "image/jpeg", 1, 1)])
    items = [PickItem(n, f"m{n}", "PHOTO", f"{n}.jpg", "image/jpeg", 1, 1) for n in range(50)]
    # Two deliveries save their listings while a third records an upload Telegram confirmed.
    await asyncio.gather(
        picks.save_items(sessions[1].id, items),
        picks.save_items(sessions[2].id, items),
        picks.mark_sent(first.id, [SentItem(0, 10, "f")], {0: 1}),
    )
    for session in sessions[1:]:
        assert len(await picks.items(session.id)) == 50
        stored = await picks.get_session(session.id)
        assert stored is not None and stored.status == "delivering"
    assert [i.status for i in await picks.items(first.id)] == ["sent"]


async def test_saving_items_again_after_a_crash_in_between_completes_them(db: Database) -> None:
    picks = PickRepository(db)
    session = await picks.create_session(
        google_session_id="g",
        user_id=1,
        route=Route(1, 1, 1, 1),
        picker_uri="u",
        delivery_mode="photos",
        poll_interval=5,
        poll_deadline=time.time() + 60,
        expire_time=time.time() + 60,
    )
    items = [PickItem(n, f"m{n}", "PHOTO", f"{n}.jpg", "image/jpeg", 1, 1) for n in range(5)]
    await picks.save_items(session.id, items[:2])  # as if the bot died after some rows
    await picks.save_items(session.id, items)
    assert [i.media_id for i in await picks.items(session.id)] == [f"m{n}" for n in range(5)]
