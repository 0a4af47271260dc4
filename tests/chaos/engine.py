"""The chaos engine: seeded runs of the whole flow, faults at random points, the invariant checked after each.

One run is a fresh world: both emulators, a new bot process with an empty database, three linked users
(some receive original files), a group they share, and a few picks per user — in their private chat or
in the group — started at staggered times, while a chaos driver injects faults: Google 429/5xx bursts
(now and then longer than the bot's retries), slow media, downloads cut mid-body, expired baseUrls,
access tokens expiring mid-pick (sometimes with a failing refresh), Telegram 429/5xx, slow sends,
sends that get no answer (the connection drops before or after Telegram carried them out: a timeout
without waiting for the bot's 30 s read timeout), a user blocking the bot, the bot removed from the
group, and the bot SIGKILLed (also while an album upload is in flight) or stopped, then restarted.

With `replicas` ≥ 2 the bot runs as that many replicas (r0, r1, …) sharing one PostgreSQL database, receiving
updates by long polling under the getUpdates lease, with a short LEASE_SECONDS: the faults above then hit the whole
fleet at once (kill, graceful_restart) or the replica sending the album (kill_mid_album), and a random replica is
SIGKILLed (kill_replica) or stopped (stop_replica) and restarted a few seconds later, under its name or a new one
(as the default hostname-pid would give), so that its work either waits for it or moves to another replica.

The fault plan (kinds, parameters, trigger points) comes from the seed; where a trigger lands in the
flow depends on timing, so a seed reproduces the same plan, not always the same interleaving.

The invariant, after every run:
- every picked item arrived exactly once (its bytes, by sha256, across all chats, compared with what
  Google served for it) or was reported to its user with a reason (a summary lists its filename under a
  reason); an item reported "in doubt" that also arrived once counts as delivered once;
- no item arrived twice, none is lost, none arrived while a summary said it did not for another reason;
- no picking session is left open at Google; no temporary file is left in any TEMP_DIR; neither emulator
  recorded a protocol violation; the database is sound: SQLite passes PRAGMA integrity_check; on PostgreSQL
  (whose own consistency a bot process cannot break) the leases are: once every replica got its last SIGTERM, a
  lease left is held only under a name that was SIGKILLed and never ran again (SIGTERM releases a replica's
  leases), and none is on a pick still active.

An item whose user blocked the bot (or whose pick ended because its chat went away before the bot saw the
choice) cannot be told anything: it counts as "unreachable" when the bot recorded why, and as lost otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import texts
from bot.outcomes import SkipReason
from emulators.google import GoogleEmulator, MediaItem, SessionRecord
from emulators.telegram import TelegramEmulator
from tests.chaos.database import BotDatabase, PostgresDatabase, SqliteDatabase, create_postgres, drop_postgres
from tests.chaos.fleet import LEASE_SECONDS, Fleet, Replica, ReplicaCounts
from tests.harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    ENCRYPTION_KEY,
    TOKEN,
    BotProcess,
    Person,
    bot_env,
    callback_data,
    url_button,
)

BOT_USERNAME = "photos_test_bot"
GROUP_ID = -1009000
PEOPLE = (("Alice", 111), ("Bob", 222), ("Carol", 333), ("Dave", 444))
SEND_METHODS = ("sendMediaGroup", "sendPhoto", "sendVideo", "sendDocument", "sendMessage")
IN_DOUBT = frozenset(
    {texts.ENGLISH.skip_reason(SkipReason.IN_DOUBT), texts.ENGLISH.skip_reason(SkipReason.UNCONFIRMED)}
)
STOPPED = "the pick was stopped: its chat went away"  # the prompt says so instead of a summary
TERMINAL = frozenset({"done", "cancelled", "expired", "failed"})
OUTCOMES = ("delivered", "reported", "unreachable", "duplicated", "lost", "contradicted")

# Fault kinds and how often each is drawn (relative weights).
KINDS: dict[str, float] = {
    "google_api_error": 3.0,
    "google_media_error": 3.0,
    "google_slow_media": 1.5,
    "google_cut_download": 2.0,
    "google_expired_base_urls": 1.5,
    "google_expired_tokens": 1.5,
    "google_token_refresh_error": 1.0,
    "telegram_5xx": 2.5,
    "telegram_429": 2.0,
    "telegram_slow": 1.5,
    "telegram_no_answer": 2.0,
    "chat_blocked": 0.6,
    "bot_removed_from_group": 0.5,
    "kill": 2.0,
    "kill_mid_album": 2.0,
    "graceful_restart": 0.8,
    "kill_replica": 3.0,
    "stop_replica": 1.5,
}
REPLICA_KINDS = frozenset({"kill_replica", "stop_replica"})  # drawn only with replicas ≥ 2
ONCE_PER_RUN = frozenset({"chat_blocked", "bot_removed_from_group"})
TRIGGERS = ("soon", "later", "album", "upload", "download", "listing", "poll")


@dataclass(frozen=True)
class ChaosConfig:
    users: int = 3
    picks_per_user: tuple[int, int] = (1, 2)
    items_per_pick: tuple[int, int] = (1, 14)
    faults_per_run: tuple[int, int] = (4, 10)
    kinds: frozenset[str] = frozenset(KINDS)
    settle_timeout: float = 120.0  # for every pick to end, faults and restarts included
    delete_wait: float = 30.0  # then for every picking session to be deleted at Google
    prompt_wait: float = 15.0  # a user gives up on a /pick whose prompt does not come
    log_level: str = "INFO"
    keep: bool = False  # keep every run's directory (failing runs are always kept)
    replicas: int = 1  # ≥ 2: that many replicas on PostgreSQL (database_url required)
    database_url: str | None = None  # a PostgreSQL server: each run creates a database of its own there


# --------------------------------------------------------------------------------------------------
# Judging one item (pure, unit-tested)


@dataclass(frozen=True)
class ItemFacts:
    filename: str
    arrivals: int  # how many times its bytes arrived, across all chats
    reasons: frozenset[str]  # the reasons summaries (or its stopped prompt) gave for it
    unreachable: bool  # its chat refused messages and the bot recorded why


def classify(facts: ItemFacts) -> str:
    """One of OUTCOMES."""
    if facts.arrivals >= 2:
        return "duplicated"
    if facts.arrivals == 1:
        return "contradicted" if facts.reasons - IN_DOUBT else "delivered"
    if facts.reasons:
        return "reported"
    return "unreachable" if facts.unreachable else "lost"


@dataclass(frozen=True)
class ReasonLine:
    count: int
    reason: str
    names: tuple[str, ...]  # the filenames shown (at most five)


SUMMARY_HEAD = re.compile(r"^(✅|⚠️) Delivered ")
REASON_LINE = re.compile(r"^· (\d+) (.+): (.+)$")
SIZE_SUFFIX = re.compile(r" \([\d.]+ [kMG]B\)$")
MORE_SUFFIX = re.compile(r" and \d+ more$")


def parse_summary(text: str) -> list[ReasonLine] | None:
    """The reason lines of a summary message (None: not a summary)."""
    lines = text.splitlines()
    if not lines or not SUMMARY_HEAD.match(lines[0]):
        return None
    found = []
    for line in lines[1:]:
        match = REASON_LINE.match(line)
        if match is None:
            continue
        shown = MORE_SUFFIX.sub("", match.group(3))
        names = tuple(SIZE_SUFFIX.sub("", name) for name in shown.split(", "))
        found.append(ReasonLine(int(match.group(1)), match.group(2), names))
    return found


def reasons_given(
    summaries: Iterable[list[ReasonLine]], skipped_groups: Iterable[tuple[str, list[str]]]
) -> dict[str, set[str]]:
    """filename -> the reasons the summaries gave for it.

    A summary names at most five files per reason ("… and 7 more"): the files past the fifth count as
    reported when a line with that reason, that count and the group's first five names was shown.
    `skipped_groups` are (reason, filenames in pick order) per pick, from the bot's database.
    """
    lines = [line for summary in summaries for line in summary]
    given: dict[str, set[str]] = {}
    for line in lines:
        for name in line.names:
            given.setdefault(name, set()).add(line.reason)
    for reason, names in skipped_groups:
        if len(names) <= 5:
            continue
        if any(line.reason == reason and line.count == len(names) and line.names == tuple(names[:5]) for line in lines):
            for name in names[5:]:
                given.setdefault(name, set()).add(reason)
    return given


# --------------------------------------------------------------------------------------------------
# Results


@dataclass
class RunResult:
    seed: int
    seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    picks: int = 0
    picks_made: int = 0  # picks whose choice reached Google (the others: no prompt, or replaced)
    items: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    in_doubt_and_arrived: int = 0
    unrecorded: int = 0  # sessions Google created for a process SIGKILLed before it recorded them
    reported_by_reason: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    tracebacks: Counter[str] = field(default_factory=Counter)  # the exception line of each, in the bot's logs
    replicas: dict[str, ReplicaCounts] = field(default_factory=dict)  # by slot, with PostgreSQL
    workdir: Path | None = None

    @property
    def ok(self) -> bool:
        return not (
            self.outcomes["duplicated"] or self.outcomes["lost"] or self.outcomes["contradicted"] or self.problems
        )


@dataclass
class Figures:
    seed: int
    runs: list[RunResult] = field(default_factory=list)

    def _sum(self, get: Callable[[RunResult], int]) -> int:
        return sum(get(run) for run in self.runs)

    @property
    def faults(self) -> Counter[str]:
        return sum((run.faults for run in self.runs), Counter())

    @property
    def outcomes(self) -> Counter[str]:
        return sum((run.outcomes for run in self.runs), Counter())

    @property
    def duplicated(self) -> int:
        return self.outcomes["duplicated"]

    @property
    def lost(self) -> int:
        return self.outcomes["lost"]

    @property
    def problems(self) -> list[str]:
        return [problem for run in self.runs for problem in run.problems]

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs)

    @property
    def replicas(self) -> dict[str, ReplicaCounts]:
        total: dict[str, ReplicaCounts] = {}
        for run in self.runs:
            for slot, counts in run.replicas.items():
                total[slot] = total.get(slot, ReplicaCounts()) + counts
        return total

    def _render_replicas(self) -> list[str]:
        replicas = self.replicas
        if not replicas:
            return []
        columns = (
            ("SIGKILLs", "kills"),
            ("SIGTERMs", "stops"),
            ("picks taken over", "picks_taken"),
            ("to chat's sender", "picks_handed"),
            ("getUpdates taken", "updates_taken"),
            ("409s", "conflicts"),
            ("leases lost", "leases_lost"),
        )
        row = "  {:<7}" + "".join(f"  {{:>{len(title)}}}" for title, _ in columns)
        return [
            f"replicas: {len(replicas)} on PostgreSQL (LEASE_SECONDS {LEASE_SECONDS:g}; restarts may take a new name)",
            row.format("replica", *(title for title, _ in columns)),
            *(row.format(slot, *(getattr(c, name) for _, name in columns)) for slot, c in replicas.items()),
        ]

    def render(self) -> str:
        outcomes = self.outcomes
        faults = self.faults
        seconds = sum(run.seconds for run in self.runs)
        seeds = f"{self.runs[0].seed}–{self.runs[-1].seed}" if self.runs else "none"
        reported = sum((run.reported_by_reason for run in self.runs), Counter())
        tracebacks = sum((run.tracebacks for run in self.runs), Counter())
        lines = [
            f"runs: {len(self.runs)} (seed {self.seed}: run seeds {seeds}), {seconds:.0f} s",
            f"faults injected: {sum(faults.values())}",
            *(f"  {kind:<28} {faults[kind]}" for kind in KINDS if faults[kind]),
            f"picks: {self._sum(lambda r: r.picks)} started, {self._sum(lambda r: r.picks_made)} chosen at Google",
            f"items picked: {self._sum(lambda r: r.items)}",
            f"  delivered:   {outcomes['delivered']}"
            f" (of which reported in doubt and arrived once: {self._sum(lambda r: r.in_doubt_and_arrived)})",
            f"  reported:    {outcomes['reported']}",
            *(f"    {count:>4}  {reason}" for reason, count in reported.most_common()),
            f"  unreachable: {outcomes['unreachable']} (their chat refused messages; the bot recorded why)",
            f"  duplicated:  {outcomes['duplicated']}",
            f"  lost:        {outcomes['lost']}",
            f"  contradicted: {outcomes['contradicted']} (arrived, yet reported as not delivered)",
            f"sessions left to expire at Google: {self._sum(lambda r: r.unrecorded)}"
            " (nothing picked; the process that created them was SIGKILLed before it could record them)",
            f"other invariant failures: {len(self.problems)}",
            *(f"  {problem}" for problem in self.problems[:40]),
            f"tracebacks in bot logs: {sum(tracebacks.values())}",
            *(f"  {count:>4}  {line[:150]}" for line, count in tracebacks.most_common(10)),
            *self._render_replicas(),
        ]
        kept = [run for run in self.runs if not run.ok and run.workdir is not None]
        lines += [f"failing run {run.seed} kept in {run.workdir}" for run in kept]
        lines.append("RESULT: " + ("OK" if self.ok else "FAILED"))
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# One run


@dataclass
class PlannedPick:
    person: Person
    in_group: bool
    items: list[MediaItem]
    delay: float  # before sending /pick
    choose: float  # between the prompt and tapping Done
    chat_id: int | None = None
    prompt_id: int | None = None
    session: SessionRecord | None = None
    outcome: str = "planned"  # picked | no_prompt | closed


class ChaosRun:
    def __init__(self, seed: int, config: ChaosConfig, workdir: Path, database: BotDatabase | None = None) -> None:
        """`database`: the PostgreSQL database this run's replicas share (else one bot on a SQLite file)."""
        self.seed = seed
        self.config = config
        self.workdir = workdir
        self.db = database or SqliteDatabase(workdir / "data" / "bot.sqlite3")
        self.plan_rng = random.Random(f"plan:{seed}")
        self.fault_rng = random.Random(f"faults:{seed}")
        self.tg = TelegramEmulator(token=TOKEN, bot_username=BOT_USERNAME)
        self.google = GoogleEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        self.google.poll_interval = 0.2
        self.people: list[Person] = []
        self.picks: list[PlannedPick] = []
        self.result = RunResult(seed, workdir=workdir)
        self.blocked: set[int] = set()  # users who blocked the bot during the run
        self.group_gone = False
        self.journal: list[str] = []
        self._started = time.monotonic()
        self._healing: dict[str, int] = {}
        self._fleet: Fleet | None = None
        self.send_latency = 0.0

    @property
    def fleet(self) -> Fleet:
        assert self._fleet is not None
        return self._fleet

    @property
    def shared(self) -> bool:
        """Replicas on PostgreSQL."""
        return isinstance(self.db, PostgresDatabase)

    def note(self, text: str) -> None:
        self.journal.append(f"{time.monotonic() - self._started:7.2f}  {text}")

    def problem(self, text: str) -> None:
        self.note("PROBLEM " + text)
        self.result.problems.append(f"run {self.seed}: {text}")

    async def run(self) -> RunResult:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if isinstance(self.db, PostgresDatabase):
            self.note(f"database {self.db.name}")
        await self.tg.start()
        await self.google.start()
        try:
            await self._setup()
            await self._play()
            await self._check()
        except Exception as exc:  # the run itself broke: report it, keep the evidence
            self.problem(f"run aborted: {type(exc).__name__}: {exc}")
        finally:
            if self._fleet is not None:
                await self._fleet.end()
                if self.shared:
                    self.result.replicas = self._fleet.counts()
            await self.db.close()
            await self.google.stop()
            await self.tg.stop()
            self.result.seconds = time.monotonic() - self._started
            (self.workdir / "chaos.log").write_text("\n".join(self.journal) + "\n")
            self._write_traffic()
        return self.result

    def _write_traffic(self) -> None:
        """Every Google request and Telegram call, in order, for reading a failing run."""
        start = self._started
        lines = [
            f"{r.time - start:8.3f} google   {r.status} {r.method} {r.endpoint} {r.path}" for r in self.google.requests
        ]
        lines += [
            f"{c.time - start:8.3f} telegram {c.status} {c.method} chat={c.params.get('chat_id')}"
            for c in self.tg.calls
            if c.method != "getUpdates"
        ]
        (self.workdir / "traffic.log").write_text("\n".join(sorted(lines)) + "\n")

    # ---------------------------------------------------------------- the world

    async def _setup(self) -> None:
        tg, google, rng = self.tg, self.google, self.plan_rng
        for name, user_id in PEOPLE[: self.config.users]:
            tg.add_user(user_id, name, username=name.lower())
            self.people.append(Person(tg, google, user_id, name, f"{name.lower()}@example.com"))
        tg.add_group(
            GROUP_ID,
            "Family",
            members={p.user_id: "administrator" if n == 0 else "member" for n, p in enumerate(self.people)},
        )
        self._fleet = Fleet([self._replica(n) for n in range(self.config.replicas)], self.note, self.problem)
        await self.fleet.start_all()
        for person in self.people:
            await person.link()
            await tg.wait_for_message(person.user_id, lambda m: "Linked to" in (m.text or ""))
            if rng.random() < 0.25:
                await self._choose_originals(person)
        for person in self.people:
            for n in range(rng.randint(*self.config.picks_per_user)):
                count = rng.randint(*self.config.items_per_pick)
                self.picks.append(
                    PlannedPick(
                        person=person,
                        in_group=rng.random() < 0.35,
                        items=[self._new_item(person) for _ in range(count)],
                        delay=rng.uniform(0.0, 3.0) if n == 0 else rng.uniform(0.0, 1.5),
                        choose=rng.uniform(0.1, 1.5),
                    )
                )
        # Weather: sends and downloads take a little while, so faults land in the middle of things.
        self.send_latency = rng.uniform(0.05, 0.25)
        for method in SEND_METHODS:
            tg.set_latency(method, self.send_latency)
        tg.set_upload_bandwidth(rng.uniform(2e6, 8e6))
        google.media_bandwidth = rng.uniform(4e6, 16e6)
        self.result.picks = len(self.picks)
        self.note(
            f"world: {len(self.people)} users, {len(self.picks)} picks planned, "
            f"{sum(len(p.items) for p in self.picks)} items"
        )

    def _replica(self, n: int) -> Replica:
        """The bot's process (on SQLite), or replica r<n> on this run's PostgreSQL database."""
        env = bot_env(
            self.workdir,
            self.tg,
            self.google,
            ENCRYPTION_KEY=ENCRYPTION_KEY,
            LOG_LEVEL=self.config.log_level,
            MAX_ACTIVE_PICKS="20",
            PICKS_PER_HOUR="1000",
        )
        self.google.redirect_uris.add(env["PUBLIC_URL"] + "/oauth/callback")
        if not self.shared:
            return Replica("bot", BotProcess(env=env, workdir=self.workdir, tg=self.tg))
        slot = f"r{n}"
        env |= {
            "DATABASE_URL": self.db.url,
            "REPLICA_NAME": slot,
            "LEASE_SECONDS": f"{LEASE_SECONDS:g}",
            "TEMP_DIR": str(self.workdir / f"tmp-{slot}"),  # start-up empties its own TEMP_DIR
        }
        return Replica(slot, BotProcess(env=env, workdir=self.workdir, tg=self.tg, name=slot))

    async def _choose_originals(self, person: Person) -> None:
        menu = await person.reply_to("/settings")
        await person.press(menu, callback_data(menu, "Original files"))
        await self.tg.wait_for(
            lambda: "Now: Original files" in (self.tg.message(person.user_id, menu.message_id).text or "")
        )
        self.note(f"{person.name} receives original files")

    def _new_item(self, person: Person) -> MediaItem:
        rng, google = self.plan_rng, self.google
        roll = rng.random()
        shape = rng.choice([(4032, 3024), (3024, 4032), (1600, 1200), (4000, 1800)])
        size = rng.randint(80_000, 400_000)
        ready_after = rng.choice([0, 0, 0, 1, 2])
        if roll < 0.78:
            return google.add_photo(person.email, width=shape[0], height=shape[1], size=size)
        if roll < 0.95:
            return google.add_video(person.email, size=size, ready_after_lists=ready_after)
        if roll < 0.98:
            return google.add_video(person.email, size=60_000_000)  # over Telegram's 50 MB: reported
        return google.add_photo(person.email, width=12_000, height=500, size=size)  # too wide for a photo

    # ---------------------------------------------------------------- playing it out

    async def _play(self) -> None:
        done = asyncio.Event()
        by_person: dict[int, list[PlannedPick]] = {}
        for pick in self.picks:
            by_person.setdefault(pick.person.user_id, []).append(pick)
        drivers = [asyncio.create_task(self._drive(picks)) for picks in by_person.values()]
        chaos = asyncio.create_task(self._chaos(done))
        deadline = time.monotonic() + self.config.settle_timeout
        try:
            try:
                await asyncio.wait_for(asyncio.gather(*drivers), self.config.settle_timeout)
            except TimeoutError:
                self.problem(f"users were still picking after {self.config.settle_timeout:.0f} s")
            await self._wait_settled(deadline)
        finally:
            done.set()
            for task in drivers:
                task.cancel()
            try:
                await asyncio.wait_for(chaos, 60)
            except Exception as exc:
                self.problem(f"the chaos driver failed: {type(exc).__name__}: {exc}")
            self._heal()
            await self.fleet.all_up()
        # The last faults may have come after everything looked settled.
        await self._wait_settled(max(deadline, time.monotonic() + 30.0))
        await self._sweep()
        with contextlib.suppress(TimeoutError):  # what is still open is reported by the check
            await self.google.wait_for(
                lambda: all(s.deleted for s in self.google.sessions.values()), self.config.delete_wait
            )
        await self.fleet.stop_all()

    async def _drive(self, picks: list[PlannedPick]) -> None:
        for pick in picks:
            await asyncio.sleep(pick.delay)
            await self._make_pick(pick)

    async def _make_pick(self, pick: PlannedPick) -> None:
        person, tg, google = pick.person, self.tg, self.google
        # A blocked user's group pick could not prompt them privately; writing privately unblocks the bot.
        in_group = pick.in_group and not self.group_gone and not tg.users[person.user_id].blocked
        pick.chat_id = GROUP_ID if in_group else person.user_id
        before = max((m.message_id for m in tg.messages(person.user_id, include_deleted=True)), default=0)
        await person.say(f"/pick@{BOT_USERNAME}" if in_group else "/pick", GROUP_ID if in_group else None)
        self.note(f"{person.name}: /pick in {'the group' if in_group else 'private'} ({len(pick.items)} items)")

        def prompt() -> Any:
            return next(
                (
                    m
                    for m in tg.messages(person.user_id)
                    if m.message_id > before and url_button(m, texts.BUTTON_OPEN_PHOTOS) is not None
                ),
                None,
            )

        try:
            message = await tg.wait_for(prompt, self.config.prompt_wait)
        except TimeoutError:
            pick.outcome = "no_prompt"
            self.note(f"{person.name}: no prompt came; cancelling")
            await person.say("/cancel", GROUP_ID if in_group else None)
            return
        pick.prompt_id = message.message_id
        uri = (url_button(message, texts.BUTTON_OPEN_PHOTOS) or "").removesuffix("/autoclose")
        await asyncio.sleep(pick.choose)
        mine = [s for s in google.sessions.values() if s.email == person.email and _live(s)]
        # The prompt's session, or the one that replaced it (a /pick handled again after a restart).
        session = next((s for s in mine if s.picker_uri == uri), mine[-1] if mine else None)
        if session is None:
            pick.outcome = "closed"
            self.note(f"{person.name}: the picker closed before Done")
            return
        google.pick(session.id, pick.items)
        pick.session, pick.outcome = session, "picked"
        self.result.picks_made += 1
        self.note(f"{person.name}: picked {len(pick.items)} in session {session.id[:8]}")
        # Like a person, wait until the bot has noticed before picking again (a new /pick in the same
        # chat would replace a pick still waiting).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(60):
                while await self._status_of(session.id) == "waiting" and not session.deleted:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

    async def _status_of(self, google_session_id: str) -> str | None:
        rows = await self.db.query("SELECT status FROM pick_sessions WHERE google_session_id = ?", (google_session_id,))
        return str(rows[0][0]) if rows else None

    async def _unsettled(self) -> list[str]:
        rows = await self.db.query("SELECT google_session_id, status FROM pick_sessions")
        statuses: dict[str, str] = {str(row[0]): str(row[1]) for row in rows}
        return [
            f"{p.person.name}'s pick ({statuses.get(p.session.id)})"
            for p in self.picks
            if p.session is not None and statuses.get(p.session.id) not in TERMINAL
        ]

    async def _wait_settled(self, deadline: float) -> None:
        while await self._unsettled() and time.monotonic() < deadline:  # noqa: ASYNC110  (another process's database)
            await asyncio.sleep(0.1)

    async def _sweep(self) -> None:
        """Users cancel picks they abandoned: a prompt that never came, a /pick handled twice after a crash."""
        rows = {
            row[0]: row[1:]
            for row in await self.db.query("SELECT google_session_id, status, chat_id, user_id FROM pick_sessions")
        }
        people = {p.user_id: p for p in self.people}
        for session in self.google.sessions.values():
            row = rows.get(session.id)
            if session.deleted or row is None or row[0] != "waiting":
                continue
            _, chat_id, user_id = row
            self.note(f"sweep: user {user_id} cancels waiting session {session.id[:8]} in chat {chat_id}")
            await people[user_id].say("/cancel", None if chat_id == user_id else chat_id)

    # ---------------------------------------------------------------- faults

    def _fault_plan(self) -> list[tuple[str, str]]:
        """(trigger, kind) in order, from the seed alone. Every run kills the bot at least twice, once while
        an album is being uploaded, early on (when the kinds allow it); with replicas, the other kill is a random
        replica's, first or second, and a random replica is stopped early too. The rest is drawn by weight."""
        rng = self.fault_rng
        replicas = self.config.replicas >= 2
        kinds = [kind for kind in KINDS if kind in self.config.kinds and (replicas or kind not in REPLICA_KINDS)]
        drawn: list[str] = []
        for _ in range(rng.randint(*self.config.faults_per_run)):
            available = [k for k in kinds if not (k in ONCE_PER_RUN and k in drawn)]
            drawn.append(rng.choices(available, weights=[KINDS[k] for k in available])[0])
        # (kind, the last place it may take): a replica is killed first or second, and one stopped, as runs are short.
        musts = (
            (("kill_mid_album", 3), ("kill_replica", 1), ("stop_replica", 2))
            if replicas
            else (("kill_mid_album", 3), ("kill", 3))
        )
        for must, last in musts:
            if must in kinds and must not in drawn[: last + 1]:
                drawn.insert(rng.randint(0, min(last, len(drawn))), must)
        plan = [(rng.choice(TRIGGERS), kind) for kind in drawn]
        self.note("fault plan: " + ", ".join(f"{kind} after {trigger}" for trigger, kind in plan))
        return plan

    async def _chaos(self, done: asyncio.Event) -> None:
        for trigger, kind in self._fault_plan():
            waiting = asyncio.ensure_future(self._trigger(trigger))
            ending = asyncio.ensure_future(done.wait())
            await asyncio.wait({waiting, ending}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            ending.cancel()
            if done.is_set():
                return
            self.result.faults[kind] += 1
            await self._inject(kind, trigger)

    async def _trigger(self, trigger: str) -> None:
        rng = self.fault_rng
        pause = rng.uniform(0.05, 0.8) if trigger == "soon" else rng.uniform(0.8, 3.0)
        if trigger in ("soon", "later"):
            await asyncio.sleep(pause)
            return
        with contextlib.suppress(TimeoutError):
            if trigger == "album":
                await self._next_telegram_call({"sendMediaGroup"})
            elif trigger == "upload":
                await self._next_telegram_call({"sendMediaGroup", "sendPhoto", "sendVideo", "sendDocument"})
            else:
                endpoint = {"download": "media", "listing": "mediaItems.list", "poll": "sessions.get"}[trigger]
                seen = len(self.google.requests)
                await self.google.wait_for(
                    lambda: any(r.endpoint == endpoint for r in self.google.requests[seen:]), 4.0
                )

    async def _next_telegram_call(self, methods: set[str]) -> None:
        seen = len(self.tg.calls)
        await self.tg.wait_for(lambda: any(c.method in methods for c in self.tg.calls[seen:]), 4.0)

    async def _inject(self, kind: str, trigger: str) -> None:
        rng, tg, google = self.fault_rng, self.tg, self.google
        # Every kind draws the same numbers whatever happens, so a seed always gives the same plan.
        status = rng.choice([429, 500, 503, 503])
        times = rng.choice([1, 1, 2, 3]) if rng.random() > 0.12 else 6  # 6: longer than the bot's retries
        retry_after = rng.choice([None, 1])
        seconds, hold, fraction = rng.uniform(0.5, 3.0), rng.uniform(1.0, 4.0), rng.uniform(0.1, 0.9)
        cut_at, cuts = rng.randint(1, 60_000), rng.choice([1, 1, 2])
        send_method = rng.choice(SEND_METHODS)
        any_method = rng.choice((*SEND_METHODS, "editMessageText", "deleteMessage"))
        endpoint = rng.choice(["sessions.get", "mediaItems.list", "sessions.delete", "sessions.create"])
        person = rng.choice(self.people)
        flag = rng.random() < 0.5
        pause = rng.uniform(0.0, 0.8)
        # Replicas: which one a replica fault hits, when it comes back and whether under a new name.
        victim, later, rename = (
            (rng.random(), rng.uniform(0.3, 2.5) * LEASE_SECONDS, rng.random() < 0.5)
            if self.shared
            else (0.0, 0.0, False)
        )
        after = f"(after {trigger})"
        if kind == "google_api_error":
            google.fail_next(endpoint, status=status, times=times, retry_after=retry_after if status == 429 else None)
            self.note(f"fault {kind}: {endpoint} answers {status} x{times} {after}")
        elif kind == "google_media_error":
            google.fail_next("media", status=status, times=times, retry_after=retry_after if status == 429 else None)
            self.note(f"fault {kind}: media answers {status} x{times} {after}")
        elif kind == "google_slow_media":
            google.media_latency = seconds
            self._heal_later("google", hold)
            self.note(f"fault {kind}: media {seconds:.1f} s slow for {hold:.1f} s {after}")
        elif kind == "google_cut_download":
            google.cut_next_media(cut_at, times=cuts)
            self.note(f"fault {kind}: next {cuts} download(s) cut after {cut_at} bytes {after}")
        elif kind == "google_expired_base_urls":
            google.expire_base_urls()
            self.note(f"fault {kind} {after}")
        elif kind == "google_expired_tokens":
            google.expire_access_tokens()
            self.note(f"fault {kind} {after}")
        elif kind == "google_token_refresh_error":
            google.expire_access_tokens()
            google.fail_next("token", status=500 if flag else 503, times=cuts)
            self.note(f"fault {kind}: tokens expired, the next {cuts} refresh(es) fail {after}")
        elif kind == "telegram_5xx":
            tg.fail_next(any_method, status=502 if flag else 500, times=cuts)
            self.note(f"fault {kind}: {any_method} answers {502 if flag else 500} x{cuts} {after}")
        elif kind == "telegram_429":
            tg.fail_next(send_method, retry_after=cuts, times=cuts)
            self.note(f"fault {kind}: {send_method} answers 429 retry_after {cuts} x{cuts} {after}")
        elif kind == "telegram_slow":
            tg.set_latency(send_method, seconds)
            self._heal_later(send_method, hold)
            self.note(f"fault {kind}: {send_method} {seconds:.1f} s slow for {hold:.1f} s {after}")
        elif kind == "telegram_no_answer":
            tg.drop_next(any_method, processed=flag)
            self.note(f"fault {kind}: next {any_method} gets no answer (carried out: {flag}) {after}")
        elif kind == "chat_blocked":
            tg.block_bot(person.user_id, notify=flag)
            self.blocked.add(person.user_id)
            self.note(f"fault {kind}: {person.name} blocks the bot (bot told: {flag}) {after}")
        elif kind == "bot_removed_from_group":
            tg.set_bot_status(GROUP_ID, "left", by_user_id=person.user_id)
            self.group_gone = True
            self.note(f"fault {kind}: {person.name} removes the bot from the group {after}")
        elif kind == "kill":
            await self._restart(kill=True, pause=pause, rename=rename, why=f"{kind} {after}")
        elif kind == "kill_mid_album":
            await self._kill_mid_album(seconds, fraction, pause, victim, later, rename)
        elif kind == "graceful_restart":
            await self._restart(kill=False, pause=pause, rename=rename, why=f"{kind} {after}")
        elif kind in ("kill_replica", "stop_replica"):
            running = self.fleet.running()
            if running:
                await self._cycle(
                    running[int(victim * len(running))], kind == "kill_replica", later, rename, f"{kind} {after}"
                )
            else:
                self.note(f"fault {kind} {after}: no replica is running")

    async def _kill_mid_album(
        self, seconds: float, fraction: float, pause: float, victim: float, later: float, rename: bool
    ) -> None:
        tg = self.tg
        seen = len(tg.calls)
        latency = min(seconds, 2.0)
        tg.set_latency("sendMediaGroup", latency)
        try:
            album = await tg.wait_for(
                lambda: next((c for c in tg.calls[seen:] if c.method == "sendMediaGroup"), None), 6.0
            )
            await asyncio.sleep(latency * fraction)
            why = f"kill_mid_album ({fraction:.0%} into a {latency:.1f} s album upload)"
        except TimeoutError:
            album, why = None, "kill_mid_album (no album came: killed anyway)"

        def heal() -> None:
            self._heal_one("sendMediaGroup")

        if self.config.replicas < 2:
            await self._restart(kill=True, pause=pause, rename=rename, why=why, before_start=heal)
            return
        running = self.fleet.running()
        sender = await self._sender(album.params.get("chat_id")) if album is not None else None
        if sender is None and running:
            sender = running[int(victim * len(running))]
        if sender is None:
            self.note(f"fault {why}: no replica is running")
            heal()
            return
        await self._cycle(sender, True, later, rename, why, before_start=heal)

    async def _sender(self, chat_id: Any) -> Replica | None:
        """The running replica sending the deliveries into that chat (it holds the chat's lease)."""
        rows = await self.db.query("SELECT holder FROM leases WHERE work = 'chat' AND id = ?", (int(chat_id),))
        replica = self.fleet.named(str(rows[0][0])) if rows else None
        return replica if replica in self.fleet.running() else None

    async def _cycle(
        self,
        replica: Replica,
        kill: bool,
        later: float,
        rename: bool,
        why: str,
        before_start: Callable[[], None] | None = None,
    ) -> None:
        """One replica SIGKILLed or stopped, and started again `later` seconds from now (under a new name if
        `rename`); the others carry on meanwhile."""
        new_name = " under a new name" if rename else ""
        self.note(f"fault {why}: {'SIGKILL' if kill else 'SIGTERM'} {replica.name}, back in {later:.1f} s{new_name}")
        if kill:
            await self.fleet.kill(replica)
        if before_start is not None:
            before_start()
        self.fleet.restart_later(replica, later, rename=rename, stop_first=not kill)

    async def _restart(
        self, *, kill: bool, pause: float, rename: bool, why: str, before_start: Callable[[], None] | None = None
    ) -> None:
        """The bot, or every replica running, SIGKILLed or stopped at once, and started again after `pause`."""
        hit = self.fleet.running()
        everyone = f" {', '.join(r.name for r in hit) or '(no replica running)'}" if self.shared else ""
        self.note(f"fault {why}: {'SIGKILL' if kill else 'SIGTERM'}{everyone}")
        await asyncio.gather(*(self.fleet.kill(r) if kill else self.fleet.stop(r) for r in hit))
        if before_start is not None:
            before_start()
        await asyncio.sleep(pause)
        for replica in hit:
            await self.fleet.start(replica, rename=rename)

    def _heal_later(self, what: str, after: float) -> None:
        generation = self._healing.get(what, 0) + 1
        self._healing[what] = generation

        async def heal() -> None:
            await asyncio.sleep(after)
            if self._healing.get(what) == generation:
                self._heal_one(what)

        task = asyncio.ensure_future(heal())
        task.add_done_callback(lambda _: None)

    def _heal_one(self, what: str) -> None:
        if what == "google":
            self.google.media_latency = 0.0
        else:
            self.tg.set_latency(what, self.send_latency)

    def _heal(self) -> None:
        """Slowness ends with the chaos; queued failures stay queued (the bot must live with them)."""
        for what in ("google", *SEND_METHODS):
            self._healing[what] = self._healing.get(what, 0) + 1
            self._heal_one(what)

    # ---------------------------------------------------------------- the invariant

    async def _check(self) -> None:
        tg, google, result = self.tg, self.google, self.result
        for what in await self._unsettled():
            self.problem(f"not finished: {what}")
        sessions = {
            row[0]: row
            for row in await self.db.query(
                "SELECT google_session_id, id, status, user_id, report_chat_id FROM pick_sessions"
            )
        }
        for session in google.sessions.values():
            if session.deleted:
                continue
            row = sessions.get(session.id)
            if row is None and not session.media_items_set and self._killed_after(session.created):
                result.unrecorded += 1
                continue
            state = f"recorded as {row[2]}" if row else "never recorded by the bot"
            self.problem(f"session {session.id[:8]} of {session.email} left open at Google ({state})")
        items = {
            (row[0], row[1]): row[2:]
            for row in await self.db.query(
                "SELECT s.google_session_id, i.media_id, i.status, i.reason FROM pick_items i"
                " JOIN pick_sessions s ON s.id = i.session_id",
            )
        }
        groups: dict[tuple[int, str], list[str]] = {}
        for session_id, filename, reason, detail in await self.db.query(
            "SELECT session_id, filename, reason, reason_detail FROM pick_items WHERE status = 'skipped'"
            " ORDER BY session_id, position",
        ):
            groups.setdefault((session_id, stored_reason(reason, detail)), []).append(filename)

        # What arrived, by sha256, and where.
        arrived: dict[str, list[int]] = {}
        summaries = []
        for chat_id in list(tg.chats):
            for message in tg.messages(chat_id, include_deleted=True):
                if message.kind in ("photo", "video", "document") and message.file is not None:
                    arrived.setdefault(message.file.sha256, []).append(chat_id)
                elif message.kind == "text" and message.text:
                    parsed = parse_summary(message.text)
                    if parsed is not None:
                        summaries.append(parsed)
        given = reasons_given(summaries, [(reason, names) for (_, reason), names in groups.items()])
        served: dict[str, set[str]] = {}
        for body in google.served:
            served.setdefault(body.item_id, set()).add(body.sha256)
        known = {sha for hashes in served.values() for sha in hashes}
        for sha, chats in arrived.items():
            if sha not in known:
                self.problem(f"media that Google never served in full arrived in chat(s) {chats}")

        for pick in self.picks:
            if pick.session is None:
                continue
            _, _, status, _, report_chat = sessions.get(pick.session.id, (None,) * 5)
            blocked = pick.person.user_id in self.blocked
            group_gone = pick.chat_id == GROUP_ID and self.group_gone
            # Nobody could be told: the chat the summary goes to refused it, or the pick ended unseen
            # (the bot stops a waiting pick when its user blocks it, or when it leaves the pick's group).
            summary_refused = (report_chat == pick.person.user_id and blocked) or (
                report_chat == GROUP_ID and self.group_gone
            )
            ended_unseen = status in TERMINAL and (blocked or group_gone)
            stopped = False
            if pick.prompt_id is not None and status == "cancelled":
                prompt = tg.message(pick.person.user_id, pick.prompt_id)
                stopped = "was stopped" in (prompt.text or "")
            for item in pick.items:
                result.items += 1
                chats = [c for sha in served.get(item.id, ()) for c in arrived.get(sha, [])]
                row = items.get((pick.session.id, item.id))
                reasons = frozenset(given.get(item.filename, set()) | ({STOPPED} if stopped else set()))
                unreachable = (row is not None and row[0] == "skipped" and summary_refused) or (
                    row is None and ended_unseen
                )
                outcome = classify(ItemFacts(item.filename, len(chats), reasons, unreachable))
                result.outcomes[outcome] += 1
                if outcome == "delivered" and reasons:
                    result.in_doubt_and_arrived += 1
                if outcome == "reported":
                    result.reported_by_reason[reported_label(row, reasons)] += 1
                allowed = {pick.chat_id or pick.person.user_id, pick.person.user_id}
                if any(chat not in allowed for chat in chats):
                    self.problem(f"{item.filename} arrived in {chats}, not in its pick's chats {sorted(allowed)}")
                if outcome in ("duplicated", "lost", "contradicted"):
                    self.problem(
                        f"{item.filename} {outcome}: arrived {len(chats)}x in {chats}, reasons {sorted(reasons)},"
                        f" database {row}, session {status}"
                    )

        temp = [p for folder in self.fleet.temp_dirs(self.workdir) for p in folder.rglob("*") if p.is_file()]
        if temp:
            self.problem(f"temporary files left: {[str(p.relative_to(self.workdir)) for p in temp]}")
        for problem in await self._database_problems():
            self.problem(problem)
        for violation in [*tg.violations, *google.violations]:
            self.problem(f"emulator violation: {violation}")
        result.tracebacks = tracebacks(self.fleet.logs())

    def _killed_after(self, created: float) -> bool:
        """Whether the bot, or a replica, was SIGKILLed within prompt_wait of that moment (the emulator clock, which
        the chaos never advances: time.monotonic()). A session Google created just before is then one the bot could
        not record: the Picker API has no way to find it again (no list, no idempotent create), so it stays open
        until its expireTime; its user got no prompt and gave up."""
        return any(0 <= at - created <= self.config.prompt_wait for at in self.fleet.kill_times)

    async def _database_problems(self) -> list[str]:
        """SQLite: PRAGMA integrity_check. PostgreSQL, once every replica got its last SIGTERM: a lease left is
        held under a name that was SIGKILLed and never ran again (SIGTERM releases them all), none on an active pick."""
        if not self.shared:
            integrity = await self.db.query("PRAGMA integrity_check")
            return [] if integrity == [("ok",)] else [f"integrity_check: {integrity}"]
        rows = await self.db.query(
            "SELECT l.work, l.id, l.holder, s.status FROM leases AS l"
            " LEFT JOIN pick_sessions AS s ON l.work = 'session' AND s.id = l.id ORDER BY l.work, l.id"
        )
        problems = []
        for work, work_id, holder, status in rows:
            ended = self.fleet.ended.get(holder)
            if ended != "SIGKILL":
                problems.append(f"lease on {work} {work_id} left held by {holder} ({ended or 'never a replica'})")
            elif status is not None and status not in TERMINAL:
                problems.append(f"pick {work_id} left {status}, its lease held by {holder}, which was SIGKILLed")
        return problems


def tracebacks(logs: str) -> Counter[str]:
    """The exception line ending each traceback in the logs, counted."""
    found: Counter[str] = Counter()
    lines = logs.splitlines()
    for n, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        at = next((m for m in range(n + 1, len(lines)) if lines[m] and not lines[m][0].isspace()), None)
        if at is None:
            continue
        after = next((later for later in lines[at + 1 :] if later.strip()), "")
        if not after.startswith(("The above exception", "During handling")):  # counted at the end of its chain
            found[lines[at]] += 1
    return found


def stored_reason(code: str, detail: str | None) -> str:
    """A skip reason the bot stored, as its summary words it."""
    return texts.ENGLISH.skip_reason(SkipReason(code), detail)


def reported_label(row: tuple[Any, ...] | None, reasons: Iterable[str]) -> str:
    """What the figures count a reported item under: the reason code the bot stored with it (one label
    whatever the detail: Telegram's error text, the size limit), else the words it was reported with.

    `row` is the item's (status, reason, …) in the bot's database, None when it never got that far."""
    if row is not None and row[0] == "skipped":
        return str(SkipReason(row[1]))
    return ", ".join(sorted(reasons))


def _live(session: SessionRecord) -> bool:
    return not session.deleted and not session.media_items_set


async def run_chaos(
    seed: int,
    runs: int,
    config: ChaosConfig | None = None,
    workdir: Path | None = None,
    progress: Callable[[RunResult], None] | None = None,
) -> Figures:
    """`runs` seeded runs (run seeds seed, seed+1, …); returns the figures of them all."""
    config = config or ChaosConfig()
    if config.replicas >= 2 and config.database_url is None:
        raise ValueError("replicas share a PostgreSQL database: give the chaos config a database_url")
    base = workdir or Path(tempfile.mkdtemp(prefix="chaos-"))
    figures = Figures(seed)
    for n in range(runs):
        run_dir = base / f"run-{seed + n}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        server = config.database_url
        database = await create_postgres(server, f"run{seed + n}") if server is not None else None
        result = await ChaosRun(seed + n, config, run_dir, database).run()
        if result.ok and not config.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
            result.workdir = None
            if server is not None and database is not None:
                await drop_postgres(server, database)
        figures.runs.append(result)
        if progress is not None:
            progress(result)
    if workdir is None and not any(run.workdir for run in figures.runs):
        shutil.rmtree(base, ignore_errors=True)
    return figures
