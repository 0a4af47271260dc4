"""Several `python -m bot` processes on one PostgreSQL database and one bot token: one receives updates (the getUpdates
lease), each pick is polled and delivered by one of them, and a replica that dies or stops hands its work over,
exactly once or reported. Takeover times are printed (pytest -s), not asserted."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from aiohttp import ClientSession, web

from bot.webhook import WEBHOOK_PATH
from emulators.google import GoogleEmulator, MediaItem, SessionRecord
from emulators.telegram import TelegramEmulator
from tests.e2e.conftest import E2E_MODE
from tests.e2e.picking import RENDITION, assert_delivered_in_order, link, media, start_pick, wait_summary
from tests.harness import BotProcess, Person, consent_url, free_port, message_ids, new_messages, url_button
from tests.postgres import PostgresCluster

# The replicas run on a database of their own, in the modes each test picks: E2E_MODE and E2E_DATABASE change nothing
# here, so the webhook pass of .ci/run leaves these to the polling one instead of running them twice alike.
pytestmark = pytest.mark.skipif(E2E_MODE == "webhook", reason="the same in every E2E_MODE: the polling pass runs it")
LEASE = 3.0  # LEASE_SECONDS: short, so that takeovers happen within a test's patience
WEBHOOK_SECRET = "replicas-share-this-secret"


@pytest.fixture
def e2e_mode() -> str:
    return "polling"  # the getUpdates lease; webhook replicas are started explicitly below


class Cluster:
    """Replicas r0, r1, … of one bot on one database, each with its own port, temp folder and log files."""

    def __init__(self, make_bot: Callable[..., BotProcess], url: str) -> None:
        self._make_bot = make_bot
        self.url = url
        self.replicas: list[BotProcess] = []

    def add(self, **overrides: str) -> BotProcess:
        name = f"r{len(self.replicas)}"
        settings = {"LEASE_SECONDS": str(LEASE), "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET, **overrides}
        replica = self._make_bot(DATABASE_URL=self.url, REPLICA_NAME=name, **settings)
        replica.name = name
        replica.env["TEMP_DIR"] = str(replica.workdir / f"tmp-{name}")  # start-up empties its own TEMP_DIR
        self.replicas.append(replica)
        return replica

    async def start(self, count: int, **overrides: str) -> list[BotProcess]:
        """`count` replicas; the first receives the updates (polling), the others wait their turn."""
        started = []
        for n in range(count):
            replica = self.add(**overrides)
            await replica.start(receiving=n == 0 or replica.webhook_mode)
            started.append(replica)
        return started

    def by_name(self, name: str) -> BotProcess:
        return next(r for r in self.replicas if r.name == name)

    async def holder(self, session_id: int) -> str | None:
        """The replica holding the pick's lease."""
        conn = await asyncpg.connect(self.url)
        try:
            holder: str | None = await conn.fetchval(
                "SELECT holder FROM leases WHERE work = 'session' AND id = $1", session_id
            )
            return holder
        finally:
            await conn.close()

    async def wait_holder(self, session_id: int, other_than: str) -> str:
        async with asyncio.timeout(4 * LEASE):
            while (holder := await self.holder(session_id)) in (None, other_than):  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # the state lives in the database of other processes
        assert holder is not None
        return holder

    async def session_id(self) -> int:
        conn = await asyncpg.connect(self.url)
        try:
            return int(await conn.fetchval("SELECT max(id) FROM pick_sessions"))
        finally:
            await conn.close()

    async def stop_all(self) -> None:
        """Every replica stopped first (none left running past the test), then each one's exit and logs checked."""
        codes = [await replica.stop() if replica.proc is not None else 0 for replica in self.replicas]
        for replica, code in zip(self.replicas, codes, strict=True):
            assert code == 0, replica.logs()[-3000:]
            assert "Traceback" not in replica.logs(), replica.logs()[-5000:]


@pytest.fixture
async def cluster(make_bot: Callable[..., BotProcess], postgres: PostgresCluster) -> AsyncIterator[Cluster]:
    replicas = Cluster(make_bot, await postgres.create_database())
    yield replicas
    await replicas.stop_all()


async def pick_in_flight(
    alice: Person, tg: TelegramEmulator, google: GoogleEmulator, count: int
) -> tuple[SessionRecord, list[MediaItem]]:
    """Alice links and picks `count` photos; returns once the first album is in Telegram's hands (slowly)."""
    items = [google.add_photo(alice.email) for _ in range(count)]
    await link(alice)
    _, session = await start_pick(alice)
    tg.set_latency("sendMediaGroup", 2.0)
    google.pick(session.id, items)
    await tg.wait_for(lambda: any(c.method == "sendMediaGroup" for c in tg.calls))
    return session, items


