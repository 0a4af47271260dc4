"""Several `python -m bot` processes on one PostgreSQL database and one bot token: one receives updates (the getUpdates
lease), each pick is polled and delivered by one of them, and a replica that dies or stops hands its work over,
exactly once or reported. Takeover times are printed (pytest -s), not asserted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from emulators.google import GoogleEmulator, MediaItem, SessionRecord
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import RENDITION, assert_delivered_in_order, link, media, start_pick, wait_summary
from tests.harness import BotProcess, Person, consent_url, url_button
from tests.postgres import PostgresCluster

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
        for replica in self.replicas:
            if replica.proc is not None:
                assert await replica.stop() == 0, replica.logs()[-3000:]
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
