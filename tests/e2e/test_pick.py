"""/pick → Picker session → poll → delivery, end to end through the real bot process."""

from __future__ import annotations

from collections.abc import Callable

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import (
    RENDITION,
    assert_delivered_in_order,
    link,
    media,
    start_pick,
    temp_files,
    wait_items_sent,
    wait_prompt_stored,
    wait_summary,
)
from tests.harness import BotProcess, Person, callback_data, url_button


async def test_one_photo(bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator) -> None:
    photo = google.add_photo(alice.email, filename="IMG_0001.JPG")
    await link(alice)
    prompt, session = await start_pick(alice)
    assert url_button(prompt, "Open Google Photos") == session.picker_uri  # no /autoclose: see bot/keyboards.py
    assert [b["text"] for row in prompt.reply_markup["inline_keyboard"] for b in row] == [
        "Open Google Photos",
        "QR code",
        "Cancel",
    ]
    assert prompt.link_preview_options == {"is_disabled": True}
    assert "alice@example.com" in prompt.text

    google.pick(session.id, [photo])
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "✅ Delivered 1 item."
    [message] = media(tg, alice.user_id)
    assert message.kind == "photo"
    assert_delivered_in_order(tg, google, alice.user_id, [(photo, RENDITION)])
    await google.wait_for(lambda: session.deleted)
    assert all(r.had_bearer for r in google.requests if r.endpoint == "media")
    assert not [m for m in tg.messages(alice.user_id) if "Downloading" in (m.text or "")]  # status message removed
    assert temp_files(bot) == []


async def test_qr_code_button(bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator) -> None:
    await link(alice)
    prompt, session = await start_pick(alice)
    await alice.press(prompt, callback_data(prompt, "QR code"))
    qr = await tg.wait_for_message(alice.user_id, lambda m: m.kind == "photo")
    assert "Scan" in (qr.caption or "")
    assert qr.file is not None and qr.file.width is not None and qr.file.width >= 200
    assert qr.file.width == qr.file.height
    assert session.picker_uri.startswith(google.url)  # what the QR encodes is pinned by the unit test


async def test_25_mixed_items_in_three_albums_in_order(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    items = [
        google.add_video(alice.email, size=300_000) if n % 5 == 4 else google.add_photo(alice.email) for n in range(25)
    ]
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, items)
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "✅ Delivered all 25."
    albums = [len(call.params["media"]) for call in tg.calls_of("sendMediaGroup") if call.status == 200]
    assert albums == [10, 10, 5]
    expected = [(item, "=dv" if item.type == "VIDEO" else RENDITION) for item in items]
    assert_delivered_in_order(tg, google, alice.user_id, expected)
    assert [m.kind for m in media(tg, alice.user_id)] == ["video" if i.type == "VIDEO" else "photo" for i in items]
    assert temp_files(bot) == []


async def test_a_big_video_goes_out_without_waiting_for_the_next_download(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    videos = [google.add_video(alice.email, size=21_000_000) for _ in range(3)]
    slow = google.hold_media(videos[1])
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, videos)
    # While the second video is still downloading, the first is already in the chat on its own.
    first = await tg.wait_for_message(alice.user_id, lambda m: m.kind == "video")
    assert first.media_group_id is None
    slow.set()
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "✅ Delivered all 3."
    assert [len(call.params["media"]) for call in tg.calls_of("sendMediaGroup") if call.status == 200] == [2]
    assert_delivered_in_order(tg, google, alice.user_id, [(video, "=dv") for video in videos])


async def test_video_still_processing_is_delivered_once_ready(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photo = google.add_photo(alice.email)
    video = google.add_video(alice.email, size=200_000, ready_after_lists=3)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [video, photo])
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "✅ Delivered all 2."
    assert_delivered_in_order(tg, google, alice.user_id, [(photo, RENDITION), (video, "=dv")])


async def test_video_that_never_finishes_processing_is_reported(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    bot = make_bot(VIDEO_PROCESSING_TIMEOUT="1")
    await bot.start()
    video = google.add_video(alice.email, filename="late.mp4", size=200_000, ready_after_lists=10_000)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [video])
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "⚠️ Delivered 0 of 1\n· 1 still processing at Google: late.mp4"
    await bot.stop()


