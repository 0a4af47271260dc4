"""A pick let go to another replica while its /pick is still being answered is polled by that replica alone.

The lease keeper sees a new pick's lease as soon as it is written, and a replica above its share of the waiting
picks lets the latest due go (bot/leases.py): the chaos suite's multi-replica mode caught the replica that started
the pick scheduling its polls after that, so two replicas polled it, faster than pollInterval together (the Google
emulator fails the test on that)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import pytest

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.conftest import E2E_MODE
from tests.e2e.picking import link
from tests.harness import BotProcess, Person, message_ids, new_messages
from tests.postgres import PostgresCluster

BOT_USERNAME = "photos_test_bot"
GROUP = -1007000


pytestmark = pytest.mark.skipif(E2E_MODE == "webhook", reason="the same in every E2E_MODE: the polling pass runs it")


@pytest.fixture
def e2e_mode() -> str:
    return "polling"  # the getUpdates lease


async def pick(person: Person, tg: TelegramEmulator, google: GoogleEmulator, in_group: bool) -> str:
    """/pick in private or in the group; returns the Google session once its prompt came (in private, either way)."""
    known = set(google.sessions)
    seen = message_ids(tg, person.user_id)
    await person.say(f"/pick@{BOT_USERNAME}" if in_group else "/pick", GROUP if in_group else None)
    await tg.wait_for(
        lambda: any("Open Google Photos" in str(m.reply_markup) for m in new_messages(tg, person.user_id, seen)),
        timeout=30,
    )
    return next(s for s in google.sessions if s not in known)


async def sql(url: str, query: str, *args: object) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def until(url: str, query: str, wanted: object, *args: object) -> None:
    async with asyncio.timeout(30):
        while await sql(url, query, *args) != wanted:  # noqa: ASYNC110  (the state of other processes)
            await asyncio.sleep(0.05)


async def test_a_pick_let_go_while_being_started_is_polled_by_its_new_holder_alone(
    make_bot: Callable[..., BotProcess],
    postgres: PostgresCluster,
    tg: TelegramEmulator,
    google: GoogleEmulator,
    alice: Person,
    bob: Person,
) -> None:
    tg.add_user(333, "Carol", username="carol")
    carol = Person(tg, google, 333, "Carol", "carol@example.com")
    people = (alice, bob, carol)
    tg.add_group(GROUP, "Family", members={p.user_id: "member" for p in people})
    # One pollInterval for all, long enough that no pick is polled before r1 has started: the sixth pick, made
    # last, is then the latest due. (A shorter one let the five be polled meanwhile, due after the sixth.)
    google.poll_interval = 10.0
    url = await postgres.create_database()
    r0, r1 = (make_bot(DATABASE_URL=url, REPLICA_NAME=name, LEASE_SECONDS="3") for name in ("r0", "r1"))
    for replica, name in ((r0, "r0"), (r1, "r1")):
        replica.name = name
        replica.env["TEMP_DIR"] = str(replica.workdir / f"tmp-{name}")
    await r0.start()
    for person in people:
        await link(person)
    for person, in_group in [(p, g) for g in (False, True) for p in people][:5]:
        await pick(person, tg, google, in_group)  # five waiting picks, all on r0, the only replica
    # The sixth: its prompt and group notice slow to send. Once it is written, r1 starts: r0 is then above its
    # share (3 of 6) plus two, and lets go of three, the latest due first.
    tg.set_latency("sendMessage", 6.0)
    sixth = asyncio.create_task(pick(carol, tg, google, in_group=True))
    await until(url, "SELECT count(*) FROM pick_sessions", 6)
    await r1.start(receiving=False)
    held_by = "SELECT l.holder FROM leases AS l JOIN pick_sessions AS s ON l.work = 'session' AND l.id = s.id"
    await until(url, held_by + " WHERE s.id = 6", "r1")  # let go while its prompt is still on its way
    session = google.sessions[await sixth]
    polls = len(session.polls)
    await google.wait_for(lambda: len(session.polls) >= polls + 2, timeout=45)
    assert not google.violations  # polled by r1 alone, at its pollInterval
    for replica in (r0, r1):
        assert await replica.stop() == 0
