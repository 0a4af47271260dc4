"""The measured scenarios: a pick delivered by the bot, the same by the naive client, polling at scale."""

from __future__ import annotations

import asyncio
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.baseline import PHOTO_RENDITION, VIDEO_RENDITION, NaiveClient
from benchmarks.floors import Floor, delivery_floor, prompts_floor
from benchmarks.profile import DeliveryCase, PicksCase, PollingCase, StartupCase
from benchmarks.seed import Waiting, grant_tokens, open_session, seed_database
from benchmarks.world import (
    SEND_METHODS,
    THIS_BOT,
    BotUnderTest,
    RssSampler,
    World,
    cpu_seconds,
    google_token,
    has_picker_button,
    histogram_quantile,
    lag_histogram,
    link,
    message_counts,
    new_bot_messages,
    read_status,
    wait_until,
)
from bot.delivery.run import UPLOAD_LIMIT
from emulators.google import GoogleEmulator, MediaItem, SessionRecord
from emulators.telegram import MessageRecord, TelegramEmulator
from tests.harness import Person, callback_data

ALICE, BOB, GROUP = 111, 222, -1001234567890
MEDIA_KINDS = ("photo", "video", "document")


@dataclass
class DeliveryRun:
    """One delivery, by the bot or by the naive client."""

    seconds: float
    floor: Floor
    sizes: list[int]
    delivered: int
    summary: str
    flood_refusals: int
    idle_rss: int | None = None
    peak_rss: int | None = None
    replies: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    route: str = ""
    cpu: float = 0.0  # seconds of the bot's CPU from Done to the summary
    moved: int = 0  # bytes downloaded from Google plus bytes uploaded to Telegram meanwhile


@dataclass
class PollingRun:
    sessions: int
    window: float
    polls: int
    per_session: float
    ideal: float
    cpu_per_1000: float
    lag_p50: float | None
    lag_p99: float | None
    rss: int
    violations: int
    setup_seconds: float
    replies: list[float] = field(default_factory=list)  # another user's /pick → reply, meanwhile
    shutdown_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def add_library(google: GoogleEmulator, email: str, case: DeliveryCase) -> list[MediaItem]:
    """The user's picks: photos of ±20% around the case's size, or videos of exactly that size."""
    rng = random.Random(case.key)
    if case.kind == "VIDEO":
        return [google.add_video(email, size=case.size) for _ in range(case.count)]
    return [google.add_photo(email, size=round(case.size * rng.uniform(0.8, 1.2))) for _ in range(case.count)]


def served_sizes(google: GoogleEmulator, items: list[MediaItem], originals: bool = False) -> list[int]:
    """Bytes Google served per item for the rendition that has to move (what the floor is made of)."""
    renditions = ("=d", VIDEO_RENDITION) if originals else (PHOTO_RENDITION, VIDEO_RENDITION)
    by_item = {s.item_id: s.size for s in google.served if s.suffix in renditions}
    return [by_item.get(item.id, 0) for item in items]


def chat_name(chat_id: int) -> str:
    return "the group" if chat_id < 0 else "the private chat"


def media_in(tg: TelegramEmulator, chat_id: int) -> list[MessageRecord]:
    return [m for m in tg.messages(chat_id) if m.kind in MEDIA_KINDS]


def archived_items(tg: TelegramEmulator, chat_id: int) -> int:
    """Items the ZIP files in the chat hold, by their captions ("🗜 Photos 1–87 of 400")."""
    ranges = [re.search(r"(\d+)(?:–(\d+))? of", m.caption or "") for m in media_in(tg, chat_id)]
    return sum(int(r.group(2) or r.group(1)) - int(r.group(1)) + 1 for r in ranges if r is not None)


async def choose_archives(tg: TelegramEmulator, alice: Person, chat_id: int) -> None:
    """Alice, an admin of the group, sets it to Archive (ZIP) in /settings."""
    seen = message_counts(tg, [chat_id])
    await alice.say("/settings", chat_id)
    settings = await tg.wait_for(
        lambda: next((m for m in new_bot_messages(tg, [chat_id], seen) if "set:archive" in str(m.reply_markup)), None),
        30,
        what="the settings",
    )
    await alice.press(settings, callback_data(settings, "Archive (ZIP)"), chat_id)
    await tg.wait_for(lambda: "Now: <b>Archive (ZIP)" in (tg.message(chat_id, settings.message_id).source_text or ""))


