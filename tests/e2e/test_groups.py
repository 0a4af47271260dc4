"""Groups, channels and forwarding, end to end: several members, a channel destination, lost rights,
migration to a supergroup, removal mid-session, and nobody getting in where they don't belong."""

from __future__ import annotations

import re

import httpx

from emulators.google import GoogleEmulator, SessionRecord
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import RENDITION, assert_delivered_in_order, link, media, start_pick, wait_summary
from tests.harness import BotProcess, Person, callback_data, consent_url, message_ids, new_messages, url_button

GROUP = -1001000
BOT = "photos_test_bot"


def family(tg: TelegramEmulator, *people: Person, type: str = "supergroup") -> int:
    group_id = GROUP if type == "supergroup" else -1000
    tg.add_group(group_id, "Family", type=type, members={p.user_id: "member" for p in people})
    return group_id


async def group_pick(person: Person, group: int, command: str = f"/pick@{BOT}") -> tuple[object, SessionRecord]:
    """A linked member's /pick in the group: the prompt comes privately, the group gets one line."""
    known = set(person.google.sessions)
    await person.say(command, chat_id=group)
    prompt = await person.tg.wait_for_message(person.user_id, lambda m: "Open Google Photos" in str(m.reply_markup))
    session = await person.google.wait_for_session(lambda s: s.id not in known)
    return prompt, session


def deep_link_payload(message: object) -> str:
    url = url_button(message)
    assert url is not None
    match = re.fullmatch(rf"https://t\.me/{BOT}\?start=([A-Za-z0-9_-]{{1,64}})", url)
    assert match, url
    return match.group(1)