def media_ids(tg: TelegramEmulator, chat_id: int) -> Sequence[str]:
    return [m.file.sha256 for m in media(tg, chat_id) if m.file is not None]


Route = Callable[[dict[str, Any]], int | None]


class Balancer:
    """A small load balancer in front of the replicas' webhooks: round robin, or `route(update)` picks the replica
    (by index) for an update, e.g. by its sender."""

    def __init__(self, route: Route | None = None) -> None:
        self.replicas: list[BotProcess] = []
        self.served: list[str] = []  # which replica took each update
        self.route = route
        self._turn = 0
        self._runner: web.AppRunner | None = None
        self._http: ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(WEBHOOK_PATH, self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self._http = ClientSession()
        self.url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        chosen = self.route(json.loads(body)) if self.route is not None else None
        if chosen is None:
            chosen, self._turn = self._turn % len(self.replicas), self._turn + 1
        replica = self.replicas[chosen]
        assert self._http is not None
        headers = {name: value for name, value in request.headers.items() if name.lower().startswith("x-telegram")}
        headers["Content-Type"] = request.content_type
        async with self._http.post(replica.local_url + WEBHOOK_PATH, data=body, headers=headers) as answer:
            self.served.append(replica.name)
            return web.Response(status=answer.status, body=await answer.read())


@pytest.fixture
async def balancer() -> AsyncIterator[Balancer]:
    front = Balancer()
    await front.start()
    yield front
    await front.stop()


async def start_behind(cluster: Cluster, front: Balancer, count: int, **overrides: str) -> list[BotProcess]:
    """`count` replicas in webhook mode, every one registering the balancer's address with Telegram."""
    for _ in range(count):
        replica = cluster.add(TELEGRAM_WEBHOOK_URL=front.url, **overrides)
        front.replicas.append(replica)
        await replica.start()
    return front.replicas


async def test_the_getupdates_lease_moves_when_its_replica_dies(
    cluster: Cluster, alice: Person, tg: TelegramEmulator
) -> None:
    first, _ = await cluster.start(2)
    assert (await alice.reply_to("/help")).from_bot
    assert not [c for c in tg.calls_of("getUpdates") if c.status == 409]  # one caller at a time
    await first.kill()
    killed_at = time.monotonic()  # the emulator's calls are timed on this process's monotonic clock
    await tg.wait_for(lambda: any(c.time > killed_at for c in tg.calls_of("getUpdates")), timeout=4 * LEASE)
    print(f"\ngetUpdates taken over {time.monotonic() - killed_at:.1f} s after a SIGKILL (LEASE_SECONDS={LEASE:g})")
    reply = await alice.reply_to("/start")
    assert reply.from_bot
    assert "receives updates" in cluster.replicas[1].logs()


async def test_a_replica_killed_mid_album_hands_its_pick_over_exactly_once_or_reported(
    cluster: Cluster, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await cluster.start(3)
    session, items = await pick_in_flight(alice, tg, google, 25)
    pick = await cluster.session_id()
    holder = await cluster.holder(pick)
    assert holder is not None
    await cluster.by_name(holder).kill()
    killed_at = time.monotonic()
    tg.set_latency("sendMediaGroup", 0.0)
    successor = await cluster.wait_holder(pick, other_than=holder)
    print(f"\npick taken over by {successor} {time.monotonic() - killed_at:.1f} s after {holder} was SIGKILLed")
    summary = await wait_summary(tg, alice.user_id, timeout=30)
    # The album in Telegram's hands when its replica died may have arrived: reported, never sent again.
    assert "Delivered 15 of 25\n· 10 interrupted by a restart mid-upload" in (summary.text or "")
    await tg.wait_for(lambda: len(media(tg, alice.user_id)) == 25 or None)  # it did arrive: once
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])
    assert len(set(media_ids(tg, alice.user_id))) == 25
    await google.wait_for(lambda: session.deleted)


async def test_sigterm_hands_a_pick_over_without_waiting_for_its_lease(
    cluster: Cluster, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await cluster.start(2, LEASE_SECONDS="30")  # a takeover by expiry would take 30 s: this one must not wait
    session, items = await pick_in_flight(alice, tg, google, 25)
    pick = await cluster.session_id()
    holder = await cluster.holder(pick)
    assert holder is not None
    tg.set_latency("sendMediaGroup", 0.0)
    stopping = asyncio.create_task(cluster.by_name(holder).stop())  # finishes the upload under way, then goes
    stopped_at = time.monotonic()
    successor = await cluster.wait_holder(pick, other_than=holder)
    print(f"\npick handed over to {successor} {time.monotonic() - stopped_at:.1f} s after {holder} got SIGTERM")
    assert await stopping == 0
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 25."
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])
    await google.wait_for(lambda: session.deleted)