def timeline(world: World, started: float, chats: list[int]) -> list[str]:
    """Telegram calls into `chats` and Google media requests after Done, in seconds since Done (--trace).

    A Telegram call's time is when its request began (before the upload); the emulator answers it after
    the upload, the latency and the flood check.
    """
    lines: list[str] = []
    media = sorted(r.time - started for r in world.google.requests if r.endpoint == "media" and r.time >= started)
    if media:
        lines.append(f"  media requests: {len(media)}, first {media[0]:.2f} s, last {media[-1]:.2f} s")
    for call in world.tg.calls:
        if call.time < started or call.method in ("getUpdates", "answerCallbackQuery"):
            continue
        chat = call.params.get("chat_id")
        if chat is not None and str(chat) not in {str(c) for c in chats}:
            continue
        items = len(call.params.get("media") or ()) or ""
        lines.append(f"  {call.time - started:8.2f} s  {call.method} {items} → {call.status}")
    return lines


async def pick_after_a_poll(
    google: GoogleEmulator, session: SessionRecord, items: list[MediaItem], wait: float
) -> float:
    """Tap Done right after the client's poll was answered; returns the detection floor (time until the next
    poll is allowed)."""
    polls = len(session.polls)
    await google.wait_for(lambda: len(session.polls) > polls, timeout=wait)
    google.pick(session.id, items)
    return max(0.0, session.polls[-1] + google.poll_interval - google.now())


async def wait_summary(tg: TelegramEmulator, chats: list[int], limit: float) -> MessageRecord:
    seen = message_counts(tg, chats)

    def summary() -> MessageRecord | None:
        return next((m for m in new_bot_messages(tg, chats, seen) if "Delivered" in (m.text or "")), None)

    return await tg.wait_for(summary, limit, what="the summary")


async def pick_replies(tg: TelegramEmulator, user: Person, tries: int, spacing: float) -> list[float]:
    """Another user's /pick, `tries` times: seconds from the update to the bot's first message back."""
    replies: list[float] = []

    def answered(before: int) -> Callable[[], bool]:
        return lambda: len(tg.messages(user.user_id)) > before

    for _ in range(tries):
        got_reply = answered(len(tg.messages(user.user_id)))
        started = time.monotonic()
        await user.say("/pick")
        await tg.wait_for(got_reply, 30, what="the /pick reply")
        replies.append(time.monotonic() - started)
        await asyncio.sleep(spacing)
    return replies


async def simultaneous_picks(tg: TelegramEmulator, users: list[int]) -> list[float]:
    """Every user in `users` sends /pick at the same moment: seconds from that moment to each one's reply."""
    before = {user: len(tg.messages(user)) for user in users}
    waiting = set(users)
    replies: list[float] = []
    started = time.monotonic()
    for user in users:
        tg.send_text(user, "/pick")

    def answered() -> bool:
        for user in [u for u in waiting if len(tg.messages(u)) > before[u]]:
            waiting.discard(user)
            replies.append(time.monotonic() - started)
        return not waiting

    await tg.wait_for(answered, 60 + 2 * len(users), what="replies to every /pick")
    return replies


def expected_seconds(case: DeliveryCase) -> float:
    """A generous limit for one delivery: ten times a rough floor, at least two minutes."""
    costs = case.costs
    rough = case.count * case.size / costs.telegram_uplink + case.count / costs.private_rate
    return max(120.0, 10 * rough)


