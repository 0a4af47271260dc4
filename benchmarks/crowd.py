"""Many users' picks delivered at once: the total against the crowd's floor, and how fairly the bot shares; on one
bot process, or on several replicas sharing one PostgreSQL database (and one bot's flood budget)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from benchmarks.baseline import PHOTO_RENDITION
from benchmarks.floors import CrowdFloor, UserPick, crowd_floor
from benchmarks.profile import Costs, CrowdCase
from benchmarks.seed import email_of, grant_tokens, seed_database
from benchmarks.world import SEND_METHODS, THIS_BOT, BotUnderTest, World, cpu_seconds, has_picker_button
from emulators.google import MediaItem
from tests.harness import BotProcess
from tests.postgres import PostgresCluster, binaries

MEDIA_KINDS = ("photo", "video", "document")
FIRST_USER = 20_000
FIRST_GROUP = -1_001_000_000_000
LEASE_SECONDS = 30  # the default: a shorter lease is lost by a replica starved of CPU on a loaded machine


class CaseSkipped(Exception):
    """The case cannot run on this machine (PostgreSQL missing); the reason is printed instead of its rows."""


@dataclass
class CrowdRun:
    case: CrowdCase
    floor: CrowdFloor
    picks: list[UserPick]
    first_album: list[float]  # per user, seconds from Done to their first item accepted (inf: never)
    completion: list[float]  # per user, seconds from Done to their summary
    total: float
    delivered: int
    group_refusals: int
    refusals: int
    cpu: float  # seconds of the bot's CPU from Done to the last summary
    moved: int  # bytes downloaded from Google and uploaded to Telegram meanwhile
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # notes under the table (replicas: each one's share)


class Watch:
    """When each user's first item and summary were accepted (re-checked on every emulator event)."""

    def __init__(self, world: World, chat_of: dict[int, int], owner: dict[str, int], started: float) -> None:
        self._tg = world.tg
        self._chat_of = chat_of
        self._owner = owner  # sha256 of the bytes Google served → the user who picked them
        self._started = started
        self._seen = {c: len(self._tg.messages(c, include_deleted=True)) for c in set(chat_of.values())}
        self.first: dict[int, float] = {}
        self.last_media: dict[int, float] = {}
        self.summaries: dict[int, list[float]] = {c: [] for c in self._seen}
        self.media = 0

    def __call__(self) -> bool:
        now = time.monotonic() - self._started
        for chat, seen in self._seen.items():
            fresh = self._tg.messages(chat, include_deleted=True)[seen:]  # indices stay put
            self._seen[chat] = seen + len(fresh)
            for message in fresh:
                if message.kind in MEDIA_KINDS and message.file is not None:
                    user = self._owner.get(message.file.sha256)
                    if user is not None:
                        self.media += 1
                        self.first.setdefault(user, now)
                        self.last_media[user] = now
                elif "Delivered" in (message.text or ""):
                    self.summaries[chat].append(now)
        return sum(len(s) for s in self.summaries.values()) >= len(self._chat_of)

    def completions(self, users: list[int]) -> list[float]:
        """Each user's summary; in a shared group the summaries are matched to users in the order their last items
        arrived (a summary follows its own items)."""
        done: dict[int, float] = {}
        for chat, times in self.summaries.items():
            members = sorted((u for u in users if self._chat_of[u] == chat), key=lambda u: self.last_media.get(u, 0.0))
            done.update(zip(members, times, strict=False))
        return [done.get(u, float("inf")) for u in users]


