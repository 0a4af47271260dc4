"""The project's Picker API quota through the real bot process: more picks waiting than the quota lets the bot poll
every pollInterval are polled less often, never refused, and a /pick meanwhile goes at once.

The Google emulator counts the quota over any 60 s and answers 429 RATE_LIMIT_EXCEEDED beyond it, which it counts
as a violation (PICKER_API.md §7; emulators/google.py): the `google` fixture fails the test on one."""

from __future__ import annotations

from collections.abc import Callable

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import link, media, start_pick, wait_summary
from tests.harness import BotProcess, Person, metric

PICKER_ENDPOINTS = ("sessions.create", "sessions.get", "sessions.delete", "mediaItems.list")


def picker_calls(google: GoogleEmulator, since: float = 0.0) -> list[str]:
    return [r.endpoint for r in google.requests if r.endpoint in PICKER_ENDPOINTS and r.time >= since]


async def test_picks_beyond_the_quota_are_polled_less_often_never_refused_and_a_pick_meanwhile_goes_at_once(
    make_bot: Callable[..., BotProcess], tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    # 60 requests a minute, the least the setting takes: the bot keeps to 0.95 a second. Five picks waiting at
    # pollInterval 0.2 s would be 25 polls a second, over the minute's quota within 3 s.
    google.picker_requests_per_minute = 60
    bot = make_bot(PICKER_REQUESTS_PER_MINUTE="60")
    await bot.start()
    people = []
    for n in range(6):
        tg.add_user(500 + n, f"User {n}")
        people.append(Person(tg, google, 500 + n, f"User {n}", f"user{n}@example.com"))
    for person in people:
        await link(person)
    photo = google.add_photo(people[0].email, filename="IMG_0001.JPG")
    sessions = [(await start_pick(person))[1] for person in people[:5]]

    began = google.now()
    await google.wait_for(lambda: sum(1 for s in sessions if s.polls) == 5, timeout=20)
    await google.wait_for(lambda: google.now() - began > 4, timeout=10)
    polls = picker_calls(google, since=began).count("sessions.get")
    assert 2 <= polls <= 1 + 0.95 * (google.now() - began) + 1, polls  # paced: unpaced, 5 picks make 25 a second
    assert "polls run late to stay within the Picker API quota" in bot.logs()
    assert await metric(bot, "bot_polls_behind_seconds") > 1  # what an operator alerts on

    # Another user's /pick goes at once, ahead of the polls waiting for room: queued behind them (five, a poll a
    # second) its sessions.create would come about 5 s later.
    asked = google.now()
    await start_pick(people[5])
    [created] = [r.time for r in google.requests if r.endpoint == "sessions.create" and r.time >= asked]
    assert created - asked < 2.5
    # A pick chosen while polls are held back is still seen, listed and delivered.
    google.pick(sessions[0].id, [photo])
    summary = await wait_summary(tg, people[0].user_id, timeout=30)
    assert summary.text == "✅ Delivered 1 item."
    assert len(media(tg, people[0].user_id)) == 1
    assert all(r.status != 429 for r in google.requests if r.endpoint in PICKER_ENDPOINTS)
    assert await bot.stop() == 0
