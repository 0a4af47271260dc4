"""Leases on both engines: one holder at a time, taken over only once expired, and the hand-over fence that keeps a
replica that lost a pick from sending any more of it."""

from __future__ import annotations

import time

import pytest

from storage.database import Database
from storage.leases import UPDATES, LeaseRepository
from storage.picks import PickItem, PickRepository, PickSession, Route

ITEMS = [PickItem(n, f"m{n}", "PHOTO", f"{n}.jpg", "image/jpeg", 1, 1) for n in range(3)]


async def waiting_session(picks: PickRepository, n: int = 1) -> PickSession:
    """User n's waiting pick, held by replica "test" from its creation."""
    return await picks.create_session(
        google_session_id=f"g{n}",
        user_id=n,
        route=Route(n, n, n, n),
        picker_uri="u",
        delivery_mode="photos",
        poll_interval=5,
        poll_deadline=time.time() + 600,
        expire_time=time.time() + 600,
        holder="test",
        lease_seconds=30,
    )


async def test_one_holder_at_a_time_until_it_stops_renewing(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = LeaseRepository(db, "a", 30), LeaseRepository(db, "b", 30)
    assert await first.take(*UPDATES)
    assert not await second.take(*UPDATES)
    assert await first.take(*UPDATES)  # its own: renewed
    assert await first.renew() == {UPDATES}
    later = time.time() + 31
    monkeypatch.setattr(time, "time", lambda: later)  # "a" died: nothing renewed its lease for LEASE_SECONDS
    assert await second.take(*UPDATES)
    assert await first.renew() == set()  # "a" comes back: the lease is not its own any more
    assert not await first.take(*UPDATES)


async def test_orphaned_picks_are_the_active_ones_nobody_holds(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    picks = PickRepository(db)
    held = await waiting_session(picks, 1)
    ended = await waiting_session(picks, 2)
    await picks.set_status(ended.id, "cancelled")
    other = LeaseRepository(db, "b", 30)
    assert await other.orphaned_sessions() == []
    await db.execute("DELETE FROM leases")  # e.g. SQLite's start-up: whatever a previous run held is free
    assert await other.orphaned_sessions() == [held.id]
    assert await other.take("session", held.id)
    assert await other.orphaned_sessions() == []
    monkeypatch.setattr(time, "time", lambda: 10**10)
    assert await other.orphaned_sessions() == [held.id]  # "b" stopped renewing


async def test_leases_of_ended_picks_are_forgotten_and_release_frees_the_rest(db: Database) -> None:
    picks = PickRepository(db)
    leases = LeaseRepository(db, "test", 30)
    live = await waiting_session(picks, 1)
    ended = await waiting_session(picks, 2)
    await picks.set_status(ended.id, "done")
    assert await leases.take(*UPDATES)
    assert await leases.forget_ended() == {("session", ended.id)}
    assert await leases.renew() == {UPDATES, ("session", live.id)}
    await leases.release_all()
    assert await LeaseRepository(db, "b", 30).take(*UPDATES)
    assert await LeaseRepository(db, "b", 30).orphaned_sessions() == [live.id]


async def test_items_are_handed_over_only_by_the_picks_holder(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    picks = PickRepository(db)
    session = await waiting_session(picks)  # held by "test"
    await picks.save_items(session.id, ITEMS)
    assert await picks.mark_sending(session.id, [0], "test")
    assert not await picks.mark_sending(session.id, [1], "b")
    monkeypatch.setattr(time, "time", lambda: 10**10)
    assert await LeaseRepository(db, "b", 30).take("session", session.id)  # "test" stopped renewing
    assert not await picks.mark_sending(session.id, [2], "test")  # and if it is still alive, it sends no more
    items = await picks.items(session.id)
    assert [item.in_doubt for item in items] == [True, False, False]
    await picks.clear_sending(session.id, [0])
    assert not (await picks.items(session.id))[0].in_doubt


async def test_a_chats_deliveries_go_to_the_replica_sending_into_it(db: Database) -> None:
    picks = PickRepository(db)
    first, second = LeaseRepository(db, "test", 30), LeaseRepository(db, "b", 30)
    mine = await waiting_session(picks, 1)
    await picks.save_items(mine.id, ITEMS)  # delivering into chat 1
    assert await first.chat_sender(1) == "test"
    assert await second.chat_sender(1) == "test"  # "b" hands its picks for chat 1 over to "test"
    theirs = await waiting_session(picks, 2)
    await db.execute("UPDATE leases SET holder = 'b' WHERE work = 'session' AND id = ?", (theirs.id,))
    await second.hand_over(theirs.id, "test")
    assert ("session", theirs.id) in await first.renew()
    await picks.set_status(mine.id, "done")
    await picks.set_status(theirs.id, "done")
    assert ("chat", 1) in await first.forget_ended()  # no delivery of its goes there any more: the chat is free
    assert await second.chat_sender(1) == "b"


async def test_replicas_count_themselves_while_they_renew(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = LeaseRepository(db, "a", 30), LeaseRepository(db, "b", 30)
    assert await first.live_replicas() == 1  # none yet: at least itself
    for replica in (first, second):
        assert await replica.take(*replica.presence)
    assert await first.live_replicas() == 2
    later = time.time() + 31
    monkeypatch.setattr(time, "time", lambda: later)
    assert await first.take(*first.presence)  # "b" stopped renewing
    assert await first.live_replicas() == 1
