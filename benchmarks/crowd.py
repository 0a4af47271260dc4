"""Many users' picks delivered at once: the total against the crowd's floor, and how fairly the bot shares."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.baseline import PHOTO_RENDITION
from benchmarks.floors import CrowdFloor, UserPick, crowd_floor
from benchmarks.profile import CrowdCase
from benchmarks.seed import email_of, grant_tokens, seed_database
from benchmarks.world import SEND_METHODS, THIS_BOT, BotUnderTest, World, cpu_seconds, has_picker_button
from emulators.google import MediaItem

MEDIA_KINDS = ("photo", "video", "document")
FIRST_USER = 20_000
FIRST_GROUP = -1_001_000_000_000


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
    await world.start(costs)
    try:
        tg, google = world.tg, world.google
        bot = world.make_bot(costs)
        users = list(range(FIRST_USER, FIRST_USER + case.users))
        groups = [FIRST_GROUP - g for g in range(case.groups)]
        chat_of = {u: groups[n % len(groups)] if n < case.in_groups else u for n, u in enumerate(users)}
        tokens = await grant_tokens(google, users, bot.env["PUBLIC_URL"] + "/oauth/callback")
        await seed_database(workdir / "data" / "bot.sqlite3", list(zip(users, tokens, strict=True)), [], 0)
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
        await bot.start(timeout=60)
        assert bot.proc is not None
        pid = bot.proc.pid

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
        world.apply_costs(costs)
        chats = sorted(set(chat_of.values()))
        await world.wait_buckets_full(chats, costs)

        # Done for everyone at one moment.
        started, at = time.monotonic(), google.now()
        cpu_before = cpu_seconds(pid)
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
        cpu = cpu_seconds(pid) - cpu_before

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
            cpu=cpu,
            moved=downloaded + uploaded,
        )
        code, _ = await world.stop_bot()
        logs = bot.logs()
        if code != 0:
            run.problems.append(f"bot exited with {code}" if code is not None else "bot killed: no exit after SIGTERM")
        if "Traceback" in logs:
            run.problems.append("traceback in the bot's log: " + logs[logs.index("Traceback") :][:300])
        if tg.violations or google.violations:
            run.problems.append(f"emulator violations: {(tg.violations + google.violations)[:3]}")
        return run
    finally:
        await world.close()
