"""Telegram Bot API emulator for end-to-end tests.

An aiohttp app that speaks the Bot API wire protocol the way python-telegram-bot uses it, plus a Python
control API (same event loop) to add users and chats, inject updates and inspect what the bot did.
Limits and error texts follow the project's Telegram notes (TELEGRAM_NOTES.md §1, §2, §4); wherever
Telegram's real behaviour is unknown the emulator's choice is marked with ``CHOICE:``.

Anything the bot sends that Telegram would not understand (unknown method, unknown or mistyped
parameter, missing required parameter, unknown fields in nested objects, unreferenced upload parts),
and anything Telegram would take but show badly (a video over 10 MB without duration or thumbnail, a
thumbnail it ignores) is recorded in :attr:`TelegramEmulator.violations` -- tests should end with
``assert_no_violations()``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import ipaddress
import itertools
import json
import math
import mimetypes
import os
import re
import socket
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp import BodyPartReader, web
from PIL import Image

JSON = dict[str, Any]
T = TypeVar("T")

# --------------------------------------------------------------------------------------------------
# Limits (TELEGRAM_NOTES.md §1; PTB telegram.constants)

TEXT_LIMIT: Final = 4096
CAPTION_LIMIT: Final = 1024
CALLBACK_DATA_LIMIT: Final = 64
ANSWER_TEXT_LIMIT: Final = 200
ALBUM_MAX: Final = 10
GENERAL_TOPIC_ID: Final = 1  # a forum's General topic (telegram-bot-api: GENERAL_FORUM_TOPIC_ID)
PHOTO_UPLOAD_LIMIT: Final = 10_000_000
UPLOAD_LIMIT: Final = 50_000_000
LOCAL_UPLOAD_LIMIT: Final = 2_000_000_000
# The local Bot API server refuses request bodies over 4000 MB with 413 (tdlib/telegram-bot-api#671, maintainer).
LOCAL_BODY_LIMIT: Final = 4_000_000_000
URL_PHOTO_LIMIT: Final = 5_000_000
URL_FILE_LIMIT: Final = 20_000_000
PHOTO_MAX_SIDE: Final = 2560  # largest PhotoSize Telegram keeps
# Telegram works out a video's duration, size and thumbnail itself only for small uploads ("about 10 MB",
# tdlib/telegram-bot-api#127 and #442, maintainer); above that, what the request omits stays unknown: the
# video shows 0:00 and a blank tile. CHOICE: exactly 10 MB.
VIDEO_ANALYSED_LIMIT: Final = 10_000_000
# Bot API, sendVideo.thumbnail: "JPEG format and less than 200 kB in size. A thumbnail's width and height
# should not exceed 320." CHOICE: kB read as 1000 bytes (the stricter reading).
THUMBNAIL_BYTES_UNDER: Final = 200_000
THUMBNAIL_MAX_SIDE: Final = 320
HEAD_BYTES: Final = 64 * 1024  # bytes of each upload kept for Pillow's header read
CHUNK: Final = 256 * 1024

# Error texts (TELEGRAM_NOTES.md §4 and the issue threads cited there).
NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD: Final = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_CONFLICT: Final = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
# A getUpdates that finds another one held open ends the older one with this 409 (telegram-bot-api/Client.cpp,
# Client::abort_long_poll, called by do_get_updates before it holds the new request): two instances polling one
# token keep cutting each other off.
POLL_CONFLICT: Final = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
CONFLICT_PAUSE = 3.0  # Client::fail_query_conflict: a 409 within 3 s of the last one is answered 3 s later
WRONG_FILE_ID: Final = "Bad Request: wrong file identifier/HTTP URL specified"
TOO_LARGE: Final = "Request Entity Too Large"  # 413 body of the Bot API server (tdlib/telegram-bot-api#720)
# getChatMember for another user when the bot is not an admin of a group that hides its members (the Bot API
# spec: "only guaranteed to work for other users if the bot is an administrator"; tdlib/td#589, maintainer;
# the wording is the one developers report and handle).
MEMBERS_HIDDEN: Final = "Bad Request: member list is inaccessible"
HTTPS_WEBHOOK: Final = "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
# CHOICE: the text for a >10 MB sendPhoto upload is undocumented. The notes list "file is too big"
# among the 400s; MTProto clients see PHOTO_SAVE_FILE_INVALID for the same case. Match on both.
PHOTO_TOO_BIG: Final = "Bad Request: file is too big"
# CHOICE: mixing documents with other media in an album; MTProto answers MEDIA_INVALID.
ALBUM_MIXED: Final = "Bad Request: MEDIA_INVALID"

_DEFAULT_DESCRIPTIONS: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

# --------------------------------------------------------------------------------------------------
# Supported methods: "name[!]:kind" per parameter, "!" = required. Generated once from the Bot API 10.1
# spec (api.json) for exactly the methods below; kinds: int, str, bool, chat (Integer or String),
# file (InputFile or String), array / object (JSON-serialized).

_METHOD_SPECS: Final = {
    "getMe": "",
    "getUpdates": "offset:int limit:int timeout:int allowed_updates:array",
    "deleteWebhook": "drop_pending_updates:bool",
    "setWebhook": "url!:str certificate:file ip_address:str max_connections:int allowed_updates:array "
    "drop_pending_updates:bool secret_token:str",
    "getWebhookInfo": "",
    "setMyCommands": "commands!:array scope:object language_code:str",
    "getMyCommands": "scope:object language_code:str",
    "deleteMyCommands": "scope:object language_code:str",
    "sendMessage": "business_connection_id:str chat_id!:chat message_thread_id:int direct_messages_topic_id:int "
    "text!:str parse_mode:str entities:array link_preview_options:object disable_notification:bool "
    "protect_content:bool allow_paid_broadcast:bool message_effect_id:str suggested_post_parameters:object "
    "reply_parameters:object reply_markup:object",
    "editMessageText": "business_connection_id:str chat_id:chat message_id:int inline_message_id:str text:str "
    "parse_mode:str entities:array link_preview_options:object rich_message:object reply_markup:object",
    "editMessageReplyMarkup": "business_connection_id:str chat_id:chat message_id:int inline_message_id:str "
    "reply_markup:object",
    "deleteMessage": "chat_id!:chat message_id!:int",
    "answerCallbackQuery": "callback_query_id!:str text:str show_alert:bool url:str cache_time:int",
    "sendPhoto": "business_connection_id:str chat_id!:chat message_thread_id:int direct_messages_topic_id:int "
    "photo!:file caption:str parse_mode:str caption_entities:array show_caption_above_media:bool "
    "has_spoiler:bool disable_notification:bool protect_content:bool allow_paid_broadcast:bool "
    "message_effect_id:str suggested_post_parameters:object reply_parameters:object reply_markup:object",
    "sendVideo": "business_connection_id:str chat_id!:chat message_thread_id:int direct_messages_topic_id:int "
    "video!:file duration:int width:int height:int thumbnail:file cover:file start_timestamp:int caption:str "
    "parse_mode:str caption_entities:array show_caption_above_media:bool has_spoiler:bool "
    "supports_streaming:bool disable_notification:bool protect_content:bool allow_paid_broadcast:bool "
    "message_effect_id:str suggested_post_parameters:object reply_parameters:object reply_markup:object",
    "sendDocument": "business_connection_id:str chat_id!:chat message_thread_id:int direct_messages_topic_id:int "
    "document!:file thumbnail:file caption:str parse_mode:str caption_entities:array "
    "disable_content_type_detection:bool disable_notification:bool protect_content:bool "
    "allow_paid_broadcast:bool message_effect_id:str suggested_post_parameters:object "
    "reply_parameters:object reply_markup:object",
    "sendMediaGroup": "business_connection_id:str chat_id!:chat message_thread_id:int "
    "direct_messages_topic_id:int media!:array disable_notification:bool protect_content:bool "
    "allow_paid_broadcast:bool message_effect_id:str reply_parameters:object",
    "copyMessage": "chat_id!:chat message_thread_id:int direct_messages_topic_id:int from_chat_id!:chat "
    "message_id!:int video_start_timestamp:int caption:str parse_mode:str caption_entities:array "
    "show_caption_above_media:bool disable_notification:bool protect_content:bool allow_paid_broadcast:bool "
    "message_effect_id:str suggested_post_parameters:object reply_parameters:object reply_markup:object",
    "copyMessages": "chat_id!:chat message_thread_id:int direct_messages_topic_id:int from_chat_id!:chat "
    "message_ids!:array disable_notification:bool protect_content:bool remove_caption:bool",
    "forwardMessage": "chat_id!:chat message_thread_id:int direct_messages_topic_id:int from_chat_id!:chat "
    "video_start_timestamp:int disable_notification:bool protect_content:bool message_effect_id:str "
    "suggested_post_parameters:object message_id!:int",
    "getChat": "chat_id!:chat",
    "getChatMember": "chat_id!:chat user_id!:int",
    "getChatAdministrators": "chat_id!:chat return_bots:bool",
    "leaveChat": "chat_id!:chat",
    "sendChatAction": "business_connection_id:str chat_id!:chat message_thread_id:int action!:str",
}

# Fields of the nested objects the emulator inspects (api.json, Bot API 10.1).
_TYPE_FIELDS: Final = {
    name: frozenset(spec.split())
    for name, spec in {
        "InlineKeyboardMarkup": "inline_keyboard",
        "InlineKeyboardButton": "text icon_custom_emoji_id style url callback_data web_app login_url "
        "switch_inline_query switch_inline_query_current_chat switch_inline_query_chosen_chat copy_text "
        "callback_game pay",
        "ReplyKeyboardMarkup": "keyboard is_persistent resize_keyboard one_time_keyboard input_field_placeholder "
        "selective",
        "KeyboardButton": "text icon_custom_emoji_id style request_users request_chat request_managed_bot "
        "request_contact request_location request_poll web_app",
        "KeyboardButtonRequestChat": "request_id chat_is_channel chat_is_forum chat_has_username chat_is_created "
        "user_administrator_rights bot_administrator_rights bot_is_member request_title request_username "
        "request_photo",
        "ReplyKeyboardRemove": "remove_keyboard selective",
        "ForceReply": "force_reply input_field_placeholder selective",
        "LinkPreviewOptions": "is_disabled url prefer_small_media prefer_large_media show_above_text",
        "ReplyParameters": "message_id chat_id allow_sending_without_reply quote quote_parse_mode quote_entities "
        "quote_position checklist_task_id poll_option_id",
        "MessageEntity": "type offset length url user language custom_emoji_id unix_time date_time_format",
        "BotCommand": "command description",
        "InputMediaPhoto": "type media caption parse_mode caption_entities show_caption_above_media has_spoiler",
        "InputMediaVideo": "type media thumbnail cover start_timestamp caption parse_mode caption_entities "
        "show_caption_above_media width height duration supports_streaming has_spoiler",
        "InputMediaDocument": "type media thumbnail caption parse_mode caption_entities disable_content_type_detection",
    }.items()
}


def _parse_spec(spec: str) -> dict[str, tuple[str, bool]]:
    params: dict[str, tuple[str, bool]] = {}
    for item in spec.split():
        name, kind = item.split(":")
        params[name.rstrip("!")] = (kind, name.endswith("!"))
    return params


METHODS: Final = {name: _parse_spec(spec) for name, spec in _METHOD_SPECS.items()}
_MISSING_TEXTS: Final = {
    "chat_id": "Bad Request: chat_id is empty",
    "text": "Bad Request: message text is empty",
    "message_id": "Bad Request: message identifier is not specified",
    "photo": "Bad Request: there is no photo in the request",
    "video": "Bad Request: there is no video in the request",
    "document": "Bad Request: there is no document in the request",
}
_INLINE_ACTIONS: Final = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
_KEYBOARD_REQUESTS: Final = frozenset(
    {
        "request_users",
        "request_chat",
        "request_managed_bot",
        "request_contact",
        "request_location",
        "request_poll",
        "web_app",
    }
)
_UPDATE_TYPES_OFF_BY_DEFAULT: Final = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_SCOPE_FIELDS: Final = {
    "default": {"type"},
    "all_private_chats": {"type"},
    "all_group_chats": {"type"},
    "all_chat_administrators": {"type"},
    "chat": {"type", "chat_id"},
    "chat_administrators": {"type", "chat_id"},
    "chat_member": {"type", "chat_id", "user_id"},
}
_ADMIN_RIGHTS: Final = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
    "can_manage_topics",
)
_RESTRICTED_RIGHTS: Final = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)
_MEMBER_STATUSES: Final = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})
_PRESENT_STATUSES: Final = frozenset({"creator", "administrator", "member", "restricted"})
_FILE_ID_PREFIX: Final = {"photo": "AgACAgIAAxkBAAI", "video": "BAACAgIAAxkBAAI", "document": "BQACAgIAAxkBAAI"}
_SOF_MARKERS: Final = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


# --------------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class FileInfo:
    """An uploaded file (multipart part, fetched URL or local file); content is hashed, not kept."""

    size: int
    sha256: str
    filename: str | None
    mime: str | None
    head: bytes = field(default=b"", repr=False, compare=False)
    jpeg_size: tuple[int, int] | None = field(default=None, repr=False, compare=False)


@dataclass
class MediaFile:
    """A file stored by the emulated server; any of its file_ids sends it again (no size limit)."""

    kind: str  # photo | video | document
    file_id: str
    file_unique_id: str
    size: int
    sha256: str
    filename: str | None
    mime_type: str | None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    photo_sizes: list[JSON] = field(default_factory=list)
    thumbnail: FileInfo | None = None  # a video's thumbnail as uploaded with it
    supports_streaming: bool = False


@dataclass
class Call:
    """One HTTP call the bot made: decoded parameters, uploaded files and the answer.

    Calls are recorded when their body has been read; ``status`` is 0 and ``response`` empty until
    answered (e.g. a long poll in progress). A file parameter uploaded as its own part (sendPhoto's
    ``photo``) appears in ``params`` as its :class:`FileInfo`.
    """

    method: str
    params: JSON
    files: dict[str, FileInfo]
    status: int = 0
    response: JSON = field(default_factory=dict)
    time: float = 0.0  # time.monotonic() when the request arrived
    body_size: int = 0  # bytes in the request body (Content-Length, else the uploaded files)


@dataclass
class MessageRecord:
    """A message in an emulated chat (current state; earlier states are in ``edits``)."""

    chat_id: int
    message_id: int
    kind: str  # text | photo | video | document | service
    date: int
    from_bot: bool
    sender_id: int
    text: str | None = None  # as displayed, i.e. after parse_mode
    caption: str | None = None
    source_text: str | None = None  # text or caption exactly as the bot sent it
    parse_mode: str | None = None
    entities: list[JSON] = field(default_factory=list)
    reply_markup: JSON | None = None
    link_preview_options: JSON | None = None
    media_group_id: str | None = None
    file: MediaFile | None = None
    has_spoiler: bool = False
    reply_to_message_id: int | None = None
    forward_origin: JSON | None = None
    service: JSON | None = None
    method: str | None = None
    edit_date: int | None = None
    edits: list[JSON] = field(default_factory=list)
    deleted: bool = False
    thread_id: int | None = None  # the forum topic it is in (None: not a forum, or its General topic)

    @property
    def content(self) -> str | None:
        """The text of a text message or the caption of a media message."""
        return self.text if self.kind == "text" else self.caption


@dataclass
class EmuUser:
    """A Telegram user; ``started`` once they opened the private chat with the bot."""

    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = "en"
    started: bool = False
    blocked: bool = False

    def as_dict(self) -> JSON:
        """The Bot API ``User`` object."""
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                user[key] = getattr(self, key)
        return user


@dataclass
class ForumTopic:
    """A topic of a forum supergroup. Its id, the ``message_thread_id`` of its messages, is the id of the
    service message that created it (Bot API spec: ForumTopic, forum_topic_created)."""

    thread_id: int
    name: str
    closed: bool = False
    deleted: bool = False


@dataclass
class EmuChat:
    """A chat; for private chats ``id`` is the user's id."""

    id: int
    type: str  # private | group | supergroup | channel
    title: str | None = None
    username: str | None = None
    members: dict[int, str] = field(default_factory=dict)
    bot_status: str = "member"
    bot_rights: dict[str, bool] = field(default_factory=dict)
    migrated_to: int | None = None
    hidden_members: bool = False  # a supergroup that hides its member list from non-admins
    # ChatFullInfo.permissions: "Default chat member permissions, for groups and supergroups" (Bot API spec);
    # they bind members and restricted members alike, never administrators or the owner.
    permissions: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(_RESTRICTED_RIGHTS, True))
    member_rights: dict[int, dict[str, bool]] = field(default_factory=dict)  # a restricted member's can_*
    is_forum: bool = False  # a supergroup with topics
    topics: dict[int, ForumTopic] = field(default_factory=dict)

    def may(self, status: str, rights: dict[str, bool], right: str) -> bool:
        """Whether a member with ``status`` (and, restricted, ``rights``) holds ``right`` here."""
        if status in ("creator", "administrator"):
            return True
        if status not in ("member", "restricted"):
            return False
        return self.permissions.get(right, False) and (status == "member" or rights.get(right, False))


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        """The JSON body Telegram sends for this error."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _error(status: int | None, description: str | None, retry_after: int | None, parameters: JSON | None) -> ApiError:
    """An injected error: 429 when ``retry_after`` is given (it always carries parameters.retry_after), else
    500 by default; the description defaults to Telegram's text for the status."""
    status = status if status is not None else (429 if retry_after is not None else 500)
    params = dict(parameters or {})
    if status == 429 and retry_after is None:
        retry_after = int(params.get("retry_after", 1))
    if retry_after is not None:
        params["retry_after"] = retry_after
    if description is None:
        description = (
            f"Too Many Requests: retry after {retry_after}"
            if status == 429
            else _DEFAULT_DESCRIPTIONS.get(status, "Internal Server Error")
        )
    return ApiError(status, description, params or None)