async def test_a_members_pick_is_prompted_privately_and_lands_in_the_group(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    group = family(tg, alice, bob)
    items = [google.add_photo(alice.email) for _ in range(12)]
    await link(alice)
    _, session = await group_pick(alice, group)
    notice = await tg.wait_for_message(group, lambda m: "Alice is choosing photos" in (m.text or ""))
    assert "Open Google Photos" not in str(notice.reply_markup) and google.url not in str(tg.messages(group))
    assert [e["user"]["id"] for e in notice.entities if e["type"] == "text_mention"] == [alice.user_id]
    google.pick(session.id, items)
    summary = await wait_summary(tg, group)
    assert summary.text == "✅ Delivered all 12."
    assert_delivered_in_order(tg, google, group, [(item, RENDITION) for item in items])
    captions = [m.caption for m in media(tg, group)]
    assert captions[0] == "📷 Shared by Alice" and not any(captions[1:])
    assert media(tg, alice.user_id) == []


async def test_a_member_the_bot_cannot_write_to_gets_a_single_use_deep_link(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    group = family(tg, alice, bob)
    photo = google.add_photo(bob.email)
    await link(bob)
    tg.block_bot(bob.user_id, notify=False)  # Telegram answers 403 to anything we send Bob privately
    answer = await bob.reply_to(f"/pick@{BOT}", chat_id=group)
    payload = deep_link_payload(answer)
    assert len(payload) <= 64 and "Bob" in (answer.text or "")
    # Nothing left open at Google (deleted in the background, at once).
    await google.wait_for(lambda: all(s.deleted for s in google.sessions.values()))

    # Someone else's tap changes nothing; a forged payload is refused.
    assert "someone else" in (await alice.reply_to(f"/start {payload}")).text
    assert "expired" in (await alice.reply_to("/start p_forged-token")).text
    # Bob opens it: the pick starts privately, for the group.
    known = set(google.sessions)
    await bob.say(f"/start {payload}")
    await tg.wait_for_message(bob.user_id, lambda m: "Open Google Photos" in str(m.reply_markup))
    session = await google.wait_for_session(lambda s: s.id not in known)
    await tg.wait_for_message(group, lambda m: "Bob is choosing photos" in (m.text or ""))
    assert "already used" in (await bob.reply_to(f"/start {payload}")).text  # single use
    google.pick(session.id, [photo])
    assert (await wait_summary(tg, group)).text == "✅ Delivered 1 item."
    assert_delivered_in_order(tg, google, group, [(photo, RENDITION)])


async def test_an_unlinked_member_links_then_continues_the_pick(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    group = family(tg, alice)
    photo = google.add_photo(alice.email)
    answer = await alice.reply_to(f"/pick@{BOT}", chat_id=group)
    assert "link your Google account" in (answer.text or "")
    payload = deep_link_payload(answer)
    prompt = await alice.reply_to(f"/start {payload}", lambda m: url_button(m) is not None)
    async with httpx.AsyncClient() as client:  # the sign-in page names her as everywhere: "Alice (@alice)"
        assert "Alice (@alice)" in (await client.get(url_button(prompt) or "")).text
    google.consent.email = alice.email
    await alice.open_url(await consent_url(url_button(prompt) or ""))
    linked = await tg.wait_for_message(alice.user_id, lambda m: "Linked to" in (m.text or ""))
    assert "Family" in (linked.text or "")
    known = set(google.sessions)
    await alice.press(linked, callback_data(linked, "Pick photos for Family"))
    await tg.wait_for_message(alice.user_id, lambda m: "Open Google Photos" in str(m.reply_markup))
    session = await google.wait_for_session(lambda s: s.id not in known)
    google.pick(session.id, [photo])
    assert (await wait_summary(tg, group)).text == "✅ Delivered 1 item."


async def test_only_the_picker_can_cancel(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    group = family(tg, alice, bob)
    await link(alice)
    prompt, session = await group_pick(alice, group)
    notice = await tg.wait_for_message(group, lambda m: "choosing photos" in (m.text or ""))
    query = await bob.press(notice, callback_data(notice, "Cancel"), chat_id=group)
    await tg.wait_for(lambda: query in tg.answered_callbacks)
    assert "Only the person who started" in tg.answered_callbacks[query]["text"]
    assert tg.answered_callbacks[query].get("show_alert") is True
    assert not session.deleted and not tg.message(group, notice.message_id).deleted
    # Forged callback data (no such button, or another session's id) is refused too.
    forged = bob.tg.press_button(bob.user_id, group, notice.message_id, "pick:cancel:999999", forged=True)
    await tg.wait_for(lambda: forged in tg.answered_callbacks)
    assert "already finished" in tg.answered_callbacks[forged]["text"]
    junk = bob.tg.press_button(bob.user_id, group, notice.message_id, "go:not-a-token", forged=True)
    await tg.wait_for(lambda: junk in tg.answered_callbacks)
    refusal = await tg.wait_for_message(group, lambda m: "expired or was already used" in (m.text or ""))
    assert refusal is not None

    query = await alice.press(notice, callback_data(notice, "Cancel"), chat_id=group)
    await google.wait_for(lambda: session.deleted)
    await tg.wait_for(lambda: tg.message(group, notice.message_id).deleted)
    assert "cancelled" in (tg.message(alice.user_id, prompt.message_id).text or "")  # type: ignore[attr-defined]


async def test_two_members_picking_at_once_do_not_mix_albums(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    group = family(tg, alice, bob)
    alice_items = [google.add_photo(alice.email) for _ in range(7)]
    bob_items = [google.add_photo(bob.email) for _ in range(5)]
    await link(alice)
    await link(bob)
    _, alice_session = await group_pick(alice, group)
    _, bob_session = await group_pick(bob, group)
    google.pick(alice_session.id, alice_items)
    google.pick(bob_session.id, bob_items)
    await wait_summary(tg, group)
    await wait_summary(tg, group)
    served = {s.sha256: s.item_id for s in google.served}
    owner = {item.id: "alice" for item in alice_items} | {item.id: "bob" for item in bob_items}
    albums: dict[str | None, set[str]] = {}
    for message in media(tg, group):
        assert message.file is not None
        albums.setdefault(message.media_group_id, set()).add(owner[served[message.file.sha256]])
    assert len(albums) == 2 and all(len(owners) == 1 for owners in albums.values())
    assert sorted(m.caption or "" for m in media(tg, group) if m.caption) == ["📷 Shared by Alice", "📷 Shared by Bob"]


CHANNEL = -1002000


def channel(tg: TelegramEmulator, admin: Person, *, bot_can_post: bool = True) -> None:
    tg.add_group(
        CHANNEL,
        "Family Channel",
        type="channel",
        members={admin.user_id: "administrator"},
        bot_status="administrator",
        can_post_messages=bot_can_post,
    )


async def choose(person: Person, tg: TelegramEmulator, chat_id: int, request_id: int) -> str:
    chooser = await person.reply_to("/forward", lambda m: "request_chat" in str(m.reply_markup))
    rows = chooser.reply_markup["keyboard"]
    assert [b["request_chat"]["chat_is_channel"] for b in rows[0]] == [False, True]
    assert rows[0][1]["request_chat"]["bot_administrator_rights"]["can_post_messages"] is True
    seen = message_ids(tg, person.user_id)
    tg.share_chat(person.user_id, request_id, chat_id)
    answer = await tg.wait_for(lambda: next(iter(new_messages(tg, person.user_id, seen)), None))
    return answer.text or ""


async def test_forwarding_to_a_channel(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    channel(tg, alice)
    items = [google.add_photo(alice.email) for _ in range(3)]
    await link(alice)
    assert "picks you make here go to Family Channel" in await choose(alice, tg, CHANNEL, 2)
    current = await alice.reply_to("/forward", lambda m: "Family Channel" in (m.text or ""))
    assert callback_data(current, "Stop forwarding") == "fwd:off"
    _, session = await start_pick(alice)
    google.pick(session.id, items)
    summary = await wait_summary(tg, alice.user_id)
    assert summary.text is not None and summary.text.startswith("✅ Delivered all 3.")
    assert "Posted in Family Channel: https://t.me/c/2000/" in summary.text
    assert_delivered_in_order(tg, google, CHANNEL, [(item, RENDITION) for item in items])
    assert media(tg, alice.user_id) == []
    off = await alice.reply_to("/forward off")
    assert "stopped" in (off.text or "")


async def test_nobody_sets_a_destination_they_do_not_belong_to(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator
) -> None:
    channel(tg, bob)  # Bob's channel: Alice is not an administrator
    family(tg, bob)  # Bob's group: Alice is not a member
    tg.add_group(-1003000, "Readers", type="channel", members={alice.user_id: "administrator"}, bot_status="member")
    await link(alice)
    assert "Only channel administrators" in await choose(alice, tg, CHANNEL, 2)
    assert "not a member" in await choose(alice, tg, GROUP, 1)
    assert "not allowed to post" in await choose(alice, tg, -1003000, 2)
    assert "already off" in ((await alice.reply_to("/forward off")).text or "")


async def test_rights_lost_between_pick_and_delivery_deliver_privately(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    channel(tg, alice)
    photo = google.add_photo(alice.email)
    await link(alice)
    await choose(alice, tg, CHANNEL, 2)
    _, session = await start_pick(alice)
    tg.set_bot_status(CHANNEL, "member")  # demoted: may no longer post
    google.pick(session.id, [photo])
    await tg.wait_for_message(alice.user_id, lambda m: "can no longer post" in (m.text or ""))
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    assert_delivered_in_order(tg, google, alice.user_id, [(photo, RENDITION)])
    assert media(tg, CHANNEL) == []


async def test_group_upgraded_to_supergroup(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    old = family(tg, alice, type="group")
    photo = google.add_photo(alice.email)
    await link(alice)
    _, session = await group_pick(alice, old)
    await tg.wait_for_message(old, lambda m: "choosing photos" in (m.text or ""))
    tg.migrate_group(old, GROUP)
    google.pick(session.id, [photo])
    assert (await wait_summary(tg, GROUP)).text == "✅ Delivered 1 item."
    assert_delivered_in_order(tg, google, GROUP, [(photo, RENDITION)])


async def test_removed_from_a_group_mid_session(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    group = family(tg, alice, bob)
    tg.chats[group].members[alice.user_id] = "administrator"
    await link(alice)
    await choose(alice, tg, group, 1)  # Alice also forwards her private picks to this group
    prompt, session = await group_pick(alice, group)
    tg.set_bot_status(group, "left", by_user_id=bob.user_id)
    await google.wait_for(lambda: session.deleted)
    await tg.wait_for(lambda: "removed from" in (tg.message(alice.user_id, prompt.message_id).text or ""))  # type: ignore[attr-defined]
    await tg.wait_for_message(alice.user_id, lambda m: "now arrive here" in (m.text or ""))
    assert "already off" in ((await alice.reply_to("/forward off")).text or "")


async def test_blocking_the_bot_ends_waiting_picks(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    await link(alice)
    _, session = await start_pick(alice)
    tg.block_bot(alice.user_id)
    await google.wait_for(lambda: session.deleted)


async def test_menus_per_scope(bot: BotProcess, tg: TelegramEmulator) -> None:
    private = {c["command"] for c in tg.commands[tg.scope_key({"type": "all_private_chats"})]}
    group = {c["command"] for c in tg.commands[tg.scope_key({"type": "all_group_chats"})]}
    assert private == {"pick", "settings", "language", "forward", "cancel", "status", "link", "unlink", "help"}
    assert group == {"pick", "settings", "cancel", "help"}


async def test_a_deep_link_is_refused_once_its_member_left_the_group(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    group = family(tg, alice, bob)
    await link(bob)
    tg.block_bot(bob.user_id, notify=False)
    payload = deep_link_payload(await bob.reply_to(f"/pick@{BOT}", chat_id=group))
    del tg.chats[group].members[bob.user_id]  # Bob leaves the group before opening the link
    sessions = len(google.sessions)
    answer = await bob.reply_to(f"/start {payload}")
    assert "no longer in that group" in (answer.text or "")
    assert len(google.sessions) == sessions and "choosing" not in str([m.text for m in tg.messages(group)])