async def deliver_crowd(case: CrowdCase, workdir: Path, subject: BotUnderTest = THIS_BOT) -> CrowdRun:
    costs = case.costs
    world = World(workdir, subject)
    async with AsyncExitStack() as stack:
        url = await _postgres(case, stack) if case.replicas > 1 else None
        await world.start(costs)
        stack.push_async_callback(world.close)
        tg, google = world.tg, world.google
        bots = [_bot(world, costs, n, url) for n in range(case.replicas)]
        stack.push_async_callback(_stop_all, bots[:-1])  # world.close stops the last (world.bot)
        users = list(range(FIRST_USER, FIRST_USER + case.users))
        groups = [FIRST_GROUP - g for g in range(case.groups)]
        chat_of = {u: groups[n % len(groups)] if n < case.in_groups else u for n, u in enumerate(users)}
        tokens = await grant_tokens(google, users, bots[0].env["PUBLIC_URL"] + "/oauth/callback")
        links = list(zip(users, tokens, strict=True))
        await seed_database(url or workdir / "data" / "bot.sqlite3", links, [], 0)
        for user in users:
            tg.add_user(user, f"User {user}").started = True  # they linked in the private chat earlier
        for group in groups:
            tg.add_group(group, f"Family {group}", members={u: "member" for u in users if chat_of[u] == group})
        rng = random.Random(case.key)
        library: dict[int, list[MediaItem]] = {
            u: [
                google.add_photo(email_of(u), size=round(case.size * rng.uniform(0.8, 1.2))) for _ in range(case.photos)
            ]
            for u in users
        }
        for n, bot in enumerate(bots):
            await bot.start(timeout=60, receiving=n == 0)  # polling: the first takes the getUpdates lease
        pids = [bot.proc.pid for bot in bots if bot.proc is not None]

        # Every pick waiting, prompts shown (no costs yet: only the waiting picks matter).
        known = set(google.sessions)
        for user in users:
            tg.send_text(user, "/pick", chat_id=chat_of[user] if chat_of[user] < 0 else None)
        await google.wait_for(lambda: len(google.sessions) - len(known) >= len(users), 60 + len(users))
        session_of = {s.email: s for s in google.sessions.values() if s.id not in known}
        await tg.wait_for(
            lambda: all(any(has_picker_button(m) for m in tg.messages(u)) for u in users), 60, what="every prompt"
        )
        await google.wait_for(lambda: all(s.polls for s in session_of.values()), 60)
        share = await _shared_out(url, case) if url is not None else {}
        world.apply_costs(costs)
        chats = sorted(set(chat_of.values()))
        await world.wait_buckets_full(chats, costs)

        # Done for everyone at one moment.
        started, at = time.monotonic(), google.now()
        cpu_before = [cpu_seconds(pid) for pid in pids]
        detection = {}
        for user in users:
            session = session_of[email_of(user)]
            google.pick(session.id, library[user])
            detection[user] = max(0.0, session.polls[-1] + google.poll_interval - at)
        item_user = {item.id: u for u, items in library.items() for item in items}
        owner: dict[str, int] = {}
        watch = Watch(world, chat_of, owner, started)
        served_seen = len(google.served)

        def observe() -> bool:
            nonlocal served_seen
            for served in google.served[served_seen:]:  # whose bytes these are, once Google served them
                if served.suffix == PHOTO_RENDITION and served.item_id in item_user:
                    owner[served.sha256] = item_user[served.item_id]
            served_seen = len(google.served)
            return watch()

        limit = 120 + 20 * case.users * case.photos * case.size / costs.telegram_uplink
        await tg.wait_for(observe, limit, what="every user's summary")
        total = time.monotonic() - started
        cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]

        sizes = {s.item_id: s.size for s in google.served if s.suffix == PHOTO_RENDITION}
        picks = [UserPick([sizes.get(i.id, 1) for i in library[u]], detection[u], chat_of[u]) for u in users]
        downloaded = sum(s.size for s in google.served)
        uploaded = sum(c.body_size for c in tg.calls if c.method in SEND_METHODS and c.time >= started)
        refusals = world.flood_refusals()
        group_refusals = sum(
            1
            for c in tg.calls
            if c.method in SEND_METHODS
            and str(c.params.get("chat_id")) in {str(g) for g in groups}
            and (c.status == 429 or "retry after" in str(c.response).lower())
        )
        run = CrowdRun(
            case=case,
            floor=crowd_floor(picks, costs),
            picks=picks,
            first_album=[watch.first.get(u, float("inf")) for u in users],
            completion=watch.completions(users),
            total=total,
            delivered=watch.media,
            group_refusals=group_refusals,
            refusals=refusals,
            cpu=sum(cpu),
            moved=downloaded + uploaded,
        )
        if url is not None:
            run.details.append(
                "picks delivered per replica "
                + ", ".join(f"{b.name} {share.get(b.name, 0)} ({c:.1f} CPU-s)" for b, c in zip(bots, cpu, strict=True))
                + f"; the emulator's bot-wide limit {costs.overall_rate:g}/s, as the bot's (not scaled)"
            )
        for bot in bots:
            code = await bot.stop() if bot.proc is not None else 0
            logs = bot.logs()
            if code != 0:
                run.problems.append(f"{bot.name} exited with {code}")
            if "Traceback" in logs:
                run.problems.append(f"traceback in {bot.name}'s log: " + logs[logs.index("Traceback") :][:300])
        world.bot = None
        if tg.violations or google.violations:
            run.problems.append(f"emulator violations: {(tg.violations + google.violations)[:3]}")
        return run
    raise AssertionError("unreachable")  # mypy: the exit stack may swallow exceptions, it never does here


async def _postgres(case: CrowdCase, stack: AsyncExitStack) -> str:
    """A private PostgreSQL cluster (tests/postgres.py) and an empty database's URL; the case is skipped without
    PostgreSQL, except in CI, which installs it."""
    bindir = binaries()
    if bindir is None:
        reason = "PostgreSQL is not installed (Debian: apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"{case.title}: {reason}; CI installs it (.ci/run)")
        raise CaseSkipped(reason)
    cluster = await asyncio.to_thread(PostgresCluster.start, bindir)
    stack.callback(cluster.stop)
    return await cluster.create_database()


def _bot(world: World, costs: Costs, n: int, url: str | None) -> BotProcess:
    """The bot (url None: on SQLite), or replica r`n` on the PostgreSQL database at `url`."""
    bot = world.make_bot(costs)
    if url is not None:
        bot.name = f"r{n}"
        bot.env.update(
            DATABASE_URL=url,
            REPLICA_NAME=bot.name,
            TEMP_DIR=str(world.workdir / f"tmp-{bot.name}"),
        )
    return bot


async def _stop_all(bots: list[BotProcess]) -> None:
    for bot in bots:
        if bot.proc is not None:
            bot.proc.kill()
            await bot.proc.wait()
            bot.proc = None


async def _shared_out(url: str, case: CrowdCase) -> dict[str, int]:
    """Wait until the replicas have shared the waiting picks out (the first holds them all at first, then lets
    those above its share go, bot/leases.py); returns how many each holds."""
    fair = -(-case.users // case.replicas)
    deadline = time.monotonic() + 4 * LEASE_SECONDS  # a round every third of it
    while True:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT holder, count(*) AS picks FROM leases WHERE work = 'session' GROUP BY holder"
            )
        finally:
            await conn.close()
        held = {row["holder"]: int(row["picks"]) for row in rows}
        if sum(held.values()) == case.users and max(held.values()) <= fair + max(2, fair // 20):
            return held
        if time.monotonic() > deadline:
            raise TimeoutError(f"the replicas did not share the picks out: {held}")
        await asyncio.sleep(0.25)  # the leases live in the database of other processes