@dataclass(frozen=True)
class _Described:
    """A successful result that Telegram accompanies with a ``description`` (webhook methods)."""

    result: Any
    description: str


@dataclass(frozen=True)
class _Limit:
    """A token bucket's shape: holds up to ``capacity`` messages, refills ``rate`` messages per second."""

    capacity: float
    rate: float


@dataclass
class _Bucket:
    """A token bucket's state: ``tokens`` as of ``stamp`` (time.monotonic())."""

    tokens: float
    stamp: float


# --------------------------------------------------------------------------------------------------
# Streaming uploads


class _Sink:
    """Hashes a byte stream, keeps its first bytes and finds JPEG dimensions on the way.

    Pillow needs every JPEG marker segment up to SOS, and the Google emulator pads its JPEGs with COM
    segments before the scan, so JPEG sizes come from this streaming SOFn scan instead; other formats
    are read by Pillow from ``head``.
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.size = 0
        self.head = bytearray()
        self.jpeg_size: tuple[int, int] | None = None
        self._scanning = True
        self._soi = False
        self._skip = 0
        self._pending = bytearray()

    def feed(self, chunk: bytes) -> None:
        """Consume the next chunk."""
        self._sha.update(chunk)
        self.size += len(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        pos = 0
        while self._scanning and pos < len(chunk):
            if self._skip:
                step = min(self._skip, len(chunk) - pos)
                self._skip -= step
                pos += step
                continue
            take = min(9 - len(self._pending), len(chunk) - pos)
            self._pending += chunk[pos : pos + take]
            pos += take
            self._scan()

    def _scan(self) -> None:
        """Advance over the JPEG markers in ``_pending`` (needs at most 9 bytes at a time)."""
        p = self._pending
        while self._scanning:
            if not self._soi:
                if len(p) < 2:
                    return
                self._soi = True
                self._scanning = p[:2] == b"\xff\xd8"
                del p[:2]
                continue
            if len(p) < 2:
                return
            if p[0] != 0xFF or p[1] in (0xD9, 0xDA):
                self._scanning = False
                return
            marker = p[1]
            if marker == 0xFF:
                del p[0]
                continue
            if marker == 0x01 or 0xD0 <= marker <= 0xD7:
                del p[:2]
                continue
            if len(p) < 4 or (marker in _SOF_MARKERS and len(p) < 9):
                return
            if marker in _SOF_MARKERS:
                self.jpeg_size = (int.from_bytes(p[7:9], "big"), int.from_bytes(p[5:7], "big"))
                self._scanning = False
                return
            payload = int.from_bytes(p[2:4], "big") - 2
            if payload < 0:
                self._scanning = False
                return
            read = len(p) - 4
            if payload >= read:
                self._skip = payload - read
                p.clear()
            else:
                del p[: 4 + payload]

    def info(self, filename: str | None, mime: str | None) -> FileInfo:
        """Summary of everything fed so far."""
        return FileInfo(self.size, self._sha.hexdigest(), filename, mime, bytes(self.head), self.jpeg_size)


def _hash_file(path: Path) -> FileInfo:
    sink = _Sink()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sink.feed(chunk)
    return sink.info(path.name, mimetypes.guess_type(path.name)[0])


def _image_size(info: FileInfo) -> tuple[int, int]:
    if info.jpeg_size:
        return info.jpeg_size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(info.head)) as image:
                return image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise _bad("IMAGE_PROCESS_FAILED") from exc


# --------------------------------------------------------------------------------------------------
# Formatted text (approximations of Telegram's parsers; only the plain text and, for HTML, entities)

_HTML_ENTITY_TYPES: Final = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}
_HTML_ESCAPE_RE: Final = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_HTML_ATTR_RE: Final = re.compile(r"""\s*([A-Za-z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_USER_LINK_RE: Final = re.compile(r"tg://user\?id=([0-9]{1,15})")
_MDV2_RESERVED: Final = frozenset("#+-={}.!()>")
_COMMAND_RE: Final = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?=\s|$)")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _html_unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    named = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
    if code in named:
        return named[code]
    number = int(code[2:], 16) if code[1] in "xX" else int(code[1:])
    return chr(number) if 0 < number < 0x110000 else "\ufffd"


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Plain text and entities of an HTML-formatted text; raises Telegram's parse errors."""
    out: list[str] = []
    offset = 0  # UTF-16 offset in the plain text
    stack: list[tuple[str, int, JSON]] = []
    entities: list[JSON] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "&" and (match := _HTML_ESCAPE_RE.match(source, i)):
            char, i = _html_unescape(match), match.end()
            out.append(char)
            offset += _utf16_len(char)
            continue
        if char != "<":
            out.append(char)
            offset += _utf16_len(char)
            i += 1
            continue
        at = len(source[:i].encode())
        if source.startswith("</", i):
            end = source.find(">", i)
            if end < 0:
                raise _bad(f"can't parse entities: Unclosed end tag at byte offset {at}")
            name, i = source[i + 2 : end].strip().lower(), end + 1
            if not stack:
                raise _bad(f"can't parse entities: Unexpected end tag at byte offset {at}")
            tag, start, extra = stack.pop()
            if name != tag:
                raise _bad(
                    f'can\'t parse entities: Unmatched end tag at byte offset {at}, expected "</{tag}>", '
                    f'found "</{name}>"'
                )
            language = extra.pop("language", None) if tag == "code" else None
            if language and stack and stack[-1][0] == "pre":
                stack[-1][2]["language"] = language
            elif offset > start and extra.get("type"):
                entities.append({"offset": start, "length": offset - start, **extra})
            continue
        # Like tdlib: the tag name runs to the first space or ">"; the tag must be closed by ">".
        name_end = next((j for j in range(i + 1, len(source)) if source[j].isspace() or source[j] == ">"), -1)
        if name_end < 0:
            raise _bad(f"can't parse entities: Unclosed start tag at byte offset {at}")
        name = source[i + 1 : name_end].lower()
        if name not in _HTML_ENTITY_TYPES:
            raise _bad(f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {at}')
        end = source.find(">", name_end)
        if end < 0:
            raise _bad(f"can't parse entities: Unclosed start tag at byte offset {at}")
        attrs = {
            m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
            for m in _HTML_ATTR_RE.finditer(source[name_end:end])
        }
        i = end + 1
        stack.append((name, offset, _html_entity(name, attrs, at)))
    if stack:
        raise _bad(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_entity(tag: str, attrs: dict[str, str], at: int) -> JSON:
    """Entity fields for an opening tag (``type`` missing: the tag makes no entity)."""
    kind = _HTML_ENTITY_TYPES[tag]
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise _bad(f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte offset {at}')
    if tag == "a":
        mention = _USER_LINK_RE.fullmatch(attrs.get("href", ""))
        if mention:  # "tg://user?id=<user_id> can be used to mention a user by their identifier"
            return {"type": "text_mention", "user": {"id": int(mention.group(1))}}
        return {"type": kind, "url": attrs["href"]} if attrs.get("href") else {}
    if tag == "code" and attrs.get("class", "").startswith("language-"):
        return {"type": kind, "language": attrs["class"].removeprefix("language-")}
    if tag == "blockquote" and "expandable" in attrs:
        return {"type": "expandable_blockquote"}
    if tag == "tg-emoji":
        if not attrs.get("emoji-id"):
            raise _bad(f'can\'t parse entities: Tag "tg-emoji" must have attribute "emoji-id" at byte offset {at}')
        return {"type": kind, "custom_emoji_id": attrs["emoji-id"]}
    if tag == "tg-time":
        return {"type": kind, "unix_time": int(attrs.get("unix", "0") or 0)}
    return {"type": kind}


def parse_markdown_v2(source: str) -> str:
    """Plain text of a MarkdownV2 text (entities are not computed); raises on unescaped reserved chars."""
    out: list[str] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\\":
            out.append(source[i + 1 : i + 2])
            i += 2
        elif char == "`":
            fence = "```" if source.startswith("```", i) else "`"
            end = source.find(fence, i + len(fence))
            if end < 0:
                at = len(source[:i].encode())
                raise _bad(f"can't parse entities: Can't find end of Pre entity at byte offset {at}")
            body = source[i + len(fence) : end]
            if fence == "```" and "\n" in body:
                body = body.split("\n", 1)[1]
            out.append(re.sub(r"\\(.)", r"\1", body))
            i = end + len(fence)
        elif char == "]" and source.startswith("(", i + 1):
            end = source.find(")", i)
            i = end + 1 if end > 0 else len(source)
        elif char in "*_~|[" or (char == ">" and (i == 0 or source[i - 1] == "\n")):
            i += 1
        elif char in _MDV2_RESERVED:
            raise _bad(
                f"can't parse entities: Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            out.append(char)
            i += 1
    return "".join(out)


def parse_markdown(source: str) -> str:
    """Plain text of a legacy Markdown text (entities are not computed)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", source)
    return re.sub(r"\\([_*`\[])|[_*`]", lambda m: m.group(1) or "", text)


def _formatted(text: str, parse_mode: str | None) -> tuple[str, list[JSON]]:
    if parse_mode is None or parse_mode == "":
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text), []
    if mode == "markdown":
        return parse_markdown(text), []
    raise _bad(f"unsupported parse_mode {parse_mode!r}")


def _canon(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _decode_value(kind: str, value: object) -> object:
    """Decode one parameter (form values are strings, JSON bodies may carry typed values)."""
    if kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ValueError("must be a String")
    if kind in ("int", "chat"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return int(value)
            if kind == "chat":
                return value
        raise ValueError("must be an Integer")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise ValueError("must be a Boolean")
    if kind == "file":
        if isinstance(value, str):
            return value
        raise ValueError("must be a file_id, URL or attach:// reference")
    expected = list if kind == "array" else dict
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc})") from exc
    if not isinstance(value, expected):
        raise ValueError(f"must be a JSON {'array' if kind == 'array' else 'object'}")
    return value


def _webhook_queue(update: JSON) -> tuple[str, int]:
    """The queue an update is delivered in by webhook (tdlib/telegram-bot-api Client.cpp, webhook_queue_id): a
    chat's messages in the chat's queue, a person's button presses in theirs, the bot's own membership changes in
    one per chat apart from its messages, a member's in one per person; any other update alone."""
    if "callback_query" in update:
        return "callback_query", update["callback_query"]["from"]["id"]
    if "my_chat_member" in update:
        return "my_chat_member", update["my_chat_member"]["chat"]["id"]
    if "chat_member" in update:
        return "chat_member", update["chat_member"]["new_chat_member"]["user"]["id"]
    for kind in ("message", "edited_message", "channel_post", "edited_channel_post"):
        if kind in update:
            return "message", update[kind]["chat"]["id"]
    return "alone", update["update_id"]


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _attach_refs(value: object) -> set[str]:
    if isinstance(value, str):
        return {value.removeprefix("attach://")} if value.startswith("attach://") else set()
    if isinstance(value, dict):
        return set().union(*(_attach_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_attach_refs(v) for v in value))
    return set()


def _flood_limit(rate: float | None, period: float, burst: float) -> _Limit | None:
    if rate is None:
        return None
    if rate <= 0:
        raise ValueError("flood limits must be positive")
    if burst < 1:
        raise ValueError("flood bursts must be at least 1 message")
    return _Limit(float(burst), rate / period)


# --------------------------------------------------------------------------------------------------
# The emulator

_Handler = Callable[[JSON, dict[str, FileInfo]], Awaitable[Any]]


class TelegramEmulator:
    """An in-process Telegram Bot API server (cloud, or local Bot API server with ``local_mode``)."""

    def __init__(
        self,
        token: str = "123456:TEST",
        bot_username: str = "photos_test_bot",
        local_mode: bool = False,
        *,
        bot_first_name: str = "Photos Test Bot",
        privacy_mode: bool = True,
        files_dir: Path | None = None,
    ) -> None:
        self.token = token
        # Where uploaded bytes are kept, named by their sha256 (the demo page shows them); None: hashed only.
        self.files_dir = files_dir
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.bot_id = int(token.split(":", 1)[0])
        self.local_mode = local_mode
        self.privacy_mode = privacy_mode
        self.url = ""
        self.violations: list[str] = []
        self.calls: list[Call] = []
        self.hangups = 0  # requests whose client hung up before sending them whole (not in ``calls``)
        self.answered_callbacks: dict[str, JSON] = {}
        self.commands: dict[str, list[JSON]] = {}
        self.users: dict[int, EmuUser] = {}
        self.chats: dict[int, EmuChat] = {}
        self.files: dict[str, MediaFile] = {}  # every file_id (all photo sizes too) -> file
        self.pending_updates: list[JSON] = []  # not yet confirmed by getUpdates / delivered to the webhook
        self.webhook: JSON | None = None
        self._messages: dict[int, dict[int, MessageRecord]] = {}
        self._seen: dict[int, set[int]] = {}
        self._ids = itertools.count(1)
        self._next_update_id = 1000
        self._allowed_updates: list[str] | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._polls = 0
        self._active_polls = 0
        self._next_conflict = 0.0  # loop time before which a conflict's 409 is held back CONFLICT_PAUSE
        self._callback_queries: dict[str, JSON] = {}
        self._faults: dict[str, deque[tuple[ApiError, bool]]] = {}  # method -> (answer, carried out first)
        self._album_faults: deque[tuple[int, ApiError]] = deque()  # (1-based item, its error) per next album
        # method -> (which call, its release) per answer held until released
        self._held: dict[str, list[tuple[Callable[[JSON], bool], asyncio.Event]]] = {}
        self._drops: dict[str, deque[bool]] = {}  # method -> per call: processed before the connection drops
        self._latency: dict[str | None, float] = {}
        self._upload_bandwidth: float | None = None  # bytes/s through the bot's shared uplink (None: unlimited)
        self._uplink_free_at = 0.0  # time.monotonic() when the uplink has sent everything queued so far
        self._limits: dict[str, _Limit | None] = {}
        self._buckets: dict[int | None, _Bucket] = {}  # chat id (None: overall) -> state
        # Edits: about 20 a minute per group (grammY's docs citing a Telegram developer; developers report
        # editMessageText 429s with long retry_after). CHOICE: a token bucket holding one minute's worth;
        # private chats have no known edit limit, so none by default. Refused edits spend nothing.
        self._edit_limits: dict[str, _Limit | None] = {"group": _Limit(20.0, 20.0 / 60.0), "private": None}
        self._edit_buckets: dict[int, _Bucket] = {}
        # Older Bot API servers answered a flood inside an album with a 400 naming the item (notes §2).
        self.legacy_album_flood = False
        self._body_limit: int | None = None  # set_body_limit(); else the server's own (see body_limit)
        self._waiters: list[asyncio.Future[None]] = []
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._handlers: dict[str, _Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendPhoto": self._send_photo,
            "sendVideo": self._send_video,
            "sendDocument": self._send_document,
            "sendMediaGroup": self._send_media_group,
            "copyMessage": self._copy_message,
            "copyMessages": self._copy_messages,
            "forwardMessage": self._forward_message,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "leaveChat": self._leave_chat,
            "sendChatAction": self._send_chat_action,
        }
        self._method_names = {name.lower(): name for name in METHODS}

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Serve on 127.0.0.1 at a free port; sets :attr:`url`."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        listener = socket.socket()
        # A paced upload (set_upload_bandwidth) is read slowly, and on loopback the kernel would grow the receive
        # buffer to tens of MB (net.ipv4.tcp_rmem), acknowledging megabytes the emulated uplink has not carried
        # yet from inside the emulator. ASSUMPTION (nothing documents Telegram's receive window): a real server
        # takes bytes as they come, so those wait unacknowledged in the bot's send queue, where its upload clock
        # looks (bot/upload_socket.py); a small buffer keeps them there. If the real window runs further ahead,
        # the bot thinks its uplink faster than it is and starts uploads less early: the safe side.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        listener.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, listener).start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession()
        self._webhook_task = asyncio.create_task(self._webhook_loop())

    async def stop(self) -> None:
        """Answer pending long polls, stop webhook delivery and the server."""
        self._closing = True
        self._notify()
        if self._webhook_task:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    # ---------------------------------------------------------------- control API: world

    def add_user(
        self,
        user_id: int,
        first_name: str,
        username: str | None = None,
        *,
        last_name: str | None = None,
        language_code: str | None = "en",
    ) -> EmuUser:
        """Register a user; their private chat opens when they first message the bot (:meth:`send_text`)."""
        user = EmuUser(user_id, first_name, username, last_name, language_code)
        self.users[user_id] = user
        self.chats[user_id] = EmuChat(user_id, "private", username=username)
        return user

    def add_group(
        self,
        chat_id: int,
        title: str,
        type: str = "supergroup",
        members: dict[int, str] | None = None,
        *,
        username: str | None = None,
        bot_status: str = "member",
        added_by: int | None = None,
        hidden_members: bool = False,
        forum: bool = False,
        **bot_rights: bool,
    ) -> EmuChat:
        """Create a group/supergroup/channel with the bot in it (``added_by``: also emit my_chat_member).

        ``forum``: a supergroup with topics (see ``create_topic``); messages without a topic are in its General
        topic.

        ``hidden_members``: a supergroup that hides its member list; unless the bot is an administrator,
        getChatMember then fails for everyone but the bot itself.
        """
        if type not in ("group", "supergroup", "channel"):
            raise ValueError(f"unsupported chat type {type!r}")
        if (hidden_members or forum) and type != "supergroup":
            raise ValueError("only supergroups can hide their members or have topics")
        if type != "supergroup" and "restricted" in (members or {}).values():
            raise ValueError("only supergroups have restricted members (ChatMemberRestricted: Supergroups only)")
        for user_id, status in (members or {}).items():
            if status not in _MEMBER_STATUSES:
                raise ValueError(f"unknown member status {status!r}")
            self.users.setdefault(user_id, EmuUser(user_id, f"User {user_id}"))
        chat = EmuChat(
            chat_id, type, title, username, dict(members or {}), "left", hidden_members=hidden_members, is_forum=forum
        )
        self.chats[chat_id] = chat
        if forum:  # message 1 made the supergroup: the General topic's id, never another topic's
            creator = next(iter(chat.members), self.bot_id)
            self._new_message(
                chat, "service", from_bot=False, sender_id=creator, service={"supergroup_chat_created": True}
            )
        self.set_bot_status(chat_id, bot_status, by_user_id=added_by, **bot_rights)
        return chat

    def create_topic(self, chat_id: int, name: str, *, by_user_id: int | None = None) -> int:
        """A member creates a topic in a forum; returns its ``message_thread_id``. The ``forum_topic_created``
        service message reaches the bot like any message (ASSUMPTION: even with privacy mode on, as other
        service messages do; the bot ignores it)."""
        chat = self.chats[chat_id]
        if not chat.is_forum:
            raise ValueError(f"chat {chat_id} is not a forum")
        creator = by_user_id if by_user_id is not None else next(iter(chat.members), self.bot_id)
        rec = self._new_message(
            chat,
            "service",
            from_bot=False,
            sender_id=creator,
            service={"forum_topic_created": {"name": name, "icon_color": 7322096}},
        )
        rec.thread_id = rec.message_id
        chat.topics[rec.message_id] = ForumTopic(rec.message_id, name)
        if chat.bot_status in _PRESENT_STATUSES:
            self._enqueue({"message": self._message_dict(rec)})
        return rec.message_id

    def close_topic(self, chat_id: int, thread_id: int, *, closed: bool = True) -> None:
        """An admin closes (or reopens) a topic: only admins who may manage topics can post there then."""
        self.chats[chat_id].topics[thread_id].closed = closed

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """An admin deletes a topic and every message in it."""
        self.chats[chat_id].topics[thread_id].deleted = True
        for rec in self._messages.get(chat_id, {}).values():
            if rec.thread_id == thread_id:
                rec.deleted = True

    def set_bot_status(self, chat_id: int, status: str, *, by_user_id: int | None = None, **rights: bool) -> None:
        """Change the bot's membership (administrator rights default to True, restricted ones to False).

        With ``by_user_id`` the change is announced to the bot as a ``my_chat_member`` update.
        """
        if status not in _MEMBER_STATUSES - {"creator"}:
            raise ValueError(f"unsupported bot status {status!r}")
        chat = self.chats[chat_id]
        old = self._member_dict(self._bot_user(), chat.bot_status, chat.bot_rights)
        defaults = dict.fromkeys(_ADMIN_RIGHTS, True) if status == "administrator" else {}
        if status == "restricted":
            defaults = dict.fromkeys(_RESTRICTED_RIGHTS, False)
        chat.bot_status, chat.bot_rights = status, defaults | rights
        if by_user_id is not None:
            self._enqueue_my_chat_member(chat, self.users[by_user_id].as_dict(), old)

    def restrict_member(self, chat_id: int, user_id: int, **rights: bool) -> None:
        """restrictChatMember: the user becomes a restricted member holding only the ``can_*`` rights given."""
        chat = self.chats[chat_id]
        if chat.type != "supergroup":
            raise ValueError("only supergroups have restricted members (ChatMemberRestricted: Supergroups only)")
        unknown = set(rights) - set(_RESTRICTED_RIGHTS)
        if unknown:
            raise ValueError(f"unknown rights {sorted(unknown)}")
        self.users.setdefault(user_id, EmuUser(user_id, f"User {user_id}"))
        chat.members[user_id] = "restricted"
        chat.member_rights[user_id] = dict.fromkeys(_RESTRICTED_RIGHTS, False) | rights

    def set_chat_permissions(self, chat_id: int, **permissions: bool) -> None:
        """setChatPermissions: the default rights of every non-administrator (unnamed ones become False)."""
        chat = self.chats[chat_id]
        if chat.type not in ("group", "supergroup"):
            raise ValueError("only groups and supergroups have default permissions")
        unknown = set(permissions) - set(_RESTRICTED_RIGHTS)
        if unknown:
            raise ValueError(f"unknown permissions {sorted(unknown)}")
        chat.permissions = dict.fromkeys(_RESTRICTED_RIGHTS, False) | permissions

    def block_bot(self, user_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot (``notify``: my_chat_member update member → kicked)."""
        self._set_blocked(user_id, True, notify)

    def unblock_bot(self, user_id: int, *, notify: bool = True) -> None:
        """The user unblocks the bot (``notify``: my_chat_member update kicked → member)."""
        self._set_blocked(user_id, False, notify)

    def migrate_group(self, chat_id: int, new_chat_id: int) -> EmuChat:
        """Upgrade a basic group to a supergroup (service messages in both chats, old id answers 400)."""
        old = self.chats[chat_id]
        if old.type != "group":
            raise ValueError("only basic groups can be migrated")
        new = EmuChat(
            new_chat_id, "supergroup", old.title, None, dict(old.members), old.bot_status, dict(old.bot_rights)
        )
        new.permissions = dict(old.permissions)
        self.chats[new_chat_id] = new
        actor = next(
            (u for u, s in old.members.items() if s in ("creator", "administrator")),
            next(iter(old.members), self.bot_id),
        )
        for chat, service in ((old, {"migrate_to_chat_id": new_chat_id}), (new, {"migrate_from_chat_id": chat_id})):
            rec = self._new_message(chat, "service", from_bot=False, sender_id=actor, service=service)
            self._enqueue({"message": self._message_dict(rec)})
        old.migrated_to = new_chat_id
        return new

    # ---------------------------------------------------------------- control API: updates

    def send_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        *,
        reply_to_message_id: int | None = None,
        thread_id: int | None = None,
    ) -> JSON:
        """The user writes ``text`` (private chat by default); returns the Message and enqueues its update.

        ``thread_id``: in that topic of a forum (its messages carry ``message_thread_id`` and
        ``is_topic_message``); None writes in the General topic.

        A leading ``/command`` (or ``/command@bot``) gets a bot_command entity. In groups with privacy mode
        on, the update is only delivered for commands, replies to the bot, mentions, or when the bot is admin.
        Writing in the private chat opens it, and unblocks the bot if it was blocked.
        """
        user = self.users[user_id]
        chat = self.chats[user_id if chat_id is None else chat_id]
        if chat.type == "private":
            if chat.id != user_id:
                raise ValueError("users can only write in their own private chat with the bot")
            if user.blocked:
                self.unblock_bot(user_id)
            user.started = True
        elif chat.type == "channel" or chat.members.get(user_id) not in _PRESENT_STATUSES or chat.migrated_to:
            raise ValueError(f"user {user_id} can't write in chat {chat.id}")
        elif not chat.may(chat.members[user_id], chat.member_rights.get(user_id, {}), "can_send_messages"):
            raise ValueError(f"user {user_id} may not send messages in chat {chat.id}")
        if thread_id is not None:
            topic = chat.topics.get(thread_id)
            if topic is None or topic.deleted:
                raise ValueError(f"chat {chat.id} has no topic {thread_id}")
            if topic.closed and chat.members.get(user_id) not in ("creator", "administrator"):
                raise ValueError(f"topic {thread_id} is closed")
        entities: list[JSON] = []
        command = _COMMAND_RE.match(text)
        if command:
            entities.append({"type": "bot_command", "offset": 0, "length": _utf16_len(command.group(0))})
        rec = self._new_message(
            chat,
            "text",
            from_bot=False,
            sender_id=user_id,
            text=text,
            source_text=text,
            entities=entities,
            reply_to_message_id=reply_to_message_id,
            thread_id=thread_id,
        )
        message = self._message_dict(rec)
        if self._bot_sees(chat, rec, command):
            self._enqueue({"message": message})
        return message

    def press_button(self, user_id: int, chat_id: int, message_id: int, data: str, *, forged: bool = False) -> str:
        """The user presses the inline button carrying ``data``; returns the callback query id.

        ``forged``: send ``data`` although no such button exists (a modified client; Telegram passes
        any callback_data of up to 64 bytes through), to test that the bot refuses it.
        """
        rec = self._messages.get(chat_id, {}).get(message_id)
        if rec is None or rec.deleted or not rec.from_bot:
            raise ValueError(f"no bot message {message_id} in chat {chat_id}")
        rows = (rec.reply_markup or {}).get("inline_keyboard", [])
        if not forged and not any(b.get("callback_data") == data for row in rows for b in row):
            raise ValueError(f"message {message_id} has no inline button with callback_data {data!r}")
        chat = self.chats[chat_id]
        # Anyone may open a public chat (one with a username) and press its buttons without joining.
        public = chat.username is not None and chat.members.get(user_id) != "kicked"
        if chat_id != user_id and chat.members.get(user_id) not in _PRESENT_STATUSES and not public:
            raise ValueError(f"user {user_id} can't see chat {chat_id}")
        query_id = str(self.bot_id * 1_000_000 + next(self._ids))
        instance = int(hashlib.sha256(f"{self.bot_id}:{chat_id}".encode()).hexdigest()[:15], 16)
        query = {
            "id": query_id,
            "from": self.users[user_id].as_dict(),
            "message": self._message_dict(rec),
            "chat_instance": str(instance),
            "data": data,
        }
        self._callback_queries[query_id] = query
        self._enqueue({"callback_query": query})
        return query_id

    def share_chat(self, user_id: int, request_id: int, chat_id: int) -> JSON:
        """The user picks ``chat_id`` with a KeyboardButtonRequestChat button: a ``chat_shared`` service message."""
        if chat_id not in self.chats:
            raise ValueError(f"unknown chat {chat_id}")
        rec = self._new_message(
            self.chats[user_id],
            "service",
            from_bot=False,
            sender_id=user_id,
            service={"chat_shared": {"request_id": request_id, "chat_id": chat_id}},
        )
        message = self._message_dict(rec)
        self._enqueue({"message": message})
        return message

    def inject_update(self, update: JSON) -> JSON:
        """Enqueue a raw update (``update_id`` is assigned); returns it.

        Like Telegram, update types excluded by the current ``allowed_updates`` are dropped.
        """
        return self._enqueue({key: value for key, value in update.items() if key != "update_id"})

    # ---------------------------------------------------------------- control API: faults and limits

    def set_flood_limits(
        self,
        private_per_second: float | None = None,
        group_per_minute: float | None = None,
        *,
        overall_per_second: float | None = None,
        private_burst: int = 10,
        group_burst: int = 20,
    ) -> None:
        """Enable flood control: a token bucket per chat plus one for all chats (None disables a limit).

        - a private chat holds up to ``private_burst`` messages and refills ``private_per_second``/s;
        - a group, supergroup or channel holds ``group_burst`` and refills ``group_per_minute``/60 per s;
        - overall (all chats together) holds ``max(1, overall_per_second)`` and refills at that rate.

        Buckets start full; calling this again resets them. Only sends count (edits, deletes, answers
        don't); each album item (and each copied message of ``copyMessages``) counts as one message, and a
        send must find its tokens in every bucket that applies at once. A send that lacks tokens is
        answered 429 ``retry_after`` = ceil(seconds until enough tokens) and consumes nothing; an album short
        of tokens is refused whole, none of its items sent (see ``_send_media_group``; with
        ``legacy_album_flood`` the older 400 form, naming item #1).

        The bot's own pacer mirrors this model: ``bot/flood.py`` ``FloodControl`` keeps a bucket of
        capacity 10 (one album) refilling at TELEGRAM_PRIVATE_RATE/s per private chat, capacity
        max(10, per-minute) refilling per-minute/60 per s per group, and an overall bucket of
        ``overall_per_second``. With equal rates and the default bursts (group_per_minute=20) the pacer's
        buckets fit inside the emulator's, so a paced bot should never see a 429; to mirror other group
        rates exactly pass ``group_burst=max(10, group_per_minute)``.
        """
        # CHOICE: Telegram documents only "about 1 message/s per chat (short bursts tolerated, then 429)",
        # "≤ 20 messages/min per group" and "~30/s overall" (TELEGRAM_NOTES.md §2), not the algorithm.
        # A token bucket is the simplest model that tolerates bursts (a 10-item album into a private chat)
        # and then enforces the average rate. Burst sizes are guesses: 10 for private chats (one full
        # album, what bots do routinely), 20 for groups (the whole per-minute budget), and the per-second
        # rate itself overall. A refused send consumes nothing (Telegram does not document whether refused
        # requests count against the budget).
        self._limits = {
            "private": _flood_limit(private_per_second, 1.0, private_burst),
            "group": _flood_limit(group_per_minute, 60.0, group_burst),
            "overall": (
                _flood_limit(overall_per_second, 1.0, max(1.0, overall_per_second))
                if overall_per_second is not None
                else None
            ),
        }
        self._buckets.clear()

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        parameters: JSON | None = None,
        times: int = 1,
        processed: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error instead of processing them.

        ``status`` defaults to 429 when ``retry_after`` is given, else 500; a 429 always carries
        ``parameters.retry_after`` (default 1). ``description`` defaults to Telegram's text for the status.
        ``processed``: carry the call out first, then answer the error -- a 5xx that comes after the request
        was acted on (a multi-send passes failures >= 500 through after some messages were sent,
        telegram-bot-api Client.cpp; a front proxy's 502/504 can come after the server processed it).
        """
        if method not in METHODS:
            raise ValueError(f"unsupported method {method!r}")
        error = _error(status, description, retry_after, parameters)
        self._faults.setdefault(method, deque()).extend((error, processed) for _ in range(times))

    def hold_answer(self, method: str, matching: Callable[[JSON], bool] | None = None) -> asyncio.Event:
        """The next call of ``method`` (whose parameters are ``matching``) is carried out at once but answered
        only once the returned event is set: a slow answer (a loaded server, a slow network), its effect already
        in the chat."""
        if method not in METHODS:
            raise ValueError(f"unsupported method {method!r}")
        release = asyncio.Event()
        self._held.setdefault(method, []).append((matching or (lambda _: True), release))
        return release

    def fail_album_item(
        self,
        position: int,
        *,
        status: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next sendMediaGroup sends its items before ``position`` (1-based), then item ``position`` fails
        with this error (as :meth:`fail_next` builds it; status 400 by default). The request then fails the way
        the Bot API server fails it (see ``_album_failure``); the items already sent stay in the chat."""
        status = status if status is not None else (429 if retry_after is not None else 400)
        self._album_faults.append((position, _error(status, description, retry_after, None)))

    def set_body_limit(self, limit: int | None) -> None:
        """Refuse request bodies over ``limit`` bytes with 413 (None: back to the server's own, ``body_limit``)."""
        self._body_limit = limit

    @property
    def body_limit(self) -> int | None:
        """The largest request body accepted: set_body_limit's, else 4000 MB for a local server (#671).
        CHOICE: none for the cloud server, which refuses each file over 50 MB instead: whether its limit is per
        file or per request body is undocumented (see ``_process``)."""
        if self._body_limit is not None:
            return self._body_limit
        return LOCAL_BODY_LIMIT if self.local_mode else None

    def set_edit_limits(
        self, group_per_minute: float | None = 20.0, private_per_minute: float | None = None, *, burst: int = 20
    ) -> None:
        """Limit message edits per chat: a bucket of ``burst`` edits refilling ``group_per_minute``/60 per s in
        each group, supergroup or channel (``private_per_minute`` in private chats; None: unlimited). Over it,
        an edit is answered 429 with retry_after and changes nothing. Buckets start full; this resets them.
        By default groups allow 20 a minute (burst 20) and private chats are unlimited."""
        self._edit_limits = {
            "group": _flood_limit(group_per_minute, 60.0, burst),
            "private": _flood_limit(private_per_minute, 60.0, burst),
        }
        self._edit_buckets.clear()

    def drop_next(self, method: str, *, processed: bool = True, times: int = 1) -> None:
        """Close the connection of the next ``times`` calls of ``method`` without any answer.

        ``processed``: Telegram carried the request out first (the message exists, only the answer is
        lost), else it never did. The client cannot tell which: that is what a timeout looks like,
        without waiting for the client's read timeout. The call is recorded with ``status`` 0.
        """
        if method not in METHODS:
            raise ValueError(f"unsupported method {method!r}")
        self._drops.setdefault(method, deque()).extend([processed] * times)

    def set_latency(self, method: str | None, seconds: float) -> None:
        """Delay answers to ``method`` (None: every method without its own latency)."""
        self._latency[method] = seconds

    def set_upload_bandwidth(self, bytes_per_second: float | None) -> None:
        """Cap uploaded file bytes at ``bytes_per_second`` for all requests together (None: no cap).

        Models the bot's uplink: concurrent uploads share it (chunks are served first come, first
        served), so N parallel uploads take as long as one upload of their total size. Only file parts of
        multipart bodies are paced; the per-request latency (:meth:`set_latency`) comes on top.
        """
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError("upload bandwidth must be positive")
        self._upload_bandwidth = bytes_per_second
        self._uplink_free_at = 0.0

    async def _pace_upload(self, size: int) -> None:
        """Wait until ``size`` more bytes have crossed the shared uplink."""
        bandwidth = self._upload_bandwidth
        if not bandwidth:
            return
        now = time.monotonic()
        # A token bucket holding 50 ms of bandwidth: time spent reading a chunk is not lost to the pace.
        self._uplink_free_at = max(now - 0.05, self._uplink_free_at) + size / bandwidth
        await asyncio.sleep(max(0.0, self._uplink_free_at - now))

    # ---------------------------------------------------------------- control API: inspection

    @property
    def polling(self) -> bool:
        """True while a getUpdates request is being held open."""
        return self._active_polls > 0

    def calls_of(self, method: str) -> list[Call]:
        """Recorded calls of one method, in order."""
        return [call for call in self.calls if call.method == method]

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[MessageRecord]:
        """The bot's messages in a chat, in order, in their current state."""
        return [
            rec
            for rec in self._messages.get(chat_id, {}).values()
            if rec.from_bot and (include_deleted or not rec.deleted)
        ]

    def history(self, chat_id: int) -> list[MessageRecord]:
        """Every message in a chat, the users' too and deleted ones, in order (what a client shows)."""
        return list(self._messages.get(chat_id, {}).values())

    def stored_file(self, sha256: str) -> Path | None:
        """The kept bytes of an upload (with ``files_dir``), or None."""
        path = self.files_dir / sha256 if self.files_dir and re.fullmatch(r"[0-9a-f]{64}", sha256) else None
        return path if path is not None and path.is_file() else None

    def message(self, chat_id: int, message_id: int) -> MessageRecord:
        """Any message (bot's or user's, deleted or not) by id."""
        return self._messages[chat_id][message_id]

    def assert_no_violations(self) -> None:
        """Fail if the bot did anything the real Bot API would not understand."""
        if self.violations:
            raise AssertionError("Telegram protocol violations:\n  " + "\n  ".join(self.violations))

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 10.0,  # noqa: ASYNC109 - the control API takes explicit timeouts
        *,
        what: str = "",
    ) -> T:
        """Wait until ``predicate()`` returns something other than None/False (re-checked on every event)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result is not None and result is not False:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n  ".join(self._describe(call) for call in self.calls[-15:]) or "(none)"
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {what or predicate!r}\nrecent calls:\n  {recent}"
                    + (f"\nviolations: {self.violations}" if self.violations else "")
                )
            with contextlib.suppress(TimeoutError):
                await self._wait_change(remaining)

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[MessageRecord], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - the control API takes explicit timeouts
    ) -> MessageRecord:
        """The first bot message in the chat matching ``predicate`` that no earlier call returned."""
        seen = self._seen.setdefault(chat_id, set())

        def find() -> MessageRecord | None:
            return next(
                (
                    rec
                    for rec in self.messages(chat_id)
                    if rec.message_id not in seen and (predicate is None or predicate(rec))
                ),
                None,
            )

        rec = await self.wait_for(find, timeout, what=f"a new bot message in chat {chat_id}")
        seen.add(rec.message_id)
        return rec

    @staticmethod
    def scope_key(scope: JSON | None = None, language_code: str | None = None) -> str:
        """Key of :attr:`commands`: "default" or ``json.dumps(scope, sort_keys=True)``, plus ":<lang>" if given."""
        key = "default" if not scope or scope == {"type": "default"} else json.dumps(scope, sort_keys=True)
        return f"{key}:{language_code}" if language_code else key

    # ---------------------------------------------------------------- HTTP layer

    async def _handle_file(self, request: web.Request) -> web.Response:
        """File downloads always miss: contents are never kept."""
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = self._method_names.get(request.match_info["method"].lower(), request.match_info["method"])
        call = Call(method, {}, {}, time=time.monotonic())
        recorded = False
        try:
            raw, call.files = await self._read_body(request)
            call.body_size = request.content_length or sum(info.size for info in call.files.values())
            call.params, problem = (
                self._decode_params(method, raw, call.files) if method in METHODS else (dict(raw), None)
            )
            self.calls.append(call)
            recorded = True
            self._notify()
            drops = self._drops.get(method)
            if drops:
                return await self._drop(request, call, drops.popleft(), problem)
            result = await self._process(request.match_info["token"], call, problem)
            call.status = 200
            call.response = {"ok": True, "result": result}
            if isinstance(result, _Described):
                call.response = {"ok": True, "result": result.result, "description": result.description}
        except ApiError as exc:
            call.status, call.response = exc.status, exc.payload()
        except ConnectionError:  # the client hung up before its request was whole (a killed bot): not received
            self.hangups += 1
            self._notify()
            return web.Response(status=400)  # nobody is listening
        except Exception as exc:  # an emulator bug: surface it in the test instead of a bare aiohttp 500
            self._violate(method, f"emulator error {exc!r}")
            call.status, call.response = 500, ApiError(500, "Internal Server Error").payload()
        if not recorded:  # the body could not be read
            self.calls.append(call)
        self._notify()
        return web.json_response(call.response, status=call.status)

    async def _drop(self, request: web.Request, call: Call, processed: bool, problem: ApiError | None) -> web.Response:
        """Carry the call out (or not), then close the connection without answering."""
        if processed:
            with contextlib.suppress(ApiError):
                await self._process(request.match_info["token"], call, problem)
        if request.transport is not None:
            request.transport.abort()
        self._notify()
        return web.Response(status=500)  # never reaches the client: the connection is gone

    async def _read_body(self, request: web.Request) -> tuple[JSON, dict[str, FileInfo]]:
        raw: JSON = dict(request.query)
        files: dict[str, FileInfo] = {}
        if not request.body_exists:
            return raw, files
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise _bad("nested multipart bodies are not supported")
                name = part.name or ""
                if part.filename is None:
                    raw[name] = await part.text()
                    continue
                sink = _Sink()
                # Small synchronous writes: only the demo keeps files, and its uploads are a few hundred KB.
                with contextlib.ExitStack() as stack:
                    kept = (
                        stack.enter_context(tempfile.NamedTemporaryFile(dir=self.files_dir, delete=False))
                        if self.files_dir
                        else None
                    )
                    while chunk := await part.read_chunk(CHUNK):
                        sink.feed(chunk)
                        if kept is not None:
                            kept.write(chunk)
                        await self._pace_upload(len(chunk))
                files[name] = sink.info(part.filename, part.headers.get(aiohttp.hdrs.CONTENT_TYPE))
                if kept is not None and self.files_dir is not None:
                    os.replace(kept.name, self.files_dir / files[name].sha256)
        elif request.content_type == "application/json":
            try:
                data = await request.json()
            except json.JSONDecodeError as exc:
                raise _bad("can't parse JSON object") from exc
            if not isinstance(data, dict):
                raise _bad("can't parse JSON object")
            raw.update(data)
        else:
            raw.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        return raw, files

    def _decode_params(self, method: str, raw: JSON, files: dict[str, FileInfo]) -> tuple[JSON, ApiError | None]:
        """Type-check parameters against the method table; violations are recorded, 400s returned."""
        spec = METHODS[method]
        params: JSON = {}
        problem: ApiError | None = None
        for name, value in raw.items():
            if name not in spec:
                self._violate(method, f"unknown parameter {name!r}")
                params[name] = value
                continue
            kind = spec[name][0]
            try:
                params[name] = _decode_value(kind, value)
            except ValueError as exc:
                self._violate(method, f"parameter {name!r} {exc}: {value!r}")
                params[name] = value
                if kind in ("int", "array", "object"):
                    problem = problem or _bad(f'can\'t parse parameter "{name}"')
        for name, (kind, required) in spec.items():
            if kind == "file" and name not in params and name in files:
                params[name] = files[name]
            if required and name not in params:
                self._violate(method, f"missing required parameter {name!r}")
                missing = _MISSING_TEXTS.get(name, f'Bad Request: parameter "{name}" is required')
                problem = problem or ApiError(400, missing)
        referenced = _attach_refs(params) | {name for name, value in params.items() if isinstance(value, FileInfo)}
        for name in files.keys() - referenced:
            self._violate(method, f"uploaded part {name!r} is not referenced by any parameter")
        return params, problem

    async def _process(self, token: str, call: Call, problem: ApiError | None) -> Any:
        method, params, files = call.method, call.params, call.files
        if token != self.token:
            self._violate(method, "request with a wrong bot token")
            raise ApiError(401, "Unauthorized")
        if method not in METHODS:
            self._violate(method, "unknown method")
            raise ApiError(404, "Not Found")
        delay = self._latency.get(method, self._latency.get(None, 0.0))
        if delay:
            await asyncio.sleep(delay)
        # CHOICE: the cloud refuses each uploaded file over its documented 50 MB (whether it limits the request
        # body instead is undocumented); a local server refuses bodies over body_limit (#671), each with 413.
        limit = LOCAL_UPLOAD_LIMIT if self.local_mode else UPLOAD_LIMIT
        body_limit = self.body_limit
        too_big = body_limit is not None and call.body_size > body_limit
        if too_big or any(info.size > limit for info in files.values()):
            raise ApiError(413, TOO_LARGE)
        faults = self._faults.get(method)
        if faults:
            error, processed = faults.popleft()
            if processed:
                with contextlib.suppress(ApiError):
                    await self._carry_out(method, params, files, problem)
            raise error
        held = self._held.get(method, [])
        hold = next((hold for hold in held if hold[0](params)), None)
        if hold is not None:
            held.remove(hold)
            result = await self._carry_out(method, params, files, problem)
            await hold[1].wait()
            return result
        return await self._carry_out(method, params, files, problem)

    async def _carry_out(self, method: str, params: JSON, files: dict[str, FileInfo], problem: ApiError | None) -> Any:
        if problem:
            raise problem
        return await self._handlers[method](params, files)

    def _violate(self, method: str, detail: str) -> None:
        self.violations.append(f"{method}: {detail}")

    # ---------------------------------------------------------------- events

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _wait_change(self, seconds: float | None) -> None:
        """Sleep until the next event (call, update, webhook change) or ``seconds`` (TimeoutError)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, seconds)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _enqueue(self, update: JSON) -> JSON:
        update = {"update_id": self._next_update_id, **update}
        self._next_update_id += 1
        kind = next(key for key in update if key != "update_id")
        allowed = self._allowed_updates
        if (kind in allowed) if allowed else (kind not in _UPDATE_TYPES_OFF_BY_DEFAULT):
            self.pending_updates.append(update)
            self._notify()
        return update

    def _describe(self, call: Call) -> str:
        params = {k: (v if len(repr(v)) < 80 else repr(v)[:77] + "...") for k, v in call.params.items()}
        return f"{call.method} -> {call.status} {params}" + (f" files={list(call.files)}" if call.files else "")

    # ---------------------------------------------------------------- users, chats, members

    def _bot_user(self) -> JSON:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name, "username": self.bot_username}

    def _chat_dict(self, chat: EmuChat) -> JSON:
        if chat.type == "private":
            user = self.users[chat.id].as_dict()
            out = {"id": chat.id, "type": "private", "first_name": user["first_name"]}
            out.update({k: user[k] for k in ("last_name", "username") if k in user})
            return out
        out = {"id": chat.id, "type": chat.type, "title": chat.title}
        if chat.username:
            out["username"] = chat.username
        if chat.is_forum:
            out["is_forum"] = True
        return out

    def _member_dict(self, user: JSON, status: str, rights: dict[str, bool] | None = None) -> JSON:
        rights = rights or {}
        member: JSON = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update({"can_be_edited": False, "is_anonymous": False})
            member.update({right: rights.get(right, True) for right in _ADMIN_RIGHTS})
        elif status == "restricted":
            member.update({"is_member": True, "until_date": 0})
            member.update({right: rights.get(right, False) for right in _RESTRICTED_RIGHTS})
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _enqueue_my_chat_member(self, chat: EmuChat, actor: JSON, old: JSON) -> None:
        status = chat.bot_status
        if chat.type == "private":
            status = "kicked" if self.users[chat.id].blocked else "member"
        new = self._member_dict(self._bot_user(), status, chat.bot_rights)
        self._enqueue(
            {
                "my_chat_member": {
                    "chat": self._chat_dict(chat),
                    "from": actor,
                    "date": int(time.time()),
                    "old_chat_member": old,
                    "new_chat_member": new,
                }
            }
        )

    def _set_blocked(self, user_id: int, blocked: bool, notify: bool) -> None:
        user = self.users[user_id]
        if user.blocked == blocked:
            return
        old = self._member_dict(self._bot_user(), "kicked" if user.blocked else "member")
        user.blocked = blocked
        if notify and user.started:
            self._enqueue_my_chat_member(self.chats[user_id], user.as_dict(), old)

    def _bot_sees(self, chat: EmuChat, rec: MessageRecord, command: re.Match[str] | None) -> bool:
        if chat.type == "private":
            return True
        if chat.bot_status not in _PRESENT_STATUSES:
            return False
        if command:
            return command.group(2) is None or command.group(2).lower() == self.bot_username.lower()
        replied = self._messages[chat.id].get(rec.reply_to_message_id or 0)
        return (
            not self.privacy_mode
            or chat.bot_status == "administrator"
            or (replied is not None and replied.from_bot)
            or f"@{self.bot_username.lower()}" in (rec.text or "").lower()
        )

    def _resolve_chat(self, chat_id: object) -> EmuChat:
        chat: EmuChat | None = None
        if isinstance(chat_id, int):
            chat = self.chats.get(chat_id)
        elif isinstance(chat_id, str) and chat_id.startswith("@"):
            chat = next(
                (
                    c
                    for c in self.chats.values()
                    if c.type != "private" and c.username and c.username.lower() == chat_id[1:].lower()
                ),
                None,
            )
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _check_access(self, chat: EmuChat, send_kind: str | None = None) -> None:
        """Raise what Telegram answers when the bot can't act in (send ``send_kind`` to) the chat."""
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.type == "private":
            user = self.users[chat.id]
            if user.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not user.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            return
        where = f"{chat.type} chat"
        if chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {where}")
        if chat.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {where}")
        if send_kind is None:
            return
        if chat.type == "channel":
            if chat.bot_status != "administrator" or not chat.bot_rights.get("can_post_messages", False):
                raise _bad("need administrator rights in the channel chat")
        else:
            right = "can_send_messages" if send_kind == "text" else f"can_send_{send_kind}s"
            if not chat.may(chat.bot_status, chat.bot_rights, right):
                raise _bad(
                    "have no rights to send a message"
                    if send_kind == "text"
                    else f"not enough rights to send {send_kind}s to the chat"
                )

    def _topic_for_send(self, chat: EmuChat, p: JSON) -> int | None:
        """The forum topic a send names in ``message_thread_id``, checked as the Bot API server does
        (Client.cpp, check_message_topic and TdOnCheckForumTopicCallback): ignored outside forums and private
        chats; the General topic (1) and unknown or deleted topics are "message thread not found". A closed
        topic takes posts only from admins who may manage topics: others get the server's TOPIC_CLOSED
        (passed through as "Bad Request: TOPIC_CLOSED", as reported in tdesktop#30476)."""
        thread_id = p.get("message_thread_id")
        if not thread_id:
            return None
        if chat.type == "private":
            raise _bad("message thread not found")  # the bot's private chats have no topics here
        if not chat.is_forum:
            return None
        topic = chat.topics.get(thread_id)
        if thread_id == GENERAL_TOPIC_ID or topic is None or topic.deleted:
            raise _bad("message thread not found")
        manages = chat.bot_status == "creator" or (
            chat.bot_status == "administrator" and chat.bot_rights.get("can_manage_topics", False)
        )
        if topic.closed and not manages:
            raise _bad("TOPIC_CLOSED")
        return int(thread_id)

    def _chat_for_send(self, chat_id: object, kind: str) -> EmuChat:
        chat = self._resolve_chat(chat_id)
        self._check_access(chat, kind)
        return chat

    def _readable_chat(self, chat_id: object) -> EmuChat:
        """A chat the bot may read (getChat & co.): unopened private chats are unknown to it."""
        chat = self._resolve_chat(chat_id)
        if chat.type == "private":
            if not self.users[chat.id].started:
                raise _bad("chat not found")
            return chat
        self._check_access(chat)
        return chat

    # ---------------------------------------------------------------- messages

    def _new_message(
        self, chat: EmuChat, kind: str, *, from_bot: bool = True, sender_id: int | None = None, **fields: Any
    ) -> MessageRecord:
        messages = self._messages.setdefault(chat.id, {})
        rec = MessageRecord(
            chat.id,
            max(messages, default=0) + 1,
            kind,
            int(time.time()),
            from_bot,
            self.bot_id if sender_id is None else sender_id,
            **fields,
        )
        messages[rec.message_id] = rec
        return rec

    def _message_dict(self, rec: MessageRecord, *, nested: bool = False) -> JSON:
        chat = self.chats[rec.chat_id]
        msg: JSON = {"message_id": rec.message_id}
        if rec.from_bot and chat.type == "channel":
            msg["sender_chat"] = self._chat_dict(chat)
        elif rec.from_bot:
            msg["from"] = self._bot_user()
        else:
            msg["from"] = self.users[rec.sender_id].as_dict() if rec.sender_id in self.users else self._bot_user()
        msg.update({"date": rec.date, "chat": self._chat_dict(chat)})
        if rec.forward_origin:
            msg["forward_origin"] = rec.forward_origin
        # A message in a forum topic that answers nothing else answers the topic's first message, the one that
        # says how it was created: clients read the topic's name from it. ASSUMPTION (the spec is silent;
        # tdlib/telegram-bot-api#447 explains topic messages as a thread under that message): if the real
        # server left reply_to_message out, the bot names the topic "#<id>" instead.
        root = rec.thread_id if rec.thread_id is not None and rec.thread_id != rec.message_id else None
        if (rec.reply_to_message_id or root) and not nested:
            replied = self._messages[rec.chat_id].get(rec.reply_to_message_id or root or 0)
            if replied:
                msg["reply_to_message"] = self._message_dict(replied, nested=True)
        if rec.thread_id is not None:
            msg.update({"message_thread_id": rec.thread_id, "is_topic_message": True})
        if rec.edit_date:
            msg["edit_date"] = rec.edit_date
        if rec.media_group_id:
            msg["media_group_id"] = rec.media_group_id
        if rec.kind == "text":
            msg["text"] = rec.text
            if rec.entities:
                msg["entities"] = rec.entities
            if rec.link_preview_options:
                msg["link_preview_options"] = rec.link_preview_options
        elif rec.file is not None:
            msg.update(self._media_dict(rec.file))
            if rec.caption:
                msg["caption"] = rec.caption
                if rec.entities:
                    msg["caption_entities"] = rec.entities
            if rec.has_spoiler:
                msg["has_media_spoiler"] = True
        if rec.service:
            msg.update(rec.service)
        if rec.reply_markup and "inline_keyboard" in rec.reply_markup:
            msg["reply_markup"] = rec.reply_markup
        return msg

    def _media_dict(self, media: MediaFile) -> JSON:
        if media.kind == "photo":
            return {"photo": media.photo_sizes}
        obj: JSON = {"file_id": media.file_id, "file_unique_id": media.file_unique_id}
        if media.kind == "video":
            obj.update({"width": media.width or 0, "height": media.height or 0, "duration": media.duration or 0})
        if media.filename:
            obj["file_name"] = media.filename
        if media.mime_type:
            obj["mime_type"] = media.mime_type
        obj["file_size"] = media.size
        return {media.kind: obj}

    def _find_message(self, chat: EmuChat, message_id: object, missing: str) -> MessageRecord:
        rec = self._messages.get(chat.id, {}).get(message_id) if isinstance(message_id, int) else None
        if rec is None or rec.deleted:
            raise _bad(missing)
        return rec

    def _text(self, method: str, p: JSON, key: str, entities_key: str) -> tuple[str | None, list[JSON]]:
        """Displayed text and entities of ``p[key]`` (caption when key != "text"), with length checks."""
        source = p.get(key)
        if source is None or (key != "text" and source == ""):
            return None, []
        explicit = p.get(entities_key)
        if explicit is not None:
            self._check_objects(method, "MessageEntity", explicit)
            plain, entities = str(source), list(explicit)
        else:
            plain, entities = _formatted(str(source), p.get("parse_mode"))
            entities = self._resolve_mentions(entities)
        if key == "text" and not plain.strip():
            raise _bad("message text is empty")
        if key == "text" and len(plain) > TEXT_LIMIT:
            raise _bad("message is too long")
        if key != "text" and len(plain) > CAPTION_LIMIT:
            raise _bad("message caption is too long")
        return plain, entities

    def _resolve_mentions(self, entities: list[JSON]) -> list[JSON]:
        """A text_mention carries the whole User. ASSUMPTION: a user the bot has never seen is dropped, the
        name then showing as plain text (what tdlib does with a mention it cannot resolve)."""
        resolved = []
        for entity in entities:
            if entity["type"] == "text_mention":
                user = self.users.get(entity["user"]["id"])
                if user is None:
                    continue
                entity = {**entity, "user": user.as_dict()}
            resolved.append(entity)
        return resolved

    def _check_objects(self, method: str, type_name: str, objects: object) -> None:
        for obj in objects if isinstance(objects, list) else [objects]:
            if not isinstance(obj, dict):
                self._violate(method, f"{type_name} must be a JSON object, got {obj!r}")
                continue
            unknown = set(obj) - _TYPE_FIELDS[type_name]
            if unknown:
                self._violate(method, f"unknown field(s) {sorted(unknown)} in {type_name}")

    def _check_markup(self, method: str, markup: JSON | None, *, inline_only: bool) -> JSON | None:
        """Validate reply_markup like Telegram (BUTTON_DATA_INVALID etc.); returns it."""
        if markup is None:
            return None
        kinds = [k for k in ("inline_keyboard", "keyboard", "remove_keyboard", "force_reply") if k in markup]
        if len(kinds) != 1:
            self._violate(method, f"reply_markup is not a keyboard markup: {markup!r}")
            raise _bad("can't parse reply keyboard markup JSON object")
        kind = kinds[0]
        if inline_only and kind != "inline_keyboard":
            self._violate(method, "only an inline keyboard can be used when editing messages")
            raise _bad("inline keyboard expected")
        type_name = {
            "inline_keyboard": "InlineKeyboardMarkup",
            "keyboard": "ReplyKeyboardMarkup",
            "remove_keyboard": "ReplyKeyboardRemove",
            "force_reply": "ForceReply",
        }[kind]
        self._check_objects(method, type_name, markup)
        if kind in ("inline_keyboard", "keyboard"):
            rows = markup[kind]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                self._violate(method, f"{kind} must be an array of arrays of buttons")
                raise _bad("can't parse reply keyboard markup JSON object")
            check = self._check_inline_button if kind == "inline_keyboard" else self._check_keyboard_button
            for row in rows:
                for button in row:
                    check(method, button)
        return markup

    def _check_inline_button(self, method: str, button: object) -> None:
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            self._violate(method, f"inline keyboard button without text: {button!r}")
            raise _bad('can\'t parse inline keyboard button: Field "text" must be of type String')
        self._check_objects(method, "InlineKeyboardButton", button)
        actions = sorted(_INLINE_ACTIONS & button.keys())
        if not actions:
            raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
        if len(actions) > 1:
            # CHOICE: Telegram's answer to several action fields is undocumented; reject like a parse error.
            self._violate(method, f"inline keyboard button with several actions {actions}")
            raise _bad("can't parse inline keyboard button: exactly one of the optional fields must be used")
        data = button.get("callback_data")
        if "callback_data" in button and (
            not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT
        ):
            raise _bad("BUTTON_DATA_INVALID")
        if "url" in button and (not isinstance(button["url"], str) or not button["url"]):
            raise _bad("BUTTON_URL_INVALID")

    def _check_keyboard_button(self, method: str, button: object) -> None:
        if isinstance(button, str):
            return
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            self._violate(method, f"keyboard button without text: {button!r}")
            raise _bad('can\'t parse keyboard button: Field "text" must be of type String')
        self._check_objects(method, "KeyboardButton", button)
        requests = sorted(_KEYBOARD_REQUESTS & button.keys())
        if len(requests) > 1:
            self._violate(method, f"keyboard button with several requests {requests}")
            raise _bad("can't parse keyboard button: exactly one of the optional fields must be used")
        request = button.get("request_chat")
        if request is not None:
            self._check_objects(method, "KeyboardButtonRequestChat", request)
            if (
                not isinstance(request, dict)
                or not isinstance(request.get("request_id"), int)
                or not isinstance(request.get("chat_is_channel"), bool)
            ):
                self._violate(method, f"KeyboardButtonRequestChat needs request_id and chat_is_channel: {request!r}")
                raise _bad('can\'t parse keyboard button: Field "request_id" must be of type Integer')

    def _check_reply(self, method: str, chat: EmuChat, reply: JSON | None) -> int | None:
        if reply is None:
            return None
        self._check_objects(method, "ReplyParameters", reply)
        message_id = reply.get("message_id")
        target = self._messages.get(chat.id, {}).get(message_id) if isinstance(message_id, int) else None
        if target is None or target.deleted:
            if reply.get("allow_sending_without_reply"):
                return None
            raise _bad("message to be replied not found")
        return target.message_id

    # ---------------------------------------------------------------- flood control

    def _flood_buckets(self, chat: EmuChat) -> list[tuple[_Limit, _Bucket]]:
        """The buckets a send to ``chat`` draws on, refilled up to now (a new bucket starts full)."""
        now = time.monotonic()
        buckets: list[tuple[_Limit, _Bucket]] = []
        keys = (("private" if chat.type == "private" else "group", chat.id), ("overall", None))
        for name, key in keys:
            limit = self._limits.get(name)
            if limit is None:
                continue
            bucket = self._buckets.setdefault(key, _Bucket(limit.capacity, now))
            bucket.tokens = min(limit.capacity, bucket.tokens + (now - bucket.stamp) * limit.rate)
            bucket.stamp = now
            buckets.append((limit, bucket))
        return buckets

    def _flood_overflow(self, chat: EmuChat, count: int) -> tuple[int, int] | None:
        """(1-based index of the first message over budget, retry_after seconds), or None if all fit.

        retry_after is ceil(seconds until ``count`` tokens are in the bucket), at least 1, the worst over
        the buckets that apply. CHOICE: ``count`` above a bucket's capacity can never pass; its wait is
        capped at one full refill of that bucket (capacity/rate) -- the longest any send can usefully wait.
        """
        worst: tuple[int, int] | None = None
        for limit, bucket in self._flood_buckets(chat):
            if bucket.tokens >= count:
                continue
            wait = min(count - bucket.tokens, limit.capacity) / limit.rate
            index = min(count, max(0, math.floor(bucket.tokens)) + 1)
            retry = max(1, math.ceil(wait))
            worst = (min(index, worst[0]), max(retry, worst[1])) if worst else (index, retry)
        return worst

    def _flood_take(self, chat: EmuChat, count: int = 1) -> None:
        """Spend ``count`` tokens from every bucket that applies, or answer 429 and spend nothing."""
        overflow = self._flood_overflow(chat, count)
        if overflow:
            raise ApiError(429, f"Too Many Requests: retry after {overflow[1]}", {"retry_after": overflow[1]})
        for _, bucket in self._flood_buckets(chat):
            bucket.tokens -= count

    def _edit_take(self, chat: EmuChat) -> None:
        """Spend one of the chat's edits (see set_edit_limits), or answer 429 and change nothing."""
        limit = self._edit_limits.get("private" if chat.type == "private" else "group")
        if limit is None:
            return
        now = time.monotonic()
        bucket = self._edit_buckets.setdefault(chat.id, _Bucket(limit.capacity, now))
        bucket.tokens = min(limit.capacity, bucket.tokens + (now - bucket.stamp) * limit.rate)
        bucket.stamp = now
        if bucket.tokens < 1:
            retry = max(1, math.ceil((1 - bucket.tokens) / limit.rate))
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        bucket.tokens -= 1

    # ---------------------------------------------------------------- files

    def _file_ids(self, kind: str) -> tuple[str, str]:
        number = next(self._ids)
        digest = hashlib.sha256(f"{self.token}:{kind}:{number}".encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        return f"{_FILE_ID_PREFIX[kind]}{number:05d}{encoded}", f"AQAD{encoded[:12]}"

    def _store(self, info: FileInfo, kind: str, meta: JSON) -> MediaFile:
        """Turn received bytes into a stored file, applying sendPhoto's checks."""
        width = height = None
        if kind == "photo":
            if info.size > PHOTO_UPLOAD_LIMIT:
                raise ApiError(400, PHOTO_TOO_BIG)
            width, height = _image_size(info)
            if min(width, height) <= 0 or width + height > 10000 or max(width, height) / min(width, height) > 20:
                raise _bad("PHOTO_INVALID_DIMENSIONS")
        elif kind == "video":
            width, height = meta.get("width"), meta.get("height")
        file_id, unique_id = self._file_ids(kind)
        duration = meta.get("duration") if kind == "video" else None
        media = MediaFile(
            kind, file_id, unique_id, info.size, info.sha256, info.filename, info.mime, width, height, duration
        )
        if kind == "video":
            thumbnail = meta.get("thumbnail")
            media.thumbnail = thumbnail if isinstance(thumbnail, FileInfo) else None
            media.supports_streaming = bool(meta.get("supports_streaming"))
            self._check_video_preview(media)
        if kind == "photo" and width and height:
            media.photo_sizes = self._photo_sizes(media, width, height)
            media.file_id = media.photo_sizes[-1]["file_id"]
            media.file_unique_id = media.photo_sizes[-1]["file_unique_id"]
        for size in media.photo_sizes:
            self.files[size["file_id"]] = media
        self.files[media.file_id] = media
        return media

    def _with_thumbnail(self, method: str, meta: JSON, files: dict[str, FileInfo]) -> JSON:
        """``meta`` with its thumbnail as the uploaded part it names. A thumbnail is taken only as a new
        upload ("attach://<name>"; telegram-bot-api Client.cpp get_input_thumbnail reads uploaded parts
        only): anything else Telegram ignores without a word, so it is recorded as a violation."""
        ref = meta.get("thumbnail")
        if ref is None or isinstance(ref, FileInfo):
            return meta
        attached = isinstance(ref, str) and ref.startswith("attach://")
        info = files.get(str(ref).removeprefix("attach://")) if attached else None
        if info is None:
            self._violate(method, f"thumbnail {ref!r} is not an uploaded part: Telegram ignores it")
        return {**meta, "thumbnail": info}

    def _check_video_preview(self, media: MediaFile) -> None:
        """What a user would see of this upload before playing it: flag a 0:00 or blank tile."""
        where = f"video upload {media.filename or media.file_id}"
        thumbnail = media.thumbnail
        if thumbnail is not None:
            side = max(thumbnail.jpeg_size) if thumbnail.jpeg_size else None
            if side is None or side > THUMBNAIL_MAX_SIDE or thumbnail.size >= THUMBNAIL_BYTES_UNDER:
                self._violate(
                    where,
                    f"thumbnail Telegram ignores (JPEG {thumbnail.jpeg_size}, {thumbnail.size} bytes; "
                    f"needs a JPEG of at most {THUMBNAIL_MAX_SIDE} px under {THUMBNAIL_BYTES_UNDER} bytes)",
                )
                thumbnail = None
        if media.size > VIDEO_ANALYSED_LIMIT:
            if not media.duration:
                self._violate(where, f"{media.size} bytes without duration: Telegram shows 0:00")
            if thumbnail is None:
                self._violate(where, f"{media.size} bytes without a thumbnail: Telegram shows a blank tile")

    def _photo_sizes(self, media: MediaFile, width: int, height: int) -> list[JSON]:
        """Thumbnails (90/320/800/1280 px) below the stored size, which is capped at 2560 px."""
        longest = max(width, height)
        sides = [side for side in (90, 320, 800, 1280) if side < min(longest, PHOTO_MAX_SIDE)]
        sizes = []
        for side in [*sides, min(longest, PHOTO_MAX_SIDE)]:
            scale = side / longest
            file_id, unique_id = self._file_ids("photo")
            sizes.append(
                {
                    "file_id": file_id,
                    "file_unique_id": unique_id,
                    "file_size": max(1, int(media.size * scale * scale)),
                    "width": max(1, round(width * scale)),
                    "height": max(1, round(height * scale)),
                }
            )
        return sizes

    def _upload_for(self, ref: object, files: dict[str, FileInfo]) -> FileInfo | str:
        """The uploaded part a file parameter refers to, or the string (file_id / URL) to resolve."""
        if isinstance(ref, FileInfo):
            return ref
        if not isinstance(ref, str) or not ref:
            raise _bad("can't parse InputMedia: media not found")
        if ref.startswith("attach://"):
            info = files.get(ref.removeprefix("attach://"))
            if info is None:
                raise _bad("can't parse InputMedia: media not found")
            return info
        return ref

    async def _materialize(self, source: FileInfo | str, kind: str, meta: JSON) -> MediaFile:
        """Store an upload, fetch a URL (cloud limits 5/20 MB), read a file:// path (local mode) or reuse a file_id."""
        if isinstance(source, FileInfo):
            return self._store(source, kind, meta)
        if source.startswith(("http://", "https://")):
            return self._store(await self._fetch(source, kind), kind, meta)
        if source.startswith("file://"):
            if not self.local_mode:
                raise ApiError(400, WRONG_FILE_ID)
            try:
                info = await asyncio.to_thread(_hash_file, Path(unquote(urlsplit(source).path)))
            except OSError as exc:
                raise ApiError(400, WRONG_FILE_ID) from exc
            return self._store(info, kind, meta)
        media = self.files.get(source)
        if media is None:
            raise ApiError(400, WRONG_FILE_ID)
        if media.kind != kind:
            raise _bad("type of file mismatch")
        return media

    async def _fetch(self, url: str, kind: str) -> FileInfo:
        """Download like Telegram's URL sending; CHOICE: any failure or size overflow reads as one error."""
        assert self._session is not None
        limit = URL_PHOTO_LIMIT if kind == "photo" else URL_FILE_LIMIT
        sink = _Sink()
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as resp:
                if resp.status != 200:
                    raise _bad("failed to get HTTP URL content")
                ctype = resp.content_type
                ok = {
                    "photo": ctype.startswith("image/"),
                    "video": ctype == "video/mp4",
                    "document": ctype in ("image/gif", "application/pdf", "application/zip"),
                }[kind]
                if not ok:
                    raise _bad("wrong type of the web page content")
                async for chunk in resp.content.iter_chunked(CHUNK):
                    sink.feed(chunk)
                    if sink.size > limit:
                        raise _bad("failed to get HTTP URL content")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _bad("failed to get HTTP URL content") from exc
        return sink.info(Path(urlsplit(url).path).name or None, ctype)

    # ---------------------------------------------------------------- method handlers

    async def _get_me(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _conflict(self, message: str) -> ApiError:
        """The 409, paced like the Bot API server's (Client::fail_query_conflict): at once, or 3 s later when the
        last one was less than 3 s ago."""
        now = asyncio.get_running_loop().time()
        if now < self._next_conflict:
            await asyncio.sleep(CONFLICT_PAUSE)
        else:
            self._next_conflict = now + CONFLICT_PAUSE
        return ApiError(409, message)

    async def _get_updates(self, p: JSON, files: dict[str, FileInfo]) -> list[JSON]:
        if self.webhook:
            raise await self._conflict(WEBHOOK_CONFLICT)
        if "allowed_updates" in p:
            self._allowed_updates = [str(kind) for kind in p["allowed_updates"]]
        offset, limit = p.get("offset", 0), min(max(p.get("limit", 100), 1), 100)
        if offset > 0:
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        elif offset < 0:
            self.pending_updates = self.pending_updates[offset:]
        self._polls += 1
        poll = self._polls
        self._notify()  # an older long poll gets terminated
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(p.get("timeout", 0), 0)
        self._active_polls += 1
        try:
            while True:
                if poll != self._polls:
                    raise await self._conflict(POLL_CONFLICT)
                if self.webhook:
                    raise await self._conflict(WEBHOOK_CONFLICT)
                remaining = deadline - loop.time()
                if self.pending_updates or self._closing or remaining <= 0:
                    return self.pending_updates[:limit]
                with contextlib.suppress(TimeoutError):
                    await self._wait_change(remaining)
        finally:
            self._active_polls -= 1

    async def _delete_webhook(self, p: JSON, files: dict[str, FileInfo]) -> _Described:
        if p.get("drop_pending_updates"):
            self.pending_updates.clear()
        was_set, self.webhook = self.webhook is not None, None
        self._notify()
        return _Described(True, "Webhook was deleted" if was_set else "Webhook is already deleted")

    async def _set_webhook(self, p: JSON, files: dict[str, FileInfo]) -> _Described:
        url = p["url"]
        if url == "":
            return await self._delete_webhook(p, files)
        # The cloud takes only HTTPS webhooks (Bot API spec, setWebhook); a local server also plain HTTP (its
        # README). CHOICE: any host and port are accepted, and plain http in cloud mode on a loopback host --
        # what only a Bot API server on the same machine could reach -- so tests can serve the hook.
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and (self.local_mode or _loopback(parts.hostname))):
            raise ApiError(400, HTTPS_WEBHOOK)
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _bad("secret token contains unallowed characters")
        if "allowed_updates" in p:
            self._allowed_updates = [str(kind) for kind in p["allowed_updates"]]
        if p.get("drop_pending_updates"):
            self.pending_updates.clear()
        hook = {
            "url": url,
            "secret_token": secret,
            "max_connections": p.get("max_connections", 40),
            "ip_address": p.get("ip_address"),
        }
        unchanged, self.webhook = self.webhook == hook, hook
        self._webhook_error = None
        self._notify()
        return _Described(True, "Webhook is already set" if unchanged else "Webhook was set")

    async def _get_webhook_info(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        info: JSON = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending_updates),
        }
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook["ip_address"]:
                info["ip_address"] = self.webhook["ip_address"]
            if self._allowed_updates is not None:
                info["allowed_updates"] = self._allowed_updates
            if self._webhook_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    async def _webhook_loop(self) -> None:
        """Deliver pending updates to the webhook as the Bot API server does (tdlib/telegram-bot-api
        WebhookActor.cpp): each queue's updates one at a time and in order, up to max_connections queues at once,
        so updates of different queues may be handled in either order (`_webhook_queue`)."""
        sending: dict[tuple[str, int], asyncio.Task[None]] = {}

        def sent(task: asyncio.Task[None]) -> None:
            for queue in [queue for queue, sending_task in sending.items() if sending_task is task]:
                del sending[queue]
            self._notify()

        try:
            while not self._closing:
                hook = self.webhook
                if hook and self._session is not None:
                    busy = set(sending)
                    for update in list(self.pending_updates):
                        if len(sending) >= hook["max_connections"]:
                            break
                        queue = _webhook_queue(update)
                        if queue not in busy:
                            busy.add(queue)
                            task = asyncio.create_task(self._send_to_webhook(hook, update))
                            task.add_done_callback(sent)
                            sending[queue] = task
                await self._wait_change(None)
        finally:
            for task in sending.values():
                task.cancel()
            await asyncio.gather(*sending.values(), return_exceptions=True)

    async def _send_to_webhook(self, hook: JSON, update: JSON) -> None:
        """POST one update until the webhook takes it (0.1 s .. 2 s between tries), while `hook` stays set."""
        assert self._session is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]} if hook["secret_token"] else {}
        failures = 0
        while self.webhook is hook and any(pending is update for pending in self.pending_updates):
            error = None
            try:
                async with self._session.post(
                    hook["url"], json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
                ) as resp:
                    if not 200 <= resp.status < 300:
                        error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = "Connection refused" if isinstance(exc, aiohttp.ClientConnectorError) else repr(exc)
            if error is None:
                self.pending_updates = [pending for pending in self.pending_updates if pending is not update]
                return
            self._webhook_error = (int(time.time()), error)
            failures += 1
            await asyncio.sleep(min(0.1 * 2 ** (failures - 1), 2.0))

    def _scope(self, method: str, p: JSON) -> str:
        # tdlib td/telegram/misc.cpp validate_bot_language_code (called by BotCommand.cpp set_commands): empty
        # or exactly two lowercase letters a-z, else 400 "Invalid language code specified".
        language = p.get("language_code") or ""
        if not re.fullmatch(r"(?:[a-z]{2})?", str(language)):
            self._violate(method, f"language_code {language!r} is not two lowercase letters")
            raise _bad("invalid language code specified")
        scope = p.get("scope") or {"type": "default"}
        allowed = _SCOPE_FIELDS.get(scope.get("type", ""))
        if allowed is None:
            self._violate(method, f"unknown BotCommandScope {scope!r}")
            raise _bad("unsupported bot command scope type")
        if set(scope) - allowed or not allowed <= set(scope):
            self._violate(method, f"BotCommandScope {scope.get('type')!r} must have exactly {sorted(allowed)}")
            raise _bad("can't parse BotCommandScope JSON object")
        if "chat_id" in scope:
            try:
                chat_id = _decode_value("chat", scope["chat_id"])
            except ValueError as exc:
                self._violate(method, f"BotCommandScope chat_id {exc}")
                raise _bad("chat not found") from exc
            scope = {**scope, "chat_id": self._resolve_chat(chat_id).id}
        return self.scope_key(scope, p.get("language_code"))

    async def _set_my_commands(self, p: JSON, files: dict[str, FileInfo]) -> bool:
        commands = p["commands"]
        self._check_objects("setMyCommands", "BotCommand", commands)
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand JSON object")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._scope("setMyCommands", p)
        if commands:
            self.commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        else:
            self.commands.pop(key, None)
        return True

    async def _get_my_commands(self, p: JSON, files: dict[str, FileInfo]) -> list[JSON]:
        return self.commands.get(self._scope("getMyCommands", p), [])

    async def _delete_my_commands(self, p: JSON, files: dict[str, FileInfo]) -> bool:
        self.commands.pop(self._scope("deleteMyCommands", p), None)
        return True

    async def _send_message(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        chat = self._chat_for_send(p["chat_id"], "text")
        text, entities = self._text("sendMessage", p, "text", "entities")
        markup = self._check_markup("sendMessage", p.get("reply_markup"), inline_only=False)
        if p.get("link_preview_options") is not None:
            self._check_objects("sendMessage", "LinkPreviewOptions", p["link_preview_options"])
        reply_to = self._check_reply("sendMessage", chat, p.get("reply_parameters"))
        thread_id = self._topic_for_send(chat, p)
        self._flood_take(chat)
        rec = self._new_message(
            chat,
            "text",
            thread_id=thread_id,
            text=text,
            source_text=p["text"],
            parse_mode=p.get("parse_mode"),
            entities=entities,
            reply_markup=markup,
            link_preview_options=p.get("link_preview_options"),
            reply_to_message_id=reply_to,
            method="sendMessage",
        )
        return self._message_dict(rec)

    async def _send_photo(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        return await self._send_media("sendPhoto", "photo", p, files)

    async def _send_video(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        return await self._send_media("sendVideo", "video", p, files)

    async def _send_document(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        return await self._send_media("sendDocument", "document", p, files)

    async def _send_media(self, method: str, kind: str, p: JSON, files: dict[str, FileInfo]) -> JSON:
        chat = self._chat_for_send(p["chat_id"], kind)
        caption, entities = self._text(method, p, "caption", "caption_entities")
        markup = self._check_markup(method, p.get("reply_markup"), inline_only=False)
        reply_to = self._check_reply(method, chat, p.get("reply_parameters"))
        thread_id = self._topic_for_send(chat, p)
        media = await self._materialize(self._upload_for(p[kind], files), kind, self._with_thumbnail(method, p, files))
        self._flood_take(chat)
        rec = self._new_message(
            chat,
            kind,
            thread_id=thread_id,
            caption=caption,
            source_text=p.get("caption"),
            parse_mode=p.get("parse_mode"),
            entities=entities,
            reply_markup=markup,
            file=media,
            has_spoiler=bool(p.get("has_spoiler")),
            reply_to_message_id=reply_to,
            method=method,
        )
        return self._message_dict(rec)

    async def _send_media_group(self, p: JSON, files: dict[str, FileInfo]) -> list[JSON]:
        method = "sendMediaGroup"
        chat = self._resolve_chat(p["chat_id"])
        items = p["media"]
        if not items:
            raise _bad("media to send are not specified")
        if len(items) > ALBUM_MAX:
            raise _bad("too much messages to send as an album")
        if len(items) == 1:
            # Telegram sends a 1-item "album" (aiogram#742) but the spec requires 2-10 items.
            self._violate(method, "media must include 2-10 items")
        kinds: list[str] = []
        for item in items:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in ("photo", "video", "document"):
                self._violate(method, f"unsupported InputMedia {item!r} (emulator: photo, video, document)")
                raise _bad("can't parse InputMedia JSON object")
            self._check_objects(method, f"InputMedia{kind.capitalize()}", item)
            kinds.append(kind)
        if "document" in kinds and set(kinds) != {"document"}:
            raise ApiError(400, ALBUM_MIXED)
        for kind in set(kinds):
            self._check_access(chat, kind)
        prepared: list[tuple[JSON, str, str | None, list[JSON], FileInfo | str]] = []
        for item, kind in zip(items, kinds, strict=True):
            caption, entities = self._text(method, item, "caption", "caption_entities")
            prepared.append((item, kind, caption, entities, self._upload_for(item.get("media"), files)))
        reply_to = self._check_reply(method, chat, p.get("reply_parameters"))
        thread_id = self._topic_for_send(chat, p)
        # The items go out one by one and each one sent stays in the chat; the first item that fails fails the
        # whole request (telegram-bot-api Client.cpp, on_message_send_succeeded/failed of a multi-send; each
        # album item also counts as one message for the flood limits, notes §2). ASSUMPTION: the items after
        # the failed one are not sent. The Bot API source waits for every item's result, so if the real server
        # does go on sending them, a bot that retries "#N and after" sends those twice.
        # The flood check is for the album as a whole, before any item goes out: TDLib sends an album as one
        # messages.sendMultiMedia request, which a FLOOD_WAIT refuses whole, and the Bot API server passes that
        # 429 through as it is (Client.cpp, is_special_error_code). So a 429 for an album means none was sent.
        try:
            self._flood_take(chat, len(prepared))
        except ApiError as exc:
            raise self._album_failure(1, exc) from exc
        fault = self._album_faults.popleft() if self._album_faults else None
        group_id = str(10**17 + next(self._ids))
        records: list[MessageRecord] = []
        for index, (item, kind, caption, entities, source) in enumerate(prepared, 1):
            try:
                if fault is not None and fault[0] == index:
                    raise fault[1]
                media = await self._materialize(source, kind, self._with_thumbnail(method, item, files))
            except ApiError as exc:
                raise self._album_failure(index, exc) from exc
            records.append(
                self._new_message(
                    chat,
                    kind,
                    caption=caption,
                    source_text=item.get("caption"),
                    parse_mode=item.get("parse_mode"),
                    entities=entities,
                    file=media,
                    has_spoiler=bool(item.get("has_spoiler")),
                    media_group_id=group_id,
                    reply_to_message_id=reply_to,
                    method=method,
                    thread_id=thread_id,
                )
            )
        return [self._message_dict(rec) for rec in records]

    def _album_failure(self, index: int, error: ApiError) -> ApiError:
        """How the Bot API server answers an album whose item #``index`` failed (Client.cpp,
        on_message_send_failed + fail_query_with_error): 401, 429 and >= 500 pass through as they are (a 429
        as "retry after N" with parameters.retry_after); any other error names the item, keeping its status:
        'Bad Request: failed to send message #N with the error message "<the item's error>"'. Older servers
        answered a 429 that way too, as a 400 (``legacy_album_flood``; rubenlagus/TelegramBots#1520)."""
        flood = error.status == 429
        if (error.status in (401, 429) or error.status >= 500) and not (flood and self.legacy_album_flood):
            return error
        status = 400 if flood else error.status
        prefix, _, inner = error.description.partition(": ")
        if not inner or prefix not in ("Bad Request", "Forbidden"):
            inner = error.description
        heading = "Forbidden" if status == 403 else "Bad Request"
        return ApiError(status, f'{heading}: failed to send message #{index} with the error message "{inner}"')

    def _editable(self, method: str, p: JSON) -> tuple[EmuChat, MessageRecord]:
        if "inline_message_id" in p:
            self._violate(method, "inline messages are not supported by the emulator")
            raise _bad("MESSAGE_ID_INVALID")
        if "chat_id" not in p or "message_id" not in p:
            self._violate(method, "chat_id and message_id are required without inline_message_id")
            raise ApiError(400, _MISSING_TEXTS["chat_id" if "chat_id" not in p else "message_id"])
        chat = self._resolve_chat(p["chat_id"])
        self._check_access(chat)
        rec = self._find_message(chat, p["message_id"], "message to edit not found")
        if not rec.from_bot:
            raise _bad("message can't be edited")
        return chat, rec

    def _apply_edit(self, rec: MessageRecord, **changes: Any) -> None:
        rec.edits.append(
            {
                key: getattr(rec, key)
                for key in (
                    "text",
                    "caption",
                    "source_text",
                    "parse_mode",
                    "entities",
                    "reply_markup",
                    "link_preview_options",
                    "edit_date",
                )
            }
        )
        for key, value in changes.items():
            setattr(rec, key, value)
        rec.edit_date = int(time.time())

    async def _edit_message_text(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        method = "editMessageText"
        chat, rec = self._editable(method, p)
        if rec.kind != "text":
            raise _bad("there is no text in the message to edit")
        if "text" not in p:
            self._violate(method, "text is required (rich_message is not supported by the emulator)")
        text, entities = self._text(method, {**p, "text": p.get("text", "")}, "text", "entities")
        markup = self._check_markup(method, p.get("reply_markup"), inline_only=True)
        # CHOICE: "same content" compares displayed text + entities (plain/HTML) or the source text
        # (Markdown modes, whose entities are not computed) and the inline keyboard. Omitting
        # reply_markup removes the keyboard, as on Telegram.
        markdown = any((mode or "").lower().startswith("markdown") for mode in (p.get("parse_mode"), rec.parse_mode))
        same_text = p.get("text") == rec.source_text if markdown else (text, entities) == (rec.text, rec.entities)
        if same_text and _canon(markup) == _canon(rec.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        self._edit_take(chat)
        self._apply_edit(
            rec,
            text=text,
            source_text=p.get("text"),
            parse_mode=p.get("parse_mode"),
            entities=entities,
            reply_markup=markup,
            link_preview_options=p.get("link_preview_options"),
        )
        return self._message_dict(rec)

    async def _edit_message_reply_markup(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        method = "editMessageReplyMarkup"
        chat, rec = self._editable(method, p)
        markup = self._check_markup(method, p.get("reply_markup"), inline_only=True)
        if _canon(markup) == _canon(rec.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        self._edit_take(chat)
        self._apply_edit(rec, reply_markup=markup)
        return self._message_dict(rec)

    async def _delete_message(self, p: JSON, files: dict[str, FileInfo]) -> bool:
        chat = self._resolve_chat(p["chat_id"])
        self._check_access(chat)
        rec = self._find_message(chat, p["message_id"], "message to delete not found")
        may_delete = chat.bot_status == "administrator" and chat.bot_rights.get("can_delete_messages", False)
        if not rec.from_bot and chat.type != "private" and not may_delete:
            raise _bad("message can't be deleted")
        rec.deleted = True
        return True

    async def _answer_callback_query(self, p: JSON, files: dict[str, FileInfo]) -> bool:
        query_id = p["callback_query_id"]
        if query_id not in self._callback_queries:
            raise ApiError(400, QUERY_TOO_OLD)
        if len(p.get("text") or "") > ANSWER_TEXT_LIMIT:
            raise _bad("MESSAGE_TOO_LONG")
        del self._callback_queries[query_id]
        self.answered_callbacks[query_id] = dict(p)
        return True

    def _source_message(self, p: JSON, message_id: object, missing: str) -> tuple[EmuChat, MessageRecord]:
        chat = self._readable_chat(p["from_chat_id"])
        rec = self._find_message(chat, message_id, missing)
        if rec.kind == "service":
            raise _bad("message can't be copied")
        return chat, rec

    def _copy_fields(self, method: str, p: JSON, src: MessageRecord, *, remove_caption: bool = False) -> JSON:
        fields: JSON = {
            "text": src.text,
            "source_text": src.source_text,
            "parse_mode": src.parse_mode,
            "entities": list(src.entities),
            "file": src.file,
            "has_spoiler": src.has_spoiler,
            "caption": None if remove_caption else src.caption,
            "link_preview_options": src.link_preview_options,
        }
        if src.kind != "text" and "caption" in p:
            caption, entities = self._text(method, p, "caption", "caption_entities")
            fields.update(caption=caption, source_text=p["caption"], parse_mode=p.get("parse_mode"), entities=entities)
        return fields

    async def _copy_message(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        method = "copyMessage"
        _, src = self._source_message(p, p["message_id"], "message to copy not found")
        chat = self._chat_for_send(p["chat_id"], src.kind)
        fields = self._copy_fields(method, p, src)
        markup = self._check_markup(method, p.get("reply_markup"), inline_only=False)
        reply_to = self._check_reply(method, chat, p.get("reply_parameters"))
        self._flood_take(chat)
        rec = self._new_message(
            chat, src.kind, reply_markup=markup, reply_to_message_id=reply_to, method=method, **fields
        )
        return {"message_id": rec.message_id}

    async def _copy_messages(self, p: JSON, files: dict[str, FileInfo]) -> list[JSON]:
        method = "copyMessages"
        ids = p["message_ids"]
        if not 1 <= len(ids) <= 100 or not all(isinstance(i, int) for i in ids) or ids != sorted(set(ids)):
            self._violate(method, f"message_ids must be 1-100 integers in strictly increasing order: {ids!r}")
            raise _bad("message identifiers must be in strictly increasing order")
        from_chat = self._readable_chat(p["from_chat_id"])
        sources = [
            rec
            for i in ids
            if (rec := self._messages.get(from_chat.id, {}).get(i)) and not rec.deleted and rec.kind != "service"
        ]
        if not sources:
            raise _bad("message to copy not found")
        chat = self._resolve_chat(p["chat_id"])
        for kind in {src.kind for src in sources}:
            self._check_access(chat, kind)
        self._flood_take(chat, len(sources))
        groups: dict[str, str] = {}
        copies: list[MessageRecord] = []
        for src in sources:
            group = None
            if src.media_group_id:
                if src.media_group_id not in groups:
                    groups[src.media_group_id] = str(10**17 + next(self._ids))
                group = groups[src.media_group_id]
            fields = self._copy_fields(method, {}, src, remove_caption=bool(p.get("remove_caption")))
            copies.append(self._new_message(chat, src.kind, media_group_id=group, method=method, **fields))
        return [{"message_id": rec.message_id} for rec in copies]

    async def _forward_message(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        from_chat, src = self._source_message(p, p["message_id"], "message to forward not found")
        chat = self._chat_for_send(p["chat_id"], src.kind)
        origin = src.forward_origin
        if origin is None and from_chat.type == "channel":
            origin = {
                "type": "channel",
                "date": src.date,
                "chat": self._chat_dict(from_chat),
                "message_id": src.message_id,
            }
        elif origin is None:
            sender = self._bot_user() if src.from_bot else self.users[src.sender_id].as_dict()
            origin = {"type": "user", "date": src.date, "sender_user": sender}
        self._flood_take(chat)
        rec = self._new_message(
            chat,
            src.kind,
            forward_origin=origin,
            method="forwardMessage",
            **self._copy_fields("forwardMessage", {}, src),
        )
        return self._message_dict(rec)

    async def _get_chat(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        chat = self._readable_chat(p["chat_id"])
        gifts = dict.fromkeys(
            ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels"), False
        )
        info = {**self._chat_dict(chat), "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}
        if chat.type in ("group", "supergroup"):
            info["permissions"] = dict(chat.permissions)
        return info

    async def _get_chat_member(self, p: JSON, files: dict[str, FileInfo]) -> JSON:
        chat = self._readable_chat(p["chat_id"])
        user_id = p["user_id"]
        if user_id == self.bot_id:
            status = "member" if chat.type == "private" else chat.bot_status
            return self._member_dict(self._bot_user(), status, chat.bot_rights)
        if chat.hidden_members and chat.bot_status != "administrator":
            # ASSUMPTION: refused for every other user, even one who just wrote there (tdlib/td#589 says users
            # "received recently by the bot" may still work): the bot must not depend on that.
            raise ApiError(400, MEMBERS_HIDDEN)
        if user_id not in self.users or (chat.type == "private" and user_id != chat.id):
            raise _bad("user not found")
        status = "member" if chat.type == "private" else chat.members.get(user_id, "left")
        return self._member_dict(self.users[user_id].as_dict(), status, chat.member_rights.get(user_id))

    async def _get_chat_administrators(self, p: JSON, files: dict[str, FileInfo]) -> list[JSON]:
        chat = self._readable_chat(p["chat_id"])
        if chat.type == "private":
            raise _bad("there are no administrators in the private chat")
        admins = [
            self._member_dict(self.users[u].as_dict(), s)
            for u, s in chat.members.items()
            if s in ("creator", "administrator")
        ]
        if chat.bot_status == "administrator":
            admins.append(self._member_dict(self._bot_user(), "administrator", chat.bot_rights))
        return admins

    async def _leave_chat(self, p: JSON, files: dict[str, FileInfo]) -> bool:
        chat = self._readable_chat(p["chat_id"])
        if chat.type == "private":
            raise _bad("chat member status can't be changed in private chats")
        old = self._member_dict(self._bot_user(), chat.bot_status, chat.bot_rights)
        chat.bot_status, chat.bot_rights = "left", {}
        self._enqueue_my_chat_member(chat, self._bot_user(), old)
        return True

    async def _send_chat_action(self, p: JSON, files: dict[str, FileInfo]) -> bool:
        self._chat_for_send(p["chat_id"], "text")
        if p["action"] not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True
