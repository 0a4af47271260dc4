"""Sign-in by pasting the address (a home box: PUBLIC_URL on this machine, the browser on a phone).

Google redirects the phone to the bot's callback on localhost, which the phone cannot open; the user pastes that
address from the address bar into the chat. The bot finishes the sign-in with the callback's own checks (single-use
state of this very user, PKCE) and deletes the pasted message, which carries the one-time code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.harness import BotProcess, Person, message_ids, new_messages, url_button

GROUP = -100777


@pytest.fixture
async def bot(make_bot: Callable[..., BotProcess]) -> AsyncIterator[BotProcess]:
    """The bot in the mode a loopback PUBLIC_URL turns on by default (the harness turns it off for the rest)."""
    process = make_bot(SIGN_IN_BY_PASTE="true")
    await process.start()
    yield process
    assert await process.stop() == 0, process.logs()[-3000:]
    assert "Traceback" not in process.logs(), process.logs()[-5000:]


async def redirect_address(person: Person, google: GoogleEmulator) -> str:
    """/link, consent on the "phone": the address Google redirects to, which the phone shows and cannot open."""
    prompt = await person.reply_to("/link", lambda m: url_button(m) is not None)
    consent = url_button(prompt) or ""
    assert consent.startswith(google.auth_url)  # straight to Google: the bot's own page is not reachable either
    async with httpx.AsyncClient() as client:
        answer = await client.get(consent)
    assert answer.status_code == 302, answer.text
    return str(answer.headers["location"])


async def paste(person: Person, tg: TelegramEmulator, text: str, chat_id: int | None = None) -> tuple[int, Any]:
    """Send `text`; the pasted message's id and the bot's next message in that chat."""
    chat = person.user_id if chat_id is None else chat_id
    seen = message_ids(tg, chat)
    sent = tg.send_text(person.user_id, text, chat_id=chat_id)
    answer = await tg.wait_for(lambda: next(iter(new_messages(tg, chat, seen)), None), what="the bot's answer")
    return int(sent["message_id"]), answer


def code_in_chat(tg: TelegramEmulator, chat_id: int, address: str) -> bool:
    code = str(httpx.URL(address).params["code"])
    return any(code in (m.text or "") for m in tg.history(chat_id) if not m.deleted)


async def test_the_prompt_says_what_to_do_and_the_pasted_address_links(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
    assert "paste" in prompt.text and bot.base_url.removeprefix("http://") in prompt.text
    address = await redirect_address(alice, google)
    assert address.startswith(bot.base_url + "/oauth/callback?")

    pasted, answer = await paste(alice, tg, address)
    assert answer.text == "✅ Linked to alice@example.com. Send /pick to choose photos.", answer.text
    assert tg.message(alice.user_id, pasted).deleted
    assert not code_in_chat(tg, alice.user_id, address)
    assert "alice@example.com" in (await alice.reply_to("/status")).text
    assert str(httpx.URL(address).params["code"]) not in bot.logs()


async def test_a_replayed_address_is_refused_and_changes_nothing(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    address = await redirect_address(alice, google)
    assert "Linked to" in (await paste(alice, tg, address))[1].text
    google.consent.email = "mallory@example.com"  # whatever Google would say now, nothing may change
    pasted, answer = await paste(alice, tg, address)
    assert "doesn't finish a sign-in of yours" in answer.text, answer.text
    assert tg.message(alice.user_id, pasted).deleted and not code_in_chat(tg, alice.user_id, address)
    async with httpx.AsyncClient() as client:  # the callback refuses it too: one state, used once
        assert (await client.get(address)).status_code == 400
    assert "alice@example.com" in (await alice.reply_to("/status")).text
    assert len([r for r in google.requests if r.endpoint == "token"]) == 1


async def test_another_users_address_is_refused_and_left_to_its_owner(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    address = await redirect_address(alice, google)
    pasted, answer = await paste(bob, tg, address)
    assert "doesn't finish a sign-in of yours" in answer.text, answer.text
    assert tg.message(bob.user_id, pasted).deleted
    assert "haven't linked" in (await bob.reply_to("/status")).text
    assert not [r for r in google.requests if r.endpoint == "token"]  # Alice's code was not even tried
    assert "Linked to alice@example.com" in (await paste(alice, tg, address))[1].text


async def test_forged_addresses_are_refused_and_change_nothing(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    address = await redirect_address(alice, google)
    query = address.partition("?")[2]
    host = bot.base_url.removeprefix("http://")
    port = int(host.rpartition(":")[2])
    for forged in (
        f"http://evil.example/oauth/callback?{query}",  # another host
        f"http://{host.replace(str(port), str(port + 1))}/oauth/callback?{query}",  # another port
        f"https://{host}/oauth/callback?{query}",  # another scheme
        f"{bot.base_url}/oauth/start?{query}",  # another path
        f"{bot.base_url}/oauth/callback?{query}&state=forged",  # two states
        f"{bot.base_url}/oauth/callback?state=forged&code=4/0Aforged",
        f"{bot.base_url}/oauth/callback?code=4/0Aforged",
        f"{bot.base_url}/oauth/callback?state=😀'; DROP TABLE oauth_states; --",
        f"see {address} here",
        "oauth/callback",
    ):
        pasted, answer = await paste(alice, tg, forged)
        assert "doesn't finish a sign-in of yours" in answer.text, (forged, answer.text)
        assert tg.message(alice.user_id, pasted).deleted, forged
    assert not [r for r in google.requests if r.endpoint == "token"]
    assert "haven't linked" in (await alice.reply_to("/status")).text
    assert "Linked to alice@example.com" in (await paste(alice, tg, address))[1].text  # the real one still works


async def test_a_changed_code_goes_to_google_and_fails_like_the_callback(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    address = await redirect_address(alice, google)
    code = str(httpx.URL(address).params["code"])
    _, answer = await paste(alice, tg, address.replace(code, code[:-4] + "AAAA"))
    assert "Google did not accept the sign-in" in answer.text, answer.text
    assert "haven't linked" in (await alice.reply_to("/status")).text
    _, again = await paste(alice, tg, address)  # the state was used up, as at the callback
    assert "doesn't finish a sign-in of yours" in again.text


@pytest.mark.parametrize("may_delete", [True, False])
async def test_an_address_pasted_in_a_group_is_never_used(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator, may_delete: bool
) -> None:
    tg.add_group(
        GROUP, "Family", members={alice.user_id: "member"}, bot_status="administrator", can_delete_messages=may_delete
    )
    address = await redirect_address(alice, google)
    pasted, answer = await paste(alice, tg, address, chat_id=GROUP)
    assert "private chat" in answer.text, answer.text
    assert url_button(answer) == "https://t.me/photos_test_bot"
    assert tg.message(GROUP, pasted).deleted is may_delete
    assert not [r for r in google.requests if r.endpoint == "token"]
    assert "Linked to alice@example.com" in (await paste(alice, tg, address))[1].text  # still hers, privately


async def test_without_the_mode_the_prompt_says_nothing_of_pasting(
    make_bot: Callable[..., BotProcess], alice: Person
) -> None:
    process = make_bot(SIGN_IN_BY_PASTE="false")
    await process.start()
    try:
        prompt = await alice.reply_to("/link", lambda m: url_button(m) is not None)
        assert "paste" not in prompt.text
        assert (url_button(prompt) or "").startswith(process.base_url + "/oauth/start?s=")
    finally:
        assert await process.stop() == 0


async def test_a_group_pick_by_an_unlinked_member_continues_after_the_paste(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(GROUP, "Family", members={alice.user_id: "member"})
    answer = await alice.reply_to("/pick@photos_test_bot", chat_id=GROUP)
    deep_link = url_button(answer) or ""
    assert deep_link.startswith("https://t.me/photos_test_bot?start="), deep_link
    prompt = await alice.reply_to(f"/start {deep_link.rpartition('=')[2]}", lambda m: url_button(m) is not None)
    assert "paste it here" in prompt.text  # this prompt too says beforehand what to do
    async with httpx.AsyncClient() as client:
        address = (await client.get(url_button(prompt) or "")).headers["location"]
    _, linked = await paste(alice, tg, address)
    assert "Linked to" in linked.text and "Family" in linked.text, linked.text
    assert any("Family" in b.get("text", "") for row in linked.reply_markup["inline_keyboard"] for b in row)
