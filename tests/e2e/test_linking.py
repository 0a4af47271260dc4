"""Linking a Telegram user to Google, end to end through the real bot process."""

from __future__ import annotations

import socket

import httpx

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import link
from tests.harness import (
    CLIENT_SECRET,
    ENCRYPTION_KEY,
    TOKEN,
    BotProcess,
    Person,
    at_rest,
    callback_data,
    consent_url,
    execute,
    query_of,
    url_button,
)

PICKER_SCOPE = "https://www.googleapis.com/auth/photospicker.mediaitems.readonly"


async def test_start_explains_and_offers_linking(bot: BotProcess, alice: Person, tg: TelegramEmulator) -> None:
    welcome = await alice.reply_to("/start")
    assert "Google Photos" in welcome.text
    assert welcome.reply_markup["inline_keyboard"][0][0]["callback_data"] == "link"
    private = tg.commands[json_scope("all_private_chats")]
    group = tg.commands[json_scope("all_group_chats")]
    assert {c["command"] for c in private} >= {"start", "pick", "link", "unlink", "status", "help"} - {"start"}
    assert {c["command"] for c in group} == {"pick", "settings", "cancel", "help"}


def json_scope(kind: str) -> str:
    import json

    return json.dumps({"type": kind}, sort_keys=True)


async def test_link_happy_path(bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator) -> None:
    prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
    assert prompt.link_preview_options == {"is_disabled": True}
    sign_in = url_button(prompt)
    assert sign_in is not None and sign_in.startswith(bot.base_url + "/oauth/start?s=")
    url = await consent_url(sign_in)
    assert url.startswith(google.auth_url)
    params = query_of(url)
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 22  # ≥ 128 bits of base64url
    assert (params["access_type"], params["prompt"], params["response_type"]) == ("offline", "consent", "code")
    assert set(params["scope"].split()) == {"openid", "email", PICKER_SCOPE}
    assert params["redirect_uri"] == bot.base_url + "/oauth/callback"

    page = await alice.open_url(url)
    assert page.status_code == 200 and "Account linked" in page.text
    assert str(page.url) == bot.base_url + "/oauth/done?result=linked&lang=en"  # no code, state or email in it
    confirmation = await tg.wait_for_message(alice.user_id, lambda m: "Linked to" in (m.text or ""))
    assert "alice@example.com" in (confirmation.text or "")
    status = await alice.reply_to("/status")
    assert "alice@example.com" in status.text

    raw = await at_rest(bot)
    for secret in google.issued_secrets():
        assert secret.encode() not in raw


async def test_link_in_a_group_goes_private(bot: BotProcess, alice: Person, tg: TelegramEmulator) -> None:
    tg.add_group(-100123, "Family", members={alice.user_id: "member"})
    answer = await alice.reply_to("/link", chat_id=-100123)
    assert url_button(answer) == "https://t.me/photos_test_bot?start=link"
    assert "accounts" not in (answer.text or "") and "oauth" not in str(answer.reply_markup)
    prompt = await alice.reply_to("/start link", lambda m: url_button(m) is not None)
    assert "/o/oauth2/v2/auth" in await consent_url(url_button(prompt) or "")


