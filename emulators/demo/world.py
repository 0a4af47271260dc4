"""The demo's people, chats and Google Photos libraries, set up in the emulators at start."""

from __future__ import annotations

from dataclasses import dataclass

from emulators.google import GoogleEmulator
from emulators.telegram import TelegramEmulator

BOT_TOKEN = "7000000001:DEMO-not-a-real-token"
BOT_USERNAME = "PhotosDemoBot"
CLIENT_ID = "demo-client.apps.googleusercontent.com"
CLIENT_SECRET = "demo-client-secret"
GROUP_ID = -1001000000001
CHANNEL_ID = -1001000000002


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    email: str


MEMBERS = (Member(101, "Alice", "alice@example.com"), Member(102, "Bob", "bob@example.com"))

# Sample libraries: (width, height) of each photo (the emulator draws each size in its own colour) and the
# seconds of each video. Sizes are small so that a pick of everything takes seconds and a few MB.
_PHOTOS = ((4032, 3024), (3024, 4032), (4000, 3000), (3000, 3000), (4080, 3072), (2992, 2992), (3840, 2160))
_VIDEOS = (14.0, 47.0)
PHOTO_BYTES = 400_000
VIDEO_BYTES = 3_000_000


def populate(tg: TelegramEmulator, google: GoogleEmulator, language: str = "en") -> None:
    """Alice and Bob with their photos, the group they share (the bot a member) and Alice's channel (the
    bot an administrator that may post)."""
    for number, member in enumerate(MEMBERS):
        tg.add_user(member.user_id, member.name, member.name.lower(), language_code=language)
        for width, height in _PHOTOS[number:] if number else _PHOTOS:
            google.add_photo(member.email, width=width, height=height, size=PHOTO_BYTES)
        for seconds in _VIDEOS[number:]:
            google.add_video(member.email, width=1280, height=720, size=VIDEO_BYTES, duration=seconds)
    alice, bob = MEMBERS
    members = {alice.user_id: "creator", bob.user_id: "member"}
    tg.add_group(GROUP_ID, "Family", members=members, added_by=alice.user_id)
    tg.add_group(
        CHANNEL_ID,
        "Holidays",
        "channel",
        {alice.user_id: "creator"},
        bot_status="administrator",
        added_by=alice.user_id,
    )
    google.consent.email = alice.email
