"""Abuse through the real bot process: account details asked for in a group, a single-use deep link claimed
twice at once."""

from __future__ import annotations

import asyncio

from bot import texts
from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import link
from tests.harness import BotProcess, Person, message_ids, new_messages, url_button

BOT = "photos_test_bot"
GROUP = -1001555
PRIVATE_CHAT = f"https://t.me/{BOT}"


async def test_account_commands_in_a_group_never_show_the_email(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator
) -> None:
    tg.add_group(GROUP, "Family", members={alice.user_id: "member", bob.user_id: "member"})
    await link(alice)
    expected = {
        "/start": "Your Google account is linked",
        "/status": texts.ACCOUNT_IN_PRIVATE.format(command="status"),
        "/unlink": texts.ACCOUNT_IN_PRIVATE.format(command="unlink"),
    }
    for command, answer in expected.items():
        for text in (command, f"{command}@{BOT}", f"{command}@{BOT} extra"):
            reply = await alice.reply_to(text, chat_id=GROUP)
            assert answer in (reply.text or ""), (text, reply.text)
            assert url_button(reply) == PRIVATE_CHAT, (text, reply.reply_markup)
    not_linked = await bob.reply_to(f"/start@{BOT}", chat_id=GROUP)
    assert "Link your Google account in our private chat" in (not_linked.text or "")
    assert not any(alice.email in str(m.text) + str(m.reply_markup) for m in tg.messages(GROUP))
    # /unlink in the group changed nothing; privately the account is shown as before.
    assert alice.email in (await alice.reply_to("/status")).text


async def test_a_deep_link_claimed_twice_at_once_starts_one_pick(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(GROUP, "Family", members={alice.user_id: "member", bob.user_id: "member"})
    await link(bob)
    tg.block_bot(bob.user_id, notify=False)  # the group gets Bob a single-use deep link instead of a prompt
    invite = await bob.reply_to(f"/pick@{BOT}", chat_id=GROUP)
    payload = (url_button(invite) or "").rsplit("start=", 1)[1]
    await google.wait_for(lambda: all(s.deleted for s in google.sessions.values()))
    tg.unblock_bot(bob.user_id, notify=False)
    known = set(google.sessions)
    seen = message_ids(tg, bob.user_id)
    for _ in range(2):  # one getUpdates batch, handled concurrently
        await bob.say(f"/start {payload}")
    await tg.wait_for(lambda: any(texts.CLAIM_EXPIRED in (m.text or "") for m in new_messages(tg, bob.user_id, seen)))
    await tg.wait_for(lambda: any("Open Google Photos" in str(m.reply_markup) for m in tg.messages(bob.user_id)))
    await asyncio.sleep(1.0)  # a second pick would have started by now
    assert len([s for s in google.sessions if s not in known]) == 1
    prompts = [m for m in new_messages(tg, bob.user_id, seen) if "Open Google Photos" in str(m.reply_markup)]
    assert len(prompts) == 1