async def deliver_with_bot(
    case: DeliveryCase, workdir: Path, reply_spacing: float, subject: BotUnderTest = THIS_BOT
) -> DeliveryRun:
    costs = case.costs
    world = World(workdir, subject)
    await world.start(costs)
    try:
        bot = world.make_bot(costs)
        await bot.start(timeout=60)
        assert bot.proc is not None
        pid = bot.proc.pid
        await asyncio.sleep(1.0)
        idle = read_status(pid).get("VmRSS")
        sampler = RssSampler(pid)
        sampler.start()
        alice = world.person(ALICE, "Alice")
        bob = world.person(BOB, "Bob") if case.reply_tries else None
        await link(alice)
        if bob is not None:
            await link(bob)
        chats = [ALICE]
        if case.in_group:
            world.tg.add_group(GROUP, "Family", members={ALICE: "administrator", BOB: "member"})
            chats.append(GROUP)
        target = GROUP if case.in_group else ALICE
        if case.archives:
            await choose_archives(world.tg, alice, target)
        items = add_library(world.google, alice.email, case)
        world.apply_costs(costs)

        known = set(world.google.sessions)
        seen = message_counts(world.tg, chats)
        await alice.say("/pick", GROUP if case.in_group else None)
        session = await world.google.wait_for_session(lambda s: s.id not in known, timeout=30)
        prompt = await world.tg.wait_for(
            lambda: next((m for m in new_bot_messages(world.tg, chats, seen) if has_picker_button(m)), None),
            30,
            what="the pick prompt",
        )
        await world.wait_buckets_full(chats, costs)

        summary_task = asyncio.create_task(wait_summary(world.tg, chats, expected_seconds(case)))
        detection = await pick_after_a_poll(world.google, session, items, 3 * costs.poll_interval + 10)
        started, cpu_before = world.google.now(), cpu_seconds(pid)
        replies_task = (
            asyncio.create_task(pick_replies(world.tg, bob, case.reply_tries, reply_spacing))
            if bob is not None
            else None
        )
        summary = await summary_task
        seconds = world.google.now() - started
        cpu = cpu_seconds(pid) - cpu_before
        replies = await replies_task if replies_task is not None else []
        await sampler.stop()

        sizes = served_sizes(world.google, items, originals=case.archives)
        problems = [f"{sizes.count(0)} items never served"] if 0 in sizes else []
        summary_here = summary.chat_id == target
        floor = delivery_floor(
            [s or 1 for s in sizes],
            costs,
            detection=detection,
            in_group=case.in_group,
            summary_in_target=summary_here,
            archive_limit=UPLOAD_LIMIT if case.archives else None,
        )
        run = DeliveryRun(
            seconds=seconds,
            floor=floor,
            sizes=sizes,
            delivered=archived_items(world.tg, target) if case.archives else len(media_in(world.tg, target)),
            summary=summary.text or "",
            flood_refusals=world.flood_refusals(),
            idle_rss=idle,
            peak_rss=sampler.peak,
            replies=replies,
            problems=problems,
            timeline=timeline(world, started, chats),
            cpu=cpu,
            moved=sum(s.size for s in world.google.served)
            + sum(c.body_size for c in world.tg.calls if c.method in SEND_METHODS and c.time >= started),
            route=f"/pick in {chat_name(alice.user_id if not case.in_group else GROUP)}, prompt in "
            f"{chat_name(prompt.chat_id)}, media in {chat_name(target)}, summary in {chat_name(summary.chat_id)}",
        )
        code, _ = await world.stop_bot()
        logs = bot.logs()
        if code != 0:
            run.problems.append(f"bot exited with {code}" if code is not None else "bot killed: no exit after SIGTERM")
        if "Traceback" in logs:
            run.problems.append("traceback in the bot's log: " + logs[logs.index("Traceback") :][:300])
        if world.tg.violations or world.google.violations:
            run.problems.append(f"emulator violations: {(world.tg.violations + world.google.violations)[:3]}")
        return run
    finally:
        await world.close()