async def test_unticked_photos_permission_links_nothing(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    google.consent.granted_scopes = ["openid", "email"]
    page = await alice.link()
    assert "Photos permission missing" in page.text
    message = await tg.wait_for_message(alice.user_id, lambda m: "unticked" in (m.text or ""))
    assert callback_data(message, "Try again") == "link"
    assert "haven't linked" in (await alice.reply_to("/status")).text


async def test_consent_denied(bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator) -> None:
    google.consent.decision = "deny"
    page = await alice.link()
    assert page.status_code == 200 and "Linking cancelled" in page.text
    await tg.wait_for_message(alice.user_id, lambda m: "cancelled" in (m.text or ""))
    assert "haven't linked" in (await alice.reply_to("/status")).text


async def test_failed_code_exchange(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    google.fail_next("token", status=500)
    page = await alice.link()
    assert page.status_code == 502
    await tg.wait_for_message(alice.user_id, lambda m: "did not accept" in (m.text or ""))
    assert "haven't linked" in (await alice.reply_to("/status")).text


async def test_bad_states_are_refused_and_change_nothing(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    callback = bot.base_url + "/oauth/callback"
    async with httpx.AsyncClient() as client:
        for params in (
            {},
            {"code": "x"},
            {"state": "forged", "code": "x"},
            {"state": "s" * 5000, "code": "x"},
            {"state": "'; DROP TABLE google_links; --", "code": "x"},
            {"state": "😀", "error": "x"},
        ):
            response = await client.get(callback, params=params)
            assert response.status_code == 400, params
            assert "not valid" in response.text

    # Replay: the first use links, the second is refused and leaves the link alone.
    prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
    async with httpx.AsyncClient() as client:
        consent = await client.get(await consent_url(url_button(prompt) or ""))
        redirect = consent.headers["location"]
        first = await client.get(redirect)
        again = await client.get(redirect)
    assert first.status_code == 303 and first.headers["location"] == "done?result=linked&lang=en"
    assert again.status_code == 400 and "not valid" in again.text
    assert "alice@example.com" in (await alice.reply_to("/status")).text

    # Expired: a state older than 10 minutes is refused even if otherwise valid.
    prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
    expiring = await consent_url(url_button(prompt) or "")
    await execute(bot, "UPDATE oauth_states SET expires_at = 0")
    page = await alice.open_url(expiring)
    assert page.status_code == 400
    await tg.wait_for_message(alice.user_id, lambda m: "expired" in (m.text or ""))


async def test_expired_access_token_is_refreshed(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await link(alice)
    google.expire_access_tokens()
    prompt = await alice.reply_to("/pick", lambda m: "Open Google Photos" in str(m.reply_markup))
    assert prompt is not None
    grants = [r for r in google.requests if r.endpoint == "token"]
    assert len(grants) == 2  # the code exchange, then one refresh


async def test_revoked_grant_asks_to_link_again(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await link(alice)
    google.revoke_grant(alice.email)
    google.expire_access_tokens()
    answer = await alice.reply_to("/pick")
    assert "link again" in answer.text.lower()
    assert answer.reply_markup["inline_keyboard"][0][0]["callback_data"] == "link"
    assert "stopped working" in (await alice.reply_to("/status")).text


async def test_unlink_revokes_and_forgets(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await link(alice)
    answer = await alice.reply_to("/unlink")
    assert "revoked" in answer.text
    assert [r.status for r in google.requests if r.endpoint == "revoke"] == [200]
    assert "haven't linked" in (await alice.reply_to("/status")).text
    assert "nothing to disconnect" in (await alice.reply_to("/unlink")).text


async def test_unlink_when_google_does_not_answer(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await link(alice)
    google.fail_next("revoke", status=503)
    answer = await alice.reply_to("/unlink")
    assert "did not confirm" in answer.text
    assert "haven't linked" in (await alice.reply_to("/status")).text


async def test_logs_hold_no_secrets(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await link(alice)
    google.expire_access_tokens()
    await alice.reply_to("/pick", lambda m: "Open Google Photos" in str(m.reply_markup))
    await alice.reply_to("/unlink")
    await bot.stop()
    logs = bot.logs()
    assert "refreshed the access token" in logs  # the log is real and covers the flow
    for secret in [TOKEN, CLIENT_SECRET, ENCRYPTION_KEY, *google.issued_secrets()]:
        assert secret not in logs


async def test_healthz(bot: BotProcess) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(bot.base_url + "/healthz")
    assert bot.proc is not None
    # Which replica answered: REPLICA_NAME (make_bot names them on PostgreSQL), by default the host's name and the
    # process id.
    replica = bot.env.get("REPLICA_NAME") or f"{socket.gethostname()}-{bot.proc.pid}"
    expected = {"status": "ok", "replica": replica}
    assert response.status_code == 200 and response.json() == expected
