"""Many users picking big videos at once (issue 12, point 2): deliveries wait in line for a free slot and
say so, temp files stay within their budget, downloads get their own connections, and /pick stays quick."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import link, start_pick, temp_files, wait_summary
from tests.harness import BotProcess, Person

USERS = 20
VIDEOS = 3
VIDEO_BYTES = 40_000_000
MAX_DELIVERIES = 4
TEMP_BUDGET_MB = 300
MEDIA_BANDWIDTH = 8_000_000  # bytes/s of each download: uploads outpace them, as on a real server
QUEUED = "waiting for a free slot, position"
POSITION = re.compile(QUEUED + r" (\d+)")


@dataclass
class Sampler:
    """The bot's temp bytes and its open connections to Google, sampled while the deliveries run."""

    bot: BotProcess
    google_port: int
    temp_peak: int = 0
    connections_peak: int = 0
    samples: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self._stop.is_set():
            self.temp_peak = max(self.temp_peak, temp_bytes(self.bot))
            self.connections_peak = max(self.connections_peak, connections_to(self.bot, self.google_port))
            self.samples += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.05)

    def stop(self) -> None:
        self._stop.set()


def temp_bytes(bot: BotProcess) -> int:
    total = 0
    for path in temp_files(bot):
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    return total


def connections_to(bot: BotProcess, port: int) -> int:
    """Established TCP connections of the bot process to `port` (from /proc: its sockets, then their peers)."""
    assert bot.proc is not None
    inodes = set()
    fd_dir = Path(f"/proc/{bot.proc.pid}/fd")
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            target = os.readlink(fd_dir / fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as rows:
            for row in list(rows)[1:]:
                cells = row.split()
                remote_port = int(cells[2].rsplit(":", 1)[1], 16)
                if cells[3] == "01" and remote_port == port and cells[9] in inodes:
                    count += 1
    return count


async def seconds_to(done: Awaitable[object]) -> float:
    """How long `done` took; infinity when it timed out (the figures are printed all the same)."""
    started = time.monotonic()
    try:
        await done
    except TimeoutError:
        return math.inf
    return time.monotonic() - started


@pytest.fixture
async def bot(make_bot: Callable[..., BotProcess]) -> AsyncIterator[BotProcess]:
    process = make_bot(MAX_DELIVERIES=str(MAX_DELIVERIES), TEMP_BUDGET_MB=str(TEMP_BUDGET_MB), TEMP_MIN_FREE_MB="0")
    await process.start()
    yield process
    if process.proc is not None:
        code = await process.stop()
        assert code == 0, process.logs()[-3000:]
    assert "Traceback" not in process.logs(), process.logs()[-5000:]


async def test_twenty_users_picking_big_videos_wait_in_line_within_the_temp_budget(
    bot: BotProcess, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    people = []
    for n in range(USERS + 1):
        tg.add_user(1000 + n, f"User{n}")
        people.append(Person(tg, google, 1000 + n, f"User{n}", f"user{n}@example.com"))
    for person in people:
        await link(person)
    *crowd, bystander = people
    picks = []
    for person in crowd:
        videos = [google.add_video(person.email, size=VIDEO_BYTES) for _ in range(VIDEOS)]
        _, session = await start_pick(person)
        picks.append((session, videos))
    photo = google.add_photo(bystander.email)
    google.media_bandwidth = MEDIA_BANDWIDTH
    sampler = Sampler(bot, urlsplit(google.picker_api_url).port or 0)
    sampling = asyncio.create_task(sampler.run())
    started = time.monotonic()
    for session, videos in picks:
        google.pick(session.id, videos)
    await asyncio.sleep(3.0)  # the deliveries are under way, the rest wait in line

    help_times = [await seconds_to(bystander.reply_to("/help")) for _ in range(3)]
    picked_at = time.monotonic()
    try:
        _, own = await start_pick(bystander)
    except TimeoutError:
        pick_time = noticed = math.inf
    else:
        pick_time = time.monotonic() - picked_at
        google.pick(own.id, [photo])
        noticed = await seconds_to(
            tg.wait_for_message(
                bystander.user_id, lambda m: QUEUED in (m.text or "") or "Downloading" in (m.text or "")
            )
        )
    summaries = []
    try:
        for person in crowd:
            summaries.append((await wait_summary(tg, person.user_id, timeout=240.0)).text)
    finally:
        elapsed = time.monotonic() - started
        sampler.stop()
        await sampling
        queued = [c for c in tg.calls_of("sendMessage") + tg.calls_of("editMessageText") if QUEUED in str(c.params)]
        print(
            f"\n{USERS} users × {VIDEOS} × {VIDEO_BYTES // 1_000_000} MB videos, MAX_DELIVERIES={MAX_DELIVERIES}, "
            f"TEMP_BUDGET_MB={TEMP_BUDGET_MB}: {len(summaries)} delivered in {elapsed:.1f} s; temp peak "
            f"{sampler.temp_peak / 1e6:.0f} MB; Google connections peak {sampler.connections_peak} "
            f"({sampler.samples} samples); meanwhile another user's /help answered in {max(help_times):.2f} s "
            f"at most, /pick in {pick_time:.2f} s, their pick noticed {noticed:.2f} s after Google had it; "
            f"{len(queued)} queue-position messages"
        )
    assert summaries == [f"✅ Delivered all {VIDEOS}."] * USERS
    assert (await wait_summary(tg, bystander.user_id, timeout=60.0)).text == "✅ Delivered 1 item."
    assert sampler.temp_peak <= TEMP_BUDGET_MB * 1_000_000
    # At most MAX_DELIVERIES × 4 downloads, each with its thumbnail, and a few Picker API calls.
    assert sampler.connections_peak <= MAX_DELIVERIES * 4 * 2 + 8
    assert max(help_times) < 2.0 and pick_time < 2.0 and noticed < 2.0
    positions = {int(match[1]) for c in queued if (match := POSITION.search(str(c.params["text"])))}
    assert max(positions) >= USERS - MAX_DELIVERIES - 1  # the last in line was told where it stood…
    assert 1 in positions  # …and the line moved
    assert temp_files(bot) == []


async def test_a_disk_nearly_full_skips_downloads_and_says_why(
    make_bot: Callable[..., BotProcess], alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    # The floor sits above what the disk has free: as if the disk were nearly full.
    bot = make_bot(TEMP_MIN_FREE_MB="1")
    free_mb = shutil.disk_usage(bot.workdir).free // 1_000_000
    bot.env["TEMP_MIN_FREE_MB"] = str(free_mb + 100_000)
    await bot.start()
    try:
        photos = [google.add_photo(alice.email, filename=name) for name in ("beach.jpg", "dune.jpg")]
        await link(alice)
        _, session = await start_pick(alice)
        google.pick(session.id, photos)
        summary = (await wait_summary(tg, alice.user_id)).text or ""
        assert summary.startswith("⚠️ Delivered 0 of 2") and "disk is nearly full" in summary, summary
        assert "beach.jpg" in summary and "dune.jpg" in summary
        assert not [r for r in google.requests if r.endpoint == "media"]  # nothing was downloaded
        assert temp_files(bot) == []
        # The database still takes writes: another user links and is answered.
        await link(bob)
    finally:
        assert await bot.stop() == 0, bot.logs()[-3000:]
    assert "Traceback" not in bot.logs(), bot.logs()[-5000:]