async def test_files_over_the_limits(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    small = google.add_photo(alice.email, filename="small.jpg")
    # A huge photo whose Telegram-sized rendition is still over 10 MB goes as a document.
    huge = google.add_photo(alice.email, filename="huge.jpg", width=8000, height=6000, size=110_000_000)
    big_video = google.add_video(alice.email, filename="big.mp4", size=60_000_000)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [small, huge, big_video])
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "✅ Delivered 2 of 3\n· 1 over 50 MB: big.mp4 (60 MB)"
    assert [m.kind for m in media(tg, alice.user_id)] == ["photo", "document"]
    assert_delivered_in_order(tg, google, alice.user_id, [(small, RENDITION), (huge, RENDITION)])
    assert not [s for s in google.served if s.item_id == big_video.id]  # not downloaded for nothing


async def test_local_bot_api_server_takes_big_videos(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.local_mode = True
    bot = make_bot(TELEGRAM_LOCAL_MODE="true")
    await bot.start()
    big_video = google.add_video(alice.email, filename="big.mp4", size=60_000_000)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [big_video])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    assert_delivered_in_order(tg, google, alice.user_id, [(big_video, "=dv")])
    await bot.stop()


async def test_pick_arguments(bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator) -> None:
    await link(alice)
    for bad in ("/pick abc", "/pick 0", "/pick 5000", "/pick 1 2", "/pick -3"):
        answer = await alice.reply_to(bad)
        assert answer.text == "Send /pick, or /pick N to allow at most N items (N from 1 to 2000).", bad
    assert google.sessions == {}
    _, session = await start_pick(alice, "/pick 3")
    assert session.max_item_count == 3
    creates = [r for r in google.requests if r.endpoint == "sessions.create"]
    assert len(creates) == 1


async def test_unlinked_user_is_offered_linking(bot: BotProcess, alice: Person, google: GoogleEmulator) -> None:
    answer = await alice.reply_to("/pick")
    assert "haven't linked" in answer.text
    assert callback_data(answer, "Link Google account") == "link"
    assert google.sessions == {}


async def test_session_time_out(bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator) -> None:
    google.session_timeout = 1.0
    await link(alice)
    prompt, session = await start_pick(alice)
    await tg.wait_for(lambda: "expired" in (tg.message(alice.user_id, prompt.message_id).text or ""))
    expired = tg.message(alice.user_id, prompt.message_id)
    assert callback_data(expired, "Pick again").startswith("pick:again:")  # one tap to start again
    await google.wait_for(lambda: session.deleted)


