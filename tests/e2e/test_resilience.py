"""Faults the chaos suite (tests/chaos) found, each pinned end to end through the real bot process."""

from __future__ import annotations

from typing import Any

from emulators.google import GoogleEmulator, SessionRecord
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import (
    RENDITION,
    assert_delivered_in_order,
    link,
    media,
    start_pick,
    wait_prompt_stored,
    wait_summary,
)
from tests.harness import BotProcess, Person, callback_data


async def test_a_google_outage_when_the_pick_ends_does_not_leave_the_session_open(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photo = google.add_photo(alice.email)
    await link(alice)
    _, session = await start_pick(alice)
    google.fail_next("sessions.delete", status=503, times=6)  # one more than the client's own retries
    google.pick(session.id, [photo])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    await google.wait_for(lambda: session.deleted, timeout=30)
    assert_delivered_in_order(tg, google, alice.user_id, [(photo, RENDITION)])


async def pick_losing_the_prompts_answer(alice: Person, tg: TelegramEmulator) -> tuple[Any, SessionRecord]:
    """A linked user's /pick whose prompt Telegram shows but whose answer never reaches the bot."""
    await link(alice)
    tg.drop_next("sendMessage", processed=True)
    return await start_pick(alice)


async def test_a_prompt_whose_answer_is_lost_still_delivers_the_pick(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Telegram showed the /pick prompt but the answer to sendMessage was lost: the user sees the link and
    picks, so the pick must still be waiting for them (it used to be cancelled at Google on any error)."""
    photo = google.add_photo(alice.email)
    _, session = await pick_losing_the_prompts_answer(alice, tg)
    google.pick(session.id, [photo])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    assert_delivered_in_order(tg, google, alice.user_id, [(photo, RENDITION)])
    await google.wait_for(lambda: session.deleted)
    assert len([c for c in tg.calls_of("sendMessage") if c.status == 0]) == 1  # the prompt, sent once


async def test_cancelling_a_pick_whose_prompt_answer_was_lost_still_says_so(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """The bot does not know the prompt's message id, so the ending comes as a new message."""
    _, session = await pick_losing_the_prompts_answer(alice, tg)
    cancelled = await alice.reply_to("/cancel", lambda m: "Pick cancelled" in (m.text or ""))
    assert "pick:new" in str(cancelled.reply_markup)  # the Pick photos button
    await google.wait_for(lambda: session.deleted)


async def test_a_new_pick_after_a_prompt_whose_answer_was_lost_says_so_before_its_prompt(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """The old prompt's id is unknown, so "replaced" is a new message: it comes before the new prompt, never
    after it, where it would read as news about the new pick."""
    _, first = await pick_losing_the_prompts_answer(alice, tg)
    tg.set_latency("sendMessage", 1.0)
    second_prompt, _ = await start_pick(alice)
    await google.wait_for(lambda: first.deleted)
    texts_after_first = [m.text or "" for m in tg.messages(alice.user_id)][-2:]
    assert "replaced" in texts_after_first[0]
    assert texts_after_first[1] == second_prompt.text
    replaced, prompt = tg.calls_of("sendMessage")[-2:]
    assert prompt.time - replaced.time >= 1.0  # the new prompt was sent once "replaced" was answered


async def test_a_tap_on_a_prompt_whose_answer_was_lost_lets_its_news_edit_it(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """The tap tells the bot which message the prompt is: the ending replaces it instead of adding one."""
    prompt, session = await pick_losing_the_prompts_answer(alice, tg)
    await alice.press(prompt, callback_data(prompt, "QR code"))
    await tg.wait_for_message(alice.user_id, lambda m: m.kind == "photo")
    await alice.say("/cancel")
    await tg.wait_for(lambda: "Pick cancelled" in (tg.message(alice.user_id, prompt.message_id).text or ""))
    assert not [
        m
        for m in tg.messages(alice.user_id)
        if m.from_bot and "Pick cancelled" in (m.text or "") and m.message_id != prompt.message_id
    ]
    await google.wait_for(lambda: session.deleted)


def delete_calls(google: GoogleEmulator) -> int:
    return len([r for r in google.requests if r.endpoint == "sessions.delete"])


async def test_a_cancel_is_not_held_up_by_google_and_the_session_is_deleted_after_the_outage(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Deleting a cancelled session at Google waits out an outage in the background: the Cancel button is
    answered at once, and the session is not left open at Google until the next restart."""
    await link(alice)
    prompt, session = await start_pick(alice)
    # Every one of the client's own tries fails, each asking for a second's pause before the next.
    google.fail_next("sessions.delete", status=503, times=5, retry_after=1)
    query = await alice.press(prompt, callback_data(prompt, "Cancel"))
    await tg.wait_for(lambda: tg.answered_callbacks.get(query) is not None)
    assert delete_calls(google) <= 1  # answered before Google's second answer (it used to wait for all five)
    assert "Pick cancelled" in (tg.message(alice.user_id, prompt.message_id).text or "")
    await google.wait_for(lambda: session.deleted, timeout=30)
    assert delete_calls(google) == 6


async def test_a_clean_up_cut_short_by_a_shutdown_waits_out_google_after_the_restart(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """A shutdown does not wait for a clean-up pausing for Google; the next start takes it up as patiently."""
    await link(alice)
    prompt, session = await start_pick(alice)
    await wait_prompt_stored(bot, session.id)  # the prompt /cancel edits: no person types it sooner
    google.fail_next("sessions.delete", status=503, times=5)
    await alice.say("/cancel")
    await google.wait_for(lambda: delete_calls(google) == 5, timeout=20)  # the clean-up now pauses
    assert await bot.stop() == 0
    assert not session.deleted
    google.fail_next("sessions.delete", status=503, times=5)  # Google is still down when the bot is back
    await bot.start()
    await google.wait_for(lambda: session.deleted, timeout=30)
    assert delete_calls(google) == 11
    assert "Pick cancelled" in (tg.message(alice.user_id, prompt.message_id).text or "")


async def test_an_album_whose_answer_is_lost_is_reported_not_sent_twice(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """Telegram took the album but the connection broke before its answer: like a timeout, the items may
    have arrived, so they are reported as unconfirmed instead of sent again."""
    items = [google.add_photo(alice.email) for _ in range(3)]
    await link(alice)
    _, session = await start_pick(alice)
    tg.drop_next("sendMediaGroup", processed=True)
    google.pick(session.id, items)
    summary = await wait_summary(tg, alice.user_id)
    assert (summary.text or "").startswith("⚠️ Delivered 0 of 3\n· 3 Telegram did not confirm it in time")
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])  # once each
    assert len(tg.calls_of("sendMediaGroup")) == 1


async def test_a_video_whose_connection_broke_before_telegram_took_it_is_reported_not_lost(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    video = google.add_video(alice.email, filename="clip.mp4", size=200_000)
    await link(alice)
    _, session = await start_pick(alice)
    tg.drop_next("sendVideo", processed=False)
    google.pick(session.id, [video])
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == (
        "⚠️ Delivered 0 of 1\n· 1 Telegram did not confirm it in time (it may have arrived above): clip.mp4 (200 kB)"
    )
    assert media(tg, alice.user_id) == [] and len(tg.calls_of("sendVideo")) == 1


async def test_base_urls_refused_right_after_a_listing_are_listed_again(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """A refused baseUrl means a new listing, however young the one it came from (it used to wait 5 s)."""
    items = [google.add_photo(alice.email) for _ in range(6)]
    await link(alice)
    _, session = await start_pick(alice)
    google.media_latency = 0.3  # four downloads at a time: the first four are under way together
    google.pick(session.id, items)
    await google.wait_for(lambda: bool(google.served))
    google.expire_base_urls()  # the last two start after this, with baseUrls from a listing under 1 s old
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 6."
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])
    assert any(r.endpoint == "media" and r.status == 403 for r in google.requests)
    assert len([r for r in google.requests if r.endpoint == "mediaItems.list"]) == 2


async def test_a_google_outage_at_the_first_listing_is_waited_out_not_taken_for_an_empty_pick(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    items = [google.add_photo(alice.email) for _ in range(3)]
    await link(alice)
    _, session = await start_pick(alice)
    google.fail_next("mediaItems.list", status=500, times=6)  # one more than the client's own retries
    google.pick(session.id, items)
    assert (await wait_summary(tg, alice.user_id, timeout=40)).text == "✅ Delivered all 3."
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])
    assert not [m for m in tg.messages(alice.user_id) if "without choosing" in (m.text or "")]


async def test_the_summary_survives_telegram_5xx(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """The summary is the only place a file that did not arrive is named: it must get through."""
    video = google.add_video(alice.email, filename="big.mp4", size=60_000_000)
    await link(alice)
    _, session = await start_pick(alice)
    tg.fail_next("sendMessage", status=502, times=3)  # the progress line, then the summary twice
    google.pick(session.id, [video])
    summary = await wait_summary(tg, alice.user_id, timeout=20)
    assert summary.text == "⚠️ Delivered 0 of 1\n· 1 over 50 MB: big.mp4 (60 MB)"
