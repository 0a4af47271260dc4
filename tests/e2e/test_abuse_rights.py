"""Who may make the bot post into a group, attacked through the real bot process: muted members (their own
can_send_* or the group's default permissions), strangers pressing a public group's "Pick photos" button,
and the "Shared by" mention that says who is behind every post."""

from __future__ import annotations

from typing import Any

from bot import texts
from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator
from tests.e2e.picking import link, media, start_pick, wait_summary
from tests.e2e.test_groups import choose, deep_link_payload, group_pick
from tests.harness import BotProcess, Person, callback_data, message_ids, new_messages

BOT = "photos_test_bot"
GROUP = -1001000
# Muted for media: may still write (so may send /pick), may not post photos, videos or files.
TEXT_ONLY = {"can_send_messages": True}
# First names an attacker picks, hoping the bot posts them into the group as it would its own words.
HOSTILE_NAMES = (
    '<a href="https://evil.example">Admin</a>',
    "Official announcement: the group moved to t.me/evil",
    "\u202eevil\u202c &amp; <b>",
    "x" * 64,
)


def public_group(tg: TelegramEmulator, *members: Person) -> int:
    tg.add_group(GROUP, "Family", members={p.user_id: "member" for p in members}, username="family_pub")
    return GROUP


def shared_by(message: Any, person: Person) -> bool:
    """The caption names the person with a real mention: a link to their account, not just a name."""
    mentions = [e for e in message.entities if e["type"] == "text_mention"]
    units = (message.caption or "").encode("utf-16-le")  # entity offsets count UTF-16 code units
    return (
        message.caption == f"📷 Shared by {person.name}"
        and len(mentions) == 1
        and mentions[0]["user"]["id"] == person.user_id
        and units[2 * mentions[0]["offset"] :].decode("utf-16-le") == person.name
    )


async def group_button(tg: TelegramEmulator, google: GoogleEmulator, picker: Person, group: int) -> Any:
    """A finished pick in the group: its summary carries the "Pick photos" button."""
    photo = google.add_photo(picker.email)
    await link(picker)
    _, session = await group_pick(picker, group)
    google.pick(session.id, [photo])
    return await wait_summary(tg, group)


async def press(tg: TelegramEmulator, person: Person, group: int, message: Any) -> dict[str, Any]:
    """Press the group's "Pick photos" button; the bot's answer to the press."""
    query = tg.press_button(person.user_id, group, message.message_id, callback_data(message, "Pick photos"))
    answer: dict[str, Any] = await tg.wait_for(lambda: tg.answered_callbacks.get(query))
    return answer


# --- point 6: muted members -----------------------------------------------------------------------------


async def test_a_muted_member_cannot_choose_the_group_to_forward_to(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator
) -> None:
    tg.add_group(GROUP, "Family", members={bob.user_id: "administrator"})
    tg.restrict_member(GROUP, alice.user_id, **TEXT_ONLY)
    assert "may not post photos" in await choose(alice, tg, GROUP, 1)
    quiet = -1002000  # a group whose default permissions forbid media: members are muted, admins are not
    people = {alice.user_id: "member", bob.user_id: "administrator"}
    tg.add_group(quiet, "Quiet", members=people, bot_status="administrator")
    tg.set_chat_permissions(quiet, **TEXT_ONLY)
    assert "may not post photos" in await choose(alice, tg, quiet, 1)
    assert "go to Quiet" in await choose(bob, tg, quiet, 1)
    tg.set_bot_status(quiet, "member")  # the defaults bind the bot too once it is no admin
    assert "not allowed to post" in await choose(bob, tg, quiet, 1)
    assert "already off" in ((await alice.reply_to("/forward off")).text or "")