async def test_a_link_about_to_run_out_says_so_once_and_pick_again_keeps_the_limit(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    google.poll_interval = 0.2
    await link(alice)
    prompt, session = await start_pick(alice, "/pick 7")
    google.advance(google.session_timeout - 90)  # Google's clock: 90 s of the link left
    await tg.wait_for(
        lambda: "runs out in" in (tg.message(alice.user_id, prompt.message_id).text or ""), what="the reminder"
    )
    reminded = tg.message(alice.user_id, prompt.message_id)
    assert "Up to 7 items" in (reminded.text or "")  # still the whole prompt, with its buttons
    assert url_button(reminded) == session.picker_uri and "pick:cancel" in str(reminded.reply_markup)
    edits = len([c for c in tg.calls if c.method == "editMessageText"])
    google.advance(30)
    await google.wait_for(lambda: len(session.polls) >= 3)
    assert len([c for c in tg.calls if c.method == "editMessageText"]) == edits  # said once
    google.advance(120)
    await tg.wait_for(lambda: "expired" in (tg.message(alice.user_id, prompt.message_id).text or ""))
    expired = tg.message(alice.user_id, prompt.message_id)
    known = set(google.sessions)
    await alice.press(expired, callback_data(expired, "Pick again"))
    again = await google.wait_for_session(lambda s: s.id not in known)
    assert again.max_item_count == 7
    await tg.wait_for_message(alice.user_id, lambda m: "Up to 7 items" in (m.text or ""))


async def test_cancel_button_and_command(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await link(alice)
    prompt, session = await start_pick(alice)
    await alice.press(prompt, callback_data(prompt, "Cancel"))
    await tg.wait_for(lambda: "cancelled" in (tg.message(alice.user_id, prompt.message_id).text or ""))
    await google.wait_for(lambda: session.deleted)

    prompt2, session2 = await start_pick(alice)
    await wait_prompt_stored(bot, session2.id)  # on PostgreSQL a test is quick enough to type /cancel before
    await alice.say("/cancel")
    await tg.wait_for(lambda: "cancelled" in (tg.message(alice.user_id, prompt2.message_id).text or ""))
    await google.wait_for(lambda: session2.deleted)
    assert "no pick waiting" in (await alice.reply_to("/cancel")).text
    assert tg.message(alice.user_id, prompt.message_id).reply_markup is None or "pick:cancel" not in str(
        tg.message(alice.user_id, prompt.message_id).reply_markup
    )  # the finished prompt has no Cancel button left to press
    deleted_at = max(r.time for r in google.requests if r.endpoint == "sessions.delete")
    assert not [r for r in google.requests if r.endpoint == "sessions.get" and r.time > deleted_at]


async def test_a_cancel_before_the_prompts_answer_comes_back_leaves_no_live_prompt(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """/cancel handled once the prompt is in the chat but before Telegram's answer (its id) reached the bot: the
    news comes as a message of its own, and the prompt, which the bot could not edit, goes once its id is known,
    leaving no Open Google Photos button on a cancelled pick."""
    await link(alice)
    answered = tg.hold_answer("sendMessage")  # the prompt's
    prompt, session = await start_pick(alice)
    cancelled = await alice.reply_to("/cancel", lambda m: "cancelled" in (m.text or ""))
    assert cancelled.message_id != prompt.message_id
    answered.set()
    await tg.wait_for(lambda: tg.message(alice.user_id, prompt.message_id).deleted)
    await google.wait_for(lambda: session.deleted)


async def test_the_prompts_own_cancel_pressed_before_its_answer_comes_back_keeps_the_prompt(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """A press on the prompt carries its id: the prompt says it was cancelled, and stays."""
    await link(alice)
    answered = tg.hold_answer("sendMessage")  # the prompt's
    prompt, session = await start_pick(alice)
    await alice.press(prompt, callback_data(prompt, "Cancel"))
    await tg.wait_for(lambda: "cancelled" in (tg.message(alice.user_id, prompt.message_id).text or ""))
    answered.set()
    await bot.wait_log(" started by user ")  # the start's last line, once it has recorded (or deleted) its prompt
    assert not tg.message(alice.user_id, prompt.message_id).deleted
    await google.wait_for(lambda: session.deleted)


async def test_new_pick_replaces_the_waiting_one(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photo = google.add_photo(alice.email)
    await link(alice)
    first_prompt, first = await start_pick(alice)
    _, second = await start_pick(alice)
    await google.wait_for(lambda: first.deleted)
    await tg.wait_for(lambda: "replaced" in (tg.message(alice.user_id, first_prompt.message_id).text or ""))
    google.pick(second.id, [photo])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."


async def test_a_new_pick_is_prompted_while_the_old_prompt_is_still_being_changed(
    bot: BotProcess, alice: Person, tg: TelegramEmulator
) -> None:
    await link(alice)
    first_prompt, _ = await start_pick(alice)
    answered = tg.hold_answer("editMessageText")  # Telegram slow to answer the change to the old prompt
    second_prompt, _ = await start_pick(alice)  # within 10 s, while the bot waits up to 30 s for that answer
    # The change goes out in the background beside the new prompt, usually first; either way it is held.
    await tg.wait_for(lambda: tg.calls_of("editMessageText") or None)
    edits = tg.calls_of("editMessageText")
    assert [call.status for call in edits] == [0]  # the change is still unanswered
    assert edits[0].params["message_id"] == first_prompt.message_id
    answered.set()
    await tg.wait_for(lambda: edits[0].status == 200)
    assert "replaced" in (tg.message(alice.user_id, first_prompt.message_id).text or "")
    assert "Open Google Photos" in str(tg.message(alice.user_id, second_prompt.message_id).reply_markup)


async def test_downloads_start_while_the_prompt_and_the_progress_line_are_on_their_way(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photos = [google.add_photo(alice.email) for _ in range(3)]
    await link(alice)
    prompt, session = await start_pick(alice)
    edited = tg.hold_answer("editMessageText")  # Telegram slow to answer "Got your selection"…
    posted = tg.hold_answer("sendMessage")  # …and the progress line
    google.pick(session.id, photos)
    await google.wait_for(lambda: len(google.served) == len(photos))  # fetched meanwhile, a round trip sooner
    assert [call.status for call in tg.calls_of("editMessageText")] == [0]  # both still unanswered
    assert [call.status for call in tg.calls_of("sendMessage")][-1] == 0
    edited.set()
    posted.set()
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "✅ Delivered all 3."
    assert "Got your selection" in (tg.message(alice.user_id, prompt.message_id).text or "")


async def test_restart_while_waiting_and_mid_delivery(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    # Real per-chat pacing (1 message/s): after the first album the bot waits for its flood budget,
    # which is where we pull the plug.
    bot = make_bot(TELEGRAM_PRIVATE_RATE="1")
    await bot.start()
    items = [google.add_photo(alice.email) for _ in range(25)]
    await link(alice)
    _, session = await start_pick(alice)
    await google.wait_for(lambda: len(session.polls) >= 2)
    await bot.kill()
    await bot.start()  # polling resumes where it was
    google.pick(session.id, items)
    await wait_items_sent(bot, 10)
    await bot.kill()
    bot.env["TELEGRAM_PRIVATE_RATE"] = "1000"
    await bot.start()  # delivery continues with the items not yet sent
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "✅ Delivered all 25."
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])
    await google.wait_for(lambda: session.deleted)
    assert temp_files(bot) == []
    await bot.stop()


async def test_a_crash_right_after_a_poll_does_not_make_the_restart_poll_too_soon(
    make_bot: Callable[..., BotProcess], alice: Person, google: GoogleEmulator
) -> None:
    # Polls are written to the database in batches, so the one just before the kill is not recorded; the
    # restarted bot must still wait a whole pollInterval (the emulator counts a sooner poll as a violation).
    google.poll_interval = 6.0  # longer than a restart takes, even on a loaded machine
    bot = make_bot()
    await bot.start()
    await link(alice)
    _, session = await start_pick(alice)
    await google.wait_for(lambda: len(session.polls) >= 2, timeout=20)
    await bot.kill()
    await bot.start()
    await google.wait_for(lambda: len(session.polls) >= 3, timeout=20)
    await bot.stop()


async def test_token_expiring_between_polls(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photo = google.add_photo(alice.email)
    await link(alice)
    _, session = await start_pick(alice)
    await google.wait_for(lambda: len(session.polls) >= 1)
    google.expire_access_tokens()
    polls = len(session.polls)
    await google.wait_for(lambda: len(session.polls) > polls)
    google.pick(session.id, [photo])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    assert len([r for r in google.requests if r.endpoint == "token"]) == 2  # exchange + one refresh


async def test_google_429_and_5xx_bursts(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    items = [google.add_photo(alice.email) for _ in range(3)]
    await link(alice)
    google.fail_next("sessions.create", status=503)
    _, session = await start_pick(alice)
    google.fail_next("sessions.get", status=429, times=2, retry_after=1)
    await google.wait_for(lambda: len(session.polls) >= 1)
    google.fail_next("mediaItems.list", status=500)
    google.fail_next("media", status=503, times=2)
    google.fail_next("media", status=429, retry_after=1)
    google.pick(session.id, items)
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 3."
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])


async def test_telegram_429_storm(bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator) -> None:
    items = [google.add_photo(alice.email) for _ in range(11)]
    await link(alice)
    _, session = await start_pick(alice)
    # Floods refuse a send whole (an album too: TDLib sends it as one request), so they are waited out and the
    # send retried: albums refused with a 429, then in the older servers' 400 form naming item #1, and a photo.
    tg.fail_next("sendMediaGroup", retry_after=1, times=2)
    tg.fail_next(
        "sendMediaGroup",
        status=400,
        description='Bad Request: failed to send message #1 with the error message "Too Many Requests: retry after 1"',
    )
    tg.fail_next("sendPhoto", retry_after=1, times=2)
    google.pick(session.id, items)
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 11."
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])


async def test_original_files_setting(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photo = google.add_photo(alice.email, filename="IMG_2024.HEIC", mime_type="image/heic")
    video = google.add_video(alice.email, filename="clip.mp4", size=500_000)
    await link(alice)
    menu = await alice.reply_to("/settings")
    assert "Now: <b>Photos</b>" in (menu.source_text or "")
    await alice.press(menu, callback_data(menu, "Original files"))
    await tg.wait_for(lambda: "Now: Original files" in (tg.message(alice.user_id, menu.message_id).text or ""))
    _, session = await start_pick(alice)
    google.pick(session.id, [photo, video])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 2."
    delivered = media(tg, alice.user_id)
    assert [m.kind for m in delivered] == ["document", "document"]
    assert [m.file.filename for m in delivered if m.file] == ["IMG_2024.HEIC", "clip.mp4"]
    assert_delivered_in_order(tg, google, alice.user_id, [(photo, "=d"), (video, "=dv")])


async def test_group_settings_are_for_admins_and_the_opener(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator
) -> None:
    tg.add_group(-100777, "Family", members={alice.user_id: "administrator", bob.user_id: "member"})
    refused = await bob.reply_to("/settings", chat_id=-100777)
    assert "Only group admins" in refused.text
    menu = await alice.reply_to("/settings", chat_id=-100777)
    query = await bob.press(menu, callback_data(menu, "Original files"), chat_id=-100777)
    await tg.wait_for(lambda: query in tg.answered_callbacks)
    assert "Only the person who opened" in tg.answered_callbacks[query]["text"]
    assert "Now: Photos" in (tg.message(-100777, menu.message_id).text or "")


async def test_stays_under_the_private_chat_flood_limit(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """With Telegram's limits enforced, the bot paces itself: no 429 at all, yet everything arrives. The uplink
    is a real one's (uploads take time), so the bot starts each album's upload ahead of its budget."""
    tg.set_flood_limits(private_per_second=5, overall_per_second=30)
    tg.set_upload_bandwidth(25_000_000)
    bot = make_bot(TELEGRAM_PRIVATE_RATE="5")
    await bot.start()
    items = [google.add_photo(alice.email) for _ in range(25)]
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, items)
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 25."
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])
    refused = [c for c in tg.calls if c.status == 429 or "retry after" in str(c.response).lower()]
    assert refused == []
    await bot.stop()


async def test_telegram_refusals_are_reported_not_swallowed(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    first = google.add_photo(alice.email, filename="first.jpg")
    second = google.add_photo(alice.email, filename="second.jpg")
    await link(alice)
    _, session = await start_pick(alice)
    tg.fail_next("sendMediaGroup", status=400, description="Bad Request: PHOTO_INVALID_DIMENSIONS")
    tg.fail_next("sendPhoto", status=400, description="Bad Request: IMAGE_PROCESS_FAILED")
    tg.fail_next("sendDocument", status=400, description="Bad Request: file is too big")
    google.pick(session.id, [first, second])
    summary = await wait_summary(tg, alice.user_id)
    # The album failed as a whole, so each went alone; the first then failed as a photo and as a file.
    expected = "✅ Delivered 1 of 2\n· 1 Telegram refused it (File is too big): first.jpg ("
    assert (summary.text or "").startswith(expected)
    assert_delivered_in_order(tg, google, alice.user_id, [(second, RENDITION)])


async def test_access_revoked_while_waiting(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await link(alice)
    prompt, _ = await start_pick(alice)
    google.revoke_grant(alice.email)
    google.expire_access_tokens()
    await tg.wait_for(lambda: "link again" in (tg.message(alice.user_id, prompt.message_id).text or "").lower())
    assert "stopped working" in (await alice.reply_to("/status")).text


async def test_two_users_pick_at_the_same_time(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    google.sparse_pages = True  # Google may return empty pages that still carry a nextPageToken
    alice_items = [google.add_photo(alice.email) for _ in range(12)]
    bob_items = [google.add_video(bob.email, size=400_000) for _ in range(3)] + [google.add_photo(bob.email)]
    await link(alice)
    await link(bob)
    _, alice_session = await start_pick(alice)
    _, bob_session = await start_pick(bob)
    google.pick(alice_session.id, alice_items)
    google.pick(bob_session.id, bob_items)
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 12."
    assert (await wait_summary(tg, bob.user_id)).text == "✅ Delivered all 4."
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in alice_items])
    expected_bob = [(item, "=dv" if item.type == "VIDEO" else RENDITION) for item in bob_items]
    assert_delivered_in_order(tg, google, bob.user_id, expected_bob)
    assert len([r for r in google.requests if r.endpoint == "mediaItems.list"]) > 2  # pages were followed


async def test_killed_mid_upload_reports_instead_of_sending_twice(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    """An album handed to Telegram when the bot dies may or may not have arrived; Telegram can't be
    asked. So after the restart it is reported, never sent a second time."""
    bot = make_bot()
    await bot.start()
    items = [google.add_photo(alice.email) for _ in range(10)]
    await link(alice)
    _, session = await start_pick(alice)
    tg.set_latency("sendMediaGroup", 2.0)  # the upload is in Telegram's hands for a while
    google.pick(session.id, items)
    await tg.wait_for(lambda: any(c.method == "sendMediaGroup" for c in tg.calls))
    await bot.kill()
    tg.set_latency("sendMediaGroup", 0.0)
    await bot.start()
    summary = await wait_summary(tg, alice.user_id)
    assert (summary.text or "").startswith("⚠️ Delivered 0 of 10\n· 10 interrupted by a restart mid-upload")
    # Telegram did take that album in the end: it is there exactly once.
    await tg.wait_for(lambda: len(media(tg, alice.user_id)) == 10 or None)
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])
    assert len(tg.calls_of("sendMediaGroup")) == 1
    await bot.stop()


async def test_abuse_limits(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    bot = make_bot(MAX_ACTIVE_PICKS="1", PICKS_PER_HOUR="3", MAX_ITEMS_PER_PICK="3")
    await bot.start()
    tg.add_group(-100900, "Family", members={alice.user_id: "member"})
    await link(alice)
    assert "from 1 to 3" in ((await alice.reply_to("/pick 4")).text or "")
    _, first = await start_pick(alice, "/pick 2")
    assert first.max_item_count == 2
    refused = await alice.reply_to("/pick@photos_test_bot", chat_id=-100900)
    assert "Too many of your picks are under way (1)" in (refused.text or "")
    _, second = await start_pick(alice)  # replacing the waiting pick in the same chat is fine
    assert second.max_item_count == 3  # the per-pick limit is always passed on to Google
    _, _third = await start_pick(alice)
    refused = await alice.reply_to("/pick")
    assert "3 picks within an hour" in (refused.text or "")
    assert len(google.sessions) == 3
    await bot.stop()


async def test_an_oversized_pick_is_refused_before_any_download(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    bot = make_bot(MAX_ITEMS_PER_PICK="3")
    await bot.start()
    items = [google.add_photo(alice.email) for _ in range(5)]
    await link(alice)
    _, session = await start_pick(alice)
    session.max_item_count = 5  # Google ignoring the requested maxItemCount
    google.fail_next("sessions.delete", status=503, times=5, retry_after=1)  # and then failing for a while
    google.pick(session.id, items)
    refusal = await tg.wait_for_message(alice.user_id, lambda m: "more than the 3" in (m.text or ""))
    assert "5 items" in (refusal.text or "")
    await google.wait_for(lambda: session.deleted, timeout=30)  # waited out, not left to the next start
    assert not [r for r in google.requests if r.endpoint == "media"]
    assert media(tg, alice.user_id) == []
    await bot.stop()


async def test_sigterm_mid_delivery_finishes_the_upload_and_the_restart_continues(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    bot = make_bot(TELEGRAM_PRIVATE_RATE="5")
    await bot.start()
    items = [google.add_photo(alice.email) for _ in range(25)]
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, items)
    await wait_items_sent(bot, 10)
    assert await bot.stop() == 0  # graceful: stops between uploads
    assert temp_files(bot) == []
    await bot.start()
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "✅ Delivered all 25."
    assert_delivered_in_order(tg, google, alice.user_id, [(item, RENDITION) for item in items])
    await bot.stop()
