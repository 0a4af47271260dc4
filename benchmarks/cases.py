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
from benchmarks.floors import Floor, delivery_floor
from benchmarks.profile import DeliveryCase, PollingCase
from benchmarks.world import (
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
from bot.crypto import Cipher
from bot.delivery.run import UPLOAD_LIMIT
from emulators.google import GoogleEmulator, MediaItem, SessionRecord
from emulators.telegram import MessageRecord, TelegramEmulator
from storage.database import SqliteDatabase
from storage.links import LinkRepository
from tests.harness import ENCRYPTION_KEY, Person, callback_data

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
    crowd_replies: list[float] = field(default_factory=list)
    overall_rate: float = 30.0
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
    case: DeliveryCase, workdir: Path, reply_spacing: float, bot_root: Path | None = None
) -> DeliveryRun:
    costs = case.costs
    world = World(workdir, bot_root)
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
        started = world.google.now()
        replies_task = (
            asyncio.create_task(pick_replies(world.tg, bob, case.reply_tries, reply_spacing))
            if bob is not None
            else None
        )
        summary = await summary_task
        seconds = world.google.now() - started
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


async def poll_at_scale(case: PollingCase, workdir: Path, bot_root: Path | None = None) -> PollingRun:
    """`case.sessions` users each with a waiting pick; what the bot spends to keep polling them."""
    costs = case.costs
    world = World(workdir, bot_root)
    await world.start(costs)
    setup_began = time.monotonic()
    try:
        tg, google = world.tg, world.google
        bot = world.make_bot(costs)
        users = list(range(10_000, 10_000 + case.sessions))
        # Link everyone before the bot starts: real tokens from the Google emulator (code + PKCE), stored
        # encrypted by the bot's own repository code, as a completed /link would have stored them.
        async with httpx.AsyncClient(timeout=30) as http:
            tokens = [
                await google_token(http, google, f"user{u}@example.com", bot.env["PUBLIC_URL"] + "/oauth/callback")
                for u in users
            ]
        db = SqliteDatabase(workdir / "data" / "bot.sqlite3")
        await db.open()
        try:
            links = LinkRepository(db, Cipher(ENCRYPTION_KEY))
            for user, token in zip(users, tokens, strict=True):
                await links.save_link(user, f"user{user}@example.com", token, str(token["scope"]))
        finally:
            await db.close()
        for user in users:
            tg.add_user(user, f"User {user}")
        world.apply_costs(costs)
        await bot.start(timeout=60)
        assert bot.proc is not None
        pid = bot.proc.pid
        # A crowd: the first users all send /pick at once, with Telegram's latency on. Time to each reply.
        crowd = users[: case.crowd]
        crowd_replies = await simultaneous_picks(tg, crowd)
        # The rest only have to get their picks waiting: Telegram's latency is irrelevant to polling.
        tg.set_latency(None, 0.0)
        for user in users[case.crowd :]:
            tg.send_text(user, "/pick")

        def all_polling() -> bool:
            return len(google.sessions) >= case.sessions and all(s.polls for s in google.sessions.values())

        await wait_until(all_polling, 60 + 3 * case.sessions / costs.overall_rate, "every session to be polled")
        await asyncio.sleep(costs.poll_interval + 1)
        setup = time.monotonic() - setup_began

        async with httpx.AsyncClient(timeout=10) as http:
            lag_before = await lag_histogram(http, bot.base_url)
            cpu_before, began = cpu_seconds(pid), google.now()
            await asyncio.sleep(case.window)
            cpu_after, ended = cpu_seconds(pid), google.now()
            lag_after = await lag_histogram(http, bot.base_url)
        rss = read_status(pid).get("VmRSS", 0)
        polls = sum(1 for r in google.requests if r.endpoint == "sessions.get" and began <= r.time < ended)
        p50 = p99 = None
        if lag_before is not None and lag_after is not None:
            p50 = histogram_quantile(lag_before, lag_after, 0.50)
            p99 = histogram_quantile(lag_before, lag_after, 0.99)
        run = PollingRun(
            sessions=case.sessions,
            window=ended - began,
            polls=polls,
            per_session=polls / case.sessions,
            ideal=(ended - began) / costs.poll_interval,
            cpu_per_1000=(cpu_after - cpu_before) / max(polls, 1) * 1000,
            lag_p50=p50,
            lag_p99=p99,
            rss=rss,
            violations=len(google.violations),
            setup_seconds=setup,
            crowd_replies=crowd_replies,
            overall_rate=costs.overall_rate,
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


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values)