def on(replica: BotProcess, url: str) -> str:
    """The same address, sent to this replica (as a load balancer in front of them all might)."""
    return urlunsplit(urlsplit(url)._replace(netloc=urlsplit(replica.local_url).netloc))


async def test_the_oauth_callback_may_land_on_any_replica(
    cluster: Cluster, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    first, second = await cluster.start(2)
    # Behind one balancer every replica has the same public address: the first one's.
    second.env["PUBLIC_URL"] = first.env["PUBLIC_URL"]
    await second.stop()
    await second.start(receiving=False)
    google.consent.email = alice.email
    prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
    sign_in = url_button(prompt)
    assert sign_in is not None
    consent = await consent_url(on(first, sign_in))  # the sign-in page on one replica
    async with httpx.AsyncClient() as http:
        back = await http.get(consent)  # Google's consent: it redirects to the callback
        assert back.status_code in (302, 303), back.text
        callback = back.headers["location"]
        assert callback.startswith(first.env["PUBLIC_URL"] + "/oauth/callback")
        landed = await http.get(on(second, callback))  # …which the balancer sends to the other replica
    assert landed.status_code == 303, landed.text
    await tg.wait_for_message(alice.user_id, lambda m: "Linked to" in (m.text or ""))


async def test_each_replica_says_which_it_is_in_healthz_metrics_and_logs(cluster: Cluster) -> None:
    replicas = await cluster.start(2)
    async with httpx.AsyncClient() as http:
        for replica in replicas:
            health = await http.get(f"{replica.local_url}/healthz")
            assert health.json() == {"status": "ok", "replica": replica.name}
            metrics = (await http.get(f"{replica.local_url}/metrics")).text
            assert f'bot_replica_info{{replica="{replica.name}"}} 1.0' in metrics
            ready = (await http.get(f"{replica.local_url}/readyz")).json()
            assert ready["checks"]["database"] == "ok"
    for replica in replicas:
        lines = [line for line in replica.logs().splitlines() if " INFO " in line]
        assert lines and all(f" {replica.name} INFO " in line for line in lines)


async def forward_to(person: Person, tg: TelegramEmulator, group: int) -> None:
    """The person's private picks go to `group` from now on (/forward, Telegram's chat picker)."""
    await person.reply_to("/forward", lambda m: "request_chat" in str(m.reply_markup))
    seen = message_ids(tg, person.user_id)
    tg.share_chat(person.user_id, 1, group)
    await tg.wait_for(lambda: new_messages(tg, person.user_id, seen) or None)


async def test_webhook_updates_may_reach_any_replica(
    cluster: Cluster, balancer: Balancer, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await start_behind(cluster, balancer, 3)
    items = [google.add_photo(alice.email) for _ in range(12)]
    for command in ("/start", "/help"):
        assert (await alice.reply_to(command)).from_bot
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, items)
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 12."
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])
    assert set(balancer.served) == {"r0", "r1", "r2"}  # the link, the pick and their buttons went everywhere


def sender(update: dict[str, Any]) -> int | None:
    """A balancer that keeps each person on one replica: Alice on r0, Bob on r1."""
    who = next((part["from"]["id"] for part in update.values() if isinstance(part, dict) and "from" in part), None)
    return {111: 0, 222: 1}.get(who) if isinstance(who, int) else None