async def deliver_naively(case: DeliveryCase, workdir: Path) -> DeliveryRun:
    costs = case.costs
    world = World(workdir)
    await world.start(costs)
    try:
        tg, google = world.tg, world.google
        tg.add_user(ALICE, "Alice", username="alice")
        tg.send_text(ALICE, "/start")
        target = ALICE
        if case.in_group:
            tg.add_group(GROUP, "Family", members={ALICE: "member"})
            target = GROUP
        tg.pending_updates.clear()
        email = "alice@example.com"
        items = add_library(google, email, case)
        async with httpx.AsyncClient(timeout=httpx.Timeout(300.0)) as http:
            token = await google_token(http, google, email, "http://127.0.0.1/naive/callback")
            world.apply_costs(costs)
            client = NaiveClient(http, google, tg.url, str(token["access_token"]))
            session_id = await client.create_session()
            session = google.sessions[session_id]
            task = asyncio.create_task(client.run(target))
            summary_task = asyncio.create_task(wait_summary(tg, [target], expected_seconds(case) * 3))
            detection = await pick_after_a_poll(google, session, items, 3 * costs.poll_interval + 10)
            started = google.now()
            summary = await summary_task
            seconds = google.now() - started
            await task
        sizes = served_sizes(google, items)
        floor = delivery_floor(sizes, costs, detection=detection, in_group=case.in_group)
        return DeliveryRun(
            seconds=seconds,
            floor=floor,
            sizes=sizes,
            delivered=len(media_in(tg, target)),
            summary=summary.text or "",
            flood_refusals=world.flood_refusals(),
        )
    finally:
        await world.close()


async def poll_at_scale(
    case: PollingCase, workdir: Path, reply_spacing: float, subject: BotUnderTest = THIS_BOT
) -> PollingRun:
    """`case.sessions` waiting picks left by a previous run; what the bot spends to keep polling them, and how fast
    it still answers another user's /pick."""
    costs = case.costs
    world = World(workdir, subject)
    await world.start(costs)
    setup_began = time.monotonic()
    try:
        tg, google = world.tg, world.google
        bot = world.make_bot(costs)
        users = list(range(10_000, 10_000 + case.sessions))
        asker = world.person(BOB, "Bob")
        tokens = await grant_tokens(google, [*users, BOB], bot.env["PUBLIC_URL"] + "/oauth/callback")
        rng, now = random.Random(2), time.time()
        # Last polled within the last pollInterval, as a running bot leaves them.
        waiting = [Waiting(u, open_session(google, u), now - rng.uniform(0, costs.poll_interval)) for u in users]
        await seed_database(
            workdir / "data" / "bot.sqlite3",
            list(zip([*users, BOB], tokens, strict=True)),
            waiting,
            costs.poll_interval,
        )
        for user in users:
            tg.add_user(user, f"User {user}")
        world.apply_costs(costs)
        await bot.start(timeout=60)
        assert bot.proc is not None
        pid = bot.proc.pid
        sessions = [w.session for w in waiting]
        await wait_until(lambda: all(s.polls for s in sessions), 60 + case.sessions / 20, "every session polled")
        await asyncio.sleep(costs.poll_interval + 1)
        setup = time.monotonic() - setup_began

        async with httpx.AsyncClient(timeout=10) as http:
            lag_before = await lag_histogram(http, bot.base_url)
            cpu_before, began = cpu_seconds(pid), google.now()
            spacing = max(reply_spacing, case.window / max(case.reply_tries, 1))
            replies = await pick_replies(tg, asker, case.reply_tries, spacing)
            await asyncio.sleep(max(0.0, began + case.window - google.now()))
            cpu_after, ended = cpu_seconds(pid), google.now()
            lag_after = await lag_histogram(http, bot.base_url)
        rss = read_status(pid).get("VmRSS", 0)
        polls = sum(1 for s in sessions for t in s.polls if began <= t < ended)
        p50 = p99 = None
        if lag_before is not None and lag_after is not None:
            p50 = histogram_quantile(lag_before, lag_after, 0.50)
            p99 = histogram_quantile(lag_before, lag_after, 0.99)
        run = PollingRun(
            sessions=case.sessions,
            window=ended - began,
            polls=polls,
            per_session=polls / case.sessions,
            ideal=costs.ideal_polls(ended - began, case.sessions),
            cpu_per_1000=(cpu_after - cpu_before) / max(polls, 1) * 1000,
            lag_p50=p50,
            lag_p99=p99,
            rss=rss,
            violations=len(google.violations),
            setup_seconds=setup,
            replies=replies,
        )
        code, stopping = await world.stop_bot()
        run.shutdown_seconds = stopping
        if code != 0:
            run.problems.append(f"bot exited with {code}" if code is not None else "bot killed: no exit after SIGTERM")
        if lag_after is None:
            run.problems.append("the bot serves no bot_event_loop_lag_seconds at /metrics")
        return run
    finally:
        await world.close()


