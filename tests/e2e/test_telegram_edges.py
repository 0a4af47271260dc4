"""Telegram's edge behaviour, through the real bot process: albums that fail part-way, answers that come after
the send, request size, groups that hide their members, edit limits, and summaries too long for one message."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from emulators.google import GoogleEmulator, MediaItem
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import RENDITION, assert_delivered_in_order, link, media, start_pick, wait_summary
from tests.e2e.test_groups import choose, group_pick
from tests.harness import TOKEN, BotProcess, Person, callback_data

UNCONFIRMED = "Telegram did not confirm it in time (it may have arrived above)"
GROUP = -1002000


def photos(google: GoogleEmulator, person: Person, count: int, size: int = 200_000) -> list[MediaItem]:
    """Small photos whose rendition is the whole photo (`size` bytes)."""
    return [
        google.add_photo(person.email, filename=f"p{n}.jpg", width=1000, height=800, size=size) for n in range(count)
    ]


def sent_once(tg: TelegramEmulator, google: GoogleEmulator, chat_id: int, items: list[MediaItem]) -> None:
    assert_delivered_in_order(tg, google, chat_id, [(item, RENDITION) for item in items])


# --- albums partly sent (the Bot API server sends album items one by one) ------------------------------------


async def test_an_album_failing_part_way_is_neither_repeated_nor_lost(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Items 1-3 went out before item 4 failed: they are reported (no message confirms them), never sent again;
    item 4, refused as a photo, goes on its own as a file, and the rest as an album."""
    items = photos(google, alice, 6)
    await link(alice)
    _, session = await start_pick(alice)
    tg.fail_album_item(4, description="Bad Request: IMAGE_PROCESS_FAILED")
    google.pick(session.id, items)
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == f"✅ Delivered 3 of 6\n· 3 {UNCONFIRMED}: p0.jpg (200 kB), p1.jpg (200 kB), p2.jpg (200 kB)"
    sent_once(tg, google, alice.user_id, items)
    assert [len(c.params["media"]) for c in tg.calls_of("sendMediaGroup")] == [6, 2]
    assert len(tg.calls_of("sendDocument")) == 1 and not tg.calls_of("sendPhoto")