async def test_a_muted_members_pick_in_the_group_is_refused(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(GROUP, "Family", members={bob.user_id: "member"}, bot_status="administrator")
    tg.restrict_member(GROUP, alice.user_id, **TEXT_ONLY)
    await link(alice)
    sessions = len(google.sessions)
    answer = await alice.reply_to(f"/pick@{BOT}", chat_id=GROUP)
    assert answer.text == f"Alice: {texts.USER_CANNOT_POST_MEDIA}"
    tg.set_chat_permissions(GROUP, **TEXT_ONLY)  # and Bob, by the group's default permissions
    await link(bob)
    assert (await bob.reply_to(f"/pick@{BOT}", chat_id=GROUP)).text == f"Bob: {texts.USER_CANNOT_POST_MEDIA}"
    assert len(google.sessions) == sessions
    assert not [m for m in tg.messages(GROUP) if "choosing" in (m.text or "")]


async def test_a_deep_link_is_refused_once_its_member_is_muted(
    bot: BotProcess, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(GROUP, "Family", members={bob.user_id: "member"})
    await link(bob)
    tg.block_bot(bob.user_id, notify=False)  # so the group's /pick answers with a deep link
    payload = deep_link_payload(await bob.reply_to(f"/pick@{BOT}", chat_id=GROUP))
    tg.restrict_member(GROUP, bob.user_id, **TEXT_ONLY)  # muted before opening it
    sessions = len(google.sessions)
    answer = await bob.reply_to(f"/start {payload}")
    assert "may not post photos" in (answer.text or "")
    assert len(google.sessions) == sessions and not [m for m in tg.messages(GROUP) if "choosing" in (m.text or "")]


async def test_forwarded_picks_of_a_member_muted_meanwhile_arrive_privately(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(GROUP, "Family", members={alice.user_id: "member"})
    photo = google.add_photo(alice.email)
    await link(alice)
    assert "go to Family" in await choose(alice, tg, GROUP, 1)
    _, session = await start_pick(alice)
    tg.restrict_member(GROUP, alice.user_id, **TEXT_ONLY)  # muted between the pick and its delivery
    google.pick(session.id, [photo])
    await tg.wait_for_message(alice.user_id, lambda m: "can no longer post" in (m.text or ""))
    assert (await wait_summary(tg, alice.user_id)).text == "✅ Delivered 1 item."
    assert len(media(tg, alice.user_id)) == 1 and media(tg, GROUP) == []


async def test_every_post_into_a_group_mentions_who_shared_it(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    tg.add_group(GROUP, "Family", members={alice.user_id: "member", bob.user_id: "member"})
    await link(alice)
    assert "go to Family" in await choose(alice, tg, GROUP, 1)  # Alice forwards her private picks there
    items = [google.add_photo(alice.email) for _ in range(3)]
    _, session = await start_pick(alice)
    google.pick(session.id, items)
    await wait_summary(tg, alice.user_id)
    forwarded = media(tg, GROUP)
    assert len(forwarded) == 3 and shared_by(forwarded[0], alice) and not any(m.caption for m in forwarded[1:])
    photo = google.add_photo(bob.email)
    await link(bob)
    _, session = await group_pick(bob, GROUP)  # and Bob's pick from the group itself
    google.pick(session.id, [photo])
    await wait_summary(tg, GROUP)
    assert shared_by(media(tg, GROUP)[3], bob)


# --- point 7: buttons in public groups --------------------------------------------------------------------


async def test_strangers_and_muted_members_pressing_pick_photos_post_nothing(
    bot: BotProcess, alice: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    group = public_group(tg, alice)
    summary = await group_button(tg, google, alice, group)
    posted = message_ids(tg, group)
    for number, name in enumerate(HOSTILE_NAMES):
        stranger = tg.add_user(500 + number, name)
        answer = await press(tg, Person(tg, google, stranger.id, name, ""), group, summary)
        assert answer.get("show_alert") and answer.get("text") == texts.FORWARD_USER_NOT_MEMBER, (name, answer)
    tg.restrict_member(group, 600, **TEXT_ONLY)
    muted = Person(tg, google, 600, "User 600", "")
    assert (await press(tg, muted, group, summary)).get("text") == texts.USER_CANNOT_POST_MEDIA
    assert [m.text for m in new_messages(tg, group, posted)] == []


async def test_pressing_pick_photos_again_and_again_is_limited_per_user(
    bot: BotProcess, alice: Person, bob: Person, tg: TelegramEmulator, google: GoogleEmulator
) -> None:
    group = public_group(tg, alice, bob)
    summary = await group_button(tg, google, alice, group)
    posted = message_ids(tg, group)
    answers = [await press(tg, bob, group, summary) for _ in range(8)]  # Bob is a member, not linked
    refused = [a for a in answers if a.get("text") == texts.GROUP_BUTTON_TOO_OFTEN]
    assert len(refused) == 5 and all(a.get("show_alert") for a in refused)
    await tg.wait_for(lambda: len(new_messages(tg, group, posted)) >= 3)
    replies = [m.text or "" for m in new_messages(tg, group, posted)]
    assert len(replies) == 3 and all(r.startswith("Bob, link your Google account") for r in replies), replies
    answer = await press(tg, alice, group, summary)  # the limit is Bob's alone
    assert "text" not in answer
    await tg.wait_for_message(group, lambda m: "Alice is choosing photos" in (m.text or ""))