@dataclass
class PicksRun:
    users: int
    replies: list[float]  # seconds from the moment every /pick was sent to each user's first message back
    floor: float
    problems: list[str] = field(default_factory=list)


async def prompts_at_once(case: PicksCase, workdir: Path, subject: BotUnderTest = THIS_BOT) -> PicksRun:
    """`case.users` linked users send /pick at the same moment, Telegram's costs on."""
    costs = case.costs
    world = World(workdir, subject)
    await world.start(costs)
    try:
        bot = world.make_bot(costs)
        users = list(range(30_000, 30_000 + case.users))
        tokens = await grant_tokens(world.google, users, bot.env["PUBLIC_URL"] + "/oauth/callback")
        await seed_database(workdir / "data" / "bot.sqlite3", list(zip(users, tokens, strict=True)), [], 0)
        for user in users:
            world.tg.add_user(user, f"User {user}")
        world.apply_costs(costs)
        await bot.start(timeout=60)
        await asyncio.sleep(1.0)  # the bot-wide budget full again after start-up's own calls
        replies = await simultaneous_picks(world.tg, users)
        run = PicksRun(case.users, replies, prompts_floor(case.users, costs))
        code, _ = await world.stop_bot()
        if code != 0:
            run.problems.append(f"bot exited with {code}" if code is not None else "bot killed: no exit after SIGTERM")
        return run
    finally:
        await world.close()


@dataclass
class StartupRun:
    sessions: int
    items: int
    ready: float  # seconds from the process's start to /readyz 200
    first_polls: list[float]  # seconds from the process's start to each waiting session's first poll
    poll_interval: float
    problems: list[str] = field(default_factory=list)

    @property
    def busiest_tenth(self) -> int:
        """The most first polls inside any window of a tenth of pollInterval."""
        times, width, most, low = sorted(self.first_polls), self.poll_interval / 10, 0, 0
        for high, at in enumerate(times):
            while at - times[low] > width:
                low += 1
            most = max(most, high - low + 1)
        return most


async def start_up(case: StartupCase, workdir: Path, subject: BotUnderTest = THIS_BOT) -> StartupRun:
    """A bot restarting onto a database of `case.items` item rows and `case.sessions` waiting picks, all overdue."""
    costs = case.costs
    world = World(workdir, subject)
    await world.start(costs)
    try:
        tg, google = world.tg, world.google
        bot = world.make_bot(costs)
        users = list(range(40_000, 40_000 + case.sessions))
        tokens = await grant_tokens(google, users, bot.env["PUBLIC_URL"] + "/oauth/callback")
        rng, now, interval = random.Random(3), time.time(), costs.poll_interval
        last = [now - case.downtime - rng.uniform(0, interval) for _ in users]
        waiting = [Waiting(u, open_session(google, u), at) for u, at in zip(users, last, strict=True)]
        await seed_database(
            workdir / "data" / "bot.sqlite3",
            list(zip(users, tokens, strict=True)),
            waiting,
            interval,
            history_items=case.items,
        )
        for user in users:
            tg.add_user(user, f"User {user}")
        world.apply_costs(costs)
        launched = time.monotonic()
        ready = asyncio.create_task(ready_after(bot.base_url, launched))
        await bot.start(timeout=60)
        sessions = [w.session for w in waiting]
        await wait_until(lambda: all(s.polls for s in sessions), 60 + case.sessions / 20, "every session polled")
        run = StartupRun(
            sessions=case.sessions,
            items=case.items,
            ready=await asyncio.wait_for(ready, 60),
            first_polls=[s.polls[0] - launched for s in sessions],  # the emulator's clock is time.monotonic()
            poll_interval=interval,
        )
        code, _ = await world.stop_bot()
        if code != 0:
            run.problems.append(f"bot exited with {code}" if code is not None else "bot killed: no exit after SIGTERM")
        if google.violations:
            run.problems.append(f"emulator violations: {google.violations[:3]}")
        return run
    finally:
        await world.close()


async def ready_after(base_url: str, launched: float) -> float:
    """Seconds from `launched` until GET /readyz answers 200 (asked every 20 ms)."""
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                if (await http.get(f"{base_url}/readyz")).status_code == 200:
                    return time.monotonic() - launched
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values)