async def test_a_flood_refusal_of_an_album_is_waited_out_and_sent_once(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Telegram's budget refills at half the rate the bot paces at: the second album is refused whole with a 429
    (TDLib sends an album as one request), so nothing of it arrived and the bot sends it again once the wait is
    over: every photo exactly once, none reported."""
    items = photos(google, alice, 14)
    await link(alice)
    _, session = await start_pick(alice)
    tg.set_flood_limits(private_per_second=0.5, private_burst=10)
    google.pick(session.id, items)
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 14."
    sent_once(tg, google, alice.user_id, items)
    assert [c.status for c in tg.calls_of("sendMediaGroup")].count(429) >= 1


async def test_an_older_servers_flood_refusal_naming_the_item_resends_the_rest(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Older Bot API servers put a flood refusal in the 400 form that names an item ("failed to send message #N
    ... retry after S"): the items before it are reported (nothing confirms them), the rest goes out once the
    wait is over, and nothing arrives twice."""
    items = photos(google, alice, 6)
    await link(alice)
    _, session = await start_pick(alice)
    tg.legacy_album_flood = True
    tg.fail_album_item(3, retry_after=1)
    google.pick(session.id, items)
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == f"✅ Delivered 4 of 6\n· 2 {UNCONFIRMED}: p0.jpg (200 kB), p1.jpg (200 kB)"
    sent_once(tg, google, alice.user_id, items)


async def test_a_5xx_after_the_album_went_out_leaves_it_in_doubt(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    items = photos(google, alice, 3)
    await link(alice)
    _, session = await start_pick(alice)
    tg.fail_next("sendMediaGroup", status=502, processed=True)  # carried out, then a proxy's 502
    google.pick(session.id, items)
    summary = await wait_summary(tg, alice.user_id)
    assert (summary.text or "").startswith(f"⚠️ Delivered 0 of 3\n· 3 {UNCONFIRMED}")
    sent_once(tg, google, alice.user_id, items)
    assert len(tg.calls_of("sendMediaGroup")) == 1


# --- request size ---------------------------------------------------------------------------------------------


async def test_a_request_too_large_is_split_then_sent_singly_then_reported(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """413 is a size refusal (nothing was carried out), not a network error to retry as it was."""
    items = photos(google, alice, 4, size=300_000)
    big = google.add_photo(alice.email, filename="big.jpg", width=1000, height=800, size=900_000)
    await link(alice)
    _, session = await start_pick(alice)
    tg.set_body_limit(700_000)  # two small photos fit one request; four do not, nor the big one alone
    google.pick(session.id, [*items, big])
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "✅ Delivered 4 of 5\n· 1 Telegram refused it (Request Entity Too Large): big.jpg (900 kB)"
    sent_once(tg, google, alice.user_id, items)
    # Halved until it fits: 5 → 2 + 3, 3 → 1 + 2, 2 (a small one and the big one) → 1 + 1.
    assert [len(c.params["media"]) for c in tg.calls_of("sendMediaGroup")] == [5, 2, 3, 2]
    assert [c.status for c in tg.calls_of("sendPhoto")] == [200, 200, 413]
    # The bot learnt from the refusals: the same pick again keeps its albums below the smallest size refused
    # (1.2 MB), so only one album (900 kB, never refused before) is refused instead of three.
    again = [*photos(google, alice, 4, size=300_000), google.add_photo(alice.email, size=900_000)]
    before = len(tg.calls_of("sendMediaGroup"))
    _, session = await start_pick(alice)
    google.pick(session.id, again)
    await tg.wait_for_message(
        alice.user_id, lambda m: m.message_id > summary.message_id and "Delivered" in (m.text or "")
    )
    albums = tg.calls_of("sendMediaGroup")
    assert [c.status for c in albums[:before]].count(413) == 3
    assert [c.status for c in albums[before:]].count(413) == 1


async def test_albums_stay_within_album_max_mb(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    bot = make_bot(ALBUM_MAX_MB="1")
    await bot.start()
    items = photos(google, alice, 7, size=300_000)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, items)
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 7."
    sent_once(tg, google, alice.user_id, items)
    uploads = [sum(f.size for f in c.files.values()) for c in tg.calls_of("sendMediaGroup")]
    assert len(uploads) == 2 and all(size <= 1_000_000 for size in uploads)  # 3 + 3 photos, then the last alone
    assert len(tg.calls_of("sendPhoto")) == 1
    await bot.stop()


async def test_local_files_are_passed_by_path(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """A local Bot API server that shares the bot's disk reads the files itself, under their names."""
    tg.local_mode = True
    # Each download reserves the local limit (2000 MB) of temp space: room for both, so they share an album.
    bot = make_bot(TELEGRAM_LOCAL_MODE="true", TELEGRAM_LOCAL_FILES="true", TEMP_BUDGET_MB="5000")
    await bot.start()
    originals = [google.add_photo(alice.email, filename=name, size=300_000) for name in ("IMG 1.JPG", "IMG_2.JPG")]
    await link(alice)
    menu = await alice.reply_to("/settings")
    await alice.press(menu, callback_data(menu, "Original files"))
    await tg.wait_for(lambda: "Now: Original files" in (tg.message(alice.user_id, menu.message_id).text or ""))
    _, session = await start_pick(alice)
    google.pick(session.id, originals)
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 2."
    [call] = tg.calls_of("sendMediaGroup")
    assert call.files == {} and all(item["media"].startswith("file:///") for item in call.params["media"])
    assert [m.file.filename for m in media(tg, alice.user_id) if m.file] == ["IMG 1.JPG", "IMG_2.JPG"]
    assert_delivered_in_order(tg, google, alice.user_id, [(item, "=d") for item in originals])
    await bot.stop()


# --- groups where the bot is no admin and members are hidden -----------------------------------------------


def hidden_group(tg: TelegramEmulator, *members: Person, admin: Person | None = None) -> int:
    people = {p.user_id: "member" for p in members} | ({admin.user_id: "administrator"} if admin else {})
    tg.add_group(GROUP, "Quiet", members=people, hidden_members=True)
    return GROUP


async def test_a_pick_for_a_group_that_hides_its_members_lands_there(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Telegram won't say whether Alice is a member; her /pick there proves it."""
    group = hidden_group(tg, alice)
    items = photos(google, alice, 2)
    await link(alice)
    _, session = await group_pick(alice, group)
    google.pick(session.id, items)
    assert (await wait_summary(tg, group)).text == "✅ Delivered all 2."
    sent_once(tg, google, group, items)
    assert not [m for m in tg.messages(alice.user_id) if "can no longer post" in (m.text or "")]


async def test_forwarding_to_a_group_that_hides_its_members(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Telegram's chat picker only offers chats Alice is in: that is the proof the check cannot give."""
    group = hidden_group(tg, alice)
    assert "go to Quiet" in await choose(alice, tg, group, 1)
    photo = google.add_photo(alice.email)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [photo])
    await wait_summary(tg, alice.user_id)
    assert_delivered_in_order(tg, google, group, [(photo, RENDITION)])


async def test_settings_in_a_group_that_hides_its_members(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator
) -> None:
    group = hidden_group(tg, bob, admin=alice)
    assert "Only group admins" in (await bob.reply_to("/settings", chat_id=group)).text
    menu = await alice.reply_to("/settings", chat_id=group)
    assert "How should picks arrive" in (menu.text or "")


# --- edits are rate limited ----------------------------------------------------------------------------------


async def test_a_refused_progress_edit_never_holds_up_the_photos(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """The group allows one edit a minute here: the second progress edit gets a long retry_after. The photos go
    on at once, and no progress edit is tried in that group until that wait is over."""
    group = hidden_group(tg, alice)
    tg.set_edit_limits(group_per_minute=1, burst=1)
    tg.set_latency("sendMediaGroup", 1.5)
    items = photos(google, alice, 60, size=50_000)
    await link(alice)
    _, session = await group_pick(alice, group)
    google.pick(session.id, items)
    summary = await wait_summary(tg, group, timeout=40.0)
    edits = [c for c in tg.calls_of("editMessageText") if c.params.get("chat_id") == group]
    refused = [c for c in edits if c.status == 429]
    assert len(refused) == 1 and refused[0].response["parameters"]["retry_after"] >= 30
    assert [c for c in edits if c.time > refused[0].time] == []  # skipped while Telegram asked to wait
    assert summary.text == "✅ Delivered all 60."
    assert time.monotonic() - refused[0].time < 30  # the delivery never waited for the edit


async def test_progress_edits_of_every_pick_in_a_group_share_its_pace(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Two picks deliver into one group at once; together their progress lines stay under a limit of 12 edits
    a minute (burst 2) that each alone would keep to."""
    tg.add_group(GROUP, "Family", members={alice.user_id: "member", bob.user_id: "member"})
    tg.set_edit_limits(group_per_minute=12, burst=2)
    tg.set_latency("sendMediaGroup", 1.0)
    mine, theirs = photos(google, alice, 100, size=50_000), photos(google, bob, 100, size=50_000)
    await link(alice)
    await link(bob)
    _, first = await group_pick(alice, GROUP)
    _, second = await group_pick(bob, GROUP)
    google.pick(first.id, mine)
    google.pick(second.id, theirs)
    for _ in range(2):
        await wait_summary(tg, GROUP, timeout=40.0)
    edits = [c for c in tg.calls_of("editMessageText") if c.params.get("chat_id") == GROUP]
    assert len(edits) >= 2 and all(c.status == 200 for c in edits)


# --- the summary ---------------------------------------------------------------------------------------------


async def test_a_summary_of_many_refusals_fits_one_message(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """30 items Telegram refuses, each for its own long reason: the summary is cut to fit 4096 characters (it
    used to be refused as too long, then sent again four times: BadRequest is a NetworkError in PTB)."""
    items = photos(google, alice, 30)
    await link(alice)
    _, session = await start_pick(alice)
    tg.fail_next("sendMediaGroup", status=400, description="Bad Request: MEDIA_EMPTY", times=3)
    for n in range(30):
        tg.fail_next("sendPhoto", status=400, description="Bad Request: IMAGE_PROCESS_FAILED")
        tg.fail_next("sendDocument", status=400, description=f"Bad Request: refusal {n} " + "because " * 30)
    google.pick(session.id, items)
    summary = await wait_summary(tg, alice.user_id)
    assert (summary.text or "").startswith("⚠️ Delivered 0 of 30\n· 1 Telegram refused it (Refusal 0 because")
    assert (summary.text or "").endswith("more not delivered (too many reasons to list here)")
    assert [c.status for c in tg.calls_of("sendMessage") if "Delivered" in str(c.params.get("text"))] == [200]


async def test_another_process_getting_the_updates_is_one_log_line_and_the_bot_goes_on(
    bot: BotProcess, alice: Person, tg: TelegramEmulator
) -> None:
    """A second process polling the same token (or a replica that lost its lease) ends the bot's long poll with
    Telegram's 409; python-telegram-bot would log it with a traceback. The bot says it in one line and goes on."""
    if bot.webhook_mode:
        pytest.skip("getUpdates is how a polling bot receives updates")
    await tg.wait_for(lambda: tg.polling or None)
    async with httpx.AsyncClient() as intruder:
        answer = await intruder.post(f"{tg.url}/bot{TOKEN}/getUpdates", json={"timeout": 0})
    assert answer.status_code == 200
    await tg.wait_for(lambda: [c for c in tg.calls_of("getUpdates") if c.status == 409] or None)
    assert "How it works" in ((await alice.reply_to("/help")).text or "")  # updates still arrive
    assert "Telegram answered 409, another process is getting this bot's updates" in bot.logs()