async def test_two_picks_into_one_group_from_two_replicas_go_out_from_one(
    cluster: Cluster, balancer: Balancer, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Each replica paces its own sends, so all deliveries into a chat go out from the replica holding the chat:
    two picks into one group, started on two replicas, share one 20-a-minute budget."""
    balancer.route = sender
    group = -1001234
    tg.add_group(group, "Family", members={alice.user_id: "member", bob.user_id: "member"})
    first, second = await start_behind(cluster, balancer, 2, TELEGRAM_GROUP_RATE_PER_MINUTE="20")
    photos = {person.user_id: [google.add_photo(person.email) for _ in range(12)] for person in (alice, bob)}
    sessions = []
    for person in (alice, bob):
        await link(person)
        await forward_to(person, tg, group)
        _, session = await start_pick(person)
        sessions.append(session)
    tg.set_flood_limits(group_per_minute=20, overall_per_second=30)
    started = time.monotonic()
    for session, person in zip(sessions, (alice, bob), strict=True):
        google.pick(session.id, photos[person.user_id])
    for person in (alice, bob):
        await wait_summary(tg, person.user_id, timeout=60)
    refusals = len([c for c in tg.calls if c.status == 429])
    print(f"\n24 photos, two picks into one group (20/min): {time.monotonic() - started:.1f} s, {refusals} 429s")
    assert len(media(tg, group)) == 24 and len(set(media_ids(tg, group))) == 24
    assert "pick 1 started" in first.logs() and "pick 2 started" in second.logs()
    assert "goes to replica r0, which sends into chat -1001234" in second.logs()
    assert "endpoint `sendMediaGroup`" in first.logs() and "endpoint `sendMediaGroup`" not in second.logs()


async def test_waiting_picks_are_polled_by_one_replica_and_taken_over_when_it_dies(
    cluster: Cluster, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Google's emulator fails the test if any session is polled faster than its pollInterval, by all replicas
    together; after the holder's SIGKILL the other replica polls on, and the picks are delivered."""
    first, second = await cluster.start(2)
    picks = []
    for person in (alice, bob):
        await link(person)
        _, session = await start_pick(person)
        picks.append((person, session, google.add_photo(person.email)))
    await google.wait_for(lambda: all(len(session.polls) >= 2 for _, session, _ in picks))
    await first.kill()
    killed_at = time.monotonic()
    counts = [len(session.polls) for _, session, _ in picks]
    await google.wait_for(
        lambda: all(len(s.polls) > n for (_, s, _), n in zip(picks, counts, strict=True)), timeout=4 * LEASE
    )
    print(f"\nwaiting picks polled again {time.monotonic() - killed_at:.1f} s after their replica's SIGKILL")
    assert "picks nobody held" in second.logs()
    for person, session, photo in picks:
        google.pick(session.id, [photo])
        assert (await wait_summary(tg, person.user_id)).text == "✅ Delivered 1 item."


async def test_a_replica_started_later_takes_its_share_of_the_waiting_picks(
    cluster: Cluster, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """The first replica up holds every waiting pick; once a second one runs, the first lets half of them go (their
    polls written first: Google's emulator fails the test if any is polled sooner than its pollInterval), and the
    second polls them on."""
    await cluster.start(1)
    people = [Person(tg, google, 500 + n, f"User{n}", f"user{n}@example.com") for n in range(6)]
    sessions = []
    for person in people:
        tg.add_user(person.user_id, person.name)
        await link(person)
        _, session = await start_pick(person)
        sessions.append(session)
    assert await picks_held(cluster.url) == {"r0": 6}
    await cluster.add().start(receiving=False)
    async with asyncio.timeout(4 * LEASE):
        while await picks_held(cluster.url) != {"r0": 3, "r1": 3}:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # the leases live in the database of other processes
    polled = [len(session.polls) for session in sessions]
    await google.wait_for(lambda: all(len(s.polls) >= n + 2 for s, n in zip(sessions, polled, strict=True)))
    assert "let 3 waiting picks go to the others" in cluster.by_name("r0").logs()


async def picks_held(url: str) -> dict[str, int]:
    """How many picks each replica holds."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT holder, count(*) AS picks FROM leases WHERE work = 'session' GROUP BY holder")
        return {row["holder"]: int(row["picks"]) for row in rows}
    finally:
        await conn.close()


async def test_a_replica_starting_leaves_a_deletion_waiting_out_google_to_the_replica_doing_it(
    cluster: Cluster, alice: Person, google: GoogleEmulator
) -> None:
    """A start-up clean-up deletes at Google the ended picks' sessions nobody is deleting, not one whose DELETE
    waits out Google's Retry-After on another replica: a second DELETE then would break it (Google's emulator fails
    the test on any retry sooner than Retry-After), as it did in a chaos run of three replicas."""
    await cluster.start(1)
    await link(alice)
    _, session = await start_pick(alice)
    google.fail_next("sessions.delete", status=429, retry_after=8)
    await alice.say("/cancel")
    await google.wait_for(lambda: deletes(google) == 1)  # r0 now waits 8 s before it asks again
    second = cluster.add()
    await second.start(receiving=False)
    await second.wait_log("is running")  # its start-up clean-up has begun
    assert not session.deleted  # and it began within r0's wait
    await google.wait_for(lambda: session.deleted, timeout=20)
    assert deletes(google) == 2  # r0's two, none of r1's
    assert "Google session" not in second.logs()


def deletes(google: GoogleEmulator) -> int:
    return len([r for r in google.requests if r.endpoint == "sessions.delete"])
