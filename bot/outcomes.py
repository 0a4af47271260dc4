"""What services say, as codes: sentences are rendered from these at the edge (handlers, the pick's
messages, web pages) by `bot/texts.py`, in the reader's language.

The convention for every service result: a service returns its data when it did what was asked, and
raises `Refused(code, **params)` when it would not or could not. A step that may end in several ways the
caller must tell apart (the OAuth callback, a group's /pick) returns a frozen dataclass whose `code` says
which. Parameters are plain data (numbers, names, titles); the renderer escapes them.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Everything a service can tell a person, without the words."""

    # Linking
    NOT_LINKED = "not_linked"
    LINK_BROKEN = "link_broken"
    # Google
    GOOGLE_DOWN = "google_down"
    GOOGLE_NO_PHOTOS = "google_no_photos"
    GOOGLE_TOO_MANY_SESSIONS = "google_too_many_sessions"
    BOT_MISCONFIGURED = "bot_misconfigured"  # Google refuses the bot's own client or project: the operator's to fix
    # Starting a pick
    TOO_MANY_ACTIVE = "too_many_active"  # count
    TOO_MANY_PICKS = "too_many_picks"  # count
    PROMPT_UNDELIVERABLE = "prompt_undeliverable"  # the picker's private chat refuses our messages
    # A pick's buttons and /cancel
    SESSION_OVER = "session_over"
    SESSION_NOT_YOURS = "session_not_yours"
    NOTHING_TO_CANCEL = "nothing_to_cancel"
    CANCEL_TOO_LATE = "cancel_too_late"
    # How a waiting pick ended (the prompt turns into this)
    PICK_CANCELLED = "pick_cancelled"
    PICK_REPLACED = "pick_replaced"
    PICK_EXPIRED = "pick_expired"
    PICK_CHAT_GONE = "pick_chat_gone"  # title
    PICK_PICKED = "pick_picked"
    # Delivery notices
    PICK_TOO_BIG = "pick_too_big"  # count, limit
    DELIVERY_LINK_BROKEN = "delivery_link_broken"
    TARGET_LOST = "target_lost"
    FORWARD_GONE = "forward_gone"  # title
    UNEXPECTED = "unexpected"
    # Group picks and their deep links
    CLAIM_NOT_YOURS = "claim_not_yours"
    CLAIM_EXPIRED = "claim_expired"
    CLAIM_NOT_IN_GROUP = "claim_not_in_group"
    FORWARD_HERE_EXPIRED = "forward_here_expired"
    # Forwarding destinations (also the rights problems of bot/chat_rights.py)
    CHAT_GONE = "chat_gone"
    BOT_CANNOT_POST = "bot_cannot_post"
    USER_NOT_MEMBER = "user_not_member"
    USER_NOT_ADMIN = "user_not_admin"
    USER_CANNOT_POST_MEDIA = "user_cannot_post_media"  # muted, or the chat's default permissions forbid media
    # A group's "Pick photos" button pressed too often by one person
    GROUP_BUTTON_TOO_OFTEN = "group_button_too_often"
    # A long pick's offer of archives
    ARCHIVE_OFFER_NOT_YOURS = "archive_offer_not_yours"
    ARCHIVE_OFFER_OVER = "archive_offer_over"  # answered, or timed out
    # "Send them anyway" (a pick's repeats)
    REPEATS_NOT_YOURS = "repeats_not_yours"
    REPEATS_OVER = "repeats_over"  # used already, or expired


class Refused(Exception):
    """A service would not or could not do what was asked: `code` says why, `params` fill in the details."""

    def __init__(self, code: Code, **params: object) -> None:
        super().__init__(code.value)  # the code, never a sentence: safe to log
        self.code = code
        self.params = params


class SkipReason(StrEnum):
    """Why an item was not delivered: stored with the item (its `reason` column) and shown in the summary."""

    TOO_BIG = "too_big"  # detail: the upload limit in bytes
    STILL_PROCESSING = "still_processing"
    UNAVAILABLE = "unavailable"
    GOOGLE_DOWN = "google_down"
    SESSION_EXPIRED = "session_expired"
    TELEGRAM_REFUSED = "telegram_refused"  # detail: Telegram's own error text
    IN_DOUBT = "in_doubt"
    UNCONFIRMED = "unconfirmed"
    LINK_BROKEN = "link_broken"
    CHAT_GONE = "chat_gone"
    VIDEO_FAILED = "video_failed"  # Google's processing of the video failed (final)
    BOT_MISCONFIGURED = "bot_misconfigured"  # Google refused the bot's own client or project
    NO_DISK_SPACE = "no_disk_space"  # the bot's temp folder's disk was below its free-space floor
    REPEAT = "repeat"  # the chat was sent it before (bot/delivery/repeats.py); counted, not listed, in the summary
