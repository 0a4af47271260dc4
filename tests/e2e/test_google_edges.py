"""Google's edges through the real bot process: too many sessions, the bot's own configuration refused (OAuth
client, Picker API not enabled), videos that will never be ready, and compressed or redirected media."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from bot import texts
from emulators.google import GoogleEmulator
from emulators.telegram import NOT_MODIFIED, TelegramEmulator
from tests.e2e.picking import RENDITION, assert_delivered_in_order, link, media, start_pick, wait_summary
from tests.harness import CLIENT_SECRET, BotProcess, Person, metric

STATUS_LINKED = "Linked to alice@example.com."
PROCESSING_PREFIX = texts.PROGRESS_WAITING_VIDEOS[1].split("{", 1)[0]


async def readiness(bot: BotProcess) -> dict[str, str]:
    async with httpx.AsyncClient() as client:
        checks: dict[str, str] = (await client.get(bot.base_url + "/readyz")).json()["checks"]
        return checks


def creates(google: GoogleEmulator) -> list[int]:
    return [r.status for r in google.requests if r.endpoint == "sessions.create"]


# --- too many sessions --------------------------------------------------------------------------------------


async def test_too_many_sessions_closes_the_users_own_and_asks_once_more(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await link(alice)
    first_prompt, first = await start_pick(alice)
    google.max_live_sessions = 1  # the waiting pick holds the only session Google allows Alice
    _, second = await start_pick(alice)
    assert creates(google) == [200, 429, 200]  # not retried like an outage: cleaned up, then asked once more
    assert first.deleted and not second.deleted
    assert tg.message(alice.user_id, first_prompt.message_id).text == texts.PICK_REPLACED


async def test_too_many_sessions_the_bot_cannot_close_is_said_plainly(
    bot: BotProcess, alice: Person, google: GoogleEmulator
) -> None:
    await link(alice)
    google.max_live_sessions = 0  # sessions the bot does not know of fill Alice's quota
    answer = await alice.reply_to("/pick")
    assert answer.text == texts.GOOGLE_TOO_MANY_SESSIONS != texts.GOOGLE_DOWN
    assert creates(google) == [429, 429]


async def test_a_project_quota_429_on_create_is_still_waited_out(
    bot: BotProcess, alice: Person, google: GoogleEmulator
) -> None:
    await link(alice)
    google.fail_next("sessions.create", status=429, times=2, retry_after=1)  # RATE_LIMIT_EXCEEDED
    await start_pick(alice)
    assert creates(google) == [429, 429, 200]


# --- the bot's own configuration -----------------------------------------------------------------------------


async def test_a_rotated_client_secret_keeps_every_link_and_fixing_it_heals_them(
    bot: BotProcess, alice: Person, google: GoogleEmulator
) -> None:
    await link(alice)
    google.client_secret = "rotated-at-google"  # the bot still sends the old one: invalid_client
    google.expire_access_tokens()
    for _ in range(2):
        assert (await alice.reply_to("/pick")).text == texts.BOT_MISCONFIGURED
    assert (await alice.reply_to("/status")).text == STATUS_LINKED  # not broken: nothing to relink
    assert (await readiness(bot))["google_oauth_client"] == "failing"
    assert await metric(bot, "bot_google_config_ok", part="oauth_client") == 0
    assert bot.logs().count("OPERATOR: Google refuses the bot's oauth client (invalid_client)") == 1

    google.client_secret = CLIENT_SECRET  # the operator puts the right secret back at Google
    await start_pick(alice)
    assert (await readiness(bot))["google_oauth_client"] == "ok"
    assert await metric(bot, "bot_google_config_ok", part="oauth_client") == 1


async def test_a_wrong_client_secret_at_sign_in_says_it_is_the_bots_problem(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    google.client_secret = "rotated-at-google"  # Google answers the code exchange with invalid_client
    page = await alice.link()
    assert page.status_code == 503 and texts.PAGE_MISCONFIGURED[0] in page.text
    await tg.wait_for_message(alice.user_id, lambda m: m.text == texts.LINK_MISCONFIGURED)
    assert "haven't linked" in (await alice.reply_to("/status")).text
    assert (await readiness(bot))["google_oauth_client"] == "failing"


async def test_a_disabled_picker_api_is_the_operators_problem_not_the_users_link(
    bot: BotProcess, alice: Person, google: GoogleEmulator
) -> None:
    await link(alice)
    google.service_disabled = True
    assert (await alice.reply_to("/pick")).text == texts.BOT_MISCONFIGURED
    assert (await alice.reply_to("/status")).text == STATUS_LINKED
    assert (await readiness(bot))["google_picker_api"] == "failing"
    assert "OPERATOR: Google refuses the bot's picker api (SERVICE_DISABLED)" in bot.logs()

    google.service_disabled = False
    await start_pick(alice)
    assert (await readiness(bot))["google_picker_api"] == "ok"


async def test_a_missing_scope_still_asks_to_link_again(bot: BotProcess, alice: Person, google: GoogleEmulator) -> None:
    await link(alice)
    google.fail_next(
        "sessions.create",
        status=403,
        body={
            "error": {
                "code": 403,
                "message": "Request had insufficient authentication scopes.",
                "status": "PERMISSION_DENIED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                        "domain": "googleapis.com",
                    }
                ],
            }
        },
    )
    assert (await alice.reply_to("/pick")).text == texts.LINK_BROKEN
    assert (await readiness(bot))["google_picker_api"] == "ok"


# --- videos that will never be ready --------------------------------------------------------------------------


async def test_a_failed_video_is_reported_at_once_and_unspecified_ones_are_fetched(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    photo = google.add_photo(alice.email)
    broken = google.add_video(alice.email, filename="broken.mp4", size=200_000, processing_status="FAILED")
    unknown = google.add_video(alice.email, size=200_000, processing_status="UNSPECIFIED")
    unsaid = google.add_video(alice.email, size=200_000, processing_status=None)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [photo, broken, unknown, unsaid])
    summary = await wait_summary(tg, alice.user_id, timeout=15)  # VIDEO_PROCESSING_TIMEOUT is 600 s
    assert summary.text == "✅ Delivered 3 of 4\n· 1 Google could not process the video: broken.mp4"
    assert_delivered_in_order(tg, google, alice.user_id, [(photo, RENDITION), (unknown, "=dv"), (unsaid, "=dv")])
    assert len([r for r in google.requests if r.endpoint == "mediaItems.list"]) == 1  # nothing waited for


async def test_waiting_for_videos_backs_off_and_never_repeats_its_progress_line(
    make_bot: Callable[..., BotProcess], alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    bot = make_bot(VIDEO_PROCESSING_TIMEOUT="6")
    await bot.start()
    photo = google.add_photo(alice.email)
    video = google.add_video(alice.email, filename="late.mp4", size=200_000, ready_after_lists=10_000)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [photo, video])
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == "✅ Delivered 1 of 2\n· 1 still processing at Google: late.mp4"
    # Re-listed after 0.5, 1, 2 s and at the deadline, not every 0.5 s (a dozen listings of the whole pick).
    assert len([r for r in google.requests if r.endpoint == "mediaItems.list"]) <= 5
    edits = tg.calls_of("editMessageText")
    assert not [call for call in edits if call.response.get("description") == NOT_MODIFIED]
    waiting = [call for call in edits if str(call.params.get("text", "")).startswith(PROCESSING_PREFIX)]
    assert len(waiting) == 1
    await bot.stop()


async def test_a_shutdown_ends_the_wait_for_videos_at_once_and_the_restart_delivers_them(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    video = google.add_video(alice.email, size=200_000, ready_after_lists=10_000)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [video])
    await tg.wait_for(
        lambda: any(str(c.params.get("text", "")).startswith(PROCESSING_PREFIX) for c in tg.calls_of("editMessageText"))
    )
    started = time.monotonic()
    assert await bot.stop() == 0
    assert time.monotonic() - started < 4  # the wait used to hold the shutdown for its 15 s grace
    video.ready_after_lists = 0  # Google has finished meanwhile
    await bot.start()
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    assert_delivered_in_order(tg, google, alice.user_id, [(video, "=dv")])


# --- compressed or redirected media ------------------------------------------------------------------------------


async def test_media_served_gzip_when_asked_arrives_whole(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    google.media_encoding = "gzip_if_accepted"
    photo, video = google.add_photo(alice.email), google.add_video(alice.email, size=300_000)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [photo, video])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered all 2."
    assert_delivered_in_order(tg, google, alice.user_id, [(photo, RENDITION), (video, "=dv")])


async def test_a_redirect_to_another_google_host_keeps_the_token(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    google.media_redirect = "google"
    photo = google.add_photo(alice.email)
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [photo])
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    assert_delivered_in_order(tg, google, alice.user_id, [(photo, RENDITION)])
    hops = [r for r in google.requests if r.path.startswith("/lh3/hop/")]
    assert hops and all(r.had_bearer for r in hops)


async def test_a_redirect_off_googles_hosts_is_not_followed(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    google.media_redirect = "elsewhere"
    photo = google.add_photo(alice.email, filename="moved.jpg")
    await link(alice)
    _, session = await start_pick(alice)
    google.pick(session.id, [photo])
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text == f"⚠️ Delivered 0 of 1\n· 1 {texts.REASON_UNAVAILABLE}: moved.jpg"
    assert not [r for r in google.requests if r.endpoint == "elsewhere"]
    assert media(tg, alice.user_id) == []
