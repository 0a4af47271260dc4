"""Leases on both engines: one holder at a time, taken over only once expired, and the hand-over fence that keeps a
replica that lost a pick from sending any more of it."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from telegram.ext import Updater

from bot.app import polling
from bot.leases import LeaseKeeper
from storage.database import Database
from storage.leases import UPDATES, LeaseRepository, Work
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


async def test_adopting_takes_the_active_picks_nobody_holds_in_one_go(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    picks = PickRepository(db)
    held = await waiting_session(picks, 1)
    ended = await waiting_session(picks, 2)
    await picks.set_status(ended.id, "cancelled")
    never_claimed = await waiting_session(picks, 3)
    await db.execute("DELETE FROM leases WHERE id = ?", (never_claimed.id,))
    other = LeaseRepository(db, "b", 30)
    assert await other.adopt_orphans(100) == [never_claimed.id]  # "test" holds the other one, the cancelled one ended
    assert await other.adopt_orphans(100) == []
    assert await other.renew() == {("session", never_claimed.id)}
    monkeypatch.setattr(time, "time", lambda: 10**10)  # nobody renewed for LEASE_SECONDS: both holders died
    assert await LeaseRepository(db, "c", 30).adopt_orphans(100) == sorted([held.id, never_claimed.id])
    assert await other.renew() == set()
    assert await LeaseRepository(db, "test", 30).renew() == {("session", ended.id)}  # until it forgets it


async def test_replicas_adopting_at_once_never_share_a_pick(db: Database) -> None:
    picks = PickRepository(db)
    sessions = [await waiting_session(picks, n) for n in range(1, 41)]
    await db.execute("DELETE FROM leases")
    replicas = [LeaseRepository(db, name, 30) for name in ("a", "b", "c")]
    taken = await asyncio.gather(*(replica.adopt_orphans(100) for replica in replicas))
    every = [session_id for ids in taken for session_id in ids]
    assert sorted(every) == [session.id for session in sessions]  # each exactly once
    for replica, ids in zip(replicas, taken, strict=True):
        assert await replica.renew() == {("session", session_id) for session_id in ids}


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
    assert await LeaseRepository(db, "b", 30).adopt_orphans(100) == [live.id]


async def test_deleting_a_session_at_google_is_claimed_by_one_replica_until_it_is_deleted(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    picks = PickRepository(db)
    first, second = LeaseRepository(db, "test", 30), LeaseRepository(db, "b", 30)
    session = await waiting_session(picks)
    await picks.set_status(session.id, "cancelled")
    assert await first.claim_deletion(session.id)
    assert not await second.claim_deletion(session.id)  # "test" may be waiting out Google's Retry-After
    assert await first.claim_deletion(session.id)  # its own (a restart under the same REPLICA_NAME)
    assert await first.renew() == {("session", session.id)}  # renewed, yet not the keeper's to track
    await first.release("deletion", session.id)
    assert await second.claim_deletion(session.id)
    monkeypatch.setattr(time, "time", lambda: 10**10)  # "b" died mid-deletion: nothing renewed its claim
    assert await first.claim_deletion(session.id)
    await picks.mark_google_deleted(session.id)
    await first.release("deletion", session.id)
    assert not await second.claim_deletion(session.id)  # deleted: nothing left to claim


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


async def test_polls_are_written_together_and_a_late_writer_never_moves_them_back(db: Database) -> None:
    picks = PickRepository(db)
    first, second = await waiting_session(picks, 1), await waiting_session(picks, 2)
    now = time.time()
    await picks.record_polls([(first.id, now + 10, 5.0), (second.id, now + 10, 7.0)])
    await picks.record_polls([(first.id, now + 5, 9.0)])  # from a replica that lost the pick meanwhile
    sessions = await picks.get_sessions([first.id, second.id])
    assert {s.id: (s.last_polled_at, s.poll_interval) for s in sessions} == {
        first.id: (now + 10, 5.0),
        second.id: (now + 10, 7.0),
    }


async def test_adopting_stops_at_a_number_and_picks_let_go_are_free_again(db: Database) -> None:
    picks = PickRepository(db)
    ids = [(await waiting_session(picks, n)).id for n in range(1, 11)]
    await db.execute("DELETE FROM leases")
    first, second = LeaseRepository(db, "a", 30), LeaseRepository(db, "b", 30)
    assert await first.active_picks() == 10
    assert await first.adopt_orphans(4) == ids[:4]  # the oldest first
    assert await second.adopt_orphans(100) == ids[4:]
    await second.let_go(ids[4:7])
    assert await first.adopt_orphans(100) == ids[4:7]
    assert await second.renew() == {("session", session_id) for session_id in ids[7:]}


async def test_a_replica_joining_late_gets_its_share_of_the_waiting_picks_and_of_the_bot_wide_budgets(
    db: Database,
) -> None:
    picks = PickRepository(db)
    for n in range(1, 21):
        await waiting_session(picks, n)  # all started on replica "test"
    polled: dict[str, set[int]] = {"test": set(), "b": set()}
    # Each round tells its replica how many share Telegram's 30/s and the Picker API quota (bot/app.py).
    shares: dict[str, list[int]] = {"test": [], "b": []}

    def keeper(name: str) -> LeaseKeeper:
        async def adopt(session_ids: list[int]) -> None:
            polled[name] |= set(session_ids)

        async def drop(session_id: int) -> None:
            polled[name].discard(session_id)

        async def let_go(most: int) -> list[int]:
            gone = sorted(polled[name])[:most]
            polled[name] -= set(gone)
            return gone

        repo = LeaseRepository(db, name, 30)
        return LeaseKeeper(repo, adopt=adopt, drop=drop, let_go=let_go, updates=None, share=shares[name].append)

    first, second = keeper("test"), keeper("b")
    await first.tick()
    assert len(polled["test"]) == 20
    await second.tick()  # "test" holds them all: nothing to adopt yet
    assert polled["b"] == set()
    await first.tick()  # two replicas now: "test" lets half go …
    await second.tick()  # … and "b" takes them
    assert len(polled["test"]) == len(polled["b"]) == 10 and not polled["test"] & polled["b"]
    await first.tick()
    await second.tick()
    assert len(polled["test"]) == len(polled["b"]) == 10  # and it stays so
    assert shares == {"test": [1, 2, 2], "b": [2, 2, 2]}
    await second.release()  # "b" stops: "test" has the budgets to itself again at its next round
    await first.tick()
    assert shares["test"][-1] == 1


def recording_keeper(repo: LeaseRepository, polled: set[int]) -> LeaseKeeper:
    """A keeper whose replica polls the picks in `polled`."""

    async def adopt(session_ids: list[int]) -> None:
        polled.update(session_ids)

    async def drop(session_id: int) -> None:
        polled.discard(session_id)

    async def let_go(most: int) -> list[int]:
        return []

    return LeaseKeeper(repo, adopt=adopt, drop=drop, let_go=let_go, updates=None, share=lambda replicas: None)


async def test_a_pick_handed_over_is_not_a_lease_lost_but_a_takeover_is(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    picks = PickRepository(db)
    handed, taken = await waiting_session(picks, 1), await waiting_session(picks, 2)  # both held by "test"
    mine: set[int] = set()
    theirs: set[int] = set()
    keeper = recording_keeper(LeaseRepository(db, "test", 30), mine)
    other = recording_keeper(LeaseRepository(db, "b", 30), theirs)
    await keeper.tick()
    assert mine == {handed.id, taken.id}
    caplog.set_level(logging.INFO, logger="bot.leases")
    await keeper.hand_over(handed.id, "b")  # "b" sends into its chat
    mine.discard(handed.id)  # its delivery ends there
    await keeper.tick()
    await other.tick()
    assert theirs == {handed.id}
    assert f"replica test handed pick {handed.id} to replica b" in caplog.messages
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]

    later = time.time() + 31
    monkeypatch.setattr(time, "time", lambda: later)  # "test" paused: it renewed nothing for LEASE_SECONDS
    assert await LeaseRepository(db, "c", 30).take("session", taken.id)
    monkeypatch.undo()
    await keeper.tick()
    assert f"replica test lost its lease on session {taken.id} to another replica" in caplog.messages
    assert mine == set()  # it stopped polling the pick


class PausedRenewal(LeaseRepository):
    """Each renewal, once answered, waits for `go`; `handing` is set when a hand-over reaches the database."""

    def __init__(self, db: Database, holder: str, seconds: float) -> None:
        super().__init__(db, holder, seconds)
        self.renewed, self.go, self.handing = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def renew(self) -> set[tuple[Work, int]]:
        held = await super().renew()
        self.renewed.set()
        await self.go.wait()
        return held

    async def hand_over(self, session_id: int, to: str) -> None:
        self.handing.set()
        await super().hand_over(session_id, to)


async def test_a_hand_over_waits_for_the_renewal_under_way(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    session = await waiting_session(PickRepository(db))
    repo = PausedRenewal(db, "test", 30)
    keeper = recording_keeper(repo, set())
    renewing = asyncio.create_task(keeper.tick())
    await repo.renewed.wait()  # answered with the pick among its leases, not taken in yet
    handing = asyncio.create_task(keeper.hand_over(session.id, "b"))
    await asyncio.sleep(0)  # the hand-over's first step
    assert not repo.handing.is_set()  # else the round would take the pick in again after the hand-over
    repo.go.set()
    await asyncio.gather(renewing, handing)
    assert repo.handing.is_set()
    await keeper.tick()
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


class SlowTelegram:
    """The Bot as python-telegram-bot's Updater uses it, with Telegram slow to answer the deleteWebhook that getUpdates
    starts with."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def delete_webhook(self, **_: object) -> bool:
        self.asked.set()
        await asyncio.Event().wait()
        return True


async def test_a_shutdown_while_getupdates_is_starting_stops_it(db: Database) -> None:
    """Seen with two replicas: one took the getUpdates lease as the other released it, and SIGTERM came while its
    start was under way; python-telegram-bot then refused to shut down a running Updater, and the process exited 1."""

    async def nothing(_: object) -> None:
        pass

    async def nothing_to_let_go(most: int) -> list[int]:
        return []

    telegram = SlowTelegram()
    updater = Updater(telegram, asyncio.Queue())  # type: ignore[arg-type]
    await updater.initialize()
    other = LeaseRepository(db, "other", 0.3)
    assert await other.take(*UPDATES)
    keeper = LeaseKeeper(
        LeaseRepository(db, "test", 0.3),
        adopt=nothing,
        drop=nothing,
        let_go=nothing_to_let_go,
        updates=polling(updater),
        share=lambda replicas: None,
    )
    await keeper.start()
    await other.release_all()  # the getUpdates lease is free: a round takes it and starts polling
    await asyncio.wait_for(telegram.asked.wait(), 10)
    await keeper.stop_updates()
    assert not updater.running
    await updater.shutdown()  # raised "This Updater is still running!"
